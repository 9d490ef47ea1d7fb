"""The SQL repositories and unit of work on real databases: SQLite (the embedded default) and Postgres.

The races here are real: separate transactions on separate pooled connections, overlapping in time. A test that
holds a transaction open (``HOLD``) does so to make the other transaction run into it, not to wait for anything.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from tests.conftest import make_settings
from videoflix.adapters.db.models import OutboxEmailModel, UserModel
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.accounts.model import (
    DuplicateEmail,
    EmailMessage,
    OneTimeToken,
    TokenPurpose,
    User,
    encode_uid,
    hash_token,
)
from videoflix.domain.accounts.service import Session
from videoflix.domain.catalog.model import CatalogSnapshot
from videoflix.domain.errors import AuthenticationFailed
from videoflix.domain.media.model import Video, VideoQuery, VideoStatus
from videoflix.settings import Settings

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
HOLD = 0.3  # seconds a transaction stays open so that a concurrent one collides with it
PASSWORD = "tangerine-rocket-harbour-42"


class RecordingQueue:
    """A doorbell that only remembers rings: these tests are about the database, not about delivery."""

    def __init__(self) -> None:
        self.rings: list[tuple[str, str, dict[str, Any]]] = []

    async def enqueue(self, job: str, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        self.rings.append((job, key, kwargs))
        return True


@pytest.fixture
async def container(any_db_settings: Settings) -> AsyncIterator[Container]:
    built = await bootstrap(any_db_settings, queue=RecordingQueue(), run_periodic_sweeps=False)
    yield built
    await built.close()


def rings(container: Container) -> list[tuple[str, str, dict[str, Any]]]:
    queue = container.queue
    assert isinstance(queue, RecordingQueue)
    return queue.rings


async def activation_token(container: Container, email: str) -> str:
    """The token of the activation link emailed to ``email`` (read from the outbox: the register answer has none)."""
    async with container.uow() as uow:
        texts = await uow.session.scalars(select(OutboxEmailModel.text_body).where(OutboxEmailModel.recipient == email))
        found = [m for text in texts if (m := re.search(r"activate\.html\?uid=[\w-]+&token=([\w-]+)", text))]
    assert found, f"no activation email to {email}"
    return found[-1].group(1)


async def active_user(container: Container, email: str) -> int:
    """Register and activate through the service, as a user would."""
    registration = await container.accounts.register(email, PASSWORD, PASSWORD)
    assert registration.user.id is not None
    await container.accounts.activate(encode_uid(registration.user.id), await activation_token(container, email))
    return registration.user.id


class PeakConnections:
    """How many pooled connections were checked out at the same time: proves a race went through the pool."""

    def __init__(self, container: Container) -> None:
        self._engine = container.engine.sync_engine
        self.current = 0
        self.peak = 0

    def _checkout(self, *_args: Any) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)

    def _checkin(self, *_args: Any) -> None:
        self.current -= 1

    def __enter__(self) -> PeakConnections:
        event.listen(self._engine, "checkout", self._checkout)
        event.listen(self._engine, "checkin", self._checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "checkout", self._checkout)
        event.remove(self._engine, "checkin", self._checkin)


# -- users -----------------------------------------------------------------------------------------------------


async def test_s6_users_add_get_get_by_email_and_an_existing_email_is_refused(container: Container) -> None:
    async with container.uow() as uow:
        added = await uow.users.add(User(email="ann@example.com", password_hash="$argon2id$x", created_at=NOW))
        await uow.commit()
    assert added.id is not None

    async with container.uow() as uow:
        by_id = await uow.users.get(added.id)
        by_email = await uow.users.get_by_email("ann@example.com")
        assert await uow.users.get(added.id + 1000) is None
        assert await uow.users.get_by_email("bob@example.com") is None
    assert by_id == by_email == added
    assert by_id is not None and by_id.created_at == NOW and by_id.created_at.tzinfo is not None
    assert not by_id.is_active and not by_id.is_staff

    async with container.uow() as uow:
        with pytest.raises(DuplicateEmail):
            await uow.users.add(User(email="ann@example.com", password_hash="second", created_at=NOW))
    async with container.uow() as uow:
        kept = await uow.users.get_by_email("ann@example.com")
    assert kept is not None and kept.password_hash == "$argon2id$x"


async def test_s6_two_transactions_inserting_one_email_at_once_one_gets_duplicate_email(container: Container) -> None:
    """The unique index decides, not a read-then-write check: the loser's INSERT waits for the winner's commit
    (Postgres: the index entry; SQLite: the write lock) and then fails as DuplicateEmail, not IntegrityError."""

    async def insert(password_hash: str) -> int:
        async with container.uow() as uow:
            user = await uow.users.add(User(email="race@example.com", password_hash=password_hash, created_at=NOW))
            await asyncio.sleep(HOLD)
            await uow.commit()
        assert user.id is not None
        return user.id

    results = await asyncio.gather(insert("a"), insert("b"), return_exceptions=True)
    assert sorted(type(result).__name__ for result in results) == ["DuplicateEmail", "int"], results


async def test_s6_two_concurrent_registrations_of_one_email_exactly_one_succeeds(container: Container) -> None:
    results = await asyncio.gather(
        container.accounts.register("Same@Example.com", PASSWORD, PASSWORD),
        container.accounts.register("same@example.com", PASSWORD, PASSWORD),
        return_exceptions=True,
    )
    winners = [result for result in results if not isinstance(result, BaseException)]
    losers = [result for result in results if isinstance(result, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], DuplicateEmail)
    async with container.uow() as uow:
        count = await uow.session.scalar(select(func.count()).where(UserModel.email == "same@example.com"))
    assert count == 1
    assert len(rings(container)) == 1  # one activation email: the losing attempt sends nothing


# -- one-time tokens -----------------------------------------------------------------------------------------


async def test_s8_one_time_token_is_single_use_even_when_two_consumes_race(container: Container) -> None:
    async with container.uow() as uow:
        user = await uow.users.add(User(email="tok@example.com", password_hash="h", created_at=NOW))
        assert user.id is not None
        for token, expires_at in (("the-token", NOW + timedelta(hours=1)), ("old-token", NOW)):
            await uow.one_time_tokens.add(
                OneTimeToken(hash_token(token), user.id, TokenPurpose.ACTIVATION, NOW, expires_at)
            )
        await uow.commit()

    async def consume() -> bool:
        async with container.uow() as uow:
            spent = await uow.one_time_tokens.consume(hash_token("the-token"), NOW)
            await asyncio.sleep(HOLD)
            await uow.commit()
        return spent

    assert sorted(await asyncio.gather(consume(), consume())) == [False, True]
    async with container.uow() as uow:
        assert not await uow.one_time_tokens.consume(hash_token("the-token"), NOW)
        stored = await uow.one_time_tokens.get(hash_token("the-token"))
        assert stored is not None and stored.used_at == NOW

        assert not await uow.one_time_tokens.consume(hash_token("old-token"), NOW)  # expired (expiry is exclusive)
        assert not await uow.one_time_tokens.consume(hash_token("never-issued"), NOW)
        assert await uow.one_time_tokens.consume(hash_token("old-token"), NOW - timedelta(seconds=1))


async def test_s8_two_concurrent_activations_with_one_link_exactly_one_succeeds(container: Container) -> None:
    registration = await container.accounts.register("act@example.com", PASSWORD, PASSWORD)
    assert registration.user.id is not None
    uid = encode_uid(registration.user.id)
    token = await activation_token(container, "act@example.com")
    results = await asyncio.gather(
        container.accounts.activate(uid, token),
        container.accounts.activate(uid, token),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["InvalidInput", "NoneType"], results
    user = await container.accounts.get_user(registration.user.id)
    assert user is not None and user.is_active


# -- refresh tokens --------------------------------------------------------------------------------------------


async def test_s11_ten_parallel_refreshes_with_one_token_succeed_at_most_once(container: Container) -> None:
    await active_user(container, "tabs@example.com")
    session = await container.accounts.login("tabs@example.com", PASSWORD)

    with PeakConnections(container) as connections:
        results = await asyncio.gather(
            *(container.accounts.refresh(session.refresh.token) for _ in range(10)), return_exceptions=True
        )
    rotated = [result for result in results if isinstance(result, Session)]
    refused = [result for result in results if not isinstance(result, Session)]
    assert len(rotated) == 1, results  # the first to commit wins; a rotation never silently fails for everyone
    assert len(refused) == 9 and all(isinstance(error, AuthenticationFailed) for error in refused), refused
    assert connections.peak >= 2, "the refreshes did not overlap: this was not a race"
    assert rotated[0].refresh.token != session.refresh.token


async def test_s11_replaying_a_rotated_refresh_token_revokes_the_whole_family(container: Container) -> None:
    await active_user(container, "replay@example.com")
    stolen = await container.accounts.login("replay@example.com", PASSWORD)
    other_device = await container.accounts.login("replay@example.com", PASSWORD)

    rotated = await container.accounts.refresh(stolen.refresh.token)
    with pytest.raises(AuthenticationFailed):
        await container.accounts.refresh(stolen.refresh.token)  # the replay
    with pytest.raises(AuthenticationFailed):
        await container.accounts.refresh(rotated.refresh.token)  # the family is gone, for the thief too

    still_working = await container.accounts.refresh(other_device.refresh.token)  # another session is untouched
    assert still_working.user_id == other_device.user_id


# -- the outbox ------------------------------------------------------------------------------------------------

MESSAGE = EmailMessage(to="ann@example.com", subject="Hello", text="text part", html="<p>html part</p>")


async def _outbox_add(container: Container, message: EmailMessage = MESSAGE) -> int:
    async with container.uow() as uow:
        outbox_id = await uow.outbox.add(message, NOW)
        await uow.commit()
    return outbox_id


async def test_r1_outbox_claim_is_a_lease_and_retry_waits_for_retry_at(container: Container) -> None:
    outbox_id = await _outbox_add(container)
    async with container.uow() as uow:
        assert await uow.outbox.due(NOW, 10) == [outbox_id]
        first = await uow.outbox.claim(outbox_id, NOW, lease_seconds=120)
        await uow.commit()
    assert first is not None and first.message == MESSAGE and first.attempts == 0

    async with container.uow() as uow:
        assert await uow.outbox.claim(outbox_id, NOW, lease_seconds=120) is None  # someone is sending it
        assert await uow.outbox.due(NOW + timedelta(seconds=119), 10) == []
        # A worker that died mid-send: once its lease runs out the email is due again.
        assert await uow.outbox.due(NOW + timedelta(seconds=120), 10) == [outbox_id]

        await uow.outbox.mark_retry(outbox_id, "451 try again later", retry_at=NOW + timedelta(minutes=10))
        await uow.commit()

    before, after = NOW + timedelta(minutes=10) - timedelta(seconds=1), NOW + timedelta(minutes=10)
    async with container.uow() as uow:
        assert await uow.outbox.due(before, 10) == []
        assert await uow.outbox.claim(outbox_id, before, lease_seconds=120) is None
        assert await uow.outbox.due(after, 10) == [outbox_id]
        again = await uow.outbox.claim(outbox_id, after, lease_seconds=120)
        assert again is not None and again.attempts == 1
        await uow.outbox.mark_sent(outbox_id, after)
        await uow.commit()

    far_future = NOW + timedelta(days=30)
    async with container.uow() as uow:
        assert await uow.outbox.due(far_future, 10) == []
        assert await uow.outbox.claim(outbox_id, far_future, lease_seconds=120) is None


async def test_r1_two_workers_claiming_one_email_at_once_only_one_gets_it(container: Container) -> None:
    outbox_id = await _outbox_add(container)

    async def claim() -> bool:
        async with container.uow() as uow:
            claimed = await uow.outbox.claim(outbox_id, NOW, lease_seconds=120)
            await asyncio.sleep(HOLD)
            await uow.commit()
        return claimed is not None

    assert sorted(await asyncio.gather(claim(), claim())) == [False, True]


async def test_r1_failed_email_is_never_due_and_due_respects_order_and_limit(container: Container) -> None:
    ids = [await _outbox_add(container) for _ in range(4)]
    async with container.uow() as uow:
        await uow.outbox.mark_failed(ids[1], "550 mailbox unavailable")
        await uow.commit()
    async with container.uow() as uow:
        assert await uow.outbox.due(NOW + timedelta(days=365), 10) == [ids[0], ids[2], ids[3]]
        assert await uow.outbox.due(NOW, 2) == [ids[0], ids[2]]
        assert await uow.outbox.claim(ids[1], NOW + timedelta(days=365), lease_seconds=120) is None


# -- unit of work ----------------------------------------------------------------------------------------------


async def test_uow_leaving_without_commit_rolls_back(container: Container) -> None:
    async with container.uow() as uow:
        await uow.users.add(User(email="ghost@example.com", password_hash="h", created_at=NOW))
        assert await uow.users.get_by_email("ghost@example.com") is not None  # visible inside the transaction

    with pytest.raises(RuntimeError):
        async with container.uow() as uow:
            await uow.users.add(User(email="crash@example.com", password_hash="h", created_at=NOW))
            raise RuntimeError("boom")

    async with container.uow() as uow:
        await uow.users.add(User(email="kept@example.com", password_hash="h", created_at=NOW))
        await uow.commit()

    async with container.uow() as uow:
        assert await uow.users.get_by_email("ghost@example.com") is None
        assert await uow.users.get_by_email("crash@example.com") is None
        assert await uow.users.get_by_email("kept@example.com") is not None

    # A registration failing half-way (here: its token row collides) leaves no user without a token behind.
    async with container.uow() as uow:
        user = await uow.users.get_by_email("kept@example.com")
        assert user is not None and user.id is not None
        await uow.one_time_tokens.add(OneTimeToken("f" * 64, user.id, TokenPurpose.ACTIVATION, NOW, NOW))
        await uow.commit()
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError, whichever database
        async with container.uow() as uow:
            other = await uow.users.add(User(email="other@example.com", password_hash="h", created_at=NOW))
            assert other.id is not None
            await uow.one_time_tokens.add(OneTimeToken("f" * 64, other.id, TokenPurpose.ACTIVATION, NOW, NOW))
            await uow.commit()
    async with container.uow() as uow:
        assert await uow.users.get_by_email("other@example.com") is None


# -- videos ----------------------------------------------------------------------------------------------------


def video(
    title: str,
    *,
    category: str = "Drama",
    status: VideoStatus = VideoStatus.READY,
    age: int = 0,
    published: bool | None = None,
) -> Video:
    """A video created ``age`` minutes before NOW; published (playable) when ready unless told otherwise."""
    created = NOW - timedelta(minutes=age)
    return Video(
        title=title,
        description=f"About {title}",
        category=category,
        created_at=created,
        updated_at=created,
        status=status,
        thumbnail=f"thumbnails/{title}.jpg",
        published=status is VideoStatus.READY if published is None else published,
    )


async def add_videos(container: Container, *videos: Video) -> list[int]:
    async with container.uow() as uow:
        for item in videos:
            await uow.videos.add(item)
        await uow.commit()
    return [item.id for item in videos if item.id is not None]


async def test_catalog_lists_playable_videos_only_newest_first_with_category_names(container: Container) -> None:
    """Ready (published) videos, and a published one being transcoded again; never one with nothing to play."""
    await add_videos(
        container,
        video("old-drama", age=30),
        video("queued", status=VideoStatus.QUEUED, age=1),
        video("new-doc", category="Documentary", age=5),
        video("first-transcode", status=VideoStatus.PROCESSING, age=2),
        video("regenerating", status=VideoStatus.PROCESSING, published=True, age=20),
        video("failed", status=VideoStatus.FAILED, age=3),
        video("mid-drama", age=10),
        video("same-time-later-id", category="Documentary", age=10),
    )
    entries = (await container.catalog.list_ready()).entries
    assert [(entry.title, entry.category) for entry in entries] == [
        ("new-doc", "Documentary"),
        ("same-time-later-id", "Documentary"),  # equal created_at: the later id first
        ("mid-drama", "Drama"),
        ("regenerating", "Drama"),  # its previous ladder keeps playing meanwhile
        ("old-drama", "Drama"),
    ]
    first = entries[0]
    assert first.description == "About new-doc" and first.thumbnail == "thumbnails/new-doc.jpg"
    assert first.created_at == NOW - timedelta(minutes=5)


async def test_catalog_is_one_query_whatever_the_number_of_videos(container: Container) -> None:
    """No N+1: the category name comes from a join, not a lazy load per video."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def listing_statements() -> tuple[int, list[str]]:
        statements.clear()
        container.catalog.invalidate()  # the videos were added behind the catalog's short cache
        event.listen(container.engine.sync_engine, "before_cursor_execute", record)
        try:
            entries = (await container.catalog.list_ready()).entries
        finally:
            event.remove(container.engine.sync_engine, "before_cursor_execute", record)
        return len(entries), list(statements)

    await add_videos(container, video("only", category="Cat-0"))
    count_one, with_one = await listing_statements()
    await add_videos(container, *(video(f"v{i}", category=f"Cat-{i % 7}", age=i + 1) for i in range(29)))
    count_thirty, with_thirty = await listing_statements()

    assert (count_one, count_thirty) == (1, 30)
    assert len(with_one) == len(with_thirty), (with_one, with_thirty)
    selects = [statement for statement in with_thirty if statement.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, with_thirty


async def test_the_staff_search_filters_pages_and_counts_in_one_query(container: Container) -> None:
    """The same answers as the fake on SQLite and Postgres; one SELECT for a page and its total, whatever the
    size; ``%`` and ``_`` in a search are plain characters."""
    await add_videos(
        container,
        video("Deep Ocean", category="Documentary", age=1),
        video("Night Train", status=VideoStatus.QUEUED, age=2),
        video("100% deep", status=VideoStatus.FAILED, age=3),
        video("deep_end", age=4),
        *(video(f"Filler {i}", category="Comedy", age=10 + i) for i in range(20)),
    )
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def search(**criteria: Any) -> tuple[list[str], int]:
        async with container.uow() as uow:
            found = await uow.videos.search(VideoQuery(**criteria))
        return [v.title for v in found.videos], found.total

    event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await search(text="DEEP") == (["Deep Ocean", "100% deep", "deep_end"], 3)
        selects_of_one_page = [st for st in statements if st.lstrip().upper().startswith("SELECT")]
        assert await search(text="%") == (["100% deep"], 1)
        assert await search(text="p_e") == (["deep_end"], 1)
        assert await search(status=VideoStatus.QUEUED) == (["Night Train"], 1)
        assert await search(category="drama", status=VideoStatus.READY) == (["deep_end"], 1)
        assert await search(category="comedy", page=2, page_size=8) == ([f"Filler {i}" for i in range(8, 16)], 20)
    finally:
        event.remove(container.engine.sync_engine, "before_cursor_execute", record)
    assert len(selects_of_one_page) == 1, statements
    assert await search(category="Comedy", page=4, page_size=8) == ([], 20)  # past the end: still the total
    assert await search(text="nothing like it") == ([], 0)
    async with container.uow() as uow:
        categories = await uow.videos.categories()
    assert [(c.name, c.videos) for c in categories] == [("Comedy", 20), ("Documentary", 1), ("Drama", 3)]


async def test_claim_for_processing_takes_queued_or_stale_videos_only(container: Container) -> None:
    queued, ready, failed = await add_videos(
        container,
        video("queued", status=VideoStatus.QUEUED),
        video("ready", status=VideoStatus.READY),
        video("failed", status=VideoStatus.FAILED),
    )
    stale_after = timedelta(seconds=45)

    async def claim(video_id: int, now: datetime) -> Video | None:
        async with container.uow() as uow:
            claimed = await uow.videos.claim_for_processing(video_id, now, now - stale_after)
            await uow.commit()
        return claimed

    first = await claim(queued, NOW)
    assert first is not None and first.status is VideoStatus.PROCESSING
    assert first.attempts == 1 and first.progress == 0.0 and first.processing_started_at == NOW

    # Another worker a little later: the first one is still on it.
    assert await claim(queued, NOW + timedelta(seconds=30)) is None
    # Nobody wrote progress for longer than stale_after: the worker is gone, the video can be taken over.
    taken_over = await claim(queued, NOW + timedelta(seconds=46))
    assert taken_over is not None and taken_over.attempts == 2

    for done in (ready, failed):
        assert await claim(done, NOW + timedelta(days=1)) is None
    async with container.uow() as uow:
        assert await uow.videos.ids_needing_work(NOW) == []


async def test_two_workers_claiming_one_queued_video_at_once_only_one_gets_it(container: Container) -> None:
    [video_id] = await add_videos(container, video("queued", status=VideoStatus.QUEUED))

    async def claim() -> bool:
        async with container.uow() as uow:
            claimed = await uow.videos.claim_for_processing(video_id, NOW, NOW - timedelta(seconds=45))
            await asyncio.sleep(HOLD)
            await uow.commit()
        return claimed is not None

    assert sorted(await asyncio.gather(claim(), claim())) == [False, True]


# -- R4: dropped Postgres connections -------------------------------------------------------------------------


async def _terminate_other_backends(database_url: str) -> int:
    """Kill every connection to the test database except our own, and wait until they are gone."""
    url = make_url(database_url)
    connection = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for _ in range(100):
            left = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if left == 0:
                break
            await asyncio.sleep(0.05)
        return len(killed)
    finally:
        await connection.close()


async def test_r4_requests_succeed_after_postgres_connections_are_terminated(pg_database: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=pg_database)
    container = await bootstrap(settings, queue=RecordingQueue(), run_periodic_sweeps=False)
    try:
        await active_user(container, "r4@example.com")
        await add_videos(container, video("survivor"))
        # Several pooled connections, so that more than one dead connection sits in the pool.
        await asyncio.gather(*(container.accounts.login("r4@example.com", PASSWORD) for _ in range(3)))

        assert await _terminate_other_backends(pg_database) >= 1

        session = await container.accounts.login("r4@example.com", PASSWORD)
        assert container.tokens.decode_access(session.access.token).user_id == session.user_id
        assert [entry.title for entry in (await container.catalog.list_ready()).entries] == ["survivor"]
        results = await asyncio.gather(*(container.catalog.list_ready() for _ in range(5)), return_exceptions=True)
        assert all(isinstance(result, CatalogSnapshot) for result in results), results
    finally:
        await container.close()


# -- outbox for operators, and housekeeping -------------------------------------------------------------------------


async def test_the_outbox_keeps_kind_and_user_lists_and_closes_failed_emails(container: Container) -> None:
    from videoflix.domain.accounts.model import EmailKind, EmailStatus

    message = EmailMessage("a@example.com", "Confirm", "link: token=abc", "<a>token=abc</a>")
    other = EmailMessage("b@example.com", "Report", "hello", "<p>hello</p>")
    async with container.uow() as uow:
        activation = await uow.outbox.add(message, NOW, kind=EmailKind.ACTIVATION, user_id=7)
        report = await uow.outbox.add(other, NOW)
        await uow.outbox.mark_failed(activation, "550 no such mailbox")
        await uow.outbox.mark_failed(report, "550 no such mailbox")
        await uow.commit()
    async with container.uow() as uow:
        failed = await uow.outbox.recent(EmailStatus.FAILED, 10)
        assert [(e.id, e.kind, e.user_id, e.last_error) for e in failed] == [
            (report, EmailKind.OTHER, None, "550 no such mailbox"),
            (activation, EmailKind.ACTIVATION, 7, "550 no such mailbox"),
        ]
        assert "token" not in (await uow.outbox.message(activation)).text  # type: ignore[union-attr]
        assert await uow.outbox.message(report) == other  # no one-time link: kept to be sent as it was
        assert await uow.outbox.close_failed(activation, EmailStatus.RETRIED)
        assert not await uow.outbox.close_failed(activation, EmailStatus.CANCELLED)  # once only
        await uow.commit()
    async with container.uow() as uow:
        assert (await uow.outbox.get(activation)).status is EmailStatus.RETRIED  # type: ignore[union-attr]
        assert await uow.outbox.get(999) is None


async def test_a_fresh_activation_email_supersedes_only_the_users_failed_ones_of_its_kind(container: Container) -> None:
    from videoflix.domain.accounts.model import EmailKind, EmailStatus

    message = EmailMessage("a@example.com", "Confirm", "link", "<a>link</a>")
    async with container.uow() as uow:
        ids = [
            await uow.outbox.add(message, NOW, kind=kind, user_id=user)
            for kind, user in ((EmailKind.ACTIVATION, 7), (EmailKind.ACTIVATION, 7), (EmailKind.PASSWORD_RESET, 7))
        ]
        others = await uow.outbox.add(message, NOW, kind=EmailKind.ACTIVATION, user_id=8)
        pending = await uow.outbox.add(message, NOW, kind=EmailKind.ACTIVATION, user_id=7)
        for outbox_id in (*ids, others):
            await uow.outbox.mark_failed(outbox_id, "550 no such mailbox")
        await uow.commit()
    async with container.uow() as uow:
        assert await uow.outbox.supersede_failed(7, EmailKind.ACTIVATION) == 2
        await uow.commit()
    async with container.uow() as uow:
        statuses = [(await uow.outbox.get(i)).status for i in (*ids, others, pending)]  # type: ignore[union-attr]
    assert statuses == [EmailStatus.RETRIED, EmailStatus.RETRIED, EmailStatus.FAILED, EmailStatus.FAILED, "pending"]


async def test_operations_count_by_status_and_delete_only_what_expired(container: Container) -> None:
    from videoflix.domain.accounts.model import RefreshTokenRecord

    async with container.uow() as uow:
        user = await uow.users.add(User(email="u@example.com", password_hash="x", created_at=NOW))
        assert user.id is not None
        old = await uow.outbox.add(EmailMessage("u@example.com", "s", "t", "h"), NOW)
        recent = await uow.outbox.add(EmailMessage("u@example.com", "s", "t", "h"), NOW)
        await uow.outbox.add(EmailMessage("u@example.com", "s", "t", "h"), NOW)
        await uow.outbox.mark_sent(old, NOW - timedelta(days=30))
        await uow.outbox.mark_sent(recent, NOW - timedelta(days=1))
        for name, expires in (("expired", NOW - timedelta(days=3)), ("valid", NOW + timedelta(hours=1))):
            await uow.one_time_tokens.add(OneTimeToken(name, user.id, TokenPurpose.ACTIVATION, expires, expires))
            await uow.refresh_tokens.add(RefreshTokenRecord(name, user.id, "f", NOW - timedelta(days=10), expires))
        await uow.commit()
    async with container.uow() as uow:
        assert await uow.operations.email_counts() == {"sent": 2, "pending": 1}
        assert await uow.operations.video_counts() == {}
        assert [u.email for u in await uow.operations.users(10)] == ["u@example.com"]
        cutoff = NOW - timedelta(days=14)
        assert await uow.operations.delete_sent_emails(cutoff) == 1
        assert await uow.operations.delete_expired_one_time_tokens(NOW - timedelta(days=1)) == 1
        assert await uow.operations.delete_expired_refresh_tokens(NOW - timedelta(days=1)) == 1
        await uow.commit()
    async with container.uow() as uow:
        assert await uow.operations.email_counts() == {"sent": 1, "pending": 1}
        assert await uow.one_time_tokens.get("valid") is not None and await uow.one_time_tokens.get("expired") is None
