"""S27 across real server processes: two `videoflix serve` processes on one Postgres database (two nodes behind a
load balancer). A session ended through one, or by the operator's CLI, is refused by the other within a second, on
the catalog and on the streaming path."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN
from tests.e2e.server import VIDEOFLIX, Server, create_staff, process_env

PASSWORD = "tangerine-rocket-harbour-42"
DEADLINE = 5.0  # seconds to wait at most for what takes about half a second
SEGMENT = "/api/video/1/480p/000.ts"  # no such video: 404 once the cookie is accepted, 401 when it is not


@pytest.fixture
def two_nodes(pg_database: str, tmp_path: Path) -> Iterator[tuple[Server, Server, dict[str, str]]]:
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=pg_database,
        SECRET_KEY="e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",  # the same on every node
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        FRONTEND_URL=TEST_ORIGIN,
        LOGIN_RATE_LIMIT="1000",
        EMAIL_RATE_LIMIT="1000",
    )
    first = Server(env, tmp_path / "first.log")
    second = Server(env, tmp_path / "second.log")
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second, env
    finally:
        assert first.stop() in (0, -15), first.log()
        assert second.stop() in (0, -15), second.log()


def statuses(server: Server, access_token: str) -> tuple[int, int]:
    cookie = {"Cookie": f"access_token={access_token}"}
    return (
        httpx.get(f"{server.url}/api/video/", headers=cookie).status_code,
        httpx.get(f"{server.url}{SEGMENT}", headers=cookie).status_code,
    )


def refused_within_deadline(server: Server, access_token: str) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if statuses(server, access_token) == (401, 401):
            return True
        time.sleep(0.05)
    return False


def test_s27_logout_through_one_node_ends_the_access_cookie_on_the_other(two_nodes) -> None:  # type: ignore[no-untyped-def]
    first, second, env = two_nodes
    create_staff(env, "jane@example.com", PASSWORD)  # any active account will do
    with httpx.Client(base_url=first.url, headers={"Origin": TEST_ORIGIN}) as browser:
        assert browser.post("/api/login/", json={"email": "jane@example.com", "password": PASSWORD}).status_code == 200
        access = browser.cookies["access_token"]
        assert statuses(first, access) == statuses(second, access) == (200, 404)

        logout = browser.post("/api/logout/", json={}, headers={"X-CSRFToken": browser.cookies["csrftoken"]})
        assert logout.status_code == 200

    assert statuses(first, access) == (401, 401)  # the node that ended it: at once
    assert refused_within_deadline(second, access)


def test_s27_the_operator_s_cli_ends_every_session_on_every_node(two_nodes) -> None:  # type: ignore[no-untyped-def]
    first, second, env = two_nodes
    create_staff(env, "jane@example.com", PASSWORD)
    tokens = []
    for node in (first, second):
        login = httpx.post(
            f"{node.url}/api/login/",
            json={"email": "jane@example.com", "password": PASSWORD},
            headers={"Origin": TEST_ORIGIN},
        )
        assert login.status_code == 200
        tokens.append(login.cookies["access_token"])

    done = subprocess.run(
        [VIDEOFLIX, "users", "deactivate", "jane@example.com"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

    for node in (first, second):
        for token in tokens:
            assert refused_within_deadline(node, token)
