"""The media pipeline against fakes of every port: transcoder, media store, unit of work, queue and clock."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes import FakeClock, FakeJobQueue, FakeMediaStore, FakeTranscoder, FakeUnitOfWorkFactory, Ring
from videoflix.domain.catalog.service import CatalogService
from videoflix.domain.errors import InvalidInput, NotFound
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import MediaError, MediaLimits, OutputNotStored, ProbeResult, Video, VideoStatus
from videoflix.domain.media.service import (
    STALE_AFTER,
    MediaService,
    VideoDraft,
    transcode_timeout,
)

DRAFT = VideoDraft(title="Big Buck Bunny", description="A rabbit.", category="Animation")
LADDER = ["480p", "720p", "1080p"]


@dataclass
class Media:
    root: Path
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    store: FakeMediaStore
    transcoder: FakeTranscoder
    queue: FakeJobQueue
    service: MediaService

    def upload(self, content: bytes = b"\x00\x00\x00\x18ftypmp42 pretend video") -> Path:
        path = self.root / f"upload-{uuid.uuid4().hex}.part"
        path.write_bytes(content)
        return path

    def image(self, name: str = "poster.jpg") -> Path:
        path = self.root / name
        path.write_bytes(b"\xff\xd8\xff\xe0poster\xff\xd9")
        return path

    async def ingest(self, draft: VideoDraft = DRAFT, **kwargs: Path) -> int:
        video = await self.service.ingest(self.upload(), "bunny.mp4", draft, **kwargs)
        assert video.id is not None
        return video.id

    async def ready(self) -> int:
        video_id = await self.ingest()
        assert await self.service.transcode(video_id) == "ready"
        return video_id

    def video(self, video_id: int) -> Video:
        return self.uow.state.videos[video_id]

    def staging_leftovers(self) -> list[Path]:
        return self.store.staging_dirs()

    def thumbnail_files(self) -> list[str]:
        return sorted(self.store.thumbnails)

    def published_files(self, video_id: int) -> dict[str, bytes] | None:
        return self.store.published.get(video_id)

    def has_thumbnail(self, name: str | None) -> bool:
        return name is not None and name in self.store.thumbnails

    async def catalog_ids(self) -> list[int]:
        return [entry.id for entry in (await CatalogService(self.uow, self.clock).list_ready()).entries]


@pytest.fixture
def media(tmp_path: Path) -> Media:
    clock, uow, queue = FakeClock(), FakeUnitOfWorkFactory(), FakeJobQueue()
    store = FakeMediaStore(tmp_path / "scratch")
    transcoder = FakeTranscoder()
    service = MediaService(uow, store, transcoder, queue, clock)
    return Media(tmp_path, clock, uow, store, transcoder, queue, service)


# ------------------------------------------------------------------------------------------ ingest


async def test_ingest_probes_the_upload_queues_the_video_keeps_the_source_and_rings_the_transcode(
    media: Media,
) -> None:
    upload = media.upload(b"the uploaded bytes")
    seen: list[tuple[int, VideoStatus | None]] = []

    def at_ring(ring: Ring) -> None:
        stored = media.uow.state.videos.get(ring.kwargs["video_id"])
        seen.append((media.uow.open_count, stored.status if stored else None))

    media.queue.on_enqueue = at_ring

    video = await media.service.ingest(upload, "My Film.mp4", VideoDraft("  Bunny  ", " A rabbit. ", " Animation "))

    assert video.id is not None
    assert media.transcoder.probed == [upload]
    stored = media.video(video.id)
    assert stored.status is VideoStatus.QUEUED and stored.progress == 0.0
    assert (stored.title, stored.description, stored.category) == ("Bunny", "A rabbit.", "Animation")
    assert stored.duration == media.transcoder.probe_result.duration
    assert stored.source_size == media.transcoder.probe_result.size_bytes
    assert stored.source_name == "My Film.mp4"
    assert not upload.exists()
    source = media.store.source(video.id)
    assert source is not None and source.read_bytes() == b"the uploaded bytes"
    timeout = transcode_timeout(media.transcoder.probe_result.duration)
    assert media.queue.jobs == [(Job.TRANSCODE_VIDEO, f"transcode:{video.id}", timeout, {"video_id": video.id})]
    assert seen == [(0, VideoStatus.QUEUED)]  # rung after the commit
    assert await media.catalog_ids() == []  # not playable yet


async def test_ingest_keeps_only_the_base_name_of_the_uploaded_file(media: Media) -> None:
    video = await media.service.ingest(media.upload(), "../../etc/passwd", DRAFT)
    assert video.id is not None and media.video(video.id).source_name == "passwd"


async def test_s22_ingest_of_something_that_is_not_a_video_is_invalid_input_and_stores_nothing(media: Media) -> None:
    media.transcoder.probe_error = MediaError("no video stream")

    with pytest.raises(InvalidInput, match="no video stream"):
        await media.service.ingest(media.upload(b"%PDF-1.7 definitely not a video"), "movie.mp4", DRAFT)

    assert media.uow.state.videos == {}
    assert media.store.sources == {} and media.store.incoming_files() == []
    assert media.queue.rings == []


@pytest.mark.parametrize(
    "draft",
    [VideoDraft("  ", "d", "Drama"), VideoDraft("Title", "d", " "), VideoDraft("t" * 201, "d", "Drama")],
    ids=["blank-title", "blank-category", "long-title"],
)
async def test_ingest_without_a_usable_title_or_category_is_invalid_input(media: Media, draft: VideoDraft) -> None:
    with pytest.raises(InvalidInput):
        await media.service.ingest(media.upload(), "movie.mp4", draft)
    assert media.uow.state.videos == {} and media.queue.rings == []


async def test_ingest_with_a_poster_keeps_it_as_a_custom_thumbnail(media: Media) -> None:
    video_id = await media.ingest(thumbnail=media.image())

    stored = media.video(video_id)
    assert stored.custom_thumbnail and stored.thumbnail is not None
    assert media.has_thumbnail(stored.thumbnail)

    assert await media.service.transcode(video_id) == "ready"
    assert media.video(video_id).thumbnail == stored.thumbnail and media.transcoder.thumbnails == 0


async def test_ingest_with_a_poster_that_is_not_an_image_is_invalid_input_and_stores_nothing(media: Media) -> None:
    media.transcoder.image_error = MediaError("not an image")

    with pytest.raises(InvalidInput, match="not an image"):
        await media.ingest(thumbnail=media.image("evil.svg"))

    assert media.uow.state.videos == {} and media.thumbnail_files() == [] and media.queue.rings == []


# ------------------------------------------------------------------------------------------ transcode


async def test_transcode_publishes_every_rung_and_ends_ready_with_renditions_and_a_thumbnail(media: Media) -> None:
    video_id = await media.ingest()
    reported: list[float] = []

    async def on_progress(percent: float) -> None:
        reported.append(percent)

    assert await media.service.transcode(video_id, on_progress) == "ready"

    video = media.video(video_id)
    assert video.status is VideoStatus.READY and video.progress == 100.0 and video.failure_reason is None
    assert [r.name for r in video.renditions] == LADDER
    assert [(r.width, r.height) for r in video.renditions] == [(854, 480), (1280, 720), (1920, 1080)]
    assert media.has_thumbnail(video.thumbnail)
    assert video.attempts == 1
    published = media.published_files(video_id)
    assert published is not None and "index.m3u8" in published
    for rung in LADDER:
        assert b"#EXT-X-ENDLIST" in published[f"{rung}/index.m3u8"]
        assert f"{rung}/000.ts" in published
    assert media.store.stream_file(video_id, "720p", "000.ts") is not None
    assert media.staging_leftovers() == []
    assert reported == sorted(reported) and reported[-1] == 100.0 and len(reported) >= 3
    assert await media.catalog_ids() == [video_id]
    assert media.service.is_complete(video)


async def test_a_small_portrait_source_gets_one_portrait_rung(media: Media) -> None:
    media.transcoder.probe_result = ProbeResult(
        duration=6.0, width=360, height=640, fps=30.0, has_audio=False, size_bytes=60_000, container="mov"
    )
    video_id = await media.ingest()

    assert await media.service.transcode(video_id) == "ready"

    (rendition,) = media.video(video_id).renditions
    assert (rendition.name, rendition.width, rendition.height) == ("480p", 360, 640)


async def test_r5_a_truncated_output_ends_failed_with_a_readable_reason_and_publishes_nothing(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.output_duration = 4.0  # the source claims 10 s

    assert await media.service.transcode(video_id) == "failed"

    video = media.video(video_id)
    assert video.status is VideoStatus.FAILED and video.progress == 0.0
    assert video.failure_reason is not None
    assert "4.00s" in video.failure_reason and "10.00s" in video.failure_reason
    assert video.renditions == [] and video.thumbnail is None
    assert media.published_files(video_id) is None
    assert media.staging_leftovers() == [] and media.thumbnail_files() == []
    assert await media.catalog_ids() == []


async def test_r5_retrying_a_failed_video_after_a_fix_makes_it_ready(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.output_duration = 4.0
    await media.service.transcode(video_id)
    media.transcoder.output_duration = None
    media.queue.clear()

    requeued = await media.service.request_transcode(video_id)

    assert requeued.status is VideoStatus.QUEUED and media.video(video_id).status is VideoStatus.QUEUED
    assert [ring.kwargs for ring in media.queue.delivered(Job.TRANSCODE_VIDEO)] == [{"video_id": video_id}]
    assert await media.service.transcode(video_id) == "ready"
    assert media.video(video_id).failure_reason is None and media.video(video_id).attempts == 2


async def test_an_unfinished_playlist_ends_failed(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.playlist_ended = False

    assert await media.service.transcode(video_id) == "failed"
    assert "incomplete" in (media.video(video_id).failure_reason or "")
    assert media.published_files(video_id) is None and media.staging_leftovers() == []


async def test_a_ladder_whose_segments_were_not_stored_is_never_published_and_is_retried(media: Media) -> None:
    """The soak test filled the media volume during a transcode: ffmpeg exited 0 with empty segments and the video
    was published `ready`, unplayable. Now the verification refuses it and the video goes back to the queue."""
    video_id = await media.ingest()
    media.transcoder.empty_segments = True

    with pytest.raises(OutputNotStored, match=r"segment 000\.ts is empty"):
        await media.service.transcode(video_id)

    video = media.video(video_id)
    assert video.status is VideoStatus.QUEUED and video.failure_reason is None  # a passing fault: tried again
    assert media.published_files(video_id) is None and media.staging_leftovers() == []
    media.transcoder.empty_segments = False  # room on the volume again
    assert await media.service.transcode(video_id) == "ready"
    assert all(content for content in (media.published_files(video_id) or {}).values())


async def test_a_failing_thumbnail_ends_failed_and_publishes_nothing(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.thumbnail_error = MediaError("no frame")

    assert await media.service.transcode(video_id) == "failed"
    assert media.video(video_id).failure_reason == "no frame"
    assert media.published_files(video_id) is None and media.staging_leftovers() == []


async def test_a_missing_source_ends_failed(media: Media) -> None:
    video_id = await media.ingest()
    source = media.store.source(video_id)
    assert source is not None
    source.unlink()

    assert await media.service.transcode(video_id) == "failed"
    assert media.video(video_id).failure_reason == "the source file is missing"


async def test_a_failed_regeneration_keeps_the_old_files_and_the_video_stays_ready(media: Media) -> None:
    video_id = await media.ready()
    before = media.video(video_id)
    files_before = media.published_files(video_id)
    media.transcoder.output_duration = 3.0

    assert await media.service.regenerate(video_id, overwrite=True) == "failed"

    after = media.video(video_id)
    assert after.status is VideoStatus.READY and after.progress == 100.0
    assert (after.failure_reason or "").startswith("regeneration failed: ")
    assert "3.00s" in (after.failure_reason or "")
    assert after.renditions == before.renditions and after.thumbnail == before.thumbnail
    assert media.published_files(video_id) == files_before
    assert media.has_thumbnail(before.thumbnail)
    assert media.staging_leftovers() == []
    assert await media.catalog_ids() == [video_id]
    assert media.service.is_complete(after)


async def test_a_playable_video_stays_in_the_catalog_while_it_is_transcoded_again(media: Media) -> None:
    video_id = await media.ready()
    listed: list[list[int]] = []

    async def look() -> None:
        listed.append(await media.catalog_ids())

    media.transcoder.during_build = look

    await media.service.request_transcode(video_id)
    await look()
    await media.service.transcode(video_id)

    assert listed == [[video_id], [video_id]]


async def test_a_second_concurrent_transcode_of_the_same_video_is_skipped(media: Media) -> None:
    video_id = await media.ingest()

    outcomes = await asyncio.gather(media.service.transcode(video_id), media.service.transcode(video_id))

    assert sorted(outcomes) == ["ready", "skipped"]
    assert len(media.transcoder.builds) == 1 and media.video(video_id).attempts == 1


async def test_r3_a_video_left_processing_by_a_dead_worker_is_swept_and_claimed_again_once_stale(
    media: Media,
) -> None:
    video_id = await media.ingest()
    async with media.uow() as uow:  # a worker claims it, then dies without a trace
        assert await uow.videos.claim_for_processing(video_id, media.clock.now(), media.clock.now() - STALE_AFTER)
        await uow.commit()
    media.queue.clear()

    assert await media.service.sweep() == 0  # it might still be alive
    assert await media.service.transcode(video_id) == "skipped"

    media.clock.advance(STALE_AFTER + timedelta(seconds=1))
    assert await media.service.sweep() == 1
    assert media.queue.jobs == [
        (Job.TRANSCODE_VIDEO, f"transcode:{video_id}", transcode_timeout(10.0), {"video_id": video_id})
    ]
    assert await media.service.transcode(video_id) == "ready"
    assert media.video(video_id).attempts == 2


async def test_r3_progress_writes_keep_a_slow_but_live_worker_from_looking_dead(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.clock = media.clock
    media.transcoder.seconds_per_step = 20.0  # 80 s of transcoding, far beyond STALE_AFTER
    during: list[tuple[int, str, float]] = []

    async def meanwhile() -> None:
        media.queue.clear()
        swept = await media.service.sweep()
        during.append((swept, await media.service.transcode(video_id), media.video(video_id).progress))

    media.transcoder.during_build = meanwhile

    assert await media.service.transcode(video_id) == "ready"

    assert during == [(0, "skipped", 99.0)]
    assert media.video(video_id).progress == 100.0


async def test_the_sweep_rings_queued_videos_but_not_ready_or_failed_ones(media: Media) -> None:
    queued = await media.ingest()
    await media.ready()
    failed = await media.ingest()
    media.transcoder.output_duration = 1.0
    await media.service.transcode(failed)
    media.queue.clear()

    assert await media.service.sweep() == 1
    assert [ring.kwargs["video_id"] for ring in media.queue.rings] == [queued]


async def test_cancellation_hands_the_video_back_to_the_queue_and_reraises(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.build_error = asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await media.service.transcode(video_id)

    assert media.video(video_id).status is VideoStatus.QUEUED
    assert media.published_files(video_id) is None and media.staging_leftovers() == []

    media.transcoder.build_error = None
    assert await media.service.transcode(video_id) == "ready"


async def test_cancelling_the_running_task_hands_the_video_back_to_the_queue(media: Media) -> None:
    video_id = await media.ingest()
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    media.transcoder.during_build = hang
    task = asyncio.create_task(media.service.transcode(video_id))
    await started.wait()
    assert media.video(video_id).status is VideoStatus.PROCESSING

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert media.video(video_id).status is VideoStatus.QUEUED and media.staging_leftovers() == []


async def test_a_job_timeout_hands_the_video_back_to_the_queue_and_reraises(media: Media) -> None:
    video_id = await media.ingest()
    media.transcoder.build_error = TimeoutError()

    with pytest.raises(TimeoutError):
        await media.service.transcode(video_id)

    assert media.video(video_id).status is VideoStatus.QUEUED and media.staging_leftovers() == []


async def test_a_video_deleted_while_transcoding_leaves_no_files_behind(media: Media) -> None:
    video_id = await media.ingest()

    async def delete_meanwhile() -> None:
        await media.service.delete(video_id)

    media.transcoder.during_build = delete_meanwhile

    assert await media.service.transcode(video_id) == "skipped"  # reported as it was: nothing was published

    assert video_id not in media.uow.state.videos
    assert media.published_files(video_id) is None
    assert media.thumbnail_files() == [] and media.staging_leftovers() == []


async def test_transcoding_an_unknown_or_ready_video_is_skipped(media: Media) -> None:
    assert await media.service.transcode(999) == "skipped"
    video_id = await media.ready()
    assert await media.service.transcode(video_id) == "skipped"
    assert len(media.transcoder.builds) == 1


# ------------------------------------------------------------------------------------------ regenerate


async def test_regenerate_skips_a_complete_video_unless_overwrite(media: Media) -> None:
    video_id = await media.ready()
    old_thumbnail = media.video(video_id).thumbnail
    old_release = media.published_files(video_id)

    assert await media.service.regenerate(video_id, overwrite=False) == "skipped"
    assert len(media.transcoder.builds) == 1

    assert await media.service.regenerate(video_id, overwrite=True) == "ready"
    assert len(media.transcoder.builds) == 2
    video = media.video(video_id)
    assert video.status is VideoStatus.READY and video.thumbnail != old_thumbnail
    assert old_thumbnail is not None and not media.has_thumbnail(old_thumbnail)  # replaced, not leaked
    assert len(media.thumbnail_files()) == 1
    new_release = media.published_files(video_id)
    assert old_release is not None and new_release is not None and new_release.keys() == old_release.keys()


async def test_regenerate_rebuilds_a_ready_video_whose_files_are_damaged(media: Media) -> None:
    video_id = await media.ready()
    published = media.published_files(video_id)
    assert published is not None
    published["720p/index.m3u8"] = b"#EXTM3U\n#EXTINF:4.0,\n000.ts\n"  # cut short

    assert await media.service.regenerate(video_id, overwrite=False) == "ready"

    assert len(media.transcoder.builds) == 2 and media.service.is_complete(media.video(video_id))


async def test_regenerate_leaves_a_video_another_worker_is_on_alone(media: Media) -> None:
    video_id = await media.ingest()
    async with media.uow() as uow:
        await uow.videos.claim_for_processing(video_id, media.clock.now(), media.clock.now() - STALE_AFTER)
        await uow.commit()

    assert await media.service.regenerate(video_id, overwrite=True) == "busy"

    media.clock.advance(STALE_AFTER + timedelta(seconds=1))
    assert await media.service.regenerate(video_id, overwrite=True) == "ready"


async def test_regenerate_reports_progress(media: Media) -> None:
    video_id = await media.ingest()
    reported: list[float] = []

    async def on_progress(percent: float) -> None:
        reported.append(percent)

    assert await media.service.regenerate(video_id, overwrite=False, on_progress=on_progress) == "ready"
    assert reported[-1] == 100.0


async def test_regenerate_of_an_unknown_video_is_not_found(media: Media) -> None:
    with pytest.raises(NotFound):
        await media.service.regenerate(404, overwrite=True)


# ------------------------------------------------------------------------------------------ manage


async def test_delete_removes_the_row_and_every_file(media: Media) -> None:
    video_id = await media.ready()
    thumbnail = media.video(video_id).thumbnail
    assert thumbnail is not None

    await media.service.delete(video_id)

    assert video_id not in media.uow.state.videos
    with pytest.raises(NotFound):
        await media.service.get(video_id)
    assert media.published_files(video_id) is None
    assert media.store.stream_file(video_id, "480p", "index.m3u8") is None
    assert media.store.source(video_id) is None and video_id not in media.store.sources
    assert not media.has_thumbnail(thumbnail)
    assert await media.catalog_ids() == []


async def test_s23_delete_cancels_the_transcode_of_the_video_after_removing_it(media: Media) -> None:
    video_id = await media.ingest()
    row_at_cancel: list[bool] = []
    cancel = media.queue.cancel

    async def watching_cancel(job: Job, *, key: str) -> bool:
        row_at_cancel.append(video_id in media.uow.state.videos)
        return await cancel(job, key=key)

    media.queue.cancel = watching_cancel  # type: ignore[method-assign]

    await media.service.delete(video_id)

    assert media.queue.cancelled == [(Job.TRANSCODE_VIDEO, f"transcode:{video_id}")]
    assert row_at_cancel == [False]  # gone first: a transcode the cancel misses finds no video to publish
    assert media.store.source(video_id) is None


async def test_s23_a_source_over_a_limit_is_refused_at_ingest_and_stores_nothing(media: Media) -> None:
    media.transcoder.probe_result = ProbeResult(
        duration=3600.0, width=1920, height=1080, fps=60.0, has_audio=False, size_bytes=7_000, container="matroska"
    )
    with pytest.raises(InvalidInput, match=r"claims 1:00:00 of video in 7000 bytes"):
        await media.service.ingest(media.upload(), "forged.mkv", DRAFT)
    assert media.uow.state.videos == {} and media.queue.rings == []
    assert media.store.sources == {}


async def test_s23_a_source_over_a_limit_lowered_after_upload_fails_when_transcoded(tmp_path: Path) -> None:
    clock, uow, queue = FakeClock(), FakeUnitOfWorkFactory(), FakeJobQueue()
    store, transcoder = FakeMediaStore(tmp_path / "scratch"), FakeTranscoder()
    generous = MediaService(uow, store, transcoder, queue, clock)
    strict = MediaService(uow, store, transcoder, queue, clock, limits=MediaLimits(max_duration_seconds=5))
    upload = tmp_path / "up.part"
    upload.write_bytes(b"video")
    video = await generous.ingest(upload, "a.mp4", DRAFT)
    assert video.id is not None

    assert await strict.transcode(video.id) == "failed"
    assert "longer than the maximum duration of 0:00:05" in (uow.state.videos[video.id].failure_reason or "")
    assert transcoder.builds == []


async def test_s23_the_job_timeout_never_passes_the_configured_maximum(tmp_path: Path) -> None:
    clock, uow, queue = FakeClock(), FakeUnitOfWorkFactory(), FakeJobQueue()
    transcoder = FakeTranscoder(
        ProbeResult(
            duration=3 * 3600.0, width=1280, height=720, fps=25.0, has_audio=True, size_bytes=10**9, container="mov"
        )
    )
    service = MediaService(
        uow,
        FakeMediaStore(tmp_path / "scratch"),
        transcoder,
        queue,
        clock,
        limits=MediaLimits(max_transcode_seconds=7200),
    )
    upload = tmp_path / "up.part"
    upload.write_bytes(b"video")
    await service.ingest(upload, "long.mp4", DRAFT)
    assert [ring.timeout for ring in queue.rings] == [7200]  # not 600 + 20 s x 3 hours = 60 hours


async def test_delete_of_an_unknown_video_is_not_found(media: Media) -> None:
    with pytest.raises(NotFound):
        await media.service.delete(404)


async def test_update_changes_metadata_and_replaces_the_thumbnail(media: Media) -> None:
    video_id = await media.ready()
    old_thumbnail = media.video(video_id).thumbnail

    updated = await media.service.update(video_id, title=" New title ", thumbnail=media.image())

    assert updated.title == "New title" and updated.custom_thumbnail
    stored = media.video(video_id)
    assert stored.title == "New title" and stored.category == DRAFT.category
    assert stored.thumbnail != old_thumbnail and media.has_thumbnail(stored.thumbnail)
    assert old_thumbnail is not None and not media.has_thumbnail(old_thumbnail)

    assert await media.service.regenerate(video_id, overwrite=True) == "ready"
    assert media.video(video_id).thumbnail == stored.thumbnail  # a custom poster survives regeneration


async def test_the_catalog_lists_ready_videos_newest_first(media: Media) -> None:
    older = await media.ready()
    media.clock.advance(hours=1)
    newer = await media.ready()
    media.clock.advance(hours=1)
    queued = await media.ingest()  # queued: not listed
    media.transcoder.output_duration = 1.0
    broken = await media.ingest()
    await media.service.transcode(broken)  # failed: not listed

    entries = (await CatalogService(media.uow, media.clock).list_ready()).entries

    assert [e.id for e in entries] == [newer, older]
    assert entries[0].title == DRAFT.title and entries[0].category == DRAFT.category
    assert entries[0].thumbnail == media.video(newer).thumbnail
    assert [v.id for v in await media.service.list_all()] == [broken, queued, newer, older]  # staff see all


POSTER_RACE = (
    "MediaService._build writes the thumbnail it decided on at claim time over the row, so a poster staff set "
    "through update() while the transcode ran is replaced when it finishes (and its file is orphaned, or the row "
    "points at a file update() already deleted)"
)


async def test_a_poster_set_while_the_video_is_transcoding_is_kept(media: Media) -> None:
    video_id = await media.ingest()
    poster: list[str | None] = []

    async def staff_sets_a_poster() -> None:
        poster.append((await media.service.update(video_id, thumbnail=media.image())).thumbnail)

    media.transcoder.during_build = staff_sets_a_poster

    assert await media.service.transcode(video_id) == "ready"

    video = media.video(video_id)
    assert video.custom_thumbnail and video.thumbnail == poster[0]
    assert media.thumbnail_files() == poster  # the grabbed frame is not leaked


async def test_a_poster_replaced_while_the_video_is_transcoding_is_kept(media: Media) -> None:
    video_id = await media.ingest(thumbnail=media.image("first.jpg"))
    poster: list[str | None] = []

    async def staff_replaces_the_poster() -> None:
        poster.append((await media.service.update(video_id, thumbnail=media.image("second.jpg"))).thumbnail)

    media.transcoder.during_build = staff_replaces_the_poster

    assert await media.service.transcode(video_id) == "ready"

    video = media.video(video_id)
    assert video.thumbnail == poster[0] and media.has_thumbnail(video.thumbnail)


# ------------------------------------------------------------------------------------------ the staff's list


async def test_search_filters_by_title_status_and_category_and_pages_newest_first(media: Media) -> None:
    ids = []
    for title, category in [("Ocean Deep", "Documentary"), ("Night Train", "Drama"), ("Deep Night", "Drama")]:
        ids.append(await media.ingest(VideoDraft(title, "", category)))
        media.clock.advance(minutes=1)
    assert await media.service.transcode(ids[1]) == "ready"

    deep = await media.service.search("DEEP")
    assert [v.id for v in deep.videos] == [ids[2], ids[0]] and deep.total == 2
    assert [v.id for v in (await media.service.search(status="ready")).videos] == [ids[1]]
    assert [v.id for v in (await media.service.search(category="drama")).videos] == [ids[2], ids[1]]
    assert [v.id for v in (await media.service.search("night", "queued", "Drama")).videos] == [ids[2]]

    first, second, past = [await media.service.search(page=n, page_size=2) for n in (1, 2, 3)]
    assert [v.id for v in first.videos] == [ids[2], ids[1]] and first.total == 3
    assert [v.id for v in second.videos] == [ids[0]] and second.total == 3
    assert past.videos == [] and past.total == 3


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"page": 0}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 201}, "page_size"),
        ({"text": "x" * 201}, "q"),
    ],
)
async def test_search_refuses_what_it_cannot_answer_naming_the_input(media: Media, arguments, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        await media.service.search(**arguments)
    assert refused.value.field == field and refused.value.message


async def test_categories_count_the_videos_of_each_category_in_use(media: Media) -> None:
    for category in ("Drama", "Comedy", "Drama"):
        await media.ingest(VideoDraft("A film", "", category))
    gone = await media.ingest(VideoDraft("Gone", "", "Horror"))
    await media.service.delete(gone)

    assert [(c.name, c.videos) for c in await media.service.categories()] == [("Comedy", 1), ("Drama", 2)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"category": ""}, "category"),
        ({"category": "x" * 101}, "category"),
        ({"description": "x" * 5001}, "description"),
        ({"title": "bell\x07"}, "title"),
    ],
)
async def test_a_refused_edit_names_the_field_in_words(media: Media, changes, field) -> None:
    video_id = await media.ingest()
    with pytest.raises(InvalidInput) as refused:
        await media.service.update(video_id, **changes)
    assert refused.value.field == field and field in refused.value.message
    assert media.video(video_id).title == DRAFT.title


# ------------------------------------------------------------------------------------------ a frame as poster


async def test_a_frame_at_the_chosen_time_becomes_the_poster_and_survives_regeneration(media: Media) -> None:
    video_id = await media.ready()
    old_thumbnail = media.video(video_id).thumbnail

    video = await media.service.thumbnail_from_frame(video_id, 1.5)

    assert media.transcoder.frames_taken[-1] == 1.5 and video.custom_thumbnail
    assert video.thumbnail != old_thumbnail and media.has_thumbnail(video.thumbnail)
    assert b"at 1.5" in media.store.thumbnails[video.thumbnail or ""]
    assert old_thumbnail is not None and not media.has_thumbnail(old_thumbnail)
    assert media.store.incoming_files() == []
    assert await media.service.regenerate(video_id, overwrite=True) == "ready"
    assert media.video(video_id).thumbnail == video.thumbnail


@pytest.mark.parametrize("seconds", [-1.0, 10.5, float("nan"), float("inf")])
async def test_a_frame_outside_the_video_is_refused_in_words(media: Media, seconds: float) -> None:
    video_id = await media.ready()  # DEFAULT_PROBE: 10 s
    with pytest.raises(InvalidInput) as refused:
        await media.service.thumbnail_from_frame(video_id, seconds)
    assert refused.value.field == "seconds" and "10.0 seconds" in refused.value.message


async def test_a_frame_that_cannot_be_taken_keeps_the_old_poster(media: Media) -> None:
    video_id = await media.ready()
    old_thumbnail = media.video(video_id).thumbnail
    media.transcoder.thumbnail_error = MediaError("decoder error")

    with pytest.raises(InvalidInput, match="decoder error"):
        await media.service.thumbnail_from_frame(video_id, 2.0)

    assert media.video(video_id).thumbnail == old_thumbnail and media.store.incoming_files() == []
    with pytest.raises(NotFound):
        await media.service.thumbnail_from_frame(404, 1.0)


async def test_s23_deleting_a_video_stops_its_running_transcode(media: Media) -> None:
    """S23: the transcode notices at its next progress write that the video is gone and stops ffmpeg."""
    video_id = await media.ingest()
    media.transcoder.clock, media.transcoder.seconds_per_step = media.clock, 5.0  # every step writes progress

    async def delete_after_first_step(percent: float) -> None:
        if percent == 25.0:
            await media.service.delete(video_id)

    media.transcoder.after_progress = delete_after_first_step

    assert await media.service.transcode(video_id) == "skipped"

    assert media.transcoder.progress_reported == [25.0, 50.0]  # the build stopped at the next write
    assert media.published_files(video_id) is None and media.staging_leftovers() == []
    assert media.thumbnail_files() == [] and video_id not in media.uow.state.videos
