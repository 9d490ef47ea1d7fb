"""Graceful shutdown of real processes on SIGTERM (what `docker compose stop` or a rolling deploy sends).

- `videoflix serve` (Granian): stops accepting, finishes the requests in flight, exits 0. The request held open
  here is an upload whose body arrives slowly: the second half is sent only after SIGTERM.
- `videoflix worker` (SAQ): lets running jobs finish within its grace period (30 s), then cancels the rest; a
  cancelled transcode is handed back to `queued` (and SAQ schedules its retry), leaving no half-published files
  and no ffmpeg behind. It exits 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN, make_settings
from tests.integration.clips import FFMPEG, make_standard_clip
from tests.nginx import free_port
from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.queue.saq_queue import create_redis, create_saq_queue
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.model import VideoStatus
from videoflix.domain.media.service import VideoDraft

pytestmark = pytest.mark.ffmpeg

VIDEOFLIX = str(Path(sys.executable).parent / "videoflix")
STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "tangerine-rocket-harbour-42"
WORKER_GRACE_SECONDS = 30  # shutdown_grace_period_s in entrypoints/worker/main.py
SLOW_MARKER = "611"  # `sleep 611`: the stand-in for an ffmpeg run that outlives the grace period


def process_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment `make_settings` describes, for a child process."""
    env = {
        **os.environ,
        "VIDEOFLIX_ENV_FILE": "/nonexistent/.env",
        "VIDEOFLIX_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256-0123456789",
        "DEBUG": "true",
        "CSRF_TRUSTED_ORIGINS": TEST_ORIGIN,
        "FRONTEND_URL": TEST_ORIGIN,
        "LOGIN_RATE_LIMIT": "1000",
        "EMAIL_RATE_LIMIT": "1000",
        "SWEEP_INTERVAL_SECONDS": "3600",
    }
    env.update(extra)
    return env


