"""The media pipeline: ingest an upload, transcode it to an HLS ladder, publish it atomically, regenerate."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from videoflix.domain.errors import Conflict, InvalidInput, NotFound
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CategoryCount,
    MediaError,
    MediaLimits,
    ProbeResult,
    Rendition,
    TranscodeOutcome,
    TranscodeReport,
    Video,
    VideoPage,
    VideoQuery,
    VideoStatus,
    check_limits,
    check_rendition,
    check_segments_stored,
    plan_ladder,
)
from videoflix.domain.media.ports import MediaStore, MediaUnitOfWork, MediaUnitOfWorkFactory, Transcoder
from videoflix.domain.ports import Clock, JobQueue

log = logging.getLogger(__name__)
# Called inside the transaction that creates a video from an upload, before it commits; raising undoes it all.
OnCreated = Callable[[MediaUnitOfWork, Video], Awaitable[None]]

# A worker writes progress every few seconds; a video "processing" without a write for this long lost its worker.
STALE_AFTER = timedelta(seconds=45)
PROGRESS_INTERVAL = timedelta(seconds=3)
MAX_ATTEMPTS = 5  # for errors that are not the source's fault (disk full, a crash); bad input fails at once
MAX_SEARCH_LENGTH = 200
MAX_PAGE = 1_000_000  # keeps the offset far from what a database integer holds


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # descriptions may have line breaks


def safe_file_name(name: str) -> str:
    """The last path component of an uploaded file's name, printable, for display only."""
    cleaned = _CONTROL.sub("", Path(name.replace("\\", "/")).name)[:255]
    return cleaned or "upload"


def _status(value: str | None) -> VideoStatus | None:
    if not value:
        return None
    try:
        return VideoStatus(value.strip().lower())
    except ValueError:
        names = ", ".join(status.value for status in VideoStatus)
        raise InvalidInput(f"The status is one of {names}.", field="status") from None


def transcode_timeout(duration: float | None, limit: int = MediaLimits.max_transcode_seconds) -> int:
    """Generous on a slow machine: ten minutes plus 20 s per second of video, but never more than ``limit``: a
    forged duration must not hold a worker for a day (S23)."""
    return min(limit, 600 + math.ceil((duration or 0) * 20))


def transcode_key(video_id: int) -> str:
    """The one key of a video's transcode job: rings dedupe on it, and ``delete`` cancels by it."""
    return f"transcode:{video_id}"


class TranscodeStopped(Exception):
    """Raised from the progress callback when the video is gone: the transcoder kills ffmpeg as it unwinds."""


@dataclass(frozen=True)
class VideoDraft:
    title: str
    description: str
    category: str

    def validated(self) -> VideoDraft:
        """Trimmed; ``InvalidInput`` naming the first field at fault (forms show the message next to it)."""
        title, category, description = self.title.strip(), self.category.strip(), self.description.strip()
        for field, value, limit in (("title", title, 200), ("category", category, 100)):
            if not value:
                raise InvalidInput(f"A video needs a {field}.", field=field)
            if len(value) > limit:
                raise InvalidInput(f"The {field} can be at most {limit} characters long.", field=field)
            if _CONTROL.search(value):
                raise InvalidInput(f"The {field} cannot contain control characters.", field=field)
        if len(description) > 5000:
            raise InvalidInput("The description can be at most 5000 characters long.", field="description")
        if _CONTROL_MULTILINE.search(description):
            raise InvalidInput("The description cannot contain control characters.", field="description")
        return VideoDraft(title=title, description=description, category=category)


