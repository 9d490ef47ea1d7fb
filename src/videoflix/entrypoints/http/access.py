"""Who may call what: Litestar guards on the controllers, so a new route under a guarded controller is protected
without anyone remembering to check, and the API docs read protection from the same declaration.

- ``viewer``: a valid ``access_token`` cookie, verified without a database hit (the JWT is signed), of a session
  that has not ended (a set lookup: every process learns ended sessions by polling, see S27).
- ``staff``: a viewer whose account is active and staff, looked up in the database on every request, so revoking
  staff takes effect at once.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from videoflix.bootstrap import Container
from videoflix.domain.accounts.model import TokenClaims
from videoflix.domain.errors import AuthenticationFailed
from videoflix.entrypoints.http.cookies import ACCESS_COOKIE, cookie_value

NOT_LOGGED_IN = "Authentication credentials were not provided or are invalid."
STAFF_ONLY = "Staff only."


def access_claims(container: Container, cookie_header: str | None) -> TokenClaims:
    """The claims of the request's access cookie; ``AuthenticationFailed`` when missing, invalid, or of a session that
    has ended (logout, password reset, deactivation, deletion: S27). The streaming hot path calls this too: no
    database, only a signature check cached per token and a set lookup."""
    token = cookie_value(cookie_header, ACCESS_COOKIE)
    if not token:
        raise AuthenticationFailed(NOT_LOGGED_IN)
    claims = container.tokens.decode_access(token)
    if container.revoked_sessions.is_revoked(claims.family_id):
        raise AuthenticationFailed(NOT_LOGGED_IN)
    return claims


def _claims(connection: ASGIConnection) -> TokenClaims:  # type: ignore[type-arg]
    try:
        return access_claims(connection.app.state.container, connection.headers.get("cookie"))
    except AuthenticationFailed:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN) from None


async def viewer(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: any logged-in account."""
    connection.state.viewer = _claims(connection)


async def staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: an active staff account (401 without a valid session, 403 for viewers)."""
    claims = _claims(connection)
    user = await connection.app.state.container.accounts.get_user(claims.user_id)
    if user is None or not user.is_active:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN)
    if not user.is_staff:
        raise PermissionDeniedException(detail=STAFF_ONLY)
    connection.state.viewer = claims
    connection.state.staff = user
