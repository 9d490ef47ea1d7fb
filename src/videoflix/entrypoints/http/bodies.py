"""Request bodies: which media types a route accepts, and JSON that cannot be decoded as a client error (S24).

Every unsafe route takes JSON (or no body) unless its decorator says otherwise with ``opt=accepts(...)``: the staff
upload takes ``multipart/form-data``, a resumable upload would take ``application/offset+octet-stream``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

BODY_MEDIA_TYPES = "body_media_types"  # the key in a handler's ``opt``
JSON = "application/json"
DEFAULT_BODY_MEDIA_TYPES = (JSON,)


def accepts(*media_types: str) -> dict[str, Any]:
    """A handler's ``opt`` for the body media types it reads instead of JSON: ``@post(..., opt=accepts(...))``."""
    return {BODY_MEDIA_TYPES: tuple(media_type.lower() for media_type in media_types)}


def media_type_of(content_type: str) -> str:
    """``multipart/form-data; boundary=x`` -> ``multipart/form-data``."""
    return content_type.split(";", 1)[0].strip().lower()


class ApiRequest(Request[Any, Any, Any]):
    """Litestar's request, with JSON nested deeper than the decoder goes (a ``RecursionError`` from msgspec) turned
    into a 400 like any other malformed body, instead of an unexpected error with a traceback per request."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("The JSON body is nested too deeply.") from None
