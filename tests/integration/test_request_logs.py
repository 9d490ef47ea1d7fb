"""Structured request logs: one line per request with its id, method, path, status and duration; the same id in the
``x-request-id`` header and in every error body; JSON lines with ``LOG_FORMAT=json``, readable lines by default."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import TEST_ORIGIN
from tests.nginx import free_port

VIDEOFLIX = str(Path(sys.executable).parent / "videoflix")
ACCESS_LOGGER = "videoflix.access"


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == ACCESS_LOGGER]


async def test_one_line_per_request_with_id_method_path_status_and_duration(
    client: AsyncTestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    health = await client.get("/api/health")
    videos = await client.get("/api/video/")  # not logged in: 401
    records = access_records(caplog)
    assert len(records) == 2
    for record, response in zip(records, (health, videos), strict=True):
        assert record.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.status == response.status_code  # type: ignore[attr-defined]
        assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert records[0].path == "/api/health"  # type: ignore[attr-defined]
    assert records[1].path.startswith("/api/video")  # type: ignore[attr-defined]
    assert "GET /api/health 200" in records[0].getMessage()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/video/", None, 401),
        ("GET", "/api/no-such-endpoint/", None, 404),
        ("POST", "/api/login/", b"{not json", 400),
        ("DELETE", "/api/register/", None, 405),
    ],
)
async def test_error_answers_carry_the_request_id(
    client: AsyncTestClient, method: str, path: str, body: bytes | None, status: int
) -> None:
    response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    assert len(request_id) >= 8


async def test_s25_a_clients_request_id_is_not_adopted(client: AsyncTestClient) -> None:
    """S25: only a trusted proxy's X-Request-ID is adopted (the test client is no trusted proxy)."""
    sent = await client.get("/api/health", headers={"X-Request-ID": "0123456789abcdef0123456789abcdef"})
    assert sent.headers["x-request-id"] != "0123456789abcdef0123456789abcdef"
    assert re.fullmatch(r"[0-9a-f]{32}", sent.headers["x-request-id"])


# -- the real server process: what `videoflix serve` writes to its stderr ------------------------------------------


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "VIDEOFLIX_ENV_FILE": "/nonexistent/.env",
        "VIDEOFLIX_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256-0123456789",
        "DEBUG": "true",
        "CSRF_TRUSTED_ORIGINS": TEST_ORIGIN,
        "SWEEP_INTERVAL_SECONDS": "3600",
    }
    env.update(extra)
    return env


