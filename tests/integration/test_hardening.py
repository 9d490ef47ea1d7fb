"""Edge cases found in review: each would break a real user's session or leak something."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.integration.test_http_accounts import login, register_and_activate
from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.db.models import OutboxEmailModel
from videoflix.adapters.mail.file_outbox import FileMailer
from videoflix.bootstrap import bootstrap
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.domain.media.service import VideoDraft
from videoflix.settings import Settings, SettingsError, ensure_secret_key, prepare_data_dir


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
    with pytest.raises(SettingsError, match=r"^SECRET_KEY: too short"):
        make_settings(tmp_path, SECRET_KEY="changeme")


def test_s29_an_empty_generated_key_file_is_replaced(tmp_path):
    (tmp_path / "secret_key").write_text("")
    settings = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path)}))
    assert len(settings.secret_key) >= 32
    again = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path)}))
    assert again.secret_key == settings.secret_key
    upgrade(settings.database_url)  # and the embedded default works with it


# -- S29: secrets and file modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shared",
    [{"DB_HOST": "db.internal"}, {"DATABASE_URL": "postgresql+asyncpg://u@db/v"}, {"REDIS_URL": "redis://r:6379/0"}],
)
def test_s29_no_secret_key_is_refused_where_nodes_would_sign_with_different_keys(tmp_path, shared):
    """DEBUG off, no SECRET_KEY, a shared database or job queue: each node would generate its own key."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path), **shared})
    message = str(refused.value)
    assert message.startswith("SECRET_KEY: required") and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # and nothing was written
    # Development (`make run` sets DEBUG=true) may still generate one, as may the embedded default.
    debug = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path), "DEBUG": "true", **shared}))
    assert len(debug.secret_key) >= 32
    embedded = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path)}))
    assert embedded.secret_key == debug.secret_key  # the one key of this data folder


@pytest.mark.parametrize("key", ["a" * 32, "changeme" * 4, "changeme" * 8, "0123456789abcdef" * 4, "ab" * 40])
def test_s29_predictable_secret_keys_are_refused(tmp_path, key):
    with pytest.raises(SettingsError) as refused:
        make_settings(tmp_path, SECRET_KEY=key)
    message = str(refused.value)
    assert message.startswith("SECRET_KEY: too predictable") and "\n" not in message
    assert key not in message  # the error never prints the key


def test_s29_the_generated_key_file_is_private_from_its_creation(tmp_path, monkeypatch):
    """Created with mode 0600, not written first and chmod-ed afterwards: no chmod runs, even with umask 0."""
    chmods: list[object] = []
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: chmods.append(args))
    previous = os.umask(0)
    try:
        settings = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path / "data")}))
    finally:
        os.umask(previous)
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text() == settings.secret_key
    assert mode_of(key_file) == 0o600
    assert mode_of(tmp_path / "data") == 0o700
    assert chmods == []
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["secret_key"]  # no temporary file left


def test_s29_processes_starting_at_once_share_the_first_key(tmp_path):
    data_dir = tmp_path / "data"
    start = threading.Barrier(8)

    def generate(_: int) -> str:
        start.wait()
        return ensure_secret_key(data_dir)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(generate, range(8)))
    assert len(keys) == 1
    assert (data_dir / "secret_key").read_text() == keys.pop()
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]


async def test_s29_the_data_folder_and_the_sqlite_database_are_private(tmp_path):
    """0700 data folder; 0600 database, -wal and -shm files (SQLite gives them the database file's mode)."""
    settings = prepare_data_dir(Settings.from_env({"VIDEOFLIX_DATA_DIR": str(tmp_path / "data")}))
    await asyncio.to_thread(upgrade, settings.database_url)
    database = tmp_path / "data" / "videoflix.sqlite3"
    assert mode_of(tmp_path / "data") == 0o700
    assert mode_of(database) == 0o600
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        now = datetime.now(UTC)
        async with container.uow() as uow:
            await uow.videos.add(Video("a", "", "Drama", now, now, status=VideoStatus.QUEUED))
            await uow.commit()
        companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: mode_of(p) for p in companions} == {p.name: 0o600 for p in companions}
    finally:
        await container.close()


def test_s29_an_existing_world_readable_database_is_made_private(tmp_path):
    database = tmp_path / "videoflix.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    upgrade(f"sqlite+aiosqlite:///{database}")
    assert mode_of(database) == 0o600


async def test_s29_outbox_emails_are_private(tmp_path):
    """Emails carry one-time links: the outbox folder is 0700 and its .eml files 0600."""
    settings = make_settings(tmp_path / "data")
    mailer = FileMailer(settings.outbox_dir, from_address=settings.default_from_email)
    await mailer.send(EmailMessage("user@example.com", "Confirm", "token=abc", "<p>token=abc</p>"), "m-1")
    assert mode_of(settings.outbox_dir) == 0o700
    assert [mode_of(p) for p in settings.outbox_dir.glob("*.eml")] == [0o600]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
