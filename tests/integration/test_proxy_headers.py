"""Behind a TLS-terminating proxy (nginx) listed in TRUSTED_PROXIES, the app sees the client's real address and
scheme: CSRF accepts the public https origin, absolute URLs are https, rate limits count per real client (S15), and
the proxy's request id is adopted (S25). From any other peer, the same headers change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from litestar.types import Receive, Scope, Send

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.fakes import FakeTranscoder
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.service import VideoDraft
from videoflix.entrypoints.http.app import create_app

PASSWORD = "tangerine-rocket-harbour-42"
PUBLIC = "https://127.0.0.1:8000"  # the API's own origin as the browser sees it through the proxy
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture
async def proxied_container(tmp_path: Path) -> AsyncIterator[Container]:
    settings = make_settings(tmp_path, TRUSTED_PROXIES="127.0.0.1", LOGIN_RATE_LIMIT="2")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, transcoder=FakeTranscoder(), run_periodic_sweeps=False)
    yield container
    await container.close()


async def client_from(container: Container, peer: str) -> AsyncIterator[AsyncTestClient]:
    """The app as reached from ``peer`` (the test client's own address is no IP address)."""
    app = create_app(container=container)
    inner = app.asgi_handler

    async def from_peer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["client"] = (peer, 40000)
        await inner(scope, receive, send)

    app.asgi_handler = from_peer
    async with AsyncTestClient(app, base_url=API_BASE) as client:
        yield client


@pytest.fixture
async def via_nginx(proxied_container: Container) -> AsyncIterator[AsyncTestClient]:
    async for client in client_from(proxied_container, "127.0.0.1"):
        yield client


@pytest.fixture
async def direct(proxied_container: Container) -> AsyncIterator[AsyncTestClient]:
    async for client in client_from(proxied_container, "198.51.100.20"):
        yield client


async def ready_video(container: Container, tmp_path: Path) -> None:
    with container.store.incoming() as upload:
        upload.write_bytes(b"pretend video")
        await container.media.ingest(upload, "clip.mp4", VideoDraft("Clip", "", "Drama"))
    await container.queue.drain(10)  # type: ignore[attr-defined]
    await container.accounts.ensure_account("viewer@example.com", PASSWORD, staff=False)


async def test_the_public_https_origin_and_urls_work_through_a_trusted_proxy(
    via_nginx: AsyncTestClient, proxied_container: Container, tmp_path: Path
) -> None:
    await ready_video(proxied_container, tmp_path)
    login = await via_nginx.post(
        "/api/login/",
        json={"email": "viewer@example.com", "password": PASSWORD},
        headers={**FORWARDED, "Origin": PUBLIC},  # same-origin through the proxy: no CSRF_TRUSTED_ORIGINS entry
    )
    assert login.status_code == 200, login.text
    [video] = (await via_nginx.get("/api/video/", headers=FORWARDED)).json()
    assert video["thumbnail_url"].startswith(f"{PUBLIC}/media/thumbnails/")


async def test_the_same_headers_from_anyone_else_change_nothing(
    direct: AsyncTestClient, proxied_container: Container, tmp_path: Path
) -> None:
    await ready_video(proxied_container, tmp_path)
    forged = await direct.post(
        "/api/login/",
        json={"email": "viewer@example.com", "password": PASSWORD},
        headers={**FORWARDED, "Origin": PUBLIC},
    )
    assert forged.status_code == 403  # plain http here: https://... is a foreign origin
    login = await direct.post(
        "/api/login/", json={"email": "viewer@example.com", "password": PASSWORD}, headers={"Origin": TEST_ORIGIN}
    )
    assert login.status_code == 200
    [video] = (await direct.get("/api/video/", headers=FORWARDED)).json()
    assert video["thumbnail_url"].startswith("http://127.0.0.1:8000/media/thumbnails/")


async def test_s15_rate_limits_count_the_forwarded_client_and_only_from_a_trusted_proxy(
    via_nginx: AsyncTestClient, direct: AsyncTestClient
) -> None:
    accounts = iter(range(100))

    async def attempt(client: AsyncTestClient, forwarded_for: str) -> int:
        answer = await client.post(
            "/api/login/",
            json={"email": f"nobody{next(accounts)}@example.com", "password": "wrong-password"},
            headers={"Origin": TEST_ORIGIN, "X-Forwarded-For": forwarded_for},
        )
        return answer.status_code

    # LOGIN_RATE_LIMIT=2 per client address (and per account; each attempt uses another account below).
    assert [await attempt(via_nginx, "203.0.113.7") for _ in range(3)][-1] == 429
    assert await attempt(via_nginx, "203.0.113.8") == 401  # another client behind the same proxy
    statuses = [await attempt(direct, f"203.0.113.{n}") for n in range(10, 13)]
    assert statuses[-1] == 429  # a forged header from elsewhere does not reset the limit


async def test_s25_the_request_id_of_a_trusted_proxy_is_adopted_and_nobody_elses(
    via_nginx: AsyncTestClient, direct: AsyncTestClient
) -> None:
    request_id = "0123456789abcdef0123456789abcdef"
    assert (await via_nginx.get("/api/health", headers={"X-Request-ID": request_id})).headers[
        "x-request-id"
    ] == request_id
    assert (await direct.get("/api/health", headers={"X-Request-ID": request_id})).headers["x-request-id"] != request_id
