"""In-memory fakes of every domain port, for fast unit tests of the domain services.

Each fake subclasses its port (a ``typing.Protocol``), so ``make lint`` (mypy) holds it to the port's signatures.

The repositories work on one shared in-memory "database" (``FakeStore.state``). A ``FakeUnitOfWork`` snapshots
that state before its first write; leaving without ``commit()`` restores the snapshot, so
writes survive only when committed. Fake repositories never suspend (no ``await`` inside), so one repository
call, like one SQL statement, is atomic with respect to other coroutines; that is what makes ``rotate``,
``consume``, ``claim`` and ``claim_for_processing`` atomic by construction here.

Reads are not isolated (a second unit of work sees uncommitted writes of an open one), and two units of work
may not hold uncommitted writes at the same time: the fake raises then, rather than silently lose writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import re
import secrets
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from videoflix.domain.accounts.model import (
    GENERIC_INPUT_ERROR,
    ClaimedEmail,
    DuplicateEmail,
    EmailKind,
    EmailMessage,
    EmailStatus,
    IssuedToken,
    OneTimeToken,
    OutboxEmail,
    RefreshTokenRecord,
    RotationOutcome,
    SessionRevocation,
    TokenClaims,
    TokenPurpose,
    User,
)
from videoflix.domain.accounts.ports import (
    DeliveryError,
    EmailRenderer,
    MailboxValidator,
    Mailer,
    OneTimeTokenRepository,
    Outbox,
    PasswordHasher,
    RefreshTokenStore,
    RevokedSessions,
    SessionRevocationLog,
    TokenCodec,
    UserRepository,
)
from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.catalog.ports import CatalogReader
from videoflix.domain.errors import AuthenticationFailed, Unavailable
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import (
    AUDIO_KBPS,
    SEGMENT_SECONDS,
    CategoryCount,
    MediaError,
    PlannedRung,
    ProbeResult,
    Rendition,
    TemporaryFile,
    TemporaryKind,
    Video,
    VideoPage,
    VideoQuery,
    VideoStatus,
)
from videoflix.domain.media.ports import (
    MediaStore,
    ProgressCallback,
    ServedFile,
    Transcoder,
    UploadPart,
    UploadRepository,
    VideoRepository,
)
from videoflix.domain.media.upload_model import UPLOAD_ID, UploadSession
from videoflix.domain.operations.ports import OperationsRepository
from videoflix.domain.ports import Clock, JobQueue

REDACTED_BODY = "(removed: it contained a one-time link)"

# --------------------------------------------------------------------------------------------- clock

DEFAULT_START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock(Clock):
    """A settable clock, always timezone-aware UTC. Time moves only when a test moves it."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = self._aware(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = self._aware(when)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """``clock.advance(timedelta(hours=1))`` or ``clock.advance(hours=1, seconds=1)``; returns the new now."""
        self._now += (delta or timedelta()) + timedelta(**kwargs)
        return self._now

    @staticmethod
    def _aware(when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware datetime")
        return when.astimezone(UTC)


# --------------------------------------------------------------------------------------------- database


@dataclass
class OutboxRow:
    """One row of the outbox table, with the same columns the SQL outbox uses."""

    id: int
    message: EmailMessage
    created_at: datetime
    available_at: datetime
    status: str = "pending"  # pending | sent | failed | retried | cancelled
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = None
    kind: EmailKind = EmailKind.OTHER
    user_id: int | None = None

    def view(self) -> OutboxEmail:
        return OutboxEmail(
            id=self.id,
            to=self.message.to,
            subject=self.message.subject,
            kind=self.kind,
            user_id=self.user_id,
            status=EmailStatus(self.status),
            attempts=self.attempts,
            last_error=self.last_error,
            created_at=self.created_at,
            sent_at=self.sent_at,
        )


@dataclass
class FakeState:
    """Every table. Deep-copied as a whole for snapshots, so it holds plain data only."""

    users: dict[int, User] = field(default_factory=dict)
    one_time_tokens: dict[str, OneTimeToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshTokenRecord] = field(default_factory=dict)
    session_revocations: dict[int, SessionRevocation] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    videos: dict[int, Video] = field(default_factory=dict)
    uploads: dict[str, UploadSession] = field(default_factory=dict)


class FakeStore:
    """The shared in-memory database. Id sequences live outside the state: like Postgres sequences, a rolled
    back insert does not hand its id out again."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.writer: object | None = None  # the unit of work holding uncommitted writes, if any
        self._sequences: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        self._sequences[table] = self._sequences.get(table, 0) + 1
        return self._sequences[table]


class FakeUserRepository(UserRepository):
    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _users(self) -> dict[int, User]:
        return self._store.state.users

    async def add(self, user: User) -> User:
        if any(existing.email == user.email for existing in self._users.values()):
            raise DuplicateEmail(GENERIC_INPUT_ERROR)
        self._touch()
        stored = replace(user, id=self._store.next_id("users"))
        self._users[stored.id] = stored  # type: ignore[index]
        return replace(stored)

    async def get(self, user_id: int) -> User | None:
        user = self._users.get(user_id)
        return replace(user) if user else None

    async def get_by_email(self, email: str) -> User | None:
        for user in self._users.values():
            if user.email == email:
                return replace(user)
        return None

    async def lock(self, user_id: int, *, shared: bool = False) -> User | None:
        return await self.get(user_id)  # one coroutine at a time touches the fake: nothing to lock

    async def search(self, fragment: str | None, offset: int, limit: int) -> tuple[list[User], int]:
        found = [replace(u) for _, u in sorted(self._users.items()) if not fragment or fragment in u.email]
        return found[offset : offset + limit], len(found)

    async def set_active(self, user_id: int, is_active: bool) -> None:
        if user_id in self._users:
            self._touch()
            self._users[user_id].is_active = is_active

    async def record_login(self, user_id: int, when: datetime) -> None:
        if user_id in self._users:
            self._touch()
            self._users[user_id].last_login = when

    async def delete(self, user_id: int) -> None:
        """Like the SQL foreign keys: the user's one-time and refresh tokens go too."""
        if user_id in self._users:
            self._touch()
            state = self._store.state
            del state.users[user_id]
            state.one_time_tokens = {k: t for k, t in state.one_time_tokens.items() if t.user_id != user_id}
            state.refresh_tokens = {k: r for k, r in state.refresh_tokens.items() if r.user_id != user_id}

    async def set_password(self, user_id: int, password_hash: str, changed_at: datetime | None) -> None:
        if user_id in self._users:
            self._touch()
            self._users[user_id].password_hash = password_hash
            self._users[user_id].password_changed_at = changed_at

    async def set_staff(self, user_id: int, is_staff: bool) -> None:
        if user_id in self._users:
            self._touch()
            self._users[user_id].is_staff = is_staff


