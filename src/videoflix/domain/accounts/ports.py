"""What the account services need from the outside world."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from videoflix.domain.accounts.model import (
    ClaimedEmail,
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
from videoflix.domain.ports import UnitOfWorkBase


class UserRepository(Protocol):
    async def add(self, user: User) -> User:
        """Insert and return the user with its id. Raises ``DuplicateEmail`` when the email exists."""
        ...

    async def get(self, user_id: int) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def lock(self, user_id: int, *, shared: bool = False) -> User | None:
        """The user as committed now, its row locked until the transaction ends: ``shared`` by logins and
        refreshes, exclusive by whatever ends sessions, so that no session starts unseen beside it (S27)."""
        ...

    async def search(self, fragment: str | None, offset: int, limit: int) -> tuple[list[User], int]:
        """Users whose email contains ``fragment`` (all without one), oldest first; and how many match."""
        ...

    async def set_active(self, user_id: int, is_active: bool) -> None: ...

    async def set_password(self, user_id: int, password_hash: str, changed_at: datetime | None) -> None: ...

    async def set_staff(self, user_id: int, is_staff: bool) -> None: ...

    async def record_login(self, user_id: int, when: datetime) -> None: ...

    async def delete(self, user_id: int) -> None:
        """Remove the user; its tokens go with it."""
        ...


class OneTimeTokenRepository(Protocol):
    async def add(self, token: OneTimeToken) -> None: ...

    async def get(self, token_hash: str) -> OneTimeToken | None: ...

    async def consume(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used if it is unused and unexpired; True only for the one caller that did."""
        ...

    async def consume_all(self, user_id: int, purpose: TokenPurpose, now: datetime) -> None: ...

    async def has_pending(self, user_id: int, purpose: TokenPurpose, now: datetime) -> bool:
        """Whether an unused, unexpired token of this purpose exists for the user."""
        ...

    async def count_issued_since(self, user_id: int, purpose: TokenPurpose, since: datetime) -> int: ...


class RefreshTokenStore(Protocol):
    async def add(self, record: RefreshTokenRecord) -> None: ...

    async def rotate(self, old_jti: str, new: RefreshTokenRecord, now: datetime) -> RotationOutcome:
        """Atomically revoke ``old_jti`` and store ``new``; only one concurrent caller can rotate a token."""
        ...

    async def revoke_family(self, family_id: str, now: datetime) -> bool:
        """Revoke every token of the family; True when the session was still alive (a token was unrevoked and
        unexpired)."""
        ...

    async def revoke_all_for_user(self, user_id: int, now: datetime) -> set[str]:
        """Revoke every token of the user; the families that were still alive."""
        ...


class SessionRevocationLog(Protocol):
    """Ended sessions, written in the transaction that ends them and read by every server process (S27)."""

    async def add(self, family_ids: Collection[str], revoked_at: datetime, expires_at: datetime) -> None: ...

    async def newer(self, after_id: int, also: Collection[int], limit: int) -> list[SessionRevocation]:
        """Revocations with an id above ``after_id`` or in ``also``, by id, at most ``limit``."""
        ...

    async def delete_expired(self, now: datetime) -> int: ...


class RevokedSessions(Protocol):
    """The ended sessions one process knows of: its own at once, every other process's within a second (S27).
    Asked on every authenticated request, the hot streaming path included: a set lookup, nothing more."""

    def is_revoked(self, family_id: str) -> bool: ...

    def add(self, family_ids: Collection[str], expires_at: datetime) -> None: ...


class MailboxValidator(Protocol):
    """The syntax of email addresses (S28)."""

    def normalize(self, address: str) -> str | None:
        """``address`` as one RFC 5321 mailbox (a dot-atom local part, a real domain, lower-case and IDNA-encoded),
        or None when it is anything else: a list, a group, a display name, a quoted or commented part."""
        ...


class Outbox(Protocol):
    """Emails waiting to be sent, written in the transaction that caused them."""

    async def add(
        self, message: EmailMessage, now: datetime, kind: EmailKind = EmailKind.OTHER, user_id: int | None = None
    ) -> int:
        """Queue ``message``; ``kind`` and ``user_id`` say what it is and for whom (to send it again later)."""
        ...

    async def get(self, outbox_id: int) -> OutboxEmail | None: ...

    async def message(self, outbox_id: int) -> EmailMessage | None:
        """The stored message (its bodies are redacted once it held a one-time link and was sent or failed)."""
        ...

    async def recent(self, status: EmailStatus | None, limit: int) -> list[OutboxEmail]:
        """Newest first, of one status or all."""
        ...

    async def close_failed(self, outbox_id: int, status: EmailStatus) -> bool:
        """Move a failed email to ``retried`` or ``cancelled``; True only for the one caller that did."""
        ...

    async def supersede_failed(self, user_id: int, kind: EmailKind) -> int:
        """Move every failed email of ``kind`` to the user to ``retried`` (a fresh one replaced them); how many."""
        ...

    async def claim(self, outbox_id: int, now: datetime, lease_seconds: int) -> ClaimedEmail | None:
        """Lease a pending email for sending; None when it is sent, failed, or leased by someone else."""
        ...

    async def mark_sent(self, outbox_id: int, now: datetime) -> None: ...

    async def mark_retry(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        """Count a failed attempt and keep the email pending until ``retry_at``."""
        ...

    async def mark_failed(self, outbox_id: int, error: str) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of pending emails that nobody holds a lease on."""
        ...


class AccountsUnitOfWork(UnitOfWorkBase, Protocol):
    users: UserRepository
    one_time_tokens: OneTimeTokenRepository
    refresh_tokens: RefreshTokenStore
    session_revocations: SessionRevocationLog
    outbox: Outbox


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AccountsUnitOfWork: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so unknown emails answer as slowly as known ones."""
        ...


class TokenCodec(Protocol):
    def issue_access(self, user_id: int, family_id: str, now: datetime) -> IssuedToken:
        """An access token of the session ``family_id`` (S27: every access token belongs to one)."""
        ...

    def issue_refresh(self, user_id: int, family_id: str, now: datetime) -> IssuedToken: ...

    def decode_access(self, token: str) -> TokenClaims:
        """Claims of a valid access token; raises ``AuthenticationFailed`` otherwise."""
        ...

    def decode_refresh(self, token: str) -> TokenClaims: ...


class EmailRenderer(Protocol):
    def activation(self, to: str, link: str) -> EmailMessage: ...

    def password_reset(self, to: str, link: str) -> EmailMessage: ...


class DeliveryError(Exception):
    """Sending failed. ``permanent`` errors (SMTP 5xx) are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, message: EmailMessage, message_id: str) -> None:
        """Deliver one message; raises ``DeliveryError``."""
        ...
