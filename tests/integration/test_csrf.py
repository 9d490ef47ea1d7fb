"""S13: unsafe requests that carry the session cookies prove they come from the frontend, and JSON routes read only
JSON. Through the real app (SQLite): a PATCH of the staff API, the logout and refresh of the contract, the public
account endpoints, and the body types of each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import TEST_ORIGIN
from tests.integration.test_http_accounts import PASSWORD, login
from videoflix.bootstrap import Container
from videoflix.domain.media.model import Video, VideoStatus

STAFF = "staff@example.com"


@pytest.fixture
async def staff(client: AsyncTestClient, container: Container) -> tuple[AsyncTestClient, int]:
    """A logged-in staff session (cookies in the client, Origin = the trusted frontend) and a video to edit."""
    await container.accounts.create_admin(STAFF, PASSWORD)
    assert (await login(client, STAFF)).status_code == 200
    now = datetime.now(UTC)
    async with container.uow() as uow:
        video = await uow.videos.add(Video("Original", "", "Drama", now, now, status=VideoStatus.FAILED))
        await uow.commit()
    assert video.id is not None
    return client, video.id


def token(client: AsyncTestClient) -> str:
    return str(client.cookies["csrftoken"])


async def patch(client: AsyncTestClient, video_id: int, title: str, **headers: str) -> Any:
    client.headers.pop("Origin", None)  # each call says exactly which of Origin, Referer and token it sends
    return await client.patch(f"/api/admin/videos/{video_id}", json={"title": title}, headers=headers)


async def title_of(client: AsyncTestClient, video_id: int) -> str:
    return str((await client.get(f"/api/admin/videos/{video_id}")).json()["title"])


async def test_s13_a_cookie_authenticated_patch_needs_the_csrf_token(staff) -> None:  # type: ignore[no-untyped-def]
    client, video_id = staff
    refused = {
        "neither Origin, Referer nor token": {},
        "the trusted Origin but no token": {"Origin": TEST_ORIGIN},
        "the trusted Referer but no token": {"Referer": f"{TEST_ORIGIN}/pages/admin.html"},
        "a wrong token": {"Origin": TEST_ORIGIN, "X-CSRFToken": "not-the-cookie"},
        "the token from a foreign Origin": {"Origin": "http://evil.example", "X-CSRFToken": token(client)},
    }
    for case, headers in refused.items():
        response = await patch(client, video_id, "Forged", **headers)
        assert response.status_code == 403, case
        assert response.json()["detail"] and response.json()["request_id"]
    assert await title_of(client, video_id) == "Original"

    allowed = await patch(client, video_id, "Edited", **{"X-CSRFToken": token(client)})  # no Origin: fine
    assert allowed.status_code == 200, allowed.text
    assert await title_of(client, video_id) == "Edited"


async def test_s13_logout_needs_the_token_and_the_refresh_a_trusted_origin(staff) -> None:  # type: ignore[no-untyped-def]
    """docs/api.md: the frontend's logout sends X-CSRFToken; its refresh sends none, but comes with its Origin."""
    client, _ = staff
    assert (await client.post("/api/logout/", json={})).status_code == 403  # from the trusted origin, no token
    client.headers.pop("Origin")
    assert (await client.post("/api/token/refresh/", json={})).status_code == 403  # no origin, no token
    client.headers["Origin"] = TEST_ORIGIN
    assert (await client.post("/api/token/refresh/", json={})).status_code == 200  # the frontend's refresh
    assert (await client.post("/api/token/refresh/", headers={"Referer": f"{TEST_ORIGIN}/x"})).status_code == 200
    client.headers.pop("Origin")
    assert (await client.post("/api/token/refresh/", headers={"X-CSRFToken": token(client)})).status_code == 200
    # public endpoints authenticate by no cookie: logging in again with stale cookies needs no token
    client.headers["Origin"] = TEST_ORIGIN
    assert (await login(client, STAFF)).status_code == 200
    assert (await client.post("/api/logout/", headers={"X-CSRFToken": token(client)})).status_code == 200


async def test_s13_json_routes_refuse_other_bodies_with_415(staff) -> None:  # type: ignore[no-untyped-def]
    client, video_id = staff
    credentials = b'{"email": "staff@example.com", "password": "correct-horse-battery"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = await client.post("/api/login/", content=credentials, headers={"Content-Type": content_type})
        assert response.status_code == 415, content_type
        assert response.json()["detail"] == "Send the request body as application/json."
    no_type = await client.post("/api/login/", content=credentials)
    assert "content-type" not in no_type.request.headers and no_type.status_code == 415
    edit = {"X-CSRFToken": token(client), "Content-Type": "text/plain"}
    text = await client.patch(f"/api/admin/videos/{video_id}", content=b'{"title": "Plain"}', headers=edit)
    assert text.status_code == 415
    assert await title_of(client, video_id) == "Original"
    # the upload reads multipart, and only multipart
    upload = await client.post("/api/admin/videos/", json={"title": "x"}, headers={"X-CSRFToken": token(client)})
    assert upload.status_code == 415 and "multipart/form-data" in upload.json()["detail"]
    # JSON, and no body at all, still work
    assert (
        await client.post("/api/login/", content=credentials, headers={"Content-Type": "application/json"})
    ).status_code == 200
    assert (await client.post("/api/token/refresh/")).status_code == 200