def serve_and_collect_logs(
    tmp_path: Path,
    requests: list[tuple[str, dict[str, str]]],
    then: Callable[[str], None] | None = None,
    **env: str,
) -> list[str]:
    """Start `videoflix serve`, make ``requests`` (path, headers), call ``then(base_url)`` for more, stop it; its
    stderr lines."""
    port = free_port()
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [VIDEOFLIX, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=server_env(tmp_path / "data", **env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for path, headers in requests:
            httpx.get(base + path, headers=headers, timeout=10)
        if then is not None:
            then(base)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return stderr_path.read_text(encoding="utf-8").splitlines()


def test_json_lines_with_log_format_json(tmp_path: Path) -> None:
    lines = serve_and_collect_logs(
        tmp_path,
        [("/api/health", {"X-Request-ID": "req-json-0123456789"}), ("/api/video/", {})],
        LOG_FORMAT="json",
        TRUSTED_PROXIES="127.0.0.1",
    )
    # Every line Videoflix writes is one JSON object (Granian's own "[INFO] ..." lines come from the server).
    entries = [json.loads(line) for line in lines if line.strip() and not line.startswith("[")]
    access = [entry for entry in entries if entry["logger"] == ACCESS_LOGGER]
    health = [entry for entry in access if entry["request_id"] == "req-json-0123456789"]
    assert len(health) == 1
    assert health[0]["method"] == "GET"
    assert health[0]["path"] == "/api/health"
    assert health[0]["status"] == 200
    assert isinstance(health[0]["duration_ms"], float)
    assert health[0]["level"] == "info"
    assert any(entry["status"] == 401 and entry["path"].startswith("/api/video") for entry in access)


def test_readable_lines_by_default(tmp_path: Path) -> None:
    lines = serve_and_collect_logs(
        tmp_path, [("/api/health", {"X-Request-ID": "abcdef0123456789"})], TRUSTED_PROXIES="127.0.0.1"
    )
    access = [line for line in lines if ACCESS_LOGGER in line and "[abcdef01]" in line]
    assert len(access) == 1
    assert "GET /api/health 200" in access[0]
    assert not access[0].lstrip().startswith("{")


# -- S25: what a client sends cannot forge, flood or leak into the logs ----------------------------------------------

FORGED = "12:00:00 INFO    videoflix.access: GET /api/admin/videos/ 200 1.0ms"
ACTIVATION_TOKEN = "activation-secret-0123456789"
RESET_TOKEN = "reset-secret-0123456789"
LONG_PATH = "/api/" + "a" * 60_000


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_s25_log_lines_cannot_be_forged_flooded_or_leak_one_time_tokens(tmp_path: Path, log_format: str) -> None:
    def more(base: str) -> None:
        # A newline in the path tries to start a second, real-looking line.
        httpx.get(base + "/api/health%0a" + FORGED.replace(" ", "%20"), timeout=10)
        httpx.get(base + LONG_PATH, headers={"User-Agent": "ua-" + "b" * 20_000}, timeout=10)
        httpx.get(f"{base}/api/activate/MQ/{ACTIVATION_TOKEN}/", timeout=10)
        httpx.post(
            f"{base}/api/password_confirm/MQ/{RESET_TOKEN}/",
            json={"new_password": "x", "confirm_password": "y"},
            headers={"Origin": TEST_ORIGIN},
            timeout=10,
        )
        # Not from a trusted proxy (none is configured): the id is not adopted.
        httpx.get(base + "/api/health", headers={"X-Request-ID": "forged-request-id-0123"}, timeout=10)

    lines = serve_and_collect_logs(tmp_path, [], then=more, LOG_FORMAT=log_format)
    text = "\n".join(lines)
    assert not any(line.startswith(FORGED) for line in lines), text[-3000:]
    forged = [line for line in lines if "INFO    videoflix.access: GET /api/admin" in line or "%0a" in line]
    if log_format == "console":
        assert len(forged) == 1 and "\\n" + FORGED in forged[0]  # one line, the newline shown as \n
    else:
        [entry] = [json.loads(line) for line in lines if "/api/health\\\\n" in line]
        assert entry["path"] == "/api/health\\n" + FORGED
    # The 60 KB path and the 20 KB user agent are capped: no line is anywhere near that long.
    assert any("aaaaaaaaaa" in line for line in lines)
    assert max(len(line) for line in lines) < 4_000
    # One-time tokens never reach the log; the paths do, with [redacted] in place of the token.
    assert ACTIVATION_TOKEN not in text and RESET_TOKEN not in text
    assert "/api/activate/MQ/[redacted]" in text
    assert "/api/password_confirm/MQ/[redacted]" in text
    assert "forged-request-id-0123" not in text


def test_one_request_id_on_every_line_of_a_request_and_of_the_job_it_rang(tmp_path: Path) -> None:
    """The access line and the email job's line (the in-process queue of the embedded default) carry the id that
    nginx, a trusted proxy here, sent."""
    request_id = "req-follow-me-0123456789"
    outbox = tmp_path / "data" / "outbox"

    def register(base: str) -> None:
        answer = httpx.post(
            base + "/api/register/",
            json={"email": "follow@example.com", "password": PASSWORD, "confirmed_password": PASSWORD},
            headers={"Origin": TEST_ORIGIN, "X-Request-ID": request_id},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 30
        while not list(outbox.glob("*.eml")):
            assert time.monotonic() < deadline, "the activation email was not written"
            time.sleep(0.1)

    lines = serve_and_collect_logs(tmp_path, [], then=register, LOG_FORMAT="json", TRUSTED_PROXIES="127.0.0.1")
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    ours = [entry for entry in entries if entry.get("request_id") == request_id]
    loggers = {entry["logger"] for entry in ours}
    assert {ACCESS_LOGGER, "videoflix.mail"} <= loggers, ours
    [mail] = [entry for entry in ours if entry["logger"] == "videoflix.mail"]
    assert mail["job_id"] and "email" in mail["job_id"]  # the job says which email it worked on
    assert "token=[redacted]" in mail["message"]


PASSWORD = "tangerine-rocket-harbour-42"
