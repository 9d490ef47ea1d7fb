"""A real tus client written by others (tus-js-client in Node, tests/tus_client/upload.js) against real
``videoflix serve`` processes: a whole upload becomes a ready video; a server killed with SIGKILL in the middle of
a PATCH and started again on the same data folder loses only unrecorded bytes and the same client goes on and
completes; a client that stopped (a closed laptop) resumes later from its stored upload URL; and on Postgres +
Redis with several server processes, an upload's requests land on any of them while one writer at a time is
enforced across processes."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN
from tests.e2e.server import Server, Worker, create_staff, process_env
from tests.integration.clips import make_large_clip, make_standard_clip
from tests.tus_client import start_upload

pytestmark = [pytest.mark.ffmpeg, pytest.mark.timeout(600)]

EMAIL, PASSWORD = "tus-staff@example.com", "resumable-upload-password"
SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def session_cookies(server: Server) -> dict[str, str]:
    login = httpx.post(
        f"{server.url}/api/login/", json={"email": EMAIL, "password": PASSWORD}, headers={"Origin": TEST_ORIGIN}
    )
    assert login.status_code == 200, login.text
    return {name: login.cookies[name] for name in ("access_token", "refresh_token", "csrftoken")}


def wait_until(
    server: Server, cookies: dict[str, str], video_id: int, statuses: set[str], seconds: float = 300
) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while True:
        video = httpx.get(f"{server.url}/api/admin/videos/{video_id}", cookies=cookies).json()
        if video["status"] in statuses or time.monotonic() > deadline:
            return video  # type: ignore[no-any-return]
        time.sleep(0.5)


def offset_now(server: Server, cookies: dict[str, str], url: str) -> int:
    head = httpx.head(url, cookies=cookies, headers=TUS)
    assert head.status_code == 200, head.status_code
    return int(head.headers["upload-offset"])


def part_file(data_dir: Path, url: str) -> Path:
    return data_dir / "media" / "resumable" / url.rsplit("/", 1)[1]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    data = tmp_path / "data"
    env = process_env(VIDEOFLIX_DATA_DIR=str(data), SECRET_KEY=SECRET, DEBUG="true", CSRF_TRUSTED_ORIGINS=TEST_ORIGIN)
    create_staff(env, EMAIL, PASSWORD)
    yield env, data


def test_a_whole_upload_through_tus_js_client_becomes_a_ready_video(embedded, tmp_path):
    env, data = embedded
    clip = make_standard_clip(tmp_path / "clip.mp4", 640, 360, 3)
    server = Server(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        cookies = session_cookies(server)
        client = start_upload(
            f"{server.url}/api/admin/uploads/", clip, cookies=cookies, chunk_size=64 * 1024, title="Through tus"
        )
        done = client.wait_for("success")
        assert client.finish() == 0
        chunks = [event for event in client.seen if event["event"] == "chunk"]
        assert len(chunks) == -(-clip.stat().st_size // (64 * 1024))  # one PATCH per chunk
        video = wait_until(server, cookies, done["videoId"], {"ready", "failed"})
        assert video["status"] == "ready", video["failure_reason"]
        assert (video["title"], video["category"], video["source_size"]) == (
            "Through tus",
            "Tests",
            clip.stat().st_size,
        )
        assert list((data / "media" / "resumable").iterdir()) == []
    finally:
        server.stop()


def test_r8_a_server_killed_mid_patch_loses_only_unrecorded_bytes_and_the_client_completes(embedded, tmp_path):
    """The server is killed (SIGKILL) while a PATCH streams in and started again on the same data folder and port.
    The offset a HEAD answers is what is safely stored (the part file holds exactly those bytes of the file), and
    the same tus-js-client, retrying, goes on from there and completes with an intact file."""
    env, data = embedded
    video = make_large_clip(tmp_path / "big.mp4", 40)
    size, chunk = video.stat().st_size, 16 * MIB
    server = Server(env, tmp_path / "server-1.log")
    restarted: Server | None = None
    try:
        server.wait_ready()
        cookies = session_cookies(server)
        client = start_upload(
            f"{server.url}/api/admin/uploads/",
            video,
            cookies=cookies,
            chunk_size=chunk,
            retry_delays="1000,2000,4000,8000,8000,8000,8000",  # covers a restart and a dead writer's lease
        )
        url = client.wait_for("url")["url"]
        accepted = 0
        for event in client.until("success"):
            if event["event"] == "chunk":
                accepted = event["accepted"]
            if event["event"] == "progress" and event["sent"] >= chunk + 2 * MIB:
                break  # in the middle of the second PATCH
        server.signal(signal.SIGKILL)
        server.stop()
        assert accepted < size, "the upload finished before the kill"

        restarted = Server(env, tmp_path / "server-2.log", port=server.port)
        restarted.wait_ready()
        stored = offset_now(restarted, cookies, url)
        assert accepted <= stored < size
        on_disk = part_file(data, url).read_bytes()
        assert len(on_disk) >= stored
        with video.open("rb") as original:
            assert on_disk[:stored] == original.read(stored)  # what counts is exactly the file's beginning

        done = client.wait_for("success", timeout=180)
        assert client.finish() == 0
        assert done["url"] == url  # the same upload, resumed
        created = httpx.get(f"{restarted.url}/api/admin/videos/{done['videoId']}", cookies=cookies).json()
        assert created["source_size"] == size and created["status"] in ("queued", "processing", "ready")
        source = data / "media" / "sources" / str(done["videoId"]) / "source"
        assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(video.read_bytes()).digest()
    finally:
        server.stop()
        if restarted is not None:
            restarted.stop()


def test_a_client_that_stopped_resumes_later_from_its_stored_upload_url(embedded, tmp_path):
    env, _ = embedded
    clip = make_standard_clip(tmp_path / "clip.mp4", 640, 360, 3)
    storage = tmp_path / "tus-urls.json"
    server = Server(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        cookies = session_cookies(server)
        endpoint = f"{server.url}/api/admin/uploads/"
        first = start_upload(endpoint, clip, cookies=cookies, chunk_size=32 * 1024, stop_after=64 * 1024,
                             url_storage=storage)  # fmt: skip
        stopped = first.wait_for("stopped")
        assert first.finish() == 0
        assert offset_now(server, cookies, stopped["url"]) == stopped["accepted"] == 64 * 1024

        second = start_upload(endpoint, clip, cookies=cookies, chunk_size=32 * 1024, url_storage=storage, resume=True)
        done = second.wait_for("success")
        assert second.finish() == 0
        assert done["url"] == stopped["url"]
        first_chunk = next(event for event in second.seen if event["event"] == "chunk")
        assert first_chunk["accepted"] == 96 * 1024  # went on from 64 KiB, nothing sent twice
        listed = httpx.get(f"{server.url}/api/admin/videos/", cookies=cookies).json()
        assert [v["id"] for v in listed] == [done["videoId"]]
    finally:
        server.stop()


def test_several_server_processes_on_postgres_share_uploads_one_writer_at_a_time(tmp_path, pg_database, redis_url):
    """Two Granian workers on Postgres + Redis, and a SAQ worker: the client's PATCHes land on either process,
    a second concurrent PATCH to the same upload is refused with 409 whichever process it reaches, and the video
    is transcoded by the worker."""
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=pg_database,
        REDIS_URL=redis_url,
        SECRET_KEY=SECRET,
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        SWEEP_INTERVAL_SECONDS="5",
    )
    create_staff(env, EMAIL, PASSWORD)
    clip = make_standard_clip(tmp_path / "clip.mp4", 640, 360, 3)
    content = clip.read_bytes()
    server = Server(env, tmp_path / "server.log", workers=2)
    worker = Worker(env, tmp_path / "worker.log")
    try:
        server.wait_ready()
        cookies = session_cookies(server)
        headers = {**TUS, "X-CSRFToken": cookies["csrftoken"]}
        metadata = "title VHdvIHByb2Nlc3Nlcw==,category VGVzdHM="  # "Two processes", "Tests"
        created = httpx.post(
            f"{server.url}/api/admin/uploads/",
            cookies=cookies,
            headers={**headers, "Upload-Length": str(len(content)), "Upload-Metadata": metadata},
        )
        assert created.status_code == 201, created.text
        url = f"{server.url}{created.headers['location']}"

        release = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield content[:1000]
            release.wait(30)
            yield content[1000:2000]

        chunk_headers = {**headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.patch(url, cookies=cookies, headers=chunk_headers, content=slow_body()))
        )
        slow.start()
        time.sleep(1)  # the slow PATCH holds the lease now
        refused = [httpx.patch(url, cookies=cookies, headers=chunk_headers, content=content[:10]) for _ in range(4)]
        assert {r.status_code for r in refused} == {409}  # on either process
        release.set()
        slow.join(30)
        assert answers[0].status_code == 204 and answers[0].headers["upload-offset"] == "2000"

        offset = 2000
        while offset < len(content):  # the rest in small pieces, on whichever process answers
            answer = httpx.patch(
                url,
                cookies=cookies,
                headers={**chunk_headers, "Upload-Offset": str(offset)},
                content=content[offset : offset + 20_000],
            )
            assert answer.status_code == 204, answer.text
            offset = int(answer.headers["upload-offset"])
        video = wait_until(server, cookies, int(answer.headers["video-id"]), {"ready", "failed"})
        assert video["status"] == "ready", video["failure_reason"]
    finally:
        worker.stop()
        server.stop()
