"""A database that cannot be reached (restarting, dropped, exhausted) is a 503 to retry, with one log line: not an
unexpected error with a traceback per request (seen in the soak test while Postgres restarted)."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from videoflix.adapters.db.uow import unreachable
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


class _RefuseAsShuttingDown(socketserver.BaseRequestHandler):
    """One connection: no TLS, then ``FATAL 57P03`` to the startup message, as Postgres while it stops or starts."""

    SSL_REQUEST = 80877103

    def handle(self) -> None:
        connection: socket.socket = self.request
        stream = connection.makefile("rb")
        length, code = struct.unpack("!ii", stream.read(8))
        if code == self.SSL_REQUEST:
            connection.sendall(b"N")
            (length,) = struct.unpack("!i", stream.read(4))
            stream.read(length - 4)
        else:
            stream.read(length - 8)
        fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0\0"
        connection.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)


@contextlib.contextmanager
def shutting_down_postgres() -> Iterator[int]:
    """A server in its own thread (the app under test may block the test's event loop) that refuses every
    connection as a restarting Postgres does; yields its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RefuseAsShuttingDown)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_r4_a_database_that_is_shutting_down_or_starting_up_is_a_503_not_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While Postgres restarts it accepts connections and refuses them with 57P03, which asyncpg raises from
    connect() unwrapped: the soak test saw a 500 with a traceback for the catalog and an upload there."""
    with shutting_down_postgres() as port:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/videoflix"
        container = await bootstrap(make_settings(tmp_path, DATABASE_URL=url), run_periodic_sweeps=False)
        try:
            async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
                client.headers["Origin"] = TEST_ORIGIN
                caplog.clear()
                with caplog.at_level(logging.WARNING):
                    register = await client.post(
                        "/api/register/",
                        json={
                            "email": "c@example.com",
                            "password": "Tangerine-42!",
                            "confirmed_password": "Tangerine-42!",
                        },
                    )
                assert register.status_code == 503, register.text
                assert register.headers["retry-after"] == "5"
                assert not [r for r in caplog.records if r.exc_info]  # a refusal, not an unexpected error
        finally:
            await container.close()


def test_the_sqlstates_of_a_server_that_takes_no_work_count_as_unreachable() -> None:
    import asyncpg

    assert unreachable(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    assert unreachable(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"))
    assert not unreachable(asyncpg.exceptions.UniqueViolationError("duplicate key value"))
    assert not unreachable(ValueError("not a database error"))
