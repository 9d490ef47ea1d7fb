"""S27 through the app: logout, a password reset, deactivation, deletion and "sign out everywhere" each end the old
access cookie at once, on the catalog, on playlists and on segments (the raw streaming path). And the csrftoken
belongs to the session (S13): derived from it, never echoed from the client.

The library is made by the pipeline with the fake transcoder (small, real HLS text files), on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN
from tests.fakes import FakeTranscoder
from tests.integration.test_http_accounts import PASSWORD, latest_link, login
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.service import VideoDraft
from videoflix.entrypoints.http.app import create_app
from videoflix.entrypoints.http.cookies import session_csrf_token
from videoflix.settings import Settings

VIEWER = "viewer@example.com"
STAFF = "staff@example.com"


@dataclass
class Stack:
    container: Container
    viewer: AsyncTestClient
    staff: AsyncTestClient
    anonymous: AsyncTestClient  # sends only the cookies a test gives it
    video_id: int

    @property
    def urls(self) -> list[str]:
        base = f"/api/video/{self.video_id}"
        return ["/api/video/", f"{base}/480p/index.m3u8", f"{base}/480p/000.ts", f"{base}/index.m3u8"]

    async def statuses(self, access_token: str) -> list[int]:
        """What each protected URL answers to this access cookie alone (GET, and HEAD for the segment)."""
        cookie = {"Cookie": f"access_token={access_token}"}
        answers = [(await self.anonymous.get(url, headers=cookie)).status_code for url in self.urls]
        answers.append((await self.anonymous.head(self.urls[2], headers=cookie)).status_code)
        return answers


def client_of(container: Container) -> AsyncTestClient:
    client = AsyncTestClient(create_app(container=container), base_url=API_BASE)
    client.headers["Origin"] = TEST_ORIGIN
    return client


@pytest.fixture
async def stack(sqlite_settings: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    container = await bootstrap(
        sqlite_settings, transcoder=FakeTranscoder(), run_periodic_sweeps=False, serves_http=True
    )
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"not really a video: the fake transcoder only needs a file")
    video = await container.media.ingest(source, "clip.mp4", VideoDraft("Clip", "A clip", "Drama"))
    assert video.id is not None
    await container.media.transcode(video.id)
    await container.accounts.ensure_account(VIEWER, PASSWORD, staff=False)
    await container.accounts.create_admin(STAFF, PASSWORD)
    async with client_of(container) as viewer, client_of(container) as staff, client_of(container) as anonymous:
        assert (await login(staff, STAFF)).status_code == 200
        yield Stack(container, viewer, staff, anonymous, video.id)
    await container.close()


async def viewer_session(stack: Stack) -> tuple[str, int]:
    """Log the viewer in; its access cookie and user id. Everything it may see answers 200."""
    response = await login(stack.viewer, VIEWER)
    assert response.status_code == 200, response.text
    token = stack.viewer.cookies["access_token"]
    assert await stack.statuses(token) == [200] * 5
    return token, response.json()["user"]["id"]


async def end_by_logout(stack: Stack, user_id: int) -> None:
    csrf = stack.viewer.cookies["csrftoken"]
    assert (await stack.viewer.post("/api/logout/", headers={"X-CSRFToken": csrf})).status_code == 200


async def end_by_password_reset(stack: Stack, user_id: int) -> None:
    assert (await stack.anonymous.post("/api/password_reset/", json={"email": VIEWER})).status_code == 200
    uid, token = await latest_link(stack.container, "confirm_password.html")
    new = "a-brand-new-passphrase"
    confirmed = await stack.anonymous.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": new, "confirm_password": new}
    )
    assert confirmed.status_code == 200, confirmed.text


async def end_by_staff(stack: Stack, method: str, path: str) -> None:
    csrf = {"X-CSRFToken": stack.staff.cookies["csrftoken"]}
    response = await stack.staff.request(method, path, headers=csrf)
    assert response.status_code == 200, response.text


ENDINGS = {
    "logout": end_by_logout,
    "password-reset": end_by_password_reset,
    "deactivate": lambda stack, user_id: end_by_staff(stack, "POST", f"/api/admin/users/{user_id}/deactivate"),
    "delete": lambda stack, user_id: end_by_staff(stack, "DELETE", f"/api/admin/users/{user_id}"),
    "sign-out": lambda stack, user_id: end_by_staff(stack, "POST", f"/api/admin/users/{user_id}/sign-out"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_s27_an_ended_session_s_access_cookie_reads_and_streams_nothing_more(stack: Stack, ending: str) -> None:
    token, user_id = await viewer_session(stack)
    staff_token = stack.staff.cookies["access_token"]

    await ENDINGS[ending](stack, user_id)

    assert await stack.statuses(token) == [401] * 5
    assert await stack.statuses(staff_token) == [200] * 5  # other sessions are untouched


async def test_s27_logout_ends_only_its_own_session(stack: Stack) -> None:
    token, _ = await viewer_session(stack)
    async with client_of(stack.container) as phone:
        assert (await login(phone, VIEWER)).status_code == 200
        other = phone.cookies["access_token"]

    await end_by_logout(stack, 0)

    assert await stack.statuses(token) == [401] * 5
    assert await stack.statuses(other) == [200] * 5


async def test_s27_after_a_logout_a_new_login_works_at_once(stack: Stack) -> None:
    await viewer_session(stack)
    await end_by_logout(stack, 0)
    await viewer_session(stack)


async def test_s27_refreshing_keeps_the_session_and_its_new_access_cookie_ends_with_it(stack: Stack) -> None:
    first, _ = await viewer_session(stack)
    assert (await stack.viewer.post("/api/token/refresh/", json={})).status_code == 200
    second = stack.viewer.cookies["access_token"]
    assert second != first and await stack.statuses(second) == [200] * 5

    await end_by_logout(stack, 0)

    assert await stack.statuses(first) == [401] * 5
    assert await stack.statuses(second) == [401] * 5


# -- the csrftoken belongs to the session ---------------------------------------------------------------------------


async def test_s13_the_csrftoken_is_derived_from_the_session_at_login(stack: Stack) -> None:
    await viewer_session(stack)
    first = stack.viewer.cookies["csrftoken"]
    async with client_of(stack.container) as phone:
        await login(phone, VIEWER)
        second = phone.cookies["csrftoken"]
    assert first != second  # one per session
    assert len(first) >= 32 and first.replace("-", "").replace("_", "").isalnum()


async def test_s13_refresh_re_derives_the_csrftoken_instead_of_echoing_the_client_s(stack: Stack) -> None:
    await viewer_session(stack)
    issued = stack.viewer.cookies["csrftoken"]
    planted = "attacker-chosen-value-0123456789abcdefghij"

    response = await stack.viewer.post(
        "/api/token/refresh/",
        json={},
        headers={"Cookie": f"refresh_token={stack.viewer.cookies['refresh_token']}; csrftoken={planted}"},
    )

    assert response.status_code == 200
    renewed = [c for c in response.headers.get_list("set-cookie") if c.startswith("csrftoken=")]
    assert renewed and renewed[0].startswith(f"csrftoken={issued};")  # the session's, not the planted one
    assert planted not in response.headers.get("set-cookie", "")


async def test_s13_the_csrftoken_is_an_hmac_of_the_session_with_the_secret_key(stack: Stack) -> None:
    session = await stack.container.accounts.login(VIEWER, PASSWORD)
    key = stack.container.settings.secret_key
    token = session_csrf_token(key, session.family_id)
    assert token == session_csrf_token(key, session.family_id)
    assert token != session_csrf_token(key, session.family_id + "x")
    assert token != session_csrf_token(key + "x", session.family_id)
    response = await login(stack.viewer, VIEWER)
    family = stack.container.tokens.decode_access(stack.viewer.cookies["access_token"]).family_id
    assert response.status_code == 200 and stack.viewer.cookies["csrftoken"] == session_csrf_token(key, family)
