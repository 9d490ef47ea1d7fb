"""Account entities and the small pure rules about them (uid encoding, token hashes)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from videoflix.domain.errors import InvalidInput

GENERIC_INPUT_ERROR = "Please check your input and try again."


class TokenPurpose(StrEnum):
    ACTIVATION = "activation"
    PASSWORD_RESET = "password_reset"


@dataclass
class User:
    email: str
    password_hash: str
    created_at: datetime
    is_active: bool = False
    is_staff: bool = False
    id: int | None = None
    password_changed_at: datetime | None = None
    last_login: datetime | None = None


@dataclass(frozen=True)
class OneTimeToken:
    """An activation or reset token; only its SHA-256 is stored, the token itself goes into the email link."""

    token_hash: str
    user_id: int
    purpose: TokenPurpose
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class RefreshTokenRecord:
    """One issued refresh token. ``family_id`` groups a login session's chain of rotated tokens."""

    jti: str
    user_id: int
    family_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    """A verified token. ``family_id`` is its session: the refresh-token family it was issued in (both kinds)."""

    user_id: int
    jti: str
    expires_at: datetime
    family_id: str


@dataclass(frozen=True)
class SessionRevocation:
    """A session (a refresh-token family) ended before its time. Its access tokens are refused until
    ``expires_at``, when the last of them has expired anyway (S27)."""

    id: int
    family_id: str
    expires_at: datetime


@dataclass(frozen=True)
class UserPage:
    """One page of a user search: ``total`` matches in all."""

    users: list[User]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str


class EmailKind(StrEnum):
    """What an outbox email is, so a failed one can be sent again the right way."""

    ACTIVATION = "activation"  # carries a one-time activation link
    PASSWORD_RESET = "password_reset"  # carries a one-time reset link
    OTHER = "other"  # no one-time link: sent again as it was
    UNKNOWN = "unknown"  # queued before kinds were recorded: its body is gone, it cannot be sent again


class EmailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanently refused, or too many attempts
    RETRIED = "retried"  # failed, then replaced by a fresh email (a new row)
    CANCELLED = "cancelled"  # failed, and no longer needed (the account was activated meanwhile, say)


@dataclass(frozen=True)
class OutboxEmail:
    """One outbox row as operators see it (the bodies are not part of it: they may hold one-time links)."""

    id: int
    to: str
    subject: str
    kind: EmailKind
    user_id: int | None
    status: EmailStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class ResendOutcome(StrEnum):
    RESENT = "resent"  # a fresh email is queued (with a new one-time link where it had one)
    CANCELLED = "cancelled"  # no longer needed: nothing sent, the old email is marked cancelled


@dataclass(frozen=True)
class Resend:
    outcome: ResendOutcome
    new_outbox_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class ClaimedEmail:
    """An outbox email leased for one delivery attempt; ``attempts`` counts the failed ones before it."""

    message: EmailMessage
    attempts: int


class DuplicateEmail(InvalidInput):
    """The email is taken. Shown to clients as the same generic 400 as any other bad input."""


class PasswordRefused(InvalidInput):
    """A new password breaks the password rules. ``field`` names the input that holds it, ``problems`` says, in
    words for the person typing it, every rule it breaks (S28)."""

    field: str

    def __init__(self, field: str, problems: list[str]) -> None:
        super().__init__(" ".join(problems), field=field)
        self.problems = problems


class AccountChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a passing failure: tried again after a backoff
    FAILED = "failed"  # permanent, or too many attempts
    SKIPPED = "skipped"  # sent already, failed already, or someone else is sending it


class ResetRequestOutcome(StrEnum):
    """What a password-reset request did. The client is told the same in every case (no enumeration)."""

    QUEUED = "queued"  # a reset email is on its way
    NO_ACCOUNT = "no_account"  # no active account has this address
    LINK_PENDING = "link_pending"  # an unused, unexpired link was sent already (S28)
    HOURLY_CAP = "hourly_cap"  # the account had its reset emails for this hour (S28)


class RotationOutcome(StrEnum):
    ROTATED = "rotated"
    REUSED = "reused"  # the token was already rotated or revoked: a replay
    UNKNOWN = "unknown"  # never issued, or expired


def encode_uid(user_id: int) -> str:
    """Django's ``urlsafe_base64_encode(force_bytes(pk))``: URL-safe base64 of the decimal id, no padding."""
    return base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")


def decode_uid(uidb64: str) -> int | None:
    """The user id inside ``uidb64``, or None for anything malformed."""
    if not uidb64 or len(uidb64) > 32:
        return None
    try:
        raw = base64.urlsafe_b64decode(uidb64 + "=" * (-len(uidb64) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
