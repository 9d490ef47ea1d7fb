"""What the media pipeline needs: a transcoder, a media store and the video repository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from videoflix.domain.catalog.model import CatalogEntry, Rendition, Video
from videoflix.domain.media.model import PlannedRung, ProbeResult
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
        """Write ``out_dir/<rung>/index.m3u8`` + segments for every rung and ``out_dir/index.m3u8`` (master)
        in one ffmpeg process. ``on_progress`` receives percent (0-100). Raises ``MediaError``."""
        ...

    async def thumbnail(self, source: Path, probe: ProbeResult, out_path: Path) -> None:
        """Write a JPEG of a frame about a third into the video. Raises ``MediaError``."""
        ...


class MediaStore(Protocol):
    """Files of every video under one media root. Published folders change only by an atomic swap."""

    root: Path

    def source_path(self, video_id: int) -> Path: ...

    def adopt_source(self, video_id: int, upload: Path) -> None:
        """Move an upload into place as the video's source (a rename on the same filesystem)."""
        ...

    def exists(self, path: Path) -> bool: ...

    def new_staging_dir(self, video_id: int) -> Path:
        """A fresh, empty folder on the same filesystem as the published ones."""
        ...

    def discard(self, path: Path) -> None:
        """Remove a staging folder and everything in it."""
        ...

    def discard_file(self, path: Path) -> None: ...

    def publish(self, video_id: int, staging_dir: Path) -> None:
        """Make ``staging_dir`` the published HLS folder of the video in one atomic step."""
        ...

    def published_dir(self, video_id: int) -> Path | None: ...

    def read_text(self, path: Path) -> str | None: ...

    def store_thumbnail(self, video_id: int, image: Path) -> str:
        """Move an image into the thumbnails folder under a new name; returns its path relative to the root."""
        ...

    def delete_thumbnail(self, thumbnail: str) -> None: ...

    def delete_video(self, video_id: int, thumbnail: str | None) -> None:
        """Remove the source, the published HLS folder and the thumbnail of a video."""
        ...


class VideoRepository(Protocol):
    async def add(self, video: Video) -> Video: ...

    async def get(self, video_id: int) -> Video | None: ...

    async def list_all(self) -> list[Video]: ...

    async def list_catalog(self) -> list[CatalogEntry]:
        """Published videos (playable now), newest first, in one query."""
        ...

    async def save(self, video: Video) -> None:
        """Write every field of ``video`` back."""
        ...

    async def save_metadata(self, video: Video) -> None:
        """Write title, description, category, thumbnail and updated_at only."""
        ...

    async def set_progress(self, video_id: int, progress: float, now: datetime) -> None: ...

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