class MediaService:
    def __init__(
        self,
        uow: MediaUnitOfWorkFactory,
        store: MediaStore,
        transcoder: Transcoder,
        queue: JobQueue,
        clock: Clock,
        on_catalog_change: Callable[[], None] = lambda: None,
        on_transcoded: Callable[[TranscodeReport], None] = lambda _report: None,
        limits: MediaLimits | None = None,
    ) -> None:
        self._uow = uow
        self._limits = limits or MediaLimits()
        self._store = store
        self._transcoder = transcoder
        self._queue = queue
        self._clock = clock
        self._catalog_changed = on_catalog_change  # e.g. the catalog's cache, cleared after publish/edit/delete
        self._transcoded = on_transcoded  # e.g. the metrics: every transcode that started, however it ended

    async def ingest(
        self,
        upload: Path,
        original_name: str,
        draft: VideoDraft,
        thumbnail: Path | None = None,
        *,
        on_created: OnCreated | None = None,
    ) -> Video:
        """Check the upload by probing it, keep it as the video's source, queue the transcode. ``on_created``
        runs in the creating transaction (a resumable upload records its video there, atomically)."""
        draft = draft.validated()
        try:
            probe = await self._transcoder.probe(upload)
            check_limits(probe, self._limits)
        except MediaError as error:
            raise InvalidInput(f"The file is not a usable video: {error.reason}") from error
        with self._store.incoming(".jpg") as poster:
            if thumbnail is not None:
                await self._convert_image(thumbnail, poster)
            return await self._create(
                upload, original_name, draft, probe, poster if thumbnail is not None else None, on_created
            )

    async def _create(
        self,
        upload: Path,
        original_name: str,
        draft: VideoDraft,
        probe: ProbeResult,
        thumbnail: Path | None,
        on_created: OnCreated | None = None,
    ) -> Video:
        now = self._clock.now()
        async with self._uow() as uow:
            video = await uow.videos.add(
                Video(
                    title=draft.title,
                    description=draft.description,
                    category=draft.category,
                    created_at=now,
                    updated_at=now,
                    duration=probe.duration,
                    source_size=probe.size_bytes,
                    source_name=safe_file_name(original_name),
                )
            )
            assert video.id is not None
            self._store.adopt_source(video.id, upload)
            try:
                if thumbnail is not None:
                    video.thumbnail = self._store.store_thumbnail(video.id, thumbnail)
                    video.custom_thumbnail = True
                    await uow.videos.save(video)
                if on_created is not None:
                    await on_created(uow, video)
                await uow.commit()
            except BaseException:
                self._store.delete_video(video.id, video.thumbnail)
                raise
        await self._ring(video)
        return video

    async def transcode(
        self, video_id: int, on_progress: Callable[[float], Awaitable[None]] | None = None
    ) -> TranscodeOutcome:
        """Run the pipeline for a queued (or abandoned) video. Idempotent: a video nobody needs to work on is
        left alone (``SKIPPED``)."""
        now = self._clock.now()
        async with self._uow() as uow:
            video = await uow.videos.claim_for_processing(video_id, now, now - STALE_AFTER)
            await uow.commit()
        if video is None:
            return TranscodeOutcome.SKIPPED
        started = self._clock.now()
        log.info(
            "video %s: transcode started (attempt %d, %s, %s)",
            video_id,
            video.attempts,
            f"{video.duration:.1f} s of video" if video.duration else "duration unknown",
            video.source_name or "no source name",
        )
        staging: Path | None = None
        outcome = "error"
        built: tuple[float, list[Rendition]] | None = None
        try:
            staging = self._store.new_staging(video_id)
            built = await self._build(video, staging, on_progress)
            staging = None  # published: nothing to clean up
            outcome = TranscodeOutcome.READY if built is not None else TranscodeOutcome.SKIPPED  # deleted meanwhile
            return outcome
        except TranscodeStopped:
            log.info("video %s was deleted: its transcode stopped", video_id)
            return TranscodeOutcome.SKIPPED
        except MediaError as error:
            outcome = TranscodeOutcome.FAILED
            await self._fail(video, error.reason)
            return outcome
        except Exception as error:
            if video.attempts >= MAX_ATTEMPTS:
                log.exception("video %s: giving up after %d attempts", video_id, video.attempts)
                await self._fail(video, f"internal error after {video.attempts} attempts ({type(error).__name__})")
                outcome = TranscodeOutcome.FAILED
                return outcome
            await self._requeue(video_id)  # a job timeout or a passing fault: the retry claims it again
            raise
        except BaseException:
            outcome = "cancelled"
            await self._requeue(video_id)  # cancelled (shutdown): hand the video back to the queue
            raise
        finally:
            if staging is not None:
                self._store.discard_staging(staging)
            self._report(video_id, outcome, started, video.duration, built)

    def _report(
        self,
        video_id: int,
        outcome: str,
        started: datetime,
        duration: float | None,
        built: tuple[float, list[Rendition]] | None,
    ) -> None:
        media_seconds, renditions = built if built is not None else (duration, [])
        report = TranscodeReport(
            video_id=video_id,
            outcome=str(outcome),
            seconds=(self._clock.now() - started).total_seconds(),
            media_seconds=media_seconds,
            renditions=tuple(rendition.name for rendition in renditions),
        )
        factor = report.realtime_factor
        log.log(
            logging.INFO if report.outcome in (TranscodeOutcome.READY, TranscodeOutcome.SKIPPED) else logging.WARNING,
            "video %s: transcode %s in %.1f s (%s of video, %s realtime, renditions: %s)",
            video_id,
            report.outcome,
            report.seconds,
            f"{media_seconds:.1f} s" if media_seconds else "unknown length",
            f"{factor:.2f}x" if factor is not None else "n/a",
            ", ".join(report.renditions) or "none",
            extra={
                "video_id": video_id,
                "outcome": report.outcome,
                "duration_s": round(report.seconds, 3),
                "realtime_factor": round(factor, 3) if factor is not None else None,
                "renditions": list(report.renditions),
            },
        )
        try:
            self._transcoded(report)
        except Exception:  # an observer must never break the pipeline
            log.exception("video %s: reporting the transcode failed", video_id)

    async def _build(
        self, video: Video, staging: Path, on_progress: Callable[[float], Awaitable[None]] | None
    ) -> tuple[float, list[Rendition]] | None:
        """Build, verify and publish; the published length and renditions (None: deleted meanwhile)."""
        assert video.id is not None
        source = self._store.source(video.id)
        if source is None:
            raise MediaError("the source file is missing")
        probe = await self._transcoder.probe(source)
        check_limits(probe, self._limits)  # limits lowered since the upload, or a source replaced on disk
        rungs = plan_ladder(probe)
        last_write = self._clock.now()

        async def progress(percent: float) -> None:
            nonlocal last_write
            if on_progress is not None:
                await on_progress(percent)
            now = self._clock.now()
            if now - last_write >= PROGRESS_INTERVAL:
                last_write = now
                async with self._uow() as uow:
                    exists = await uow.videos.set_progress(video.id, round(min(percent, 99.0), 1), now)  # type: ignore[arg-type]
                    await uow.commit()
                if not exists:  # deleted meanwhile, maybe by another process: stop ffmpeg now (S23)
                    raise TranscodeStopped

        renditions = await self._transcoder.build_ladder(source, probe, rungs, staging, progress)
        for rung in rungs:
            text = self._store.staged_playlist(staging, rung.name)
            check_rendition(rung.name, text, probe.duration)
            assert text is not None  # check_rendition refuses a missing playlist
            check_segments_stored(rung.name, text, partial(self._store.staged_file_size, staging, rung.name))
        thumbnail = video.thumbnail
        if not video.custom_thumbnail:
            with self._store.incoming(".jpg") as image:
                await self._transcoder.thumbnail(source, probe, image)
                thumbnail = self._store.store_thumbnail(video.id, image)
        self._store.publish(video.id, staging)
        old_thumbnail = video.thumbnail
        async with self._uow() as uow:
            current = await uow.videos.get(video.id)
            if current is None:  # deleted while transcoding
                self._store.delete_video(video.id, thumbnail)
                return None
            if current.custom_thumbnail and current.thumbnail != video.thumbnail:
                # Staff set a poster while we were transcoding: theirs wins, our frame goes.
                if thumbnail and thumbnail != current.thumbnail:
                    self._store.delete_thumbnail(thumbnail)
                thumbnail = old_thumbnail = current.thumbnail
            current.status = VideoStatus.READY
            current.published = True
            current.progress = 100.0
            current.failure_reason = None
            current.duration = probe.duration
            current.renditions = renditions
            current.thumbnail = thumbnail
            current.updated_at = self._clock.now()
            await uow.videos.save(current)
            await uow.commit()
        self._catalog_changed()
        if old_thumbnail and old_thumbnail != thumbnail:
            self._store.delete_thumbnail(old_thumbnail)
        if on_progress is not None:
            await on_progress(100.0)
        return probe.duration, renditions

    async def _fail(self, video: Video, reason: str) -> None:
        """Record the reason. A video that was playable before keeps its old renditions and stays ready."""
        assert video.id is not None
        log.warning("video %s failed: %s", video.id, reason)
        async with self._uow() as uow:
            current = await uow.videos.get(video.id)
            if current is None:
                return
            still_playable = current.published and self._store.is_published(video.id)
            current.status = VideoStatus.READY if still_playable else VideoStatus.FAILED
            current.failure_reason = reason if not still_playable else f"regeneration failed: {reason}"
            current.progress = 100.0 if still_playable else 0.0
            current.updated_at = self._clock.now()
            await uow.videos.save(current)
            await uow.commit()

    async def _requeue(self, video_id: int) -> None:
        try:
            async with self._uow() as uow:
                current = await uow.videos.get(video_id)
                if current is not None and current.status is VideoStatus.PROCESSING:
                    current.status = VideoStatus.QUEUED
                    current.updated_at = self._clock.now()
                    await uow.videos.save(current)
                    await uow.commit()
        except Exception:  # the sweep recovers a video left "processing" once it goes stale
            log.exception("could not hand video %s back to the queue", video_id)

    async def request_transcode(self, video_id: int) -> Video:
        """Queue the pipeline again (staff "retry" or "regenerate"). Published files stay until replaced."""
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None:
                raise NotFound("Video not found.")
            if video.status is not VideoStatus.PROCESSING:
                video.status = VideoStatus.QUEUED
                video.progress = 0.0
                video.updated_at = self._clock.now()
                await uow.videos.save(video)
                await uow.commit()
        await self._ring(video)
        return video

    async def regenerate(
        self, video_id: int, *, overwrite: bool, on_progress: Callable[[float], Awaitable[None]] | None = None
    ) -> TranscodeOutcome:
        """Rebuild HLS for one video now (the CLI). Complete ladders are skipped unless ``overwrite``."""
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None:
                raise NotFound("Video not found.")
            if not overwrite and self.is_complete(video):
                return TranscodeOutcome.SKIPPED
            if video.status is VideoStatus.PROCESSING and video.updated_at > self._clock.now() - STALE_AFTER:
                return TranscodeOutcome.BUSY
            video.status = VideoStatus.QUEUED
            video.updated_at = self._clock.now()
            await uow.videos.save(video)
            await uow.commit()
        return await self.transcode(video_id, on_progress)

    def is_complete(self, video: Video) -> bool:
        """Ready, and every rendition it claims has a finished playlist of the right length on disk."""
        if video.status is not VideoStatus.READY or not video.renditions or video.id is None:
            return False
        if not self._store.is_published(video.id):
            return False
        try:
            for rendition in video.renditions:
                text = self._store.published_playlist(video.id, rendition.name)
                check_rendition(rendition.name, text, video.duration or 0)
        except MediaError:
            return False
        return True

    async def sweep(self) -> int:
        """Ring for every video that is queued or whose worker died mid-transcode."""
        now = self._clock.now()
        async with self._uow() as uow:
            ids = await uow.videos.ids_needing_work(now - STALE_AFTER)
            videos = [v for v in [await uow.videos.get(i) for i in ids] if v is not None]
        for video in videos:
            await self._ring(video)
        return len(videos)

    async def get(self, video_id: int) -> Video:
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
        if video is None:
            raise NotFound("Video not found.")
        return video

    async def list_all(self) -> list[Video]:
        async with self._uow() as uow:
            return await uow.videos.list_all()

    async def search(
        self,
        text: str | None = None,
        status: str | None = None,
        category: str | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> VideoPage:
        """One page of the staff's list (newest first) and how many videos match in all."""
        query = VideoQuery(
            text=(text or "").strip(),
            status=_status(status),
            category=(category or "").strip() or None,
            page=page,
            page_size=page_size,
        )
        if len(query.text) > MAX_SEARCH_LENGTH:
            raise InvalidInput(f"Search for at most {MAX_SEARCH_LENGTH} characters.", field="q")
        if not 1 <= page <= MAX_PAGE:
            raise InvalidInput(f"The page is a number from 1 to {MAX_PAGE}.", field="page")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"The page size is a number from 1 to {MAX_PAGE_SIZE}.", field="page_size")
        async with self._uow() as uow:
            return await uow.videos.search(query)

    async def categories(self) -> list[CategoryCount]:
        """Every category that has videos, by name, with how many."""
        async with self._uow() as uow:
            return await uow.videos.categories()

    async def update(
        self,
        video_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        thumbnail: Path | None = None,
    ) -> Video:
        """Change the metadata and, with ``thumbnail``, the poster (converted before the transaction opens:
        ffmpeg must not hold the database's write lock)."""
        with self._store.incoming(".jpg") as poster:
            if thumbnail is not None:
                await self._convert_image(thumbnail, poster)
            video, old_thumbnail = await self._save_metadata(
                video_id, title, description, category, poster if thumbnail is not None else None
            )
        self._catalog_changed()
        if old_thumbnail:
            self._store.delete_thumbnail(old_thumbnail)
        return video

    async def _save_metadata(
        self,
        video_id: int,
        title: str | None,
        description: str | None,
        category: str | None,
        poster: Path | None,
    ) -> tuple[Video, str | None]:
        new_thumbnail: str | None = None
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None:
                raise NotFound("Video not found.")
            draft = VideoDraft(
                title=video.title if title is None else title,
                description=video.description if description is None else description,
                category=video.category if category is None else category,
            ).validated()
            video.title, video.description, video.category = draft.title, draft.description, draft.category
            old_thumbnail = None
            try:
                if poster is not None:
                    old_thumbnail = video.thumbnail
                    video.thumbnail = new_thumbnail = self._store.store_thumbnail(video_id, poster)
                    video.custom_thumbnail = True
                video.updated_at = self._clock.now()
                # Only the metadata: a transcode finishing meanwhile owns status, renditions and the rest.
                await uow.videos.save_metadata(video)
                await uow.commit()
            except BaseException:
                if new_thumbnail is not None:
                    self._store.delete_thumbnail(new_thumbnail)
                raise
        return video, old_thumbnail

    async def thumbnail_from_frame(self, video_id: int, seconds: float) -> Video:
        """Make the frame at ``seconds`` the poster; later transcodes keep it, like an uploaded one. The frame is
        taken before the transaction opens, as ``update`` converts images: ffmpeg must not hold the write lock."""
        video = await self.get(video_id)
        duration = video.duration or 0.0
        if not (math.isfinite(seconds) and 0 <= seconds <= duration):
            raise InvalidInput(f"Pick a time from 0 to {duration:.1f} seconds.", field="seconds")
        source = self._store.source(video_id)
        if source is None:
            raise Conflict("The video's source file is missing, so no frame can be taken from it.")
        with self._store.incoming(".jpg") as frame:
            try:
                probe = await self._transcoder.probe(source)
                await self._transcoder.thumbnail(source, probe, frame, at=seconds)
            except MediaError as error:
                raise InvalidInput(f"No frame could be taken there: {error.reason}", field="seconds") from error
            video, old_thumbnail = await self._save_metadata(video_id, None, None, None, frame)
        self._catalog_changed()
        if old_thumbnail:
            self._store.delete_thumbnail(old_thumbnail)
        return video

    async def delete(self, video_id: int) -> None:
        """Remove the video, stop its transcode if one is running (S23), and remove its files."""
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None:
                raise NotFound("Video not found.")
            await uow.videos.delete(video_id)
            await uow.commit()
        self._catalog_changed()
        # After the commit: a transcode that is not reached (Redis down) finds the video gone when it publishes,
        # and removes what it built.
        await self._queue.cancel(Job.TRANSCODE_VIDEO, key=transcode_key(video_id))
        self._store.delete_video(video_id, video.thumbnail)

    async def _convert_image(self, image: Path, out: Path) -> None:
        try:
            await self._transcoder.still_image(image, out)
        except MediaError as error:
            raise InvalidInput(f"The thumbnail is not a usable image: {error.reason}") from error

    async def _ring(self, video: Video) -> None:
        assert video.id is not None
        await self._queue.enqueue(
            Job.TRANSCODE_VIDEO,
            key=transcode_key(video.id),
            timeout=transcode_timeout(video.duration, self._limits.max_transcode_seconds),
            video_id=video.id,
        )
