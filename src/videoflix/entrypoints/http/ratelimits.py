"""Rate limits of the endpoints that check passwords or send email (S15)."""

from __future__ import annotations

import hashlib

from litestar import Request
from litestar.exceptions import TooManyRequestsException

from videoflix.entrypoints.http.state import container_of


async def enforce(request: Request, bucket: str, *, subject: str | None = None) -> None:
    """Count one attempt per client address (and per account when ``subject`` is given); 429 over the limit."""
    container = container_of(request)
    settings = container.settings
    limit = settings.login_rate_limit if bucket == "login" else settings.email_rate_limit
    window = settings.rate_limit_window_seconds
    address = request.app.state.client_address.of(request)
    keys = [f"{bucket}:ip:{address}"]
    if subject:
        # Hashed: the limiter's store (Redis) never holds the email addresses themselves.
        keys.append(f"{bucket}:who:{hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]}")
    allowed = True
    for key in keys:  # stop at the first refusal: a flood of refused requests adds no per-account keys
        allowed = await container.rate_limiter.hit(key, limit, window)
        if not allowed:
            break
    if not allowed:
        raise TooManyRequestsException(
            detail="Too many attempts. Please wait a minute and try again.",
            headers={"Retry-After": str(window)},
        )
