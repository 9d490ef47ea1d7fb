"""CSRF defence for unsafe requests (S13), and the media type of their bodies.

For every ``POST``, ``PUT``, ``PATCH`` and ``DELETE``:

- a foreign ``Origin`` (or, without one, ``Referer``) is refused, and an ``X-CSRFToken`` header, when sent, must
  equal the ``csrftoken`` cookie;
- a request carrying the session cookies (``access_token`` or ``refresh_token``) must also prove it comes from the
  frontend: with a matching ``X-CSRFToken`` on operations that declare the CSRF scheme in their OpenAPI security,
  and with a matching token or a trusted ``Origin``/``Referer`` on the one cookie operation that declares no CSRF
  scheme, the token refresh (the frontend sends it without the header, docs/api.md). The rule is read from the
  handler's own declaration, so the docs and the check cannot disagree. Public operations (register, login,
  password reset) authenticate by no cookie and keep the first rule only;
- a body must be of a media type the route reads: JSON unless the route says otherwise (``bodies.accepts``).
  Anything else, a body without a ``Content-Type`` included, is a 415.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import cast
from urllib.parse import urlsplit

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from videoflix.entrypoints.http.bodies import BODY_MEDIA_TYPES, DEFAULT_BODY_MEDIA_TYPES, media_type_of
from videoflix.entrypoints.http.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, cookie_value
from videoflix.entrypoints.http.errors import STATUS_MESSAGES, send_error
from videoflix.entrypoints.http.openapi import ACCESS_SCHEME, CSRF_SCHEME, REFRESH_SCHEME

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Upload bodies (multipart, tus chunks): accepted only with X-CSRFToken, which a cross-site form cannot send.
CSRF_FAILED = "CSRF check failed. Reload the page and try again."
UNSUPPORTED_BODY = "Send the request body as {}."


class CsrfRule(StrEnum):
    PUBLIC = "public"  # no cookie authenticates it: a foreign origin and a wrong token are refused
    ORIGIN_OR_TOKEN = "origin or token"  # cookie-authenticated without the header by contract (the refresh)
    TOKEN = "token"  # cookie-authenticated: the X-CSRFToken header is required


def rule_of(handler: HTTPRouteHandler) -> CsrfRule:
    """What a handler's declared OpenAPI security asks of a request that carries the session cookies."""
    security = handler.resolve_security() or []
    if security and all(CSRF_SCHEME in requirement for requirement in security):
        return CsrfRule.TOKEN
    if any(ACCESS_SCHEME in requirement or REFRESH_SCHEME in requirement for requirement in security):
        return CsrfRule.ORIGIN_OR_TOKEN
    return CsrfRule.PUBLIC


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _has_session(cookie_header: str | None) -> bool:
    return bool(cookie_value(cookie_header, ACCESS_COOKIE) or cookie_value(cookie_header, REFRESH_COOKIE))


def _has_body(headers: Headers) -> bool:
    # Without Content-Length or Transfer-Encoding an HTTP/1.1 request has no body (RFC 9112, section 6.3).
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length.strip() not in ("", "0"))


class CSRFMiddleware:
    """A route middleware: it runs after routing, so it knows the handler (its security and ``opt``)."""

    def __init__(self, app: ASGIApp, trusted_origins: list[str]) -> None:
        self.app = app
        self.trusted = {origin.rstrip("/").lower() for origin in trusted_origins}
        self._rules: dict[int, CsrfRule] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] in UNSAFE_METHODS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await send_error(send, refusal[0], refusal[1], scope.get("state", {}).get("request_id"))
                return
        await self.app(scope, receive, send)

    def _rule(self, handler: HTTPRouteHandler) -> CsrfRule:
        rule = self._rules.get(id(handler))
        if rule is None:
            rule = self._rules[id(handler)] = rule_of(handler)
        return rule

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers.from_scope(scope)
        own_origin = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        source = headers.get("origin")
        if source is None and headers.get("referer"):
            source = origin_of(headers["referer"]) or "null"
        trusted_source = source is not None and source.rstrip("/").lower() in self.trusted | {own_origin}
        if source is not None and not trusted_source:
            return 403, CSRF_FAILED
        cookies = headers.get("cookie")
        sent_token = headers.get("x-csrftoken")
        if sent_token is not None:
            cookie_token = cookie_value(cookies, CSRF_COOKIE)
            if not cookie_token or not secrets.compare_digest(sent_token.encode(), cookie_token.encode()):
                return 403, CSRF_FAILED
        handler = cast("HTTPRouteHandler", scope["route_handler"])  # unsafe methods route to HTTP handlers only
        rule = self._rule(handler)
        needs_proof = rule is not CsrfRule.PUBLIC and sent_token is None and _has_session(cookies)
        if needs_proof and (rule is CsrfRule.TOKEN or not trusted_source):
            return 403, CSRF_FAILED
        return self._unsupported_body(headers, handler)

    @staticmethod
    def _unsupported_body(headers: Headers, handler: HTTPRouteHandler) -> tuple[int, str] | None:
        if not _has_body(headers):
            return None
        accepted: tuple[str, ...] = handler.opt.get(BODY_MEDIA_TYPES, DEFAULT_BODY_MEDIA_TYPES)
        if media_type_of(headers.get("content-type", "")) in accepted:
            return None
        return 415, UNSUPPORTED_BODY.format(" or ".join(accepted)) if accepted else STATUS_MESSAGES[415]
