"""A benchmark library: one real transcoded video (noisy 720p, ~1.3 MB segments) and N catalog rows."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.ffmpeg.binaries import find_ffmpeg
from videoflix.bootstrap import bootstrap
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings


class _NoQueue:
    async def enqueue(self, job: str, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        return True

    async def cancel(self, job: str, *, key: str) -> bool:
        return False


def make_source(path: Path, seconds: int = 8) -> Path:
    """Noisy 1280x720: costs as much to encode as real footage, and fills the 720p rung's bitrate cap."""
    subprocess.run(
        [
            find_ffmpeg(None),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1280x720:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-vf",
            "noise=alls=20:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "18",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    return path


def seed(settings: Settings, work: Path, catalog_size: int) -> int:
    """Returns the id of the playable video; the catalog ends with ``catalog_size`` ready videos."""
    upgrade(settings.database_url)
    source = make_source(work / "source.mp4")

    async def run() -> int:
        container = await bootstrap(settings, queue=_NoQueue(), run_periodic_sweeps=False)
        try:
            video = await container.media.ingest(source, "source.mp4", VideoDraft("Bench", "A noisy clip", "Bench"))
            assert video.id is not None
            assert await container.media.transcode(video.id) == "ready"
            ready = await container.media.get(video.id)
            async with container.uow() as uow:
                for n in range(catalog_size - 1):
                    copy = replace(ready, id=None, title=f"Bench copy {n}", category=f"Category {n % 7}")
                    await uow.videos.add(copy)
                await uow.commit()
            return video.id
        finally:
            await container.close()

    return asyncio.run(run())
