"""The wire format of tus 1.0.0 (https://tus.io/protocols/resumable-upload): its headers, their parsing, and the
headers every answer under the upload endpoint carries. The rules of uploads live in ``domain/media/uploads.py``."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from email.utils import format_datetime

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.upload_model import CHECKSUM_ALGORITHMS, Checksum

UPLOADS_PATH = "/api/admin/uploads"
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
CHUNK_MEDIA_TYPE = "application/offset+octet-stream"
VIDEO_ID_HEADER = "Video-Id"  # the video a completed upload became (final PATCH, HEAD, creation-with-upload)

# CORS: what a browser client on another origin sends and must be allowed to read.
REQUEST_HEADERS = ("tus-resumable", "upload-offset", "upload-length", "upload-metadata", "upload-checksum",
                   "upload-concat", "upload-defer-length")  # fmt: skip
RESPONSE_HEADERS = ("location", "upload-offset", "upload-length", "upload-metadata", "upload-expires",
                    "tus-resumable", "tus-version", "tus-extension", "tus-max-size", "tus-checksum-algorithm",
                    "video-id")  # fmt: skip

_SIZE = re.compile(r"[0-9]{1,19}")
_METADATA_KEY = re.compile(r"[!-~]+")  # printable ASCII without spaces (and the comma separates pairs)
BAD_METADATA = "Upload-Metadata must be comma-separated pairs of a key and its base64-encoded UTF-8 value."


def require_version(value: str | None) -> None:
    """412 with ``Tus-Version`` for a request without ``Tus-Resumable: 1.0.0``."""
    if value != TUS_VERSION:
        raise HTTPException(
            status_code=412,
            detail=f"Send the header Tus-Resumable: {TUS_VERSION} (the protocol version this server speaks).",
            headers={"Tus-Version": TUS_VERSION},
        )


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def require_chunk_media_type(content_type: str | None) -> None:
    if media_type(content_type) != CHUNK_MEDIA_TYPE:
        raise HTTPException(status_code=415, detail=f"Send the bytes with Content-Type: {CHUNK_MEDIA_TYPE}.")


def parse_size(value: str | None, header: str) -> int | None:
    """A non-negative byte count, None when the header is absent."""
    if value is None:
        return None
    if not _SIZE.fullmatch(value.strip()):
        raise InvalidInput(f"{header} must be a non-negative number of bytes.")
    return int(value.strip())


def parse_metadata(value: str | None) -> dict[str, str]:
    """``key base64value`` pairs (the value may be left out); keys unique, values UTF-8."""
    metadata: dict[str, str] = {}
    if not value or not value.strip():
        return metadata
    for pair in value.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key) or key in metadata or " " in encoded.strip():
            raise InvalidInput(BAD_METADATA)
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(BAD_METADATA) from None
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items() if value)


def parse_checksum(value: str | None) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; 400 for one the server cannot check."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise InvalidInput("Upload-Checksum must be an algorithm and a base64-encoded digest.") from None
    return Checksum(algorithm.lower(), digest)


def http_date(moment: datetime) -> str:
    """``Upload-Expires`` as RFC 9110 wants dates: ``Wed, 25 Jun 2025 16:00:00 GMT``."""
    return format_datetime(moment, usegmt=True)


def is_upload_path(path: str) -> bool:
    return path == UPLOADS_PATH or path.startswith(UPLOADS_PATH + "/")


class TusHeaders:
    """The protocol's headers under the upload endpoint, for every answer whoever gives it:

    - ``Tus-Resumable`` on every answer (the guards' and the CSRF check's errors included);
    - discovery (``OPTIONS``): answered here, publicly, as tus servers do (the staff guard would otherwise turn
      an anonymous ``OPTIONS`` away); with an ``Origin`` it is a CORS preflight, which Litestar's CORS layer
      answers (allowed origins, methods, headers) and this adds the discovery headers to. So discovery and
      preflights coexist, and a browser client's preflight learns both.
    """

    def __init__(self, app: ASGIApp, max_size: int) -> None:
        self.app = app
        version = (b"tus-resumable", TUS_VERSION.encode())
        self._every = [version]
        self._discovery = [
            version,
            (b"tus-version", TUS_VERSION.encode()),
            (b"tus-extension", ",".join(TUS_EXTENSIONS).encode()),
            (b"tus-max-size", str(max_size).encode()),
            (b"tus-checksum-algorithm", ",".join(CHECKSUM_ALGORITHMS).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not is_upload_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        discovery = scope["method"] == "OPTIONS"
        if discovery and not any(name == b"origin" for name, _ in scope["headers"]):
            await send({"type": "http.response.start", "status": 204, "headers": self._discovery})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        extra = self._discovery if discovery else self._every

        async def send_with_tus_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_tus_headers)
