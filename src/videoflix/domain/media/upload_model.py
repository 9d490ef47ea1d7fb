"""Resumable uploads: an upload session, its checksum, its limits and the errors its rules raise. No HTTP, no SQL.

An upload session is a video file that arrives in pieces, possibly over days, through several server processes.
Its state lives in the database (the ``uploads`` table: length, offset, metadata, expiry, lease) and its bytes in
the media store (the part file); nothing of it lives in a process's memory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from videoflix.domain.errors import Conflict, DomainError, InvalidInput, PermissionDenied

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")  # 128 random bits, as the media store names the part file
# Integrity checks of a chunk (tus checksum extension); md5 for clients that offer nothing else.
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "sha512", "md5")
METADATA_KEYS = ("filename", "title", "description", "category")


@dataclass
class UploadSession:
    """One resumable upload. ``offset`` never claims more bytes than the part file holds; ``lease_token`` and
    ``lease_until`` mark the one request that may write to it right now (across processes and machines)."""

    id: str
    owner_id: int
    length: int
    offset: int
    metadata: dict[str, str]  # filename, title, description, category
    created_at: datetime
    expires_at: datetime
    lease_token: str | None = None
    lease_until: datetime | None = None
    video_id: int | None = None  # set once the file became a video

    @property
    def completed(self) -> bool:
        return self.video_id is not None

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def leased(self, now: datetime) -> bool:
        return self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True)
class UploadPolicy:
    """The limits of resumable uploads (settings)."""

    max_bytes: int  # MAX_UPLOAD_BYTES: the largest file
    expiry: timedelta  # an unfinished upload is removed this long after its last byte arrived
    max_per_user: int  # unfinished uploads one account may have at once
    max_bytes_per_user: int  # their total length


@dataclass(frozen=True)
class Checksum:
    """A chunk's expected digest (``Upload-Checksum``), checked before its bytes count."""

    algorithm: str
    digest: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.algorithm not in CHECKSUM_ALGORITHMS:
            raise UnsupportedChecksum(
                f"Unsupported checksum algorithm {self.algorithm[:20]!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}."
            )
        if len(self.digest) != hashlib.new(self.algorithm, usedforsecurity=False).digest_size:
            raise UnsupportedChecksum(f"A {self.algorithm} checksum has a different length.")

    def hasher(self) -> Any:
        """A fresh ``hashlib`` object for this algorithm."""
        return hashlib.new(self.algorithm, usedforsecurity=False)


# --- errors -------------------------------------------------------------------------------------------------------


class UploadGone(DomainError):
    """The upload expired or was terminated (410)."""

    message = "This upload has expired or was terminated. Start a new one."


class UploadTooLarge(DomainError):
    """More bytes than ``MAX_UPLOAD_BYTES`` or than the upload's declared length (413)."""

    message = "The upload is too large."


class ChecksumMismatch(DomainError):
    """The chunk's bytes do not match its ``Upload-Checksum``; none of them count (460)."""

    message = "The checksum of the chunk does not match; send it again."


class UnsupportedChecksum(InvalidInput):
    """An ``Upload-Checksum`` the server cannot check (400)."""


class OffsetMismatch(Conflict):
    """The client sends bytes for another position than the upload is at (409)."""


class UploadBusy(Conflict):
    """Another request is writing to this upload right now (409)."""

    message = "Another request is uploading to this upload right now; ask for its offset and try again."


class UploadQuotaExceeded(PermissionDenied):
    """The account has too many unfinished uploads, or too many bytes in them (403)."""


class LeaseLost(Exception):
    """A writer's lease ended (expired and taken over, or the upload was deleted): it must stop writing."""
