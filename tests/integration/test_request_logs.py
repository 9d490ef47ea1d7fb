"""Structured request logs: one line per request with its id, method, path, status and duration; the same id in the
``x-request-id`` header and in every error body; JSON lines with ``LOG_FORMAT=json``, readable lines by default."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
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


async def test_a_proxys_request_id_is_kept_and_a_bad_one_replaced(client: AsyncTestClient) -> None:
    kept = await client.get("/api/health", headers={"X-Request-ID": "0123456789abcdef0123456789abcdef"})
    assert kept.headers["x-request-id"] == "0123456789abcdef0123456789abcdef"
    forged = await client.get("/api/health", headers={"X-Request-ID": "bad id\tinjected"})
    assert forged.headers["x-request-id"] != "bad id\tinjected"
    assert forged.headers["x-request-id"].isalnum()


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


def serve_and_collect_logs(tmp_path: Path, requests: list[tuple[str, dict[str, str]]], **env: str) -> list[str]:
    """Start `videoflix serve`, make ``requests`` (path, headers), stop it; its stderr lines."""
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
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return stderr_path.read_text(encoding="utf-8").splitlines()


def test_json_lines_with_log_format_json(tmp_path: Path) -> None:
    lines = serve_and_collect_logs(
        tmp_path,
        [("/api/health", {"X-Request-ID": "req-json-0123456789"}), ("/api/video/", {})],
        LOG_FORMAT="json",
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
    lines = serve_and_collect_logs(tmp_path, [("/api/health", {"X-Request-ID": "abcdef0123456789"})])
    access = [line for line in lines if ACCESS_LOGGER in line and "[abcdef01]" in line]
    assert len(access) == 1
    assert "GET /api/health 200" in access[0]
    assert not access[0].lstrip().startswith("{")