class FakeOneTimeTokenRepository(OneTimeTokenRepository):
    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _tokens(self) -> dict[str, OneTimeToken]:
        return self._store.state.one_time_tokens

    async def add(self, token: OneTimeToken) -> None:
        if token.token_hash in self._tokens:
            raise ValueError("duplicate one-time token hash")  # the primary key would refuse it too
        self._touch()
        self._tokens[token.token_hash] = token

    async def get(self, token_hash: str) -> OneTimeToken | None:
        return self._tokens.get(token_hash)

    async def consume(self, token_hash: str, now: datetime) -> bool:
        token = self._tokens.get(token_hash)
        if token is None or token.used_at is not None or not token.expires_at > now:
            return False
        self._touch()
        self._tokens[token_hash] = replace(token, used_at=now)
        return True

    async def consume_all(self, user_id: int, purpose: TokenPurpose, now: datetime) -> None:
        for key, token in list(self._tokens.items()):
            if token.user_id == user_id and token.purpose is purpose and token.used_at is None:
                self._touch()
                self._tokens[key] = replace(token, used_at=now)

    async def has_pending(self, user_id: int, purpose: TokenPurpose, now: datetime) -> bool:
        return any(
            t.user_id == user_id and t.purpose is purpose and t.used_at is None and t.expires_at > now
            for t in self._tokens.values()
        )

    async def count_issued_since(self, user_id: int, purpose: TokenPurpose, since: datetime) -> int:
        return sum(
            t.user_id == user_id and t.purpose is purpose and t.created_at > since for t in self._tokens.values()
        )


class FakeRefreshTokenStore(RefreshTokenStore):
    """Mirrors ``SqlRefreshTokenStore``: the check-and-revoke in ``rotate`` never yields, so it is atomic."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _records(self) -> dict[str, RefreshTokenRecord]:
        return self._store.state.refresh_tokens

    async def add(self, record: RefreshTokenRecord) -> None:
        if record.jti in self._records:
            raise ValueError("duplicate refresh token jti")
        self._touch()
        self._records[record.jti] = record

    async def rotate(self, old_jti: str, new: RefreshTokenRecord, now: datetime) -> RotationOutcome:
        old = self._records.get(old_jti)
        if old is not None and old.family_id == new.family_id and old.revoked_at is None and old.expires_at > now:
            self._touch()
            self._records[old_jti] = replace(old, revoked_at=now)
            await self.add(new)  # never suspends
            return RotationOutcome.ROTATED
        if old is not None and old.revoked_at is not None:
            return RotationOutcome.REUSED
        return RotationOutcome.UNKNOWN

    async def revoke_family(self, family_id: str, now: datetime) -> bool:
        return bool(self._revoke(lambda record: record.family_id == family_id, now))

    async def revoke_all_for_user(self, user_id: int, now: datetime) -> set[str]:
        return self._revoke(lambda record: record.user_id == user_id, now)

    def _revoke(self, chosen: Callable[[RefreshTokenRecord], bool], now: datetime) -> set[str]:
        """Revoke every unrevoked chosen record; the families of those that had not expired yet."""
        alive: set[str] = set()
        for jti, record in list(self._records.items()):
            if chosen(record) and record.revoked_at is None:
                self._touch()
                self._records[jti] = replace(record, revoked_at=now)
                if record.expires_at > now:
                    alive.add(record.family_id)
        return alive


class FakeSessionRevocationLog(SessionRevocationLog):
    """Mirrors ``SqlSessionRevocationLog``: ids from a sequence, never handed out twice."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _rows(self) -> dict[int, SessionRevocation]:
        return self._store.state.session_revocations

    async def add(self, family_ids: Collection[str], revoked_at: datetime, expires_at: datetime) -> None:
        for family in family_ids:
            self._touch()
            row_id = self._store.next_id("session_revocations")
            self._rows[row_id] = SessionRevocation(id=row_id, family_id=family, expires_at=expires_at)

    async def newer(self, after_id: int, also: Collection[int], limit: int) -> list[SessionRevocation]:
        wanted = set(also)
        return [row for key, row in sorted(self._rows.items()) if key > after_id or key in wanted][:limit]

    async def delete_expired(self, now: datetime) -> int:
        expired = [key for key, row in self._rows.items() if row.expires_at <= now]
        for key in expired:
            self._touch()
            del self._rows[key]
        return len(expired)


