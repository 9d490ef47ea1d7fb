"""The three cookies of the contract: ``access_token``, ``refresh_token`` (HttpOnly) and ``csrftoken`` (readable)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from litestar.datastructures import Cookie

from videoflix.domain.accounts.model import IssuedToken
from videoflix.settings import Settings

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrftoken"


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """One cookie of a ``Cookie`` header, read as leniently as browsers send them: another app's odd cookie on the
    same host must not hide ours (``http.cookies.SimpleCookie`` drops every cookie once it meets one it dislikes),
    and the hot streaming path parses no more than it needs."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def _max_age(token: IssuedToken, now: datetime) -> int:
    # Never longer than the token's own exp (S9).
    return max(0, int((token.expires_at - now).total_seconds()))


def token_cookie(name: str, token: IssuedToken, now: datetime, settings: Settings) -> Cookie:
    return Cookie(
        key=name,
        value=token.token,
        max_age=_max_age(token, now),
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )


def session_csrf_token(secret_key: str, family_id: str) -> str:
    """The ``csrftoken`` of one session: an HMAC of its id (the refresh-token family) with the secret key. The same
    for the whole session, different for every other one, and never what a client sent: a value planted in the
    cookie by someone else is replaced at the next login or refresh."""
    digest = hmac.new(secret_key.encode(), b"videoflix-csrftoken:" + family_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_cookie(settings: Settings, max_age: int, family_id: str) -> Cookie:
    """Readable by the frontend's JavaScript, which echoes it as ``X-CSRFToken`` on logout."""
    return Cookie(
        key=CSRF_COOKIE,
        value=session_csrf_token(settings.secret_key, family_id),
        max_age=max_age,
        path="/",
        httponly=False,
        secure=settings.cookie_secure,
        samesite="lax",
    )


def expired_cookies(settings: Settings) -> list[Cookie]:
    return [
        Cookie(
            key=name,
            value="",
            max_age=0,
            path="/",
            httponly=name != CSRF_COOKIE,
            secure=settings.cookie_secure,
            samesite="lax",
        )
        for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)
    ]
