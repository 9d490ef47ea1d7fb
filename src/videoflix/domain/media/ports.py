"""What the media pipeline needs: a transcoder, a media store and the video repository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    Video,
    VideoPage,
    VideoQuery,
)
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
    """A stream or thumbnail file ready to be sent: its local path, and its name below the media root (what an
    ``X-Accel-Redirect`` names, so nginx sends the file itself)."""

    path: str
    internal: str


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


class MediaUnitOfWork(UnitOfWorkBase, Protocol):
    videos: VideoRepository


class MediaUnitOfWorkFactory(Protocol):
    def __call__(self) -> MediaUnitOfWork: ...