class FakeOutbox(Outbox):
    """Mirrors ``SqlOutbox``: a claim is a lease that pushes ``available_at`` into the future."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _rows(self) -> dict[int, OutboxRow]:
        return self._store.state.outbox

    async def add(
        self, message: EmailMessage, now: datetime, kind: EmailKind = EmailKind.OTHER, user_id: int | None = None
    ) -> int:
        self._touch()
        outbox_id = self._store.next_id("outbox")
        self._rows[outbox_id] = OutboxRow(
            id=outbox_id, message=message, created_at=now, available_at=now, kind=kind, user_id=user_id
        )
        return outbox_id

    async def get(self, outbox_id: int) -> OutboxEmail | None:
        row = self._rows.get(outbox_id)
        return row.view() if row else None

    async def message(self, outbox_id: int) -> EmailMessage | None:
        row = self._rows.get(outbox_id)
        return row.message if row else None

    async def recent(self, status: EmailStatus | None, limit: int) -> list[OutboxEmail]:
        rows = sorted(self._rows.values(), key=lambda row: row.id, reverse=True)
        return [row.view() for row in rows if status is None or row.status == status.value][:limit]

    async def close_failed(self, outbox_id: int, status: EmailStatus) -> bool:
        row = self._rows.get(outbox_id)
        if row is None or row.status != "failed":
            return False
        self._touch()
        row.status = status.value
        return True

    async def supersede_failed(self, user_id: int, kind: EmailKind) -> int:
        rows = [r for r in self._rows.values() if (r.user_id, r.kind, r.status) == (user_id, kind, "failed")]
        if rows:
            self._touch()
        for row in rows:
            row.status = EmailStatus.RETRIED.value
        return len(rows)

    async def claim(self, outbox_id: int, now: datetime, lease_seconds: int) -> ClaimedEmail | None:
        row = self._rows.get(outbox_id)
        if row is None or row.status != "pending" or not row.available_at <= now:
            return None
        self._touch()
        row.available_at = now + timedelta(seconds=lease_seconds)
        return ClaimedEmail(message=row.message, attempts=row.attempts)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        if row := self._rows.get(outbox_id):
            self._touch()
            row.status, row.sent_at, row.last_error = "sent", now, None

    async def mark_retry(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        if row := self._rows.get(outbox_id):
            self._touch()
            row.attempts += 1
            row.last_error = error[:2000]
            row.available_at = retry_at

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        if row := self._rows.get(outbox_id):
            self._touch()
            row.status = "failed"
            row.attempts += 1
            row.last_error = error[:2000]
            if row.kind is not EmailKind.OTHER:  # like the SQL outbox: a one-time link is not kept
                row.message = replace(row.message, text=REDACTED_BODY, html=REDACTED_BODY)

    async def due(self, now: datetime, limit: int) -> list[int]:
        ids = sorted(row.id for row in self._rows.values() if row.status == "pending" and row.available_at <= now)
        return ids[:limit]


def _needs_work(video: Video, stale_before: datetime) -> bool:
    return video.status is VideoStatus.QUEUED or (
        video.status is VideoStatus.PROCESSING and video.updated_at < stale_before
    )


def _newest_first(video: Video) -> tuple[datetime, int]:
    return video.created_at, video.id or 0


class FakeVideoRepository(VideoRepository):
    """Mirrors ``SqlVideoRepository``. Returns copies: changing a returned video changes nothing until ``save``."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch  # called before every write: it lets the unit of work undo the write

    @property
    def _videos(self) -> dict[int, Video]:
        return self._store.state.videos

    async def add(self, video: Video) -> Video:
        self._touch()
        video.id = self._store.next_id("videos")  # like the SQL one: the caller's object gets its id
        self._videos[video.id] = copy.deepcopy(video)
        return video

    async def get(self, video_id: int) -> Video | None:
        video = self._videos.get(video_id)
        return copy.deepcopy(video) if video else None

    async def list_all(self) -> list[Video]:
        return [copy.deepcopy(v) for v in sorted(self._videos.values(), key=_newest_first, reverse=True)]

    async def search(self, query: VideoQuery) -> VideoPage:
        matching = [
            v
            for v in await self.list_all()
            if query.text.lower() in v.title.lower()
            and (query.status is None or v.status is query.status)
            and (query.category is None or v.category.lower() == query.category.lower())
        ]
        return VideoPage(matching[query.offset : query.offset + query.page_size], len(matching))

    async def categories(self) -> list[CategoryCount]:
        counts = Counter(v.category for v in self._videos.values())
        return [CategoryCount(name, counts[name]) for name in sorted(counts)]

    async def save(self, video: Video) -> None:
        assert video.id is not None
        if video.id in self._videos:  # an UPDATE of a deleted row changes nothing
            self._touch()
            self._videos[video.id] = copy.deepcopy(video)

    async def save_metadata(self, video: Video) -> None:
        if stored := self._videos.get(video.id or 0):
            self._touch()
            stored.title, stored.description, stored.category = video.title, video.description, video.category
            stored.thumbnail, stored.custom_thumbnail = video.thumbnail, video.custom_thumbnail
            stored.updated_at = video.updated_at

    async def set_progress(self, video_id: int, progress: float, now: datetime) -> bool:
        if video := self._videos.get(video_id):
            self._touch()
            video.progress, video.updated_at = progress, now
            return True
        return False

    async def claim_for_processing(self, video_id: int, now: datetime, stale_before: datetime) -> Video | None:
        video = self._videos.get(video_id)
        if video is None or not _needs_work(video, stale_before):
            return None
        self._touch()
        video.status = VideoStatus.PROCESSING
        video.progress = 0.0
        video.attempts += 1
        video.processing_started_at = now
        video.updated_at = now
        return copy.deepcopy(video)

    async def delete(self, video_id: int) -> None:
        if video_id in self._videos:
            self._touch()
            del self._videos[video_id]

    async def ids_needing_work(self, stale_before: datetime) -> list[int]:
        return sorted(i for i, v in self._videos.items() if _needs_work(v, stale_before))


