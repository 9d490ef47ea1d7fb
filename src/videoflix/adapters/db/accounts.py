"""SQL implementations of the account ports."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from videoflix.adapters.db.engine import READ_ONLY, affected_rows
from videoflix.adapters.db.models import (
    OneTimeTokenModel,
    OutboxEmailModel,
    RefreshTokenModel,
    SessionRevocationModel,
    UserModel,
)
from videoflix.domain.accounts.model import (
    GENERIC_INPUT_ERROR,
    ClaimedEmail,
    DuplicateEmail,
    EmailKind,
    EmailMessage,
    EmailStatus,
    OneTimeToken,
    OutboxEmail,
    RefreshTokenRecord,
    RotationOutcome,
    SessionRevocation,
    TokenPurpose,
    User,
)

REDACTED = "(removed after delivery: it contained a one-time link)"


def _outbox_email(row: OutboxEmailModel) -> OutboxEmail:
    return OutboxEmail(
        id=row.id,
        to=row.recipient,
        subject=row.subject,
        kind=EmailKind(row.kind) if row.kind else EmailKind.UNKNOWN,
        user_id=row.user_id,
        status=EmailStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def user_from_row(row: UserModel) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        is_active=row.is_active,
        is_staff=row.is_staff,
        password_changed_at=row.password_changed_at,
        last_login=row.last_login,
    )


def _like_fragment(fragment: str) -> str:
    """A LIKE pattern matching ``fragment`` literally anywhere (``%`` and ``_`` in it are not wildcards)."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> User:
        row = UserModel(
            email=user.email,
            password_hash=user.password_hash,
            created_at=user.created_at,
            is_active=user.is_active,
            is_staff=user.is_staff,
            password_changed_at=user.password_changed_at,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:  # a concurrent registration of the same email won the race
            raise DuplicateEmail(GENERIC_INPUT_ERROR) from error
        return user_from_row(row)

    async def get(self, user_id: int) -> User | None:
        row = await self._session.get(UserModel, user_id)
        return user_from_row(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = await self._session.scalar(select(UserModel).where(UserModel.email == email))
        return user_from_row(row) if row else None

    async def lock(self, user_id: int, *, shared: bool = False) -> User | None:
        # FOR UPDATE / FOR SHARE on Postgres; SQLite has no row locks and needs none: its transactions take the
        # write lock when they begin (BEGIN IMMEDIATE, see engine.py), so they run one after the other.
        row = await self._session.scalar(
            select(UserModel)
            .where(UserModel.id == user_id)
            .with_for_update(read=shared)
            .execution_options(populate_existing=True)
        )
        return user_from_row(row) if row else None

    async def search(self, fragment: str | None, offset: int, limit: int) -> tuple[list[User], int]:
        query = select(UserModel)
        if fragment:
            query = query.where(UserModel.email.like(_like_fragment(fragment), escape="\\"))
        total = await self._session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self._session.scalars(query.order_by(UserModel.id).offset(offset).limit(limit))
        return [user_from_row(row) for row in rows], total or 0

    async def set_active(self, user_id: int, is_active: bool) -> None:
        await self._session.execute(update(UserModel).where(UserModel.id == user_id).values(is_active=is_active))

    async def set_password(self, user_id: int, password_hash: str, changed_at: datetime | None) -> None:
        await self._session.execute(
            update(UserModel)
            .where(UserModel.id == user_id)
            .values(password_hash=password_hash, password_changed_at=changed_at)
        )

    async def set_staff(self, user_id: int, is_staff: bool) -> None:
        await self._session.execute(update(UserModel).where(UserModel.id == user_id).values(is_staff=is_staff))

    async def record_login(self, user_id: int, when: datetime) -> None:
        await self._session.execute(update(UserModel).where(UserModel.id == user_id).values(last_login=when))

    async def delete(self, user_id: int) -> None:
        # The foreign keys cascade: its one-time and refresh tokens go too (SQLite: PRAGMA foreign_keys, engine.py).
        await self._session.execute(delete(UserModel).where(UserModel.id == user_id))


class SqlOneTimeTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: OneTimeToken) -> None:
        self._session.add(
            OneTimeTokenModel(
                token_hash=token.token_hash,
                user_id=token.user_id,
                purpose=token.purpose.value,
                created_at=token.created_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
            )
        )
        await self._session.flush()

    async def get(self, token_hash: str) -> OneTimeToken | None:
        row = await self._session.get(OneTimeTokenModel, token_hash)
        if row is None:
            return None
        return OneTimeToken(
            token_hash=row.token_hash,
            user_id=row.user_id,
            purpose=TokenPurpose(row.purpose),
            created_at=row.created_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
        )

    async def consume(self, token_hash: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(OneTimeTokenModel)
            .where(
                OneTimeTokenModel.token_hash == token_hash,
                OneTimeTokenModel.used_at.is_(None),
                OneTimeTokenModel.expires_at > now,
            )
            .values(used_at=now)
        )
        return affected_rows(result) == 1

    async def consume_all(self, user_id: int, purpose: TokenPurpose, now: datetime) -> None:
        await self._session.execute(
            update(OneTimeTokenModel)
            .where(
                OneTimeTokenModel.user_id == user_id,
                OneTimeTokenModel.purpose == purpose.value,
                OneTimeTokenModel.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def has_pending(self, user_id: int, purpose: TokenPurpose, now: datetime) -> bool:
        found = await self._session.scalar(
            select(OneTimeTokenModel.token_hash)
            .where(
                OneTimeTokenModel.user_id == user_id,
                OneTimeTokenModel.purpose == purpose.value,
                OneTimeTokenModel.used_at.is_(None),
                OneTimeTokenModel.expires_at > now,
            )
            .limit(1)
        )
        return found is not None

    async def count_issued_since(self, user_id: int, purpose: TokenPurpose, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                OneTimeTokenModel.user_id == user_id,
                OneTimeTokenModel.purpose == purpose.value,
                OneTimeTokenModel.created_at > since,
            )
        )
        return count or 0


class SqlRefreshTokenStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: RefreshTokenRecord) -> None:
        self._session.add(
            RefreshTokenModel(
                jti=record.jti,
                user_id=record.user_id,
                family_id=record.family_id,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                revoked_at=record.revoked_at,
            )
        )
        await self._session.flush()

    async def rotate(self, old_jti: str, new: RefreshTokenRecord, now: datetime) -> RotationOutcome:
        # One conditional UPDATE decides the race: of ten parallel refreshes, one sees rowcount 1.
        result = await self._session.execute(
            update(RefreshTokenModel)
            .where(
                RefreshTokenModel.jti == old_jti,
                RefreshTokenModel.family_id == new.family_id,
                RefreshTokenModel.revoked_at.is_(None),
                RefreshTokenModel.expires_at > now,
            )
            .values(revoked_at=now)
        )
        if affected_rows(result) == 1:
            await self.add(new)
            return RotationOutcome.ROTATED
        known = await self._session.get(RefreshTokenModel, old_jti)
        if known is not None and known.revoked_at is not None:
            return RotationOutcome.REUSED
        return RotationOutcome.UNKNOWN

    async def revoke_family(self, family_id: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(RefreshTokenModel)
            .where(RefreshTokenModel.family_id == family_id, RefreshTokenModel.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(RefreshTokenModel.expires_at)
        )
        return any(expires_at > now for expires_at in result.scalars())

    async def revoke_all_for_user(self, user_id: int, now: datetime) -> set[str]:
        # RETURNING names exactly the rows this statement revoked, so a session that started just before cannot
        # slip between a SELECT and the UPDATE unrecorded.
        result = await self._session.execute(
            update(RefreshTokenModel)
            .where(RefreshTokenModel.user_id == user_id, RefreshTokenModel.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(RefreshTokenModel.family_id, RefreshTokenModel.expires_at)
        )
        return {family_id for family_id, expires_at in result.all() if expires_at > now}


class SqlSessionRevocationLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, family_ids: Collection[str], revoked_at: datetime, expires_at: datetime) -> None:
        await self._session.execute(
            insert(SessionRevocationModel),
            [{"family_id": family, "revoked_at": revoked_at, "expires_at": expires_at} for family in family_ids],
        )

    async def newer(self, after_id: int, also: Collection[int], limit: int) -> list[SessionRevocation]:
        await self._session.connection(execution_options={READ_ONLY: True})  # the poller's transaction only reads
        condition = SessionRevocationModel.id > after_id
        if also:
            condition = or_(condition, SessionRevocationModel.id.in_(list(also)))
        rows = await self._session.execute(
            select(SessionRevocationModel.id, SessionRevocationModel.family_id, SessionRevocationModel.expires_at)
            .where(condition)
            .order_by(SessionRevocationModel.id)
            .limit(limit)
        )
        return [SessionRevocation(id=row_id, family_id=family, expires_at=expires) for row_id, family, expires in rows]

    async def delete_expired(self, now: datetime) -> int:
        result = await self._session.execute(
            delete(SessionRevocationModel).where(SessionRevocationModel.expires_at <= now)
        )
        return affected_rows(result)


class SqlOutbox:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, message: EmailMessage, now: datetime, kind: EmailKind = EmailKind.OTHER, user_id: int | None = None
    ) -> int:
        row = OutboxEmailModel(
            recipient=message.to,
            subject=message.subject,
            text_body=message.text,
            html_body=message.html,
            status="pending",
            attempts=0,
            created_at=now,
            available_at=now,
            kind=kind.value,
            user_id=user_id,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, outbox_id: int) -> OutboxEmail | None:
        row = await self._session.get(OutboxEmailModel, outbox_id)
        return _outbox_email(row) if row is not None else None

    async def message(self, outbox_id: int) -> EmailMessage | None:
        row = await self._session.get(OutboxEmailModel, outbox_id)
        if row is None:
            return None
        return EmailMessage(to=row.recipient, subject=row.subject, text=row.text_body, html=row.html_body)

    async def recent(self, status: EmailStatus | None, limit: int) -> list[OutboxEmail]:
        query = select(OutboxEmailModel).order_by(OutboxEmailModel.id.desc()).limit(limit)
        if status is not None:
            query = query.where(OutboxEmailModel.status == status.value)
        return [_outbox_email(row) for row in await self._session.scalars(query)]

    async def close_failed(self, outbox_id: int, status: EmailStatus) -> bool:
        result = await self._session.execute(
            update(OutboxEmailModel)
            .where(OutboxEmailModel.id == outbox_id, OutboxEmailModel.status == EmailStatus.FAILED.value)
            .values(status=status.value)
        )
        return affected_rows(result) == 1

    async def supersede_failed(self, user_id: int, kind: EmailKind) -> int:
        result = await self._session.execute(
            update(OutboxEmailModel)
            .where(
                OutboxEmailModel.user_id == user_id,
                OutboxEmailModel.kind == kind.value,
                OutboxEmailModel.status == EmailStatus.FAILED.value,
            )
            .values(status=EmailStatus.RETRIED.value)
        )
        return affected_rows(result)

    async def claim(self, outbox_id: int, now: datetime, lease_seconds: int) -> ClaimedEmail | None:
        result = await self._session.execute(
            update(OutboxEmailModel)
            .where(
                OutboxEmailModel.id == outbox_id,
                OutboxEmailModel.status == "pending",
                OutboxEmailModel.available_at <= now,
            )
            .values(available_at=now + timedelta(seconds=lease_seconds))
        )
        if affected_rows(result) != 1:
            return None
        row = await self._session.get(OutboxEmailModel, outbox_id)
        assert row is not None
        message = EmailMessage(to=row.recipient, subject=row.subject, text=row.text_body, html=row.html_body)
        return ClaimedEmail(message=message, attempts=row.attempts)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        await self._session.execute(
            update(OutboxEmailModel)
            .where(OutboxEmailModel.id == outbox_id)
            # The bodies hold the raw activation/reset token: once delivered (or given up) they are not kept.
            .values(status="sent", sent_at=now, last_error=None, text_body=REDACTED, html_body=REDACTED)
        )

    async def mark_retry(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        await self._session.execute(
            update(OutboxEmailModel)
            .where(OutboxEmailModel.id == outbox_id)
            .values(attempts=OutboxEmailModel.attempts + 1, last_error=error[:2000], available_at=retry_at)
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        # Bodies with a one-time link are not kept (a retry sends a fresh link); others stay, to be sent as they were.
        keeps_body = OutboxEmailModel.kind == EmailKind.OTHER.value
        await self._session.execute(
            update(OutboxEmailModel)
            .where(OutboxEmailModel.id == outbox_id)
            .values(
                status="failed",
                attempts=OutboxEmailModel.attempts + 1,
                last_error=error[:2000],
                text_body=case((keeps_body, OutboxEmailModel.text_body), else_=REDACTED),
                html_body=case((keeps_body, OutboxEmailModel.html_body), else_=REDACTED),
            )
        )

    async def due(self, now: datetime, limit: int) -> list[int]:
        rows = await self._session.scalars(
            select(OutboxEmailModel.id)
            .where(OutboxEmailModel.status == "pending", OutboxEmailModel.available_at <= now)
            .order_by(OutboxEmailModel.id)
            .limit(limit)
        )
        return list(rows)