def wait_for_health(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


def running_commands() -> list[str]:
    commands = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                commands.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return commands


@pytest.fixture
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_standard_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", 320, 240, 1)


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started; killed if the test left them running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_server_finishes_the_request_in_flight_and_exits_0(
    tmp_path: Path, clip: Path, stopper: list[subprocess.Popen[bytes]]
) -> None:
    env = process_env(tmp_path / "data")
    subprocess.run([VIDEOFLIX, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [VIDEOFLIX, "users", "create-admin", "--email", STAFF_EMAIL, "--password-stdin"],
        input=STAFF_PASSWORD.encode() + b"\n",
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [VIDEOFLIX, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-migrate"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    stopper.append(server)
    wait_for_health(base, server, log)

    client = httpx.Client(base_url=base, headers={"Origin": TEST_ORIGIN}, timeout=60)
    assert client.post("/api/login/", json={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}).status_code == 200
    boundary = uuid.uuid4().hex
    video = clip.read_bytes()
    fields = [("title", "Uploaded during a deploy"), ("category", "Drama"), ("description", "")]
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields)
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
    head += "Content-Type: video/mp4\r\n\r\n"
    first_half_sent, sigterm_sent = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        yield head.encode() + video[: len(video) // 2]
        first_half_sent.set()
        sigterm_sent.wait(30)
        time.sleep(0.5)  # the server has had time to start shutting down
        yield video[len(video) // 2 :] + f"\r\n--{boundary}--\r\n".encode()

    outcome: dict[str, httpx.Response | BaseException] = {}

    def upload() -> None:
        try:
            outcome["response"] = client.post(
                "/api/admin/videos/",
                content=body(),
                headers={
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "X-CSRFToken": client.cookies["csrftoken"],
                },
            )
        except BaseException as error:
            outcome["response"] = error

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert first_half_sent.wait(30)
    time.sleep(0.5)  # the first half is in the server's hands
    server.send_signal(signal.SIGTERM)
    sigterm_sent.set()
    uploader.join(60)

    response = outcome["response"]
    assert isinstance(response, httpx.Response), f"the upload in flight was cut off: {response!r}"
    assert response.status_code == 202, response.text
    assert server.wait(60) == 0, log.read_text()

    async def uploaded_titles() -> list[str]:
        container = await bootstrap(make_settings(tmp_path / "data"), run_periodic_sweeps=False)
        try:
            return [v.title for v in await container.media.list_all()]
        finally:
            await container.close()

    assert asyncio.run(uploaded_titles()) == ["Uploaded during a deploy"]  # stored, not lost in the shutdown


def _ffmpeg_wrapper(folder: Path, slow_id: int, quick_id: int) -> Path:
    """ffmpeg that hangs on one video (longer than the grace period) and takes a few seconds for the other."""
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *"/sources/{slow_id}/source"*) exec sleep {SLOW_MARKER} ;;\n'
        f'  *"/sources/{quick_id}/source"*) sleep 3 ;;\n'
        "esac\n"
        f'exec {FFMPEG} "$@"\n'
    )
    script.chmod(0o755)
    return script


async def _status(container: Container, video_id: int) -> VideoStatus:
    return (await container.media.get(video_id)).status


async def test_worker_finishes_one_job_and_hands_back_the_other(
    tmp_path: Path, clip: Path, pg_database: str, redis_url: str, stopper: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, DATABASE_URL=pg_database, REDIS_URL=redis_url)
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        uploads = [tmp_path / "quick.mp4", tmp_path / "slow.mp4"]
        for upload in uploads:
            upload.write_bytes(clip.read_bytes())  # ingesting moves the file into the media folder
        quick = await container.media.ingest(uploads[0], "quick.mp4", VideoDraft("Quick", "", "Drama"))
        slow = await container.media.ingest(uploads[1], "slow.mp4", VideoDraft("Slow", "", "Drama"))
        assert quick.id is not None and slow.id is not None
        wrapper = _ffmpeg_wrapper(tmp_path, slow.id, quick.id)

        log = tmp_path / "worker.log"
        env = process_env(data_dir, DATABASE_URL=pg_database, REDIS_URL=redis_url, FFMPEG_BINARY=str(wrapper))
        with log.open("wb") as output:
            worker = subprocess.Popen(
                [VIDEOFLIX, "worker", "--concurrency", "2"], env=env, stdout=output, stderr=subprocess.STDOUT
            )
        stopper.append(worker)

        deadline = time.monotonic() + 60
        while {await _status(container, slow.id), await _status(container, quick.id)} != {VideoStatus.PROCESSING}:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the worker did not start both jobs:\n{log.read_text()}"
            await asyncio.sleep(0.2)

        worker.send_signal(signal.SIGTERM)  # both transcodes are running
        code = await asyncio.to_thread(worker.wait, WORKER_GRACE_SECONDS + 30)
        output_text = log.read_text()
        assert code == 0, output_text

        # The job that could finish within the grace period did.
        assert await _status(container, quick.id) == VideoStatus.READY, output_text
        # The one that could not was cancelled and handed back: queued again, nothing half-published, no ffmpeg.
        assert await _status(container, slow.id) == VideoStatus.QUEUED, output_text
        media = settings.media_root
        assert not (media / "videos" / str(slow.id)).exists()
        assert not list((media / "staging").iterdir())
        assert not [c for c in running_commands() if f"sleep {SLOW_MARKER}" in c]
        redis = create_redis(redis_url)
        try:
            job = await create_saq_queue(redis).job(f"transcode:{slow.id}")
            assert job is not None and job.status.value == "queued", job  # SAQ will run it again
        finally:
            await redis.aclose()

        # Handed back means resumable: the next run (here in this process, with the real ffmpeg) completes it.
        assert await container.media.transcode(slow.id) == "ready"
        assert await _status(container, slow.id) == VideoStatus.READY
    finally:
        await container.close()