class FakeOperationsRepository(OperationsRepository):
    """Mirrors ``SqlOperationsRepository``: counts and deletions over the same tables."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch

    async def email_counts(self) -> dict[str, int]:
        return dict(Counter(row.status for row in self._store.state.outbox.values()))

    async def video_counts(self) -> dict[str, int]:
        return dict(Counter(video.status.value for video in self._store.state.videos.values()))

    async def users(self, limit: int) -> list[User]:
        return [replace(user) for _, user in sorted(self._store.state.users.items())][:limit]

    async def delete_sent_emails(self, sent_before: datetime) -> int:
        rows = self._store.state.outbox
        old = [i for i, row in rows.items() if row.status == "sent" and row.sent_at and row.sent_at < sent_before]
        return self._delete(rows, old)

    async def delete_expired_one_time_tokens(self, expired_before: datetime) -> int:
        tokens = self._store.state.one_time_tokens
        return self._delete(tokens, [key for key, token in tokens.items() if token.expires_at < expired_before])

    async def delete_expired_refresh_tokens(self, expired_before: datetime) -> int:
        records = self._store.state.refresh_tokens
        return self._delete(records, [key for key, record in records.items() if record.expires_at < expired_before])

    def _delete(self, table: dict[Any, Any], keys: list[Any]) -> int:
        if keys:
            self._touch()
        for key in keys:
            del table[key]
        return len(keys)


def _lease_free(upload: UploadSession, now: datetime) -> bool:
    return upload.lease_until is None or upload.lease_until <= now


class FakeUploadRepository(UploadRepository):
    """Upload sessions, with the SQL adapter's conditional updates: each method is one atomic step."""

    def __init__(self, store: FakeStore, touch: Callable[[], None]) -> None:
        self._store = store
        self._touch = touch

    @property
    def _uploads(self) -> dict[str, UploadSession]:
        return self._store.state.uploads

    def _held(self, upload_id: str, token: str) -> UploadSession | None:
        upload = self._uploads.get(upload_id)
        return upload if upload is not None and upload.lease_token == token else None

    async def add(self, upload: UploadSession) -> None:
        if upload.id in self._uploads:
            raise ValueError("duplicate upload id")  # the primary key would refuse it too
        self._touch()
        self._uploads[upload.id] = copy.deepcopy(upload)

    async def get(self, upload_id: str) -> UploadSession | None:
        upload = self._uploads.get(upload_id)
        return copy.deepcopy(upload) if upload is not None else None

    async def unfinished_of(self, owner_id: int, now: datetime) -> list[UploadSession]:
        return [
            copy.deepcopy(u)
            for u in self._uploads.values()
            if u.owner_id == owner_id and u.video_id is None and u.expires_at > now
        ]

    async def claim(
        self, upload_id: str, owner_id: int | None, token: str, now: datetime, until: datetime
    ) -> UploadSession | None:
        upload = self._uploads.get(upload_id)
        if (
            upload is None
            or (owner_id is not None and upload.owner_id != owner_id)
            or upload.video_id is not None
            or upload.expires_at <= now
            or not _lease_free(upload, now)
        ):
            return None
        self._touch()
        upload.lease_token, upload.lease_until = token, until
        return copy.deepcopy(upload)

    async def renew(self, upload_id: str, token: str, until: datetime) -> bool:
        upload = self._held(upload_id, token)
        if upload is None:
            return False
        self._touch()
        upload.lease_until = until
        return True

    async def record_offset(
        self, upload_id: str, token: str, offset: int, lease_until: datetime | None, expires_at: datetime
    ) -> bool:
        upload = self._held(upload_id, token)
        if upload is None:
            return False
        self._touch()
        upload.offset, upload.lease_until, upload.expires_at = offset, lease_until, expires_at
        if lease_until is None:
            upload.lease_token = None
        return True

    async def release(self, upload_id: str, token: str) -> None:
        upload = self._held(upload_id, token)
        if upload is not None:
            self._touch()
            upload.lease_token = upload.lease_until = None

    async def complete(self, upload_id: str, token: str, video_id: int, expires_at: datetime) -> bool:
        upload = self._held(upload_id, token)
        if upload is None:
            return False
        self._touch()
        upload.video_id, upload.offset, upload.expires_at = video_id, upload.length, expires_at
        upload.lease_token = upload.lease_until = None
        return True

    async def delete(self, upload_id: str) -> None:
        if upload_id in self._uploads:
            self._touch()
            del self._uploads[upload_id]

    async def delete_expired(self, upload_id: str, now: datetime) -> bool:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.expires_at > now or not _lease_free(upload, now):
            return False
        self._touch()
        del self._uploads[upload_id]
        return True

    async def expired_ids(self, now: datetime) -> list[str]:
        return [i for i, u in self._uploads.items() if u.expires_at <= now and _lease_free(u, now)]

    async def stranded_ids(self, now: datetime) -> list[str]:
        return [
            i
            for i, u in self._uploads.items()
            if u.video_id is None and u.offset >= u.length and u.expires_at > now and _lease_free(u, now)
        ]

    async def existing_ids(self, upload_ids: Collection[str]) -> set[str]:
        return set(upload_ids) & set(self._uploads)


