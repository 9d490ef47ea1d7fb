"""S23: ``DELETE /api/admin/videos/{id}`` during a transcode stops it: ffmpeg ends, the staging folder is removed and
the video is gone. On the embedded default (the in-process queue of ``videoflix serve``, whose one transcode slot
is then free for the next video) and with a SAQ worker (the job is aborted; the worker polls for aborts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import Server, create_staff, process_env
from tests.e2e.test_worker_kill import SECRET, Workers, live_members, noisy_clip
from tests.integration.clips import make_standard_clip
from tests.media_layout import new_upload
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.errors import NotFound
from videoflix.domain.media.model import VideoStatus
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings

pytestmark = [pytest.mark.ffmpeg, pytest.mark.timeout(300)]

STAFF, PASSWORD = "staff@example.com", "correct-horse-battery"
ADMIN = "/api/admin/videos/"


def ffmpegs(pgid: int) -> list[str]:
    return [command for command in live_members(pgid) if "ffmpeg" in command.split(" ", 1)[0]]


def until(check, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


# --- embedded default ---------------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET, DEBUG="true", CSRF_TRUSTED_ORIGINS=TEST_ORIGIN
    )
    create_staff(env, STAFF, PASSWORD)
    running = Server(env, tmp_path / "server.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_s23_delete_stops_the_running_transcode_on_the_embedded_default(server: Server, tmp_path: Path) -> None:
    media = tmp_path / "data" / "media"
    client = httpx.Client(base_url=server.url, headers={"Origin": TEST_ORIGIN}, timeout=60)
    assert client.post("/api/login/", json={"email": STAFF, "password": PASSWORD}).status_code == 200
    csrf = {"X-CSRFToken": client.cookies["csrftoken"]}

    def send(path: Path) -> int:
        form = {"title": path.stem, "description": "", "category": "Tests"}
        files = {"file": (path.name, path.read_bytes(), "video/mp4")}
        response = client.post(ADMIN, data=form, files=files, headers=csrf)
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    video_id = send(noisy_clip(tmp_path / "noisy.mp4"))
    busy = until(lambda: client.get(f"{ADMIN}{video_id}").json()["progress"] > 0, 120)
    assert busy, server.log()[-3000:]
    assert ffmpegs(server.proc.pid), "no ffmpeg running for the transcode"
    assert any((media / "staging").iterdir())

    deleted = client.delete(f"{ADMIN}{video_id}", headers=csrf)
    assert deleted.status_code == 200, deleted.text

    assert until(lambda: not ffmpegs(server.proc.pid), 10), ffmpegs(server.proc.pid)
    assert list((media / "staging").iterdir()) == []
    assert client.get(f"{ADMIN}{video_id}").status_code == 404
    assert not (media / "sources" / str(video_id)).exists() and not (media / "releases" / str(video_id)).exists()
    # the one transcode slot is free again: the next upload is transcoded at once
    next_id = send(make_standard_clip(tmp_path / "next.mp4", 320, 180, 1))
    ready = until(lambda: client.get(f"{ADMIN}{next_id}").json()["status"] in ("ready", "failed"), 60)
    assert ready and client.get(f"{ADMIN}{next_id}").json()["status"] == "ready"


# --- SAQ worker ---------------------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, pg_database: str, redis_url: str) -> Settings:
    return make_settings(tmp_path / "data", DATABASE_URL=pg_database, REDIS_URL=redis_url)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(settings.data_dir),
        MEDIA_ROOT=str(settings.media_root),
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY=SECRET,
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


async def test_s23_delete_aborts_the_transcode_in_a_saq_worker(container: Container, workers: Workers, tmp_path):
    store = container.store
    upload = new_upload(store)
    upload.write_bytes(noisy_clip(tmp_path / "noisy.mp4").read_bytes())
    video = await container.media.ingest(upload, "noisy.mp4", VideoDraft("Noisy", "Grain.", "Tests"))
    assert video.id is not None
    worker = workers.start()

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = await container.media.get(video.id)
        if current.status is VideoStatus.PROCESSING and current.progress > 0:
            break
        await asyncio.sleep(0.2)
    assert ffmpegs(worker.pid), workers.output()

    await container.media.delete(video.id)

    deadline = time.monotonic() + 15  # the worker looks for aborted jobs every second
    while ffmpegs(worker.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert ffmpegs(worker.pid) == [], workers.output()
    assert worker.poll() is None  # the worker lives on for other jobs
    while any((store.root / "staging").iterdir()) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert list((store.root / "staging").iterdir()) == []
    with pytest.raises(NotFound):
        await container.media.get(video.id)
    assert not (store.root / "sources" / str(video.id)).exists()
    assert not (store.root / "releases" / str(video.id)).exists()
