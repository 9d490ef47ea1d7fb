"""Account entities and the small pure rules about them (email syntax, password policy, uid encoding)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from importlib import resources

from videoflix.domain.errors import InvalidInput

GENERIC_INPUT_ERROR = "Please check your input and try again."

# Deliberately simple: one "@", no whitespace or control characters, a dot in the domain. Deliverability is
# proven by the activation email, not by syntax rules.
_EMAIL_RE = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


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


@dataclass(frozen=True)
class OneTimeToken:
    """An activation or reset token; only its SHA-256 is stored, the token itself goes into the email link."""

    token_hash: str
    user_id: int
    purpose: TokenPurpose
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
    user_id: int
    jti: str
    expires_at: datetime
    family_id: str | None = None


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


class AccountChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a passing failure: tried again after a backoff
    FAILED = "failed"  # permanent, or too many attempts
    SKIPPED = "skipped"  # sent already, failed already, or someone else is sending it


class RotationOutcome(StrEnum):
    ROTATED = "rotated"
    REUSED = "reused"  # the token was already rotated or revoked: a replay
    UNKNOWN = "unknown"  # never issued, or expired


def normalize_email(raw: str) -> str:
    """Trim and lower-case an address, rejecting anything that is not plausibly an email."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise InvalidInput(GENERIC_INPUT_ERROR)
    return email


def _load_common_passwords() -> frozenset[str]:
    text = resources.files("videoflix.domain.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


COMMON_PASSWORDS = _load_common_passwords()


def check_password_policy(password: str, email: str | None = None) -> None:
    """Length as typed (no truncation, no trimming), not a common password, not the email itself."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(GENERIC_INPUT_ERROR)
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or password.isdigit():
        raise InvalidInput(GENERIC_INPUT_ERROR)
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        raise InvalidInput(GENERIC_INPUT_ERROR)


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