class FakeCatalogReader(CatalogReader):
    """Mirrors ``SqlCatalogReader`` over the same videos."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def list_published(self) -> list[CatalogEntry]:
        ready = [v for v in self._store.state.videos.values() if v.published]
        return [
            CatalogEntry(
                id=v.id,  # type: ignore[arg-type]
                created_at=v.created_at,
                title=v.title,
                description=v.description,
                category=v.category,
                thumbnail=v.thumbnail,
            )
            for v in sorted(ready, key=_newest_first, reverse=True)
        ]


class FakeUnitOfWork:
    """Every repository over the shared store; only committed writes survive leaving the block.

    The first write after enter (or after a commit) snapshots the store; leaving without commit restores that
    snapshot. Only one unit of work may hold uncommitted writes at a time: a
    second writer would make the restore lose or keep the wrong writes, so the fake raises instead.
    """

    def __init__(self, factory: FakeUnitOfWorkFactory) -> None:
        self._factory = factory
        store = factory.store
        # Typed as the ports: protocol attributes are invariant, so this is what makes the fake a unit of work.
        self.users: UserRepository = FakeUserRepository(store, self._touch)
        self.one_time_tokens: OneTimeTokenRepository = FakeOneTimeTokenRepository(store, self._touch)
        self.refresh_tokens: RefreshTokenStore = FakeRefreshTokenStore(store, self._touch)
        self.session_revocations: SessionRevocationLog = FakeSessionRevocationLog(store, self._touch)
        self.outbox: Outbox = FakeOutbox(store, self._touch)
        self.videos: VideoRepository = FakeVideoRepository(store, self._touch)
        self.uploads: UploadRepository = FakeUploadRepository(store, self._touch)
        self.catalog: CatalogReader = FakeCatalogReader(store)
        self.operations: OperationsRepository = FakeOperationsRepository(store, self._touch)
        self._entered = False
        self._left = False
        self._snapshot: FakeState | None = None
        self.committed = False

    def _touch(self) -> None:
        store = self._factory.store
        if not self._entered or self._left:
            raise AssertionError("a write outside `async with uow:`")
        if store.writer is None:
            self._snapshot = copy.deepcopy(store.state)
            store.writer = self
        elif store.writer is not self:
            raise AssertionError("two units of work hold uncommitted writes at once; the fake cannot isolate them")

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a FakeUnitOfWork is entered once")
        self._entered = True
        self._factory.open_count += 1
        self._factory.opened += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            self._discard_writes()
        finally:
            self._left = True
            self._factory.open_count -= 1

    async def commit(self) -> None:
        if self._factory.unavailable_commits > 0:  # the database went away: nothing of this unit of work is kept
            self._factory.unavailable_commits -= 1
            raise Unavailable()
        store = self._factory.store
        if store.writer is self:
            store.writer = None
            self._snapshot = None
        self.committed = True
        self._factory.committed += 1

    def _discard_writes(self) -> None:
        store = self._factory.store
        if store.writer is self:
            assert self._snapshot is not None
            store.state = self._snapshot
            store.writer = None
            self._snapshot = None
            self._factory.rolled_back += 1


class FakeUnitOfWorkFactory:
    """``factory()`` gives a new unit of work on the shared store.

    ``committed`` counts commits, ``rolled_back`` the exits that threw writes away, ``opened`` the units of work
    entered, ``open_count`` those entered and not yet left (0: no transaction is open right now).
    ``unavailable_commits = n`` makes the next ``n`` commits raise ``Unavailable`` (the database is away).
    """

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.unavailable_commits = 0
        self.committed = 0
        self.rolled_back = 0
        self.opened = 0
        self.open_count = 0

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    @property
    def state(self) -> FakeState:
        """The tables, for assertions (outside a unit of work: exactly what was committed)."""
        return self.store.state


# --------------------------------------------------------------------------------------------- security


class FakePasswordHasher(PasswordHasher):
    """Hashes look like ``hashed:<params>:<password>``. ``needs_rehash`` is true for a hash made with other
    params than ``self.params`` (like argon2's ``check_needs_rehash``), unless ``needs_rehash_when`` is set."""

    PREFIX = "hashed"

    def __init__(self, params: str = "v1") -> None:
        self.params = params
        self.needs_rehash_when: Callable[[str], bool] | None = None
        self.hashes = 0
        self.verifications = 0
        self.dummy_verifications = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return f"{self.PREFIX}:{self.params}:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        prefix, _, rest = password_hash.partition(":")
        _params, sep, stored = rest.partition(":")
        return prefix == self.PREFIX and bool(sep) and secrets.compare_digest(stored, password)

    def needs_rehash(self, password_hash: str) -> bool:
        if self.needs_rehash_when is not None:
            return self.needs_rehash_when(password_hash)
        return not password_hash.startswith(f"{self.PREFIX}:{self.params}:")

    async def verify_dummy(self, password: str) -> None:
        self.dummy_verifications += 1


class FakeTokenCodec(TokenCodec):
    """Opaque random tokens whose claims live in a dict; expiry is judged by the fake clock.

    The real ``JwtTokenCodec`` lets PyJWT judge ``exp``/``iat`` by the wall clock, which a test that moves the
    fake clock cannot control. Access and refresh tokens are not interchangeable (S7), as with the real one.
    """

    def __init__(
        self,
        clock: FakeClock,
        access_ttl: timedelta = timedelta(minutes=30),
        refresh_ttl: timedelta = timedelta(days=7),
    ) -> None:
        self._clock = clock
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._claims: dict[str, TokenClaims] = {}
        self._kinds: dict[str, str] = {}

    def issue_access(self, user_id: int, family_id: str, now: datetime) -> IssuedToken:
        return self._issue("access", user_id, now + self._access_ttl, family_id)

    def issue_refresh(self, user_id: int, family_id: str, now: datetime) -> IssuedToken:
        return self._issue("refresh", user_id, now + self._refresh_ttl, family_id)

    def decode_access(self, token: str) -> TokenClaims:
        return self._decode(token, "access")

    def decode_refresh(self, token: str) -> TokenClaims:
        return self._decode(token, "refresh")

    def _issue(self, kind: str, user_id: int, expires_at: datetime, family_id: str) -> IssuedToken:
        jti = secrets.token_hex(16)
        token = f"fake-{kind}-{jti}"
        self._claims[token] = TokenClaims(user_id=user_id, jti=jti, expires_at=expires_at, family_id=family_id)
        self._kinds[token] = kind
        return IssuedToken(token=token, jti=jti, expires_at=expires_at)

    def _decode(self, token: str, kind: str) -> TokenClaims:
        claims = self._claims.get(token)
        if claims is None or self._kinds[token] != kind or claims.expires_at <= self._clock.now():
            raise AuthenticationFailed("Invalid token.")
        return claims


class FakeRevokedSessions(RevokedSessions):
    """The set of ended sessions, without a poller: what this process itself ended."""

    def __init__(self) -> None:
        self.revoked: dict[str, datetime] = {}

    def is_revoked(self, family_id: str) -> bool:
        return family_id in self.revoked

    def add(self, family_ids: Collection[str], expires_at: datetime) -> None:
        for family in family_ids:
            self.revoked[family] = max(expires_at, self.revoked.get(family, expires_at))


class FakeMailboxValidator(MailboxValidator):
    """A plain stand-in for email-validator: ASCII ``local@domain.tld``, no list, group or angle bracket; the
    domain lower-cased. Records every address it was asked about."""

    _MAILBOX = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}")

    def __init__(self) -> None:
        self.asked: list[str] = []

    def normalize(self, address: str) -> str | None:
        self.asked.append(address)
        if not self._MAILBOX.fullmatch(address) or ".." in address or address.startswith("."):
            return None
        local, _, domain = address.partition("@")
        return f"{local}@{domain.lower()}"


