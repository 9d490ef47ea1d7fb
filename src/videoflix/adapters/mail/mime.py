"""Turn a domain ``EmailMessage`` into the MIME message that SMTP and the file outbox both deliver."""

from __future__ import annotations

import email.message
import hashlib
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

from videoflix.domain.accounts.model import EmailMessage

_FALLBACK_DOMAIN = "videoflix.local"
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_LINK_RE = re.compile(r"https?://[^\s<>\"']+")


def envelope_sender(from_address: str) -> str:
    """The bare address in ``from_address``, which may be ``"Name <addr>"`` (Django's DEFAULT_FROM_EMAIL)."""
    return parseaddr(from_address)[1] or from_address.strip()


def safe_id(message_id: str) -> str:
    """``message_id`` reduced to characters safe in a Message-ID and a file name; same input, same output.

    If anything had to be replaced, a short hash keeps two different ids from colliding.
    """
    cleaned = _UNSAFE_ID_CHARS.sub("_", message_id).strip(".") or "message"
    if cleaned != message_id:
        cleaned = f"{cleaned[:80]}-{hashlib.sha256(message_id.encode()).hexdigest()[:12]}"
    return cleaned


def message_id_header(message_id: str, from_address: str) -> str:
    """A Message-ID made only from ``message_id`` and the sender's domain: a retry carries the same id."""
    domain = envelope_sender(from_address).rpartition("@")[2]
    if not _DOMAIN_RE.match(domain):
        domain = _FALLBACK_DOMAIN
    return f"<{safe_id(message_id)}@{domain}>"


def first_link(text: str) -> str | None:
    match = _LINK_RE.search(text)
    return match.group(0) if match else None


def build_mime(
    message: EmailMessage, message_id: str, from_address: str, now: datetime | None = None
) -> email.message.EmailMessage:
    """A multipart/alternative message: plain text first, HTML last (clients show the last part they can)."""
    mime = email.message.EmailMessage()
    mime["From"] = from_address
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    mime["Message-ID"] = message_id_header(message_id, from_address)
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime
