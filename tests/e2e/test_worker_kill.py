"""R3: a worker killed with SIGKILL in the middle of a transcode. Postgres + Redis + two real
``videoflix worker`` processes: the video stays ``processing`` with nothing published while no worker
is alive, then the job is found lost (SAQ heartbeat, our sweep) and retried, and the video ends ``ready``
with exactly one complete set of files and no staging leftovers.

Recovery is driven by the production timings (SAQ heartbeat 60 s, its sweep every 60 s, ``STALE_AFTER``
45 s), so this test takes about two minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.integration.clips import FFMPEG, ffmpeg
from tests.media_layout import new_upload, published_dir
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.model import VideoStatus
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings

pytestmark = [pytest.mark.ffmpeg, pytest.mark.timeout(420)]

VIDEOFLIX = Path(sys.executable).parent / "videoflix"
SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
RECOVERY_SECONDS = 240  # heartbeat (60) + SAQ sweep period (60) + retry delay + the transcode itself, with slack


class Workers:
    """``videoflix worker`` processes, each the leader of its own process group (so ffmpeg dies with it)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs) + 1}.log").open("wb")
        proc = subprocess.Popen(
            [str(VIDEOFLIX), "worker", "--concurrency", "1"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}" for path in sorted(self.logs.glob("*.log"))
        )


def live_members(pgid: int) -> list[str]:
    """Commands of the processes of a group that are still running (zombies waiting to be reaped are dead)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            alive.append(command)
    return alive


@pytest.fixture
def settings(tmp_path: Path, pg_database: str, redis_url: str) -> Settings:
    return make_settings(tmp_path / "data", DATABASE_URL=pg_database, REDIS_URL=redis_url)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "MEDIA_"))}
    env.update(
        VIDEOFLIX_ENV_FILE="/nonexistent/.env",
        VIDEOFLIX_DATA_DIR=str(settings.data_dir),
        MEDIA_ROOT=str(settings.media_root),
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY=SECRET,
        LOG_LEVEL="INFO",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Workers(env, logs)
    yield running
    running.stop_all()


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    built = await bootstrap(settings, run_periodic_sweeps=False)
    yield built
    await built.close()


def noisy_clip(path: Path, seconds: int = 20) -> Path:
    """720p with film-grain noise: several seconds of work for the ladder even at -preset veryfast."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={seconds}",
        "-vf", "noise=alls=20:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


async def poll(container: Container, video_id: int, seconds: float, done) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        video = await container.media.get(video_id)
        if done(video):
            return video
        await asyncio.sleep(0.2)
    return await container.media.get(video_id)


async def test_r3_worker_killed_mid_transcode_is_retried_to_one_complete_ladder(container, workers, tmp_path):
    store = container.store
    upload = new_upload(store)
    upload.write_bytes(noisy_clip(tmp_path / "noisy.mp4").read_bytes())
    video = await container.media.ingest(upload, "noisy.mp4", VideoDraft("Noisy", "Grain.", "Tests"))
    video_id = video.id
    assert video_id is not None

    first = workers.start()
    busy = await poll(container, video_id, 120, lambda v: v.status is VideoStatus.PROCESSING and v.progress > 0)
    assert busy.status is VideoStatus.PROCESSING and busy.progress > 0, workers.output()  # type: ignore[attr-defined]
    assert busy.progress < 90, "the transcode is too fast to be killed in the middle"  # type: ignore[attr-defined]
    assert any((store.root / "staging").iterdir())  # ffmpeg is writing

    workers.kill(first)
    for _ in range(50):
        if not live_members(first.pid):
            break
        await asyncio.sleep(0.1)
    assert live_members(first.pid) == [], "ffmpeg survived its worker"
    killed_at = time.monotonic()

    # nobody is working on it: still "processing", nothing half-written is published or listed
    await asyncio.sleep(3)
    stuck = await container.media.get(video_id)
    assert stuck.status is VideoStatus.PROCESSING
    assert published_dir(store, video_id) is None
    assert not (store.root / "releases" / str(video_id)).exists()
    assert video_id not in {entry.id for entry in (await container.catalog.list_ready()).entries}

    workers.start()
    ended = await poll(
        container, video_id, RECOVERY_SECONDS, lambda v: v.status in (VideoStatus.READY, VideoStatus.FAILED)
    )
    recovery = time.monotonic() - killed_at
    assert ended.status is VideoStatus.READY, f"{ended} after {recovery:.0f} s\n{workers.output()}"  # type: ignore[attr-defined]
    assert ended.failure_reason is None and ended.progress == 100  # type: ignore[attr-defined]
    assert ended.attempts >= 2  # type: ignore[attr-defined]

    # exactly one complete ladder, published, decodable through the master; no staging leftovers
    releases = list((store.root / "releases" / str(video_id)).iterdir())
    assert len(releases) == 1
    published = published_dir(store, video_id)
    assert published is not None and published.resolve() == releases[0].resolve()
    assert container.media.is_complete(ended)  # type: ignore[arg-type]
    assert [r.name for r in ended.renditions] == ["480p", "720p"]  # type: ignore[attr-defined]
    master = published / "index.m3u8"
    cmd = [FFMPEG, "-v", "error", "-i", str(master), "-map", "0:v", "-map", "0:a?", "-f", "null", "-"]
    decoded = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr
    assert list((store.root / "staging").iterdir()) == []
    assert list((store.root / "uploads").iterdir()) == []
    assert video_id in {entry.id for entry in (await container.catalog.list_ready()).entries}
    print(f"recovered {recovery:.0f} s after the kill")