# --------------------------------------------------------------------------------------------- email


class FakeEmailRenderer(EmailRenderer):
    """Puts the link verbatim into both parts, so tests can find it."""

    def __init__(self) -> None:
        self.rendered: list[tuple[str, str, str]] = []  # (kind, to, link)

    def activation(self, to: str, link: str) -> EmailMessage:
        self.rendered.append(("activation", to, link))
        return EmailMessage(
            to=to,
            subject="Confirm your email",
            text=f"Activate your account: {link}\n",
            html=f'<p><a href="{link}">Activate account</a></p>',
        )

    def password_reset(self, to: str, link: str) -> EmailMessage:
        self.rendered.append(("password_reset", to, link))
        return EmailMessage(
            to=to,
            subject="Reset your password",
            text=f"Reset your password: {link}\n",
            html=f'<p><a href="{link}">Reset password</a></p>',
        )


@dataclass(frozen=True)
class SentMail:
    message: EmailMessage
    message_id: str


class FakeMailer(Mailer):
    """Records what was sent. ``fail_next(n, ...)`` makes the next ``n`` sends raise ``DeliveryError``;
    ``during_send`` (if set) is awaited inside ``send`` before the outcome, to interleave other work."""

    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.attempts = 0
        self.during_send: Callable[[], Awaitable[None]] | None = None
        self._failures: list[BaseException] = []

    def fail_next(self, count: int = 1, reason: str = "421 service not available", *, permanent: bool = False) -> None:
        self._failures.extend(DeliveryError(reason, permanent=permanent) for _ in range(count))

    def crash_next(self, error: BaseException) -> None:
        """The next send raises ``error`` itself (a worker dying mid-send, a bug), not a ``DeliveryError``."""
        self._failures.append(error)

    async def send(self, message: EmailMessage, message_id: str) -> None:
        self.attempts += 1
        if self.during_send is not None:
            await self.during_send()
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(SentMail(message=message, message_id=message_id))

    def sent_to(self, address: str) -> list[EmailMessage]:
        return [mail.message for mail in self.sent if mail.message.to == address]


# --------------------------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class Ring:
    job: Job
    key: str
    timeout: int | None
    kwargs: dict[str, Any]
    delivered: bool


