"""CSRF defence for unsafe requests (S13): trusted origins, JSON bodies, and ``X-CSRFToken`` when sent."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from videoflix.entrypoints.http.cookies import CSRF_COOKIE, cookie_value
from videoflix.entrypoints.http.errors import send_error

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Upload bodies (multipart, tus chunks): accepted only with X-CSRFToken, which a cross-site form cannot send.
TOKEN_BODIES = frozenset({"multipart/form-data", "application/offset+octet-stream"})
CSRF_FAILED = "CSRF check failed. Reload the page and try again."


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CSRFMiddleware:
    """Rejects an unsafe request when its Origin (or Referer) is foreign, its body is a form, or its
    ``X-CSRFToken`` does not match the ``csrftoken`` cookie. Multipart uploads must carry the header."""

    def __init__(self, app: ASGIApp, trusted_origins: list[str]) -> None:
        self.app = app
        self.trusted = {origin.rstrip("/").lower() for origin in trusted_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] in UNSAFE_METHODS and not self._allowed(scope):
            await send_error(send, 403, CSRF_FAILED, scope.get("state", {}).get("request_id"))
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = Headers.from_scope(scope)
        own_origin = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        source = headers.get("origin")
        if source is None and headers.get("referer"):
            source = origin_of(headers["referer"]) or "null"
        if source is not None and source.rstrip("/").lower() not in self.trusted | {own_origin}:
            return False
        sent_token = headers.get("x-csrftoken")
        if sent_token is not None:
            cookie_token = cookie_value(headers.get("cookie"), CSRF_COOKIE)
            if not cookie_token or not secrets.compare_digest(sent_token.encode(), cookie_token.encode()):
                return False
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not media_type or media_type == "application/json":
            return True
        return media_type in TOKEN_BODIES and sent_token is not None
