"""Rate limits of the endpoints that check passwords or send email (S15).

The per-address count is a guard (``rate_limited``, with the bucket in the handler's ``opt``), so it counts before
the body is parsed; the per-account count needs the email from the body and happens in the handler.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import BaseRouteHandler

from videoflix.bootstrap import Container
from videoflix.entrypoints.http.clientip import ClientAddress

LOGIN = "login"
TOO_MANY = "Too many attempts. Please wait a minute and try again."


class RateLimits:
    def __init__(self, container: Container, client_address: ClientAddress) -> None:
        self._limiter = container.rate_limiter
        self._settings = container.settings
        self._client_address = client_address

    def _limit(self, bucket: str) -> int:
        return self._settings.login_rate_limit if bucket == LOGIN else self._settings.email_rate_limit

    async def hit_address(self, bucket: str, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        """Count one attempt from the client's address; 429 over the limit."""
        await self._hit(bucket, f"{bucket}:ip:{self._client_address.of(connection)}")

    async def hit_subject(self, bucket: str, subject: str) -> None:
        """Count one attempt for an account; hashed, so the limiter's store (Redis) never holds addresses."""
        digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
        await self._hit(bucket, f"{bucket}:who:{digest}")

    async def _hit(self, bucket: str, key: str) -> None:
        window = self._settings.rate_limit_window_seconds
        if not await self._limiter.hit(key, self._limit(bucket), window):
            raise TooManyRequestsException(detail=TOO_MANY, headers={"Retry-After": str(window)})


async def rate_limited(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: count the request against the address limit of the bucket named in the handler's ``opt``."""
    limits: RateLimits = connection.app.state.rate_limits
    await limits.hit_address(handler.opt["rate_limit"], connection)
