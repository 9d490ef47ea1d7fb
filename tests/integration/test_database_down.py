"""A database that cannot be reached (restarting, dropped, exhausted) is a 503 to retry, with one log line: not an
unexpected error with a traceback per request (seen in the soak test while Postgres restarted)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from videoflix.bootstrap import bootstrap
from videoflix.entrypoints.http.app import create_app

DEAD_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/videoflix"  # nothing listens on port 1


async def test_r4_requests_while_the_database_is_away_get_503_with_retry_after_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container = await bootstrap(make_settings(tmp_path, DATABASE_URL=DEAD_POSTGRES), run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                login = await client.post("/api/login/", json={"email": "a@example.com", "password": "x" * 12})
                register = await client.post(
                    "/api/register/",
                    json={"email": "b@example.com", "password": "Tangerine-42!", "confirmed_password": "Tangerine-42!"},
                )
            for response in (login, register):
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                body = response.json()
                assert body["detail"] == "The service is temporarily unavailable. Please try again later."
                assert body["request_id"] == response.headers["x-request-id"]
            refusals = [r for r in caplog.records if r.name == "videoflix.http"]
            assert len(refusals) == 2 and all(r.levelno == logging.WARNING for r in refusals)
            assert all(r.exc_info is None and "503" in r.getMessage() for r in refusals)
            assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    finally:
        await container.close()
