"""The staff account API (for the Studio) through the app: who may call it, search and pages, deactivate and
activate, staff rights, sign-out, a fresh activation email and delete, and the answers for one's own account and
unknown ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, outbox_files
from tests.integration.test_http_accounts import PASSWORD, latest_link, login
from videoflix.bootstrap import Container
from videoflix.entrypoints.http.app import create_app

USERS = "/api/admin/users/"
STAFF = "staff@example.com"


@dataclass
class Admin:
    container: Container
    staff: AsyncTestClient
    staff_id: int

    def csrf(self) -> dict[str, str]:
        return {"X-CSRFToken": self.staff.cookies["csrftoken"]}

    async def post(self, path: str, body: object | None = None):  # type: ignore[no-untyped-def]
        return await self.staff.post(path, json=body, headers=self.csrf())

    async def user_id(self, email: str, staff: bool = False) -> int:
        user, _ = await self.container.accounts.ensure_account(email, PASSWORD, staff=staff)
        assert user.id is not None
        return user.id


@pytest.fixture
async def admin(container: Container) -> AsyncIterator[Admin]:
    staff = await container.accounts.create_admin(STAFF, PASSWORD)
    assert staff.id is not None
    async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
        client.headers["Origin"] = TEST_ORIGIN
        assert (await login(client, STAFF)).status_code == 200
        yield Admin(container, client, staff.id)


async def test_only_active_staff_may_call_it(admin: Admin, client: AsyncTestClient) -> None:
    assert (await client.get(USERS)).status_code == 401
    await admin.user_id("viewer@example.com")
    assert (await login(client, "viewer@example.com")).status_code == 200
    assert (await client.get(USERS)).status_code == 403
    csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
    assert (await client.post(f"{USERS}{admin.staff_id}/deactivate", headers=csrf)).status_code == 403
    assert (await client.delete(f"{USERS}{admin.staff_id}", headers=csrf)).status_code == 403


async def test_unsafe_calls_need_the_csrf_header_of_the_session(admin: Admin) -> None:
    target = await admin.user_id("target@example.com")
    refused = await admin.staff.post(f"{USERS}{target}/deactivate", headers={"X-CSRFToken": "not-the-cookie"})
    assert refused.status_code == 403
    foreign = await admin.staff.post(
        f"{USERS}{target}/deactivate", headers={**admin.csrf(), "Origin": "http://evil.test"}
    )
    assert foreign.status_code == 403
    user = await admin.container.accounts.get_user(target)
    assert user is not None and user.is_active


async def test_the_list_searches_emails_and_comes_in_pages(admin: Admin) -> None:
    for number in range(60):
        await admin.user_id(f"viewer{number:02d}@example.com")
    await admin.user_id("someone@films.example.org")
    await admin.container.accounts.login("viewer07@example.com", PASSWORD)

    first = (await admin.staff.get(USERS)).json()
    assert (first["count"], first["page"], first["page_size"], len(first["results"])) == (62, 1, 50, 50)
    assert first["results"][0]["email"] == STAFF  # oldest first
    assert set(first["results"][0]) == {"id", "email", "is_active", "is_staff", "created_at", "last_login"}
    second = (await admin.staff.get(USERS, params={"page": 2})).json()
    assert len(second["results"]) == 12 and second["page"] == 2
    assert (await admin.staff.get(USERS, params={"page": 9})).json()["results"] == []

    found = (await admin.staff.get(USERS, params={"q": "VIEWER07"})).json()
    assert found["count"] == 1
    (viewer,) = found["results"]
    assert viewer["email"] == "viewer07@example.com" and viewer["is_active"] and not viewer["is_staff"]
    assert datetime.fromisoformat(viewer["last_login"].replace("Z", "+00:00")).tzinfo is not None
    assert (await admin.staff.get(USERS, params={"q": "films.example"})).json()["count"] == 1
    assert (await admin.staff.get(USERS, params={"q": "%"})).json()["count"] == 0  # a literal %, not a wildcard
    assert (await admin.staff.get(USERS, params={"q": "_"})).json()["count"] == 0
    assert (await admin.staff.get(USERS, params={"page": 0})).status_code == 400


async def test_deactivate_and_activate(admin: Admin, client: AsyncTestClient) -> None:
    target = await admin.user_id("target@example.com")

    deactivated = await admin.post(f"{USERS}{target}/deactivate")
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    assert (await login(client, "target@example.com")).status_code == 401

    activated = await admin.post(f"{USERS}{target}/activate")
    assert activated.status_code == 200 and activated.json()["is_active"] is True
    assert (await login(client, "target@example.com")).status_code == 200


async def test_staff_rights_are_granted_and_taken(admin: Admin, client: AsyncTestClient) -> None:
    target = await admin.user_id("target@example.com")
    await login(client, "target@example.com")
    assert (await client.get(USERS)).status_code == 403

    promoted = await admin.post(f"{USERS}{target}/staff", {"is_staff": True})
    assert promoted.status_code == 200 and promoted.json()["is_staff"] is True
    assert (await client.get(USERS)).status_code == 200  # at once: the staff guard asks the database
    demoted = await admin.post(f"{USERS}{target}/staff", {"is_staff": False})
    assert demoted.status_code == 200 and demoted.json()["is_staff"] is False
    assert (await client.get(USERS)).status_code == 403
    assert (await admin.post(f"{USERS}{target}/staff", {"is_staff": "yes"})).status_code == 400
    assert (await admin.post(f"{USERS}{target}/staff", {"is_staff": True, "x": 1})).status_code == 400


async def test_sign_out_counts_the_sessions_it_ended(admin: Admin, client: AsyncTestClient) -> None:
    target = await admin.user_id("target@example.com")
    await login(client, "target@example.com")
    await admin.container.accounts.login("target@example.com", PASSWORD)

    response = await admin.post(f"{USERS}{target}/sign-out")

    assert response.status_code == 200 and response.json()["sessions_ended"] == 2
    assert (await client.get("/api/video/")).status_code == 401
    assert (await client.post("/api/token/refresh/", json={})).status_code == 401


async def test_resend_activation_sends_a_fresh_link_to_an_inactive_account(
    admin: Admin, client: AsyncTestClient
) -> None:
    registered = await client.post(
        "/api/register/", json={"email": "late@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    target = registered.json()["user"]["id"]
    first = await latest_link(admin.container, "activate.html")
    sent = len(outbox_files(admin.container.settings))

    response = await admin.post(f"{USERS}{target}/resend-activation")

    assert response.status_code == 202, response.text
    assert response.json()["detail"] == "An activation email with a fresh link is on its way."
    outbox = (await admin.staff.get("/api/admin/emails/")).json()
    assert [e["recipient"] for e in outbox if e["id"] == response.json()["email_id"]] == ["late@example.com"]
    for _ in range(100):  # delivered by the in-process queue into the file outbox
        if len(outbox_files(admin.container.settings)) > sent:
            break
        await asyncio.sleep(0.05)
    fresh = await latest_link(admin.container, "activate.html")
    assert fresh != first
    assert (await client.get(f"/api/activate/{first[0]}/{first[1]}/")).status_code == 400  # the old link ended
    assert (await client.get(f"/api/activate/{fresh[0]}/{fresh[1]}/")).status_code == 200

    active = await admin.post(f"{USERS}{target}/resend-activation")
    assert active.status_code == 409
    assert active.json()["detail"] == "The account is active already: it needs no activation email."


async def test_delete_removes_the_account(admin: Admin) -> None:
    target = await admin.user_id("target@example.com")
    response = await admin.staff.delete(f"{USERS}{target}", headers=admin.csrf())
    assert response.status_code == 200 and response.json() == {"detail": "User deleted."}
    assert await admin.container.accounts.get_user(target) is None
    assert (await admin.staff.delete(f"{USERS}{target}", headers=admin.csrf())).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("POST", "/deactivate", None), ("DELETE", "", None), ("POST", "/staff", {"is_staff": False})],
    ids=["deactivate", "delete", "demote"],
)
async def test_staff_cannot_deactivate_delete_or_demote_themselves(
    admin: Admin, method: str, suffix: str, body: object
) -> None:
    response = await admin.staff.request(method, f"{USERS}{admin.staff_id}{suffix}", json=body, headers=admin.csrf())
    assert response.status_code == 409
    assert response.json()["detail"]
    assert (await admin.staff.get(USERS)).status_code == 200  # still staff, still signed in


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "/deactivate", None),
        ("POST", "/activate", None),
        ("POST", "/sign-out", None),
        ("POST", "/staff", {"is_staff": True}),
        ("POST", "/resend-activation", None),
        ("DELETE", "", None),
    ],
)
async def test_unknown_accounts_answer_404(admin: Admin, method: str, suffix: str, body: object) -> None:
    response = await admin.staff.request(method, f"{USERS}987654{suffix}", json=body, headers=admin.csrf())
    assert response.status_code == 404 and response.json()["detail"] == "No such user."
