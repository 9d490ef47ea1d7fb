"""S27 on real databases (SQLite, the embedded default, and Postgres): two server processes on one database, each
with its own container and poller. A session ended in one is refused by the other within a second."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from videoflix.adapters.db.models import OutboxEmailModel, RefreshTokenModel, SessionRevocationModel
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.accounts.model import User, encode_uid
from videoflix.domain.accounts.service import Session
from videoflix.domain.errors import AuthenticationFailed
from videoflix.entrypoints.http.access import access_claims
from videoflix.settings import Settings

PASSWORD = "tangerine-rocket-harbour-42"
DEADLINE = 5.0  # seconds a test waits at most for something that takes about half a second
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOLD = 0.3  # seconds a racing transaction gets to reach the database


@pytest.fixture
async def two_processes(any_db_settings: Settings) -> AsyncIterator[tuple[Container, Container]]:
    """Two server processes' containers on one database, each polling for the other's revocations."""
    first = await bootstrap(any_db_settings, run_periodic_sweeps=False, serves_http=True)
    second = await bootstrap(any_db_settings, run_periodic_sweeps=False, serves_http=True)
    yield first, second
    await second.close()
    await first.close()


async def logged_in(container: Container, email: str) -> Session:
    await container.accounts.ensure_account(email, PASSWORD, staff=False)
    return await container.accounts.login(email, PASSWORD)


def accepted(container: Container, session: Session) -> bool:
    """Whether this process lets the session's access cookie in (the check of the guards and of streaming)."""
    try:
        access_claims(container, f"access_token={session.access.token}")
    except AuthenticationFailed:
        return False
    return True


async def refused_within_deadline(container: Container, session: Session) -> bool:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while asyncio.get_running_loop().time() < deadline:
        if not accepted(container, session):
            return True
        await asyncio.sleep(0.05)
    return False


EndSession = Callable[[Container, Session], Awaitable[object]]


async def _logout(container: Container, session: Session) -> object:
    return await container.accounts.logout(session.refresh.token)


async def _deactivate(container: Container, session: Session) -> object:
    return await container.accounts.deactivate_user(session.user_id)


async def _delete(container: Container, session: Session) -> object:
    return await container.accounts.delete_user(session.user_id)


async def _sign_out(container: Container, session: Session) -> object:
    return await container.accounts.end_sessions(session.user_id)


async def _reset(container: Container, session: Session) -> object:
    await container.accounts.request_password_reset(session.email)
    async with container.uow() as uow:
        texts = await uow.session.scalars(select(OutboxEmailModel.text_body))
        token = next(
            m.group(1) for t in texts if (m := re.search(r"confirm_password\.html\?uid=\w+&token=([\w-]+)", t))
        )
    new = "another-harbour-rocket-7"
    return await container.accounts.confirm_password_reset(encode_uid(session.user_id), token, new, new)


@pytest.mark.parametrize(
    "end",
    [_logout, _reset, _deactivate, _delete, _sign_out],
    ids=["logout", "reset", "deactivate", "delete", "sign-out"],
)
async def test_s27_a_session_ended_in_one_process_is_refused_by_the_other_within_a_second(
    two_processes: tuple[Container, Container], end: EndSession
) -> None:
    first, second = two_processes
    session = await logged_in(first, "jane@example.com")
    bystander = await logged_in(first, "john@example.com")
    assert accepted(first, session) and accepted(second, session)

    await end(first, session)

    assert not accepted(first, session)  # the process that ended it knows at once
    assert await refused_within_deadline(second, session)
    assert accepted(second, bystander) and accepted(first, bystander)


async def test_s27_a_new_process_refuses_sessions_ended_before_it_started(any_db_settings: Settings) -> None:
    first = await bootstrap(any_db_settings, run_periodic_sweeps=False, serves_http=True)
    try:
        session = await logged_in(first, "jane@example.com")
        await first.accounts.logout(session.refresh.token)
        later = await bootstrap(any_db_settings, run_periodic_sweeps=False, serves_http=True)
        try:
            assert not accepted(later, session)  # loaded before bootstrap returned
        finally:
            await later.close()
    finally:
        await first.close()


async def test_s27_a_deleted_users_revocations_outlive_the_user(two_processes: tuple[Container, Container]) -> None:
    first, _ = two_processes
    session = await logged_in(first, "gone@example.com")
    await first.accounts.delete_user(session.user_id)
    async with first.uow() as uow:
        tokens = await uow.session.scalar(select(func.count()).select_from(RefreshTokenModel))
        families = list(await uow.session.scalars(select(SessionRevocationModel.family_id)))
    assert tokens == 0  # gone with the user (the foreign key cascades)
    assert families == [session.family_id]


