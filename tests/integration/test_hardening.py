"""Edge cases found in review: each would break a real user's session or leak something."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.integration.test_http_accounts import login, register_and_activate
from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.db.models import OutboxEmailModel
from videoflix.bootstrap import bootstrap
from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings


async def test_s13_logout_works_beside_another_apps_odd_cookie(client, container):
    """Browsers send every cookie of 127.0.0.1, whatever the port: one with a space must not hide csrftoken."""
    await register_and_activate(client, container, "odd@example.com")
    await login(client, "odd@example.com")
    client.cookies.set("theme", "dark mode")
    response = await client.post("/api/logout/", headers={"X-CSRFToken": client.cookies.get("csrftoken")})
    assert response.status_code == 200


async def test_refresh_renews_the_csrf_cookie_with_the_session(client, container):
    await register_and_activate(client, container, "long@example.com")
    await login(client, "long@example.com")
    csrf = client.cookies.get("csrftoken")
    response = await client.post("/api/token/refresh/", json={})
    renewed = [c for c in response.headers.get_list("set-cookie") if c.startswith("csrftoken=")]
    assert renewed and f"csrftoken={csrf};" in renewed[0] and "Max-Age=6" in renewed[0]  # ~7 days again
    assert (await client.post("/api/logout/", headers={"X-CSRFToken": csrf})).status_code == 200


async def test_delivered_emails_do_not_keep_their_one_time_links(client, container):
    await register_and_activate(client, container, "secret@example.com")  # waits for the delivery
    for _ in range(50):
        async with container.uow() as uow:
            rows = [
                (row.status, row.text_body, row.html_body)
                for row in (await uow.session.scalars(select(OutboxEmailModel))).all()
            ]
        if rows and all(status == "sent" for status, _, _ in rows):
            break
        await asyncio.sleep(0.05)
    assert rows and all(status == "sent" for status, _, _ in rows)
    assert not any("token=" in text or "token=" in html for _, text, html in rows)


@pytest.mark.parametrize("field", ["title", "description", "category"])
async def test_control_characters_in_video_text_are_a_400_not_a_500(container, field):
    draft = replace(VideoDraft("Title", "Description", "Drama"), **{field: "bad\x00value"})
    with pytest.raises(InvalidInput):
        draft.validated()
    assert VideoDraft("T", "line one\nline two", "Drama").validated().description == "line one\nline two"


async def test_video_ids_are_never_reused(any_db_settings: Settings):
    container = await bootstrap(any_db_settings, run_periodic_sweeps=False)
    try:
        now = datetime.now(UTC)
        async with container.uow() as uow:
            first = await uow.videos.add(Video("a", "", "Drama", now, now, status=VideoStatus.QUEUED))
            await uow.commit()
        assert first.id is not None
        async with container.uow() as uow:
            await uow.videos.delete(first.id)
            await uow.commit()
        async with container.uow() as uow:
            second = await uow.videos.add(Video("b", "", "Drama", now, now, status=VideoStatus.QUEUED))
            await uow.commit()
        assert second.id != first.id  # cached segment URLs and queued jobs of the old id stay apart
    finally:
        await container.close()


def test_short_secret_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="SECRET_KEY"):
        make_settings(tmp_path, SECRET_KEY="changeme")


def test_an_empty_generated_key_file_is_replaced(tmp_path):
    (tmp_path / "secret_key").write_text("")
    settings = Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path)})
    assert len(settings.secret_key) >= 32
    assert Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key
    upgrade(settings.database_url)  # and the embedded default works with it
