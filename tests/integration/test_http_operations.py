"""The staff operations API through the real app (SQLite, the in-process queue, the file outbox): the outbox, sending a
failed email again, and the overview the Studio shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.fakes import FakeMailer
from tests.integration.test_http_admin import csrf_headers, login_staff
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.entrypoints.http.app import create_app

PASSWORD = "tangerine-rocket-harbour-42"


@pytest.fixture
async def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
async def app_container(tmp_path: Path, mailer: FakeMailer) -> AsyncIterator[Container]:
    settings = make_settings(tmp_path)
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, mailer=mailer, run_periodic_sweeps=False)
    yield container
    await container.close()


@pytest.fixture
async def staff_client(app_container: Container) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(container=app_container), base_url=API_BASE) as client:
        client.headers["Origin"] = TEST_ORIGIN
        await login_staff(client, app_container)
        yield client


async def failed_activation(client: AsyncTestClient, container: Container, mailer: FakeMailer, email: str) -> int:
    """Register ``email`` while SMTP refuses the mailbox for good: its activation email ends failed."""
    mailer.fail_next(1, "550 5.1.1 mailbox unavailable", permanent=True)
    answer = await client.post(
        "/api/register/", json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    assert answer.status_code == 201
    await container.queue.drain(10)  # type: ignore[attr-defined]
    [failed] = (await client.get("/api/admin/emails/", params={"status": "failed"})).json()
    assert failed["recipient"] == email
    return int(failed["id"])


async def test_staff_see_a_failed_email_and_send_it_again_with_a_fresh_link(
    staff_client: AsyncTestClient, app_container: Container, mailer: FakeMailer
) -> None:
    email_id = await failed_activation(staff_client, app_container, mailer, "lost@example.com")
    listed = (await staff_client.get("/api/admin/emails/", params={"status": "failed"})).json()
    assert listed == [
        {
            "id": email_id,
            "recipient": "lost@example.com",
            "subject": listed[0]["subject"],
            "kind": "activation",
            "status": "failed",
            "attempts": 1,
            "last_error": "550 5.1.1 mailbox unavailable",
            "created_at": listed[0]["created_at"],
            "sent_at": None,
        }
    ]

    retried = await staff_client.post(f"/api/admin/emails/{email_id}/retry", headers=csrf_headers(staff_client))

    assert retried.status_code == 202, retried.text
    body = retried.json()
    assert body["outcome"] == "resent" and body["new_email_id"] > email_id
    await app_container.queue.drain(10)  # type: ignore[attr-defined]
    [sent] = mailer.sent_to("lost@example.com")
    link = re.search(r"uid=([\w-]+)&token=([\w-]+)", sent.text)
    assert link is not None
    activated = await staff_client.get(f"/api/activate/{link[1]}/{link[2]}/")
    assert activated.status_code == 200  # the user can log in at last
    statuses = {e["id"]: e["status"] for e in (await staff_client.get("/api/admin/emails/")).json()}
    assert (statuses[email_id], statuses[body["new_email_id"]]) == ("retried", "sent")


async def test_retrying_an_email_that_did_not_fail_or_does_not_exist(
    staff_client: AsyncTestClient, app_container: Container
) -> None:
    await staff_client.post(
        "/api/register/", json={"email": "fine@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    await app_container.queue.drain(10)  # type: ignore[attr-defined]
    [sent] = (await staff_client.get("/api/admin/emails/", params={"status": "sent"})).json()
    again = await staff_client.post(f"/api/admin/emails/{sent['id']}/retry", headers=csrf_headers(staff_client))
    assert again.status_code == 409
    assert "only failed emails" in again.json()["detail"]
    missing = await staff_client.post("/api/admin/emails/999/retry", headers=csrf_headers(staff_client))
    assert (missing.status_code, missing.json()["detail"]) == (404, "No such email.")
    bad = await staff_client.get("/api/admin/emails/", params={"status": "lost"})
    assert bad.status_code == 400


async def test_the_overview_shows_queue_emails_videos_and_readiness(
    staff_client: AsyncTestClient, app_container: Container, mailer: FakeMailer
) -> None:
    await failed_activation(staff_client, app_container, mailer, "lost@example.com")
    overview = await staff_client.get("/api/admin/operations")
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["emails"] == {"failed": 1}
    assert body["videos"] == {} and body["failed_transcodes"] == 0
    assert body["queue"]["available"] is True
    assert set(body["queue"]["jobs"]) == {"deliver_email", "transcode_video", "sweep", "housekeeping"}
    assert body["queue"]["jobs"]["deliver_email"] == {"queued": 0, "running": 0}
    assert set(body["readiness"]["checks"]) == {"database", "media", "ffmpeg"}


async def test_the_operations_api_is_staff_only(client: AsyncTestClient, container: Container) -> None:
    for path in ("/api/admin/emails/", "/api/admin/operations"):
        assert (await client.get(path)).status_code == 401
    await container.accounts.ensure_account("viewer@example.com", PASSWORD, staff=False)
    login = await client.post("/api/login/", json={"email": "viewer@example.com", "password": PASSWORD})
    assert login.status_code == 200
    for path in ("/api/admin/emails/", "/api/admin/operations"):
        assert (await client.get(path)).status_code == 403
    refused = await client.post("/api/admin/emails/1/retry", headers=csrf_headers(client))
    assert refused.status_code == 403
