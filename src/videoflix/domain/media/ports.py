"""What the media pipeline needs: a transcoder, a media store, the video repository and the upload sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from videoflix.domain.media.model import (
    CategoryCount,
    PlannedRung,
    ProbeResult,
    Rendition,
    TemporaryFile,
    Video,
    VideoPage,
    VideoQuery,
)
from videoflix.domain.media.upload_model import UploadSession
from videoflix.domain.ports import UnitOfWorkBase

ProgressCallback = Callable[[float], Awaitable[None]]


class Transcoder(Protocol):
    async def probe(self, source: Path) -> ProbeResult:
        """Inspect a source; raises ``MediaError`` when it has no usable video stream."""
        ...

    async def still_image(self, source: Path, out_path: Path) -> None:
        """Write an uploaded image as a 640 px wide JPEG at ``out_path``; raises ``MediaError`` for non-images."""
        ...

    async def build_ladder(
        self,
        source: Path,
        probe: ProbeResult,
        rungs: list[PlannedRung],
        out_dir: Path,
        on_progress: ProgressCallback,
    ) -> list[Rendition]:
        """Write every rung and a master playlist into ``out_dir`` (a staging folder of the media store) in one
        ffmpeg process. ``on_progress`` receives percent (0-100). Raises ``MediaError``."""
        ...

    async def thumbnail(self, source: Path, probe: ProbeResult, out_path: Path, at: float | None = None) -> None:
        """Write a JPEG of the frame at ``at`` seconds, or about a third into the video without it. Raises
        ``MediaError``."""
        ...


@dataclass(frozen=True)
class ServedFile:
    """A stream or thumbnail file ready to be sent: its local path."""

    path: str


class MediaStore(Protocol):
    """Every file of every video. The domain never builds a path: it passes on the ``Path``s the store hands out
    (local files and folders the transcoder reads and writes). Published ladders change only by an atomic swap.
    Another storage (object storage) is another adapter behind this port."""

    def incoming(self, suffix: str = "") -> AbstractContextManager[Path]:
        """A fresh path (no file yet) for an upload or a converted image. Whatever is still there when the block
        ends is removed: a file the store took over (``adopt_source``, ``store_thumbnail``) is gone already."""
        ...

    def adopt_source(self, video_id: int, upload: Path) -> None:
        """Take over an ``incoming()`` file as the video's source, kept for regeneration."""
        ...

    def source(self, video_id: int) -> Path | None:
        """The video's source as a local file, or None when it is missing."""
        ...

    def new_staging(self, video_id: int) -> Path:
        """A fresh, empty folder for a ladder being built; leftovers of a dead worker's build are removed."""
        ...

    def staged_playlist(self, staging: Path, rendition: str) -> str | None:
        """The text of a rendition's playlist in a staging folder, or None."""
        ...

    def staged_file_size(self, staging: Path, rendition: str, name: str) -> int | None:
        """The size of a file a rendition's playlist names (a segment) in a staging folder; None when it is not a
        regular file there."""
        ...

    def discard_staging(self, staging: Path) -> None:
        """Remove a staging folder and everything in it."""
        ...

    def publish(self, video_id: int, staging: Path) -> None:
        """Make the staging folder the video's published ladder in one atomic step."""
        ...

    def is_published(self, video_id: int) -> bool: ...

    def published_playlist(self, video_id: int, rendition: str) -> str | None:
        """The text of a published rendition's playlist, or None."""
        ...

    def store_thumbnail(self, video_id: int, image: Path) -> str:
        """Take over an image under a new name (browsers may cache a name forever); returns that name."""
        ...

    def delete_thumbnail(self, thumbnail: str) -> None: ...

    def delete_video(self, video_id: int, thumbnail: str | None) -> None:
        """Remove the source, the published ladder and the thumbnail of a video."""
        ...

    def stream_file(self, video_id: int, resolution: str | None, name: str) -> ServedFile | None:
        """The published file behind a playlist or segment URL, or None for anything else (S19)."""
        ...

    def thumbnail_file(self, name: str) -> ServedFile | None:
        """A thumbnail by its name, or None."""
        ...

    def check_writable(self) -> str | None:
        """None when new files can be written, else a short reason without paths (the readiness probe)."""
        ...

    def temporary_files(self) -> list[TemporaryFile]:
        """Every upload not taken over yet and every staging folder, with its latest write (housekeeping)."""
        ...

    def remove_temporary_file(self, item: TemporaryFile) -> None:
        """Remove one of ``temporary_files()`` (gone already is fine)."""
        ...

    # The part files of resumable uploads, named by the upload's id (``UPLOAD_ID``).

    def open_upload_part(self, upload_id: str, offset: int) -> AbstractContextManager[UploadPart]:
        """The upload's part file for appending at ``offset``: cut to ``offset`` bytes first, created when
        missing. Only the holder of the upload's lease opens it."""
        ...

    def upload_part_size(self, upload_id: str) -> int:
        """The bytes in the part file (0 when there is none)."""
        ...

    def truncate_upload_part(self, upload_id: str, size: int) -> None:
        """Cut the part file to ``size`` bytes (bytes a killed writer left beyond the recorded offset)."""
        ...

    def upload_part_path(self, upload_id: str) -> Path:
        """The complete part as a local file, to probe and hand to ``adopt_source``."""
        ...

    def discard_upload_part(self, upload_id: str) -> None:
        """Remove the part file, if there is one."""
        ...

    def upload_part_ids(self) -> list[str]:
        """The ids of every part file on disk (the sweep removes those without an upload)."""
        ...


