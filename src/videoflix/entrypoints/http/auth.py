"""Who is calling: the access-token cookie, verified without a database hit; staff checked in the database."""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from videoflix.domain.accounts.model import User
from videoflix.domain.errors import AuthenticationFailed
from videoflix.entrypoints.http.cookies import ACCESS_COOKIE
from videoflix.entrypoints.http.state import container_of

NOT_LOGGED_IN = "Authentication credentials were not provided or are invalid."


def authenticated_user_id(request: Request) -> int:
    """The user id of a valid access cookie, or 401."""
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN)
    try:
        return container_of(request).tokens.decode_access(token).user_id
    except AuthenticationFailed:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN) from None


async def staff_user(request: Request) -> User:
    """An active staff account, or 401/403."""
    user_id = authenticated_user_id(request)
    user = await container_of(request).accounts.get_user(user_id)
    if user is None or not user.is_active:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN)
    if not user.is_staff:
        raise PermissionDeniedException(detail="Staff only.")
    return user
