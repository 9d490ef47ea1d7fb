"""The embedded default's mailer: every email becomes an ``.eml`` file, and its link shows up in the log with the
one-time token redacted (see docs/security.md (S25)): the whole link is in the file, which only the account
running Videoflix can read."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from email import policy
from pathlib import Path

from videoflix.adapters.mail.mime import build_mime, first_link, safe_id
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.accounts.ports import DeliveryError

log = logging.getLogger("videoflix.mail")
_TOKEN = re.compile(r"([?&]token=)[^&\s#]+")


def redacted_link(link: str) -> str:
    """The link without its one-time token: enough to tell which email it was, useless to anyone reading logs."""
    return _TOKEN.sub(r"\g<1>[redacted]", link)


class FileMailer:
    """``Mailer`` writing ``<message_id>.eml`` files: the same id again overwrites, never duplicates."""

    def __init__(self, folder: Path, from_address: str) -> None:
        self._folder = Path(folder)
        self._from_address = from_address

    def path_for(self, message_id: str) -> Path:
        return self._folder / f"{safe_id(message_id)}.eml"

    async def send(self, message: EmailMessage, message_id: str) -> None:
        """Write the message atomically; raises ``DeliveryError`` when the folder is not writable."""
        path = self.path_for(message_id)
        try:
            mime = build_mime(message, message_id, self._from_address)
            # Like aiosmtplib with SMTPUTF8: an internationalised address is written as UTF-8, not mangled.
            data = mime.as_bytes(policy=policy.default.clone(utf8=not message.to.isascii()))
        except (ValueError, UnicodeError) as error:
            raise DeliveryError(f"invalid message: {error}", permanent=True) from None
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as error:
            # A full disk or a permission problem can be fixed; keep the email pending.
            raise DeliveryError(f"cannot write {path}: {error.strerror or error}") from None
        log.info(
            "email to %s (%s) written to %s; link: %s",
            message.to,
            message.subject,
            path,
            redacted_link(first_link(message.text) or "-"),
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the complete new one, never half a message.

    Emails carry one-time links: the folder is created 0700 and each file 0600 (``mkstemp``'s mode, kept by the
    rename), so only the account running Videoflix reads them."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A dot-name without .eml: a half-written file never looks like an email to anyone watching the folder.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp_name).replace(path)  # atomic rename (os.replace) on one filesystem
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