class FakeJobQueue(JobQueue):
    """Records every ring. With ``available = False`` rings are refused (returns False), as if Redis were down.
    ``on_enqueue(ring)`` (if set) runs at ring time, to look at the world as the job would find it."""

    def __init__(self) -> None:
        self.rings: list[Ring] = []
        self.cancelled: list[tuple[Job, str]] = []
        self.available = True
        self.on_enqueue: Callable[[Ring], None] | None = None

    async def enqueue(self, job: Job, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        ring = Ring(job=job, key=key, timeout=timeout, kwargs=dict(kwargs), delivered=self.available)
        self.rings.append(ring)
        if self.on_enqueue is not None:
            self.on_enqueue(ring)
        return ring.delivered

    async def cancel(self, job: Job, *, key: str) -> bool:
        """Records the cancel; True when a delivered ring of ``job`` with ``key`` was not cancelled yet."""
        rung = any(r.delivered and r.job == job and r.key == key for r in self.rings)
        first = (job, key) not in self.cancelled
        self.cancelled.append((job, key))
        return self.available and rung and first

    @property
    def jobs(self) -> list[tuple[Job, str, int | None, dict[str, Any]]]:
        """Delivered rings as ``(job, key, timeout, kwargs)``."""
        return [(r.job, r.key, r.timeout, r.kwargs) for r in self.rings if r.delivered]

    def delivered(self, job: Job | None = None) -> list[Ring]:
        return [r for r in self.rings if r.delivered and (job is None or r.job == job)]

    def clear(self) -> None:
        self.rings.clear()


# --------------------------------------------------------------------------------------------- media

DEFAULT_PROBE = ProbeResult(
    duration=10.0,
    width=1920,
    height=1080,
    fps=25.0,
    has_audio=True,
    size_bytes=123_456,
    video_codec="h264",
    pix_fmt="yuv420p",
    audio_channels=2,
    container="mov",
)


def fake_media_playlist(duration: float, *, ended: bool = True) -> str:
    """A VOD media playlist of ``SEGMENT_SECONDS`` segments (000.ts, 001.ts, ...) lasting ``duration``."""
    count = max(1, math.ceil(duration / SEGMENT_SECONDS))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    remaining = duration
    for index in range(count):
        length = min(float(SEGMENT_SECONDS), remaining) if index < count - 1 else remaining
        remaining -= length
        lines += [f"#EXTINF:{length:.6f},", f"{index:03d}.ts"]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class FakeTranscoder(Transcoder):
    """A transcoder that writes small, real, well-formed HLS text files instead of running ffmpeg.

    Knobs: ``probe_result`` / ``probe_error``; ``build_error`` (any exception, e.g. ``MediaError`` or
    ``asyncio.CancelledError``) raised from ``build_ladder`` after the progress steps; ``output_duration`` to
    write playlists shorter (or longer) than the probe says, ``playlist_ended`` False to leave out
    ``#EXT-X-ENDLIST``; ``during_build`` awaited inside ``build_ladder``, ``during_probe`` inside ``probe``;
    ``clock`` + ``seconds_per_step`` move a fake clock between progress steps; ``thumbnail_error``;
    ``image_size`` / ``image_error`` for ``still_image``; ``after_progress`` awaited after each progress step;
    ``empty_segments`` writes every segment empty (an ffmpeg that exited 0 on a full volume).
    """

    PROGRESS_STEPS = (25.0, 50.0, 75.0, 100.0)

    def __init__(self, probe_result: ProbeResult = DEFAULT_PROBE) -> None:
        self.probe_result = probe_result
        self.probe_error: MediaError | None = None
        self.build_error: BaseException | None = None
        self.output_duration: float | None = None
        self.playlist_ended = True
        self.empty_segments = False
        self.during_build: Callable[[], Awaitable[None]] | None = None
        self.during_probe: Callable[[], Awaitable[None]] | None = None
        self.clock: FakeClock | None = None
        self.seconds_per_step = 0.0
        self.thumbnail_error: MediaError | None = None
        self.image_size = (640, 360)
        self.image_error: MediaError | None = None
        self.probed: list[Path] = []
        self.builds: list[list[PlannedRung]] = []
        self.progress_reported: list[float] = []
        self.after_progress: Callable[[float], Awaitable[None]] | None = None
        self.thumbnails = 0
        self.frames_taken: list[float | None] = []  # the ``at`` of every thumbnail (None: the default frame)

    async def probe(self, source: Path) -> ProbeResult:
        self.probed.append(source)
        if self.during_probe is not None:
            await self.during_probe()
        if not source.is_file():
            raise MediaError("no such file")
        if self.probe_error is not None:
            raise self.probe_error
        return self.probe_result

    async def still_image(self, source: Path, out_path: Path) -> None:
        if self.image_error is not None:
            raise self.image_error
        out_path.write_bytes(b"\xff\xd8 fake jpeg %dx%d" % self.image_size)

    async def build_ladder(
        self,
        source: Path,
        probe: ProbeResult,
        rungs: list[PlannedRung],
        out_dir: Path,
        on_progress: ProgressCallback,
    ) -> list[Rendition]:
        self.builds.append(list(rungs))
        for percent in self.PROGRESS_STEPS:
            if self.clock is not None and self.seconds_per_step:
                self.clock.advance(seconds=self.seconds_per_step)
            self.progress_reported.append(percent)
            await on_progress(percent)
            if self.after_progress is not None:
                await self.after_progress(percent)
            await asyncio.sleep(0)  # let concurrent work run, as a real ffmpeg wait would
        if self.during_build is not None:
            await self.during_build()
        if self.build_error is not None:
            raise self.build_error
        duration = probe.duration if self.output_duration is None else self.output_duration
        playlist = fake_media_playlist(duration, ended=self.playlist_ended)
        master = ["#EXTM3U", "#EXT-X-VERSION:3"]
        renditions = []
        for rung in rungs:
            folder = out_dir / rung.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "index.m3u8").write_text(playlist, encoding="utf-8")
            for line in playlist.splitlines():
                if line.endswith(".ts"):
                    (folder / line).write_bytes(b"" if self.empty_segments else b"\x47fake transport stream")
            bandwidth = (rung.video_kbps + (AUDIO_KBPS if probe.has_audio else 0)) * 1000
            codecs = "avc1.640028,mp4a.40.2" if probe.has_audio else "avc1.640028"
            renditions.append(Rendition(rung.name, rung.width, rung.height, bandwidth, codecs))
            master += [
                f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={rung.width}x{rung.height},CODECS="{codecs}"',
                f"{rung.name}/index.m3u8",
            ]
        (out_dir / "index.m3u8").write_text("\n".join(master) + "\n", encoding="utf-8")
        return renditions

    async def thumbnail(self, source: Path, probe: ProbeResult, out_path: Path, at: float | None = None) -> None:
        self.thumbnails += 1
        self.frames_taken.append(at)
        if self.thumbnail_error is not None:
            raise self.thumbnail_error
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(b"\xff\xd8\xff\xe0fake jpeg at %s\xff\xd9" % str(at).encode())


class FakeMediaStore(MediaStore):
    """The ``MediaStore`` port in memory: sources, published ladders and thumbnails are dicts of bytes, so a test
    reads what was stored without knowing any folder layout. Incoming files and staging folders are real folders
    under ``scratch``, because the transcoder (ffmpeg, or ``FakeTranscoder``) reads and writes local files.

    Knobs: ``publish_error`` is raised by ``publish`` (a full disk, say)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self.sources: dict[int, Path] = {}  # in scratch, because the transcoder reads them from disk
        self.published: dict[int, dict[str, bytes]] = {}  # video -> file name in the ladder -> content
        self.thumbnails: dict[str, bytes] = {}
        self.publish_error: BaseException | None = None
        self._names = iter(range(1, 1_000_000))
        self.open_parts = 0  # part files open for writing right now
        self.syncs = 0  # part-file syncs (fsync) so far

    def staging_dirs(self) -> list[Path]:
        """Staging folders still on disk (a finished or failed build leaves none)."""
        return sorted(self.scratch.glob("staging-*"))

    def incoming_files(self) -> list[Path]:
        return sorted(self.scratch.glob("incoming-*"))

    @contextlib.contextmanager
    def incoming(self, suffix: str = "") -> Iterator[Path]:
        path = self.scratch / f"incoming-{next(self._names)}{suffix}"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def adopt_source(self, video_id: int, upload: Path) -> None:
        source = self.scratch / f"source-{video_id}"
        upload.replace(source)
        self.sources[video_id] = source

    def source(self, video_id: int) -> Path | None:
        path = self.sources.get(video_id)
        return path if path is not None and path.is_file() else None

    def new_staging(self, video_id: int) -> Path:
        path = self.scratch / f"staging-{video_id}-{next(self._names)}"
        path.mkdir()
        return path

    def staged_playlist(self, staging: Path, rendition: str) -> str | None:
        playlist = staging / rendition / "index.m3u8"
        return playlist.read_text() if playlist.is_file() else None

    def staged_file_size(self, staging: Path, rendition: str, name: str) -> int | None:
        path = staging / rendition / name
        return path.stat().st_size if "/" not in name and path.is_file() else None

    def discard_staging(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def publish(self, video_id: int, staging: Path) -> None:
        if self.publish_error is not None:
            raise self.publish_error
        files = {str(p.relative_to(staging)): p.read_bytes() for p in sorted(staging.rglob("*")) if p.is_file()}
        shutil.rmtree(staging)
        self.published[video_id] = files  # one step: the old ladder or the new one, never a mix

    def is_published(self, video_id: int) -> bool:
        return video_id in self.published

    def published_playlist(self, video_id: int, rendition: str) -> str | None:
        content = self.published.get(video_id, {}).get(f"{rendition}/index.m3u8")
        return content.decode() if content is not None else None

    def store_thumbnail(self, video_id: int, image: Path) -> str:
        name = f"thumbnails/{video_id}-{next(self._names):012x}.jpg"
        self.thumbnails[name] = image.read_bytes()
        image.unlink()
        return name

    def delete_thumbnail(self, thumbnail: str) -> None:
        self.thumbnails.pop(thumbnail, None)

    def delete_video(self, video_id: int, thumbnail: str | None) -> None:
        self.published.pop(video_id, None)
        source = self.sources.pop(video_id, None)
        if source is not None:
            source.unlink(missing_ok=True)
        if thumbnail:
            self.delete_thumbnail(thumbnail)

    def stream_file(self, video_id: int, resolution: str | None, name: str) -> ServedFile | None:
        relative = f"{resolution}/{name}" if resolution else name
        if relative not in self.published.get(video_id, {}):
            return None
        return ServedFile(path=f"memory:{video_id}/{relative}")

    def thumbnail_file(self, name: str) -> ServedFile | None:
        key = f"thumbnails/{name}"
        return ServedFile(path=f"memory:{key}") if key in self.thumbnails else None

    def check_writable(self) -> str | None:
        return None

    def temporary_files(self) -> list[TemporaryFile]:
        """Incoming files and staging folders in ``scratch``, by their modification time on disk (a test ages one
        with ``os.utime``)."""
        found = []
        for kind, pattern in ((TemporaryKind.UPLOAD, "incoming-*"), (TemporaryKind.STAGING, "staging-*")):
            for path in sorted(self.scratch.glob(pattern)):
                latest = max(p.stat().st_mtime for p in [path, *path.rglob("*")])
                found.append(TemporaryFile(kind, path.name, datetime.fromtimestamp(latest, UTC)))
        return found

    def remove_temporary_file(self, item: TemporaryFile) -> None:
        path = self.scratch / item.name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    # resumable uploads: real files under scratch, since the transcoder probes the finished one

    def upload_part_files(self) -> list[Path]:
        """Part files still on disk (a finished, terminated or expired upload leaves none)."""
        return sorted(self.scratch.glob("resumable-*"))

    def _part(self, upload_id: str) -> Path:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise ValueError("not an upload id")
        return self.scratch / f"resumable-{upload_id}"

    @contextlib.contextmanager
    def open_upload_part(self, upload_id: str, offset: int) -> Iterator[UploadPart]:
        path = self._part(upload_id)
        path.touch()
        with path.open("r+b", buffering=0) as handle:
            handle.truncate(offset)
            handle.seek(offset)
            part = FakeUploadPart(handle)
            self.open_parts += 1
            try:
                yield part
            finally:
                self.open_parts -= 1
                self.syncs += part.syncs

    def upload_part_size(self, upload_id: str) -> int:
        path = self._part(upload_id)
        return path.stat().st_size if path.is_file() else 0

    def truncate_upload_part(self, upload_id: str, size: int) -> None:
        path = self._part(upload_id)
        if path.is_file():
            with path.open("r+b") as handle:
                handle.truncate(size)

    def upload_part_path(self, upload_id: str) -> Path:
        return self._part(upload_id)

    def discard_upload_part(self, upload_id: str) -> None:
        self._part(upload_id).unlink(missing_ok=True)

    def upload_part_ids(self) -> list[str]:
        return [path.name.removeprefix("resumable-") for path in self.upload_part_files()]


class FakeUploadPart(UploadPart):
    """A part file opened by ``FakeMediaStore``; counts its syncs."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.syncs = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)

    def sync(self) -> None:
        self.syncs += 1
