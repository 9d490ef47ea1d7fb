"""A small video library built through the real pipeline (ffmpeg), for streaming tests and e2e tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.clips import make_standard_clip
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import bootstrap
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings


class NoQueue:
    """Rings go nowhere: the library runs each transcode itself, in order."""

    async def enqueue(self, job: str, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        return True


@dataclass(frozen=True)
class Library:
    settings: Settings
    hd: int  # 1280x720: 480p and 720p
    full_hd: int  # 1920x1080: all three rungs
    queued: int  # not transcoded: must stay invisible


def build_library(settings: Settings, work_dir: Path) -> Library:
    upgrade(settings.database_url)
    hd_clip = make_standard_clip(work_dir / "hd.mp4", 1280, 720, 3)
    full_hd_clip = make_standard_clip(work_dir / "full_hd.mp4", 1920, 1080, 2)
    queued_clip = make_standard_clip(work_dir / "queued.mp4", 640, 360, 1)

    async def build() -> Library:
        container = await bootstrap(settings, queue=NoQueue(), run_periodic_sweeps=False)
        try:
            ids = []
            for clip, title, category in (
                (full_hd_clip, "Ocean Deep", "Documentary"),
                (hd_clip, "Night Train", "Drama"),
            ):
                video = await container.media.ingest(clip, clip.name, VideoDraft(title, f"About {title}", category))
                assert video.id is not None
                assert await container.media.transcode(video.id) == "ready"
                ids.append(video.id)
            queued: Video = await container.media.ingest(queued_clip, "q.mp4", VideoDraft("Queued", "", "Drama"))
            assert queued.id is not None and queued.status is VideoStatus.QUEUED
            return Library(settings=settings, full_hd=ids[0], hd=ids[1], queued=queued.id)
        finally:
            await container.close()

    return asyncio.run(build())