class UploadPart(Protocol):
    """An open part file. Writes land in the operating system at once (a killed process loses none of them);
    ``sync`` makes them durable on the disk (it blocks: run it in a worker thread)."""

    def write(self, data: bytes) -> None: ...

    def sync(self) -> None: ...


class VideoRepository(Protocol):
    async def add(self, video: Video) -> Video: ...

    async def get(self, video_id: int) -> Video | None: ...

    async def list_all(self) -> list[Video]: ...

    async def search(self, query: VideoQuery) -> VideoPage:
        """One page of videos matching ``query``, newest first, and the number matching in all: one query."""
        ...

    async def categories(self) -> list[CategoryCount]:
        """Every category with at least one video, by name."""
        ...

    async def save(self, video: Video) -> None:
        """Write every field of ``video`` back."""
        ...

    async def save_metadata(self, video: Video) -> None:
        """Write title, description, category, thumbnail and updated_at only."""
        ...

    async def set_progress(self, video_id: int, progress: float, now: datetime) -> bool:
        """False when the video no longer exists (deleted while it was transcoded)."""
        ...

    async def claim_for_processing(self, video_id: int, now: datetime, stale_before: datetime) -> Video | None:
        """Move a ``queued`` video to ``processing``; also one left ``processing`` with no progress since
        ``stale_before`` (its worker died). None when there is nothing to do or another worker is on it."""
        ...

    async def delete(self, video_id: int) -> None: ...

    async def ids_needing_work(self, stale_before: datetime) -> list[int]:
        """Videos ``queued``, or ``processing`` without progress since ``stale_before`` (a killed worker)."""
        ...


class UploadRepository(Protocol):
    """Upload sessions. Every write that needs the lease is a conditional UPDATE on the lease token, so two
    processes never both believe they hold it."""

    async def add(self, upload: UploadSession) -> None: ...

    async def get(self, upload_id: str) -> UploadSession | None: ...

    async def unfinished_of(self, owner_id: int, now: datetime) -> list[UploadSession]:
        """The owner's uploads that are neither completed nor expired."""
        ...

    async def claim(
        self, upload_id: str, owner_id: int | None, token: str, now: datetime, until: datetime
    ) -> UploadSession | None:
        """Take the lease of an unfinished, unexpired upload nobody holds (of ``owner_id``, unless None) until
        ``until``. None when there is no such upload or someone else holds it."""
        ...

    async def renew(self, upload_id: str, token: str, until: datetime) -> bool:
        """Extend a lease still held with ``token``; False when it is lost."""
        ...

    async def record_offset(
        self, upload_id: str, token: str, offset: int, lease_until: datetime | None, expires_at: datetime
    ) -> bool:
        """Record the bytes safely stored and push the expiry back, while holding ``token``; the lease is renewed
        until ``lease_until``, or given back with None (the request is done)."""
        ...

    async def release(self, upload_id: str, token: str) -> None:
        """Give the lease back (a no-op when it is no longer held with ``token``)."""
        ...

    async def complete(self, upload_id: str, token: str, video_id: int, expires_at: datetime) -> bool:
        """Mark the upload as having become ``video_id`` and release the lease; False when the lease was lost
        (e.g. the upload was terminated meanwhile)."""
        ...

    async def delete(self, upload_id: str) -> None: ...

    async def delete_expired(self, upload_id: str, now: datetime) -> bool:
        """Delete the upload when it has expired and nobody holds its lease."""
        ...

    async def expired_ids(self, now: datetime) -> list[str]:
        """Uploads past their expiry that nobody holds."""
        ...

    async def stranded_ids(self, now: datetime) -> list[str]:
        """Unexpired uploads with every byte in but no video, that nobody holds: their finishing was cut off."""
        ...

    async def existing_ids(self, upload_ids: Collection[str]) -> set[str]:
        """Which of ``upload_ids`` exist."""
        ...


class MediaUnitOfWork(UnitOfWorkBase, Protocol):
    videos: VideoRepository
    uploads: UploadRepository


class MediaUnitOfWorkFactory(Protocol):
    def __call__(self) -> MediaUnitOfWork: ...