async def test_s27_the_sweep_forgets_expired_revocations(two_processes: tuple[Container, Container]) -> None:
    first, _ = two_processes
    async with first.uow() as uow:
        await uow.session_revocations.add(["old"], NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
        await uow.session_revocations.add(["new"], NOW, NOW + timedelta(minutes=30))
        await uow.commit()
    async with first.uow() as uow:
        assert await uow.session_revocations.delete_expired(NOW) == 1
        await uow.commit()
    async with first.uow() as uow:
        assert [r.family_id for r in await uow.session_revocations.newer(0, [], 10)] == ["new"]


async def test_s27_ids_of_purged_revocations_are_never_handed_out_again(any_db_settings: Settings) -> None:
    """Pollers read by id: an id reused after a purge (SQLite without AUTOINCREMENT) would never be read."""
    container = await bootstrap(any_db_settings, run_periodic_sweeps=False)
    try:
        async with container.uow() as uow:
            await uow.session_revocations.add(["a", "b"], NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
            await uow.commit()
        async with container.uow() as uow:
            await uow.session_revocations.delete_expired(NOW)
            await uow.session_revocations.add(["c"], NOW, NOW + timedelta(minutes=30))
            await uow.commit()
        async with container.uow() as uow:
            (row,) = await uow.session_revocations.newer(2, [], 10)
        assert row.family_id == "c" and row.id > 2
    finally:
        await container.close()


async def test_s27_a_revocation_committed_after_a_newer_one_is_still_learned(pg_database: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Postgres hands out ids at insert time: a transaction holding id N can commit after one holding N+1."""
    settings = make_settings(tmp_path, DATABASE_URL=pg_database)
    writer = await bootstrap(settings, run_periodic_sweeps=False)
    reader = await bootstrap(settings, run_periodic_sweeps=False, serves_http=True)
    try:
        async with writer.uow() as slow:
            await slow.session_revocations.add(["slow"], NOW, datetime.now(UTC) + timedelta(minutes=30))
            await slow.session.flush()
            async with writer.uow() as fast:
                await fast.session_revocations.add(["fast"], NOW, datetime.now(UTC) + timedelta(minutes=30))
                await fast.commit()
            await reader.revoked_sessions.poll()  # type: ignore[attr-defined]
            assert reader.revoked_sessions.is_revoked("fast")
            assert not reader.revoked_sessions.is_revoked("slow")
            await slow.commit()
        await reader.revoked_sessions.poll()  # type: ignore[attr-defined]
        assert reader.revoked_sessions.is_revoked("slow")
    finally:
        await reader.close()
        await writer.close()


async def test_s27_polling_on_sqlite_waits_for_no_writer(sqlite_settings: Settings) -> None:
    """The poller reads twice a second in every process: on SQLite it must not queue behind the write lock."""
    writer = await bootstrap(sqlite_settings, run_periodic_sweeps=False)
    reader = await bootstrap(sqlite_settings, run_periodic_sweeps=False, serves_http=True)
    try:
        async with writer.uow() as open_transaction:
            await open_transaction.users.add(User(email="w@example.com", password_hash="h", created_at=NOW))
            # The writer holds the database's write lock until it leaves; the poll completes meanwhile.
            await asyncio.wait_for(reader.revoked_sessions.poll(), timeout=DEADLINE)  # type: ignore[attr-defined]
            await open_transaction.commit()
    finally:
        await reader.close()
        await writer.close()


async def _deactivate_by_id(container: Container, user_id: int) -> object:
    return await container.accounts.deactivate_user(user_id)


async def _delete_by_id(container: Container, user_id: int) -> object:
    return await container.accounts.delete_user(user_id)


@pytest.mark.parametrize("end", [_deactivate_by_id, _delete_by_id], ids=["deactivate", "delete"])
async def test_s27_a_login_racing_a_deactivation_or_deletion_never_leaves_a_live_session(
    any_db_settings: Settings, monkeypatch: pytest.MonkeyPatch, end: Callable[[Container, int], Awaitable[object]]
) -> None:
    """The login has read the account and is verifying the password when the account is deactivated or deleted.
    Whichever commits first, the login fails or its session is ended: never a session nobody recorded."""
    container = await bootstrap(any_db_settings, run_periodic_sweeps=False, serves_http=True)
    try:
        user, _ = await container.accounts.ensure_account("race@example.com", PASSWORD, staff=False)
        assert user.id is not None
        verifying, go_on = asyncio.Event(), asyncio.Event()
        verify = container.hasher.verify

        async def slow_verify(password_hash: str, password: str) -> bool:
            verifying.set()
            await go_on.wait()
            return await verify(password_hash, password)

        monkeypatch.setattr(container.hasher, "verify", slow_verify)
        login = asyncio.create_task(container.accounts.login("race@example.com", PASSWORD))
        await verifying.wait()
        ending = asyncio.create_task(end(container, user.id))
        await asyncio.sleep(HOLD)  # the ending reaches the database (and on SQLite waits for the login's lock)
        go_on.set()
        session, _ = await asyncio.gather(login, ending, return_exceptions=True)

        if isinstance(session, Session):
            assert not accepted(container, session)
            async with container.uow() as uow:
                families = {row.family_id for row in await uow.session_revocations.newer(0, [], 100)}
            assert session.family_id in families  # recorded for the other processes too
        else:
            assert isinstance(session, AuthenticationFailed), session
    finally:
        await container.close()


async def test_the_edges_file_lists_the_ended_sessions_of_every_process(any_db_settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """nginx refuses the sessions listed in EDGE_REVOCATION_FILE; every serving process keeps it whole."""
    edge = tmp_path / "edge" / "revoked-sessions"
    settings = dataclasses.replace(any_db_settings, edge_revocation_file=edge)
    first = await bootstrap(settings, run_periodic_sweeps=False, serves_http=True)
    try:
        assert edge.read_text() == "\n"  # written at start, even empty: nginx refuses everything while it is missing
        ended = await logged_in(first, "first@example.com")
        await _logout(first, ended)
        assert f"\n{ended.family_id}\n" in edge.read_text()  # at once, by the process that ended it
        # The CLI ends a session in a process that does not poll: it must not overwrite the file with what it knows.
        cli = await bootstrap(settings, run_periodic_sweeps=False)
        try:
            other = await logged_in(cli, "second@example.com")
            await _sign_out(cli, other)
        finally:
            await cli.close()
        assert f"\n{ended.family_id}\n" in edge.read_text()
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while f"\n{other.family_id}\n" not in edge.read_text():  # the server learns it by polling
            assert asyncio.get_running_loop().time() < deadline, edge.read_text()
            await asyncio.sleep(0.05)
        assert f"\n{ended.family_id}\n" in edge.read_text()
    finally:
        await first.close()
