"""Staff-only account management, for the Studio: find accounts, deactivate or activate them, sign them out
everywhere, grant or take staff rights, send a fresh activation email, delete them. Ending sessions ends their access
tokens too (S27)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from videoflix.domain.accounts.model import User
from videoflix.domain.accounts.service import ACTIVE_ALREADY, AccountService
from videoflix.entrypoints.http.access import staff
from videoflix.entrypoints.http.openapi import VIEWER, VIEWER_WRITE, errors

PAGE_SIZE = 50
NO_USER = "No such user."
SELF = "Staff cannot deactivate, delete or demote their own account."


class AdminUserOut(msgspec.Struct):
    id: int
    email: str
    is_active: bool
    is_staff: bool
    created_at: datetime
    last_login: datetime | None


class UserListOut(msgspec.Struct):
    count: int  # matches in all pages
    page: int
    page_size: int
    results: list[AdminUserOut]


class StaffChange(msgspec.Struct, forbid_unknown_fields=True):
    is_staff: bool


class SessionsEnded(msgspec.Struct):
    detail: str
    sessions_ended: int


class Deleted(msgspec.Struct):
    detail: str


class ActivationResent(msgspec.Struct):
    detail: str
    email_id: int  # the new email in the outbox (GET /api/admin/emails/)


def user_out(user: User) -> AdminUserOut:
    assert user.id is not None
    return AdminUserOut(
        id=user.id,
        email=user.email,
        is_active=user.is_active,
        is_staff=user.is_staff,
        created_at=user.created_at,
        last_login=user.last_login,
    )


class AdminUserController(Controller):
    """Every route here is staff-only by the guard; ``staff_user`` is the account that asks."""

    path = "/api/admin/users"
    tags = ["admin"]
    guards = [staff]

    @get(
        "/",
        summary="Accounts, oldest first, 50 a page; q searches the email (case-insensitive)",
        security=VIEWER,
        responses=errors(400, 401, 403),
    )
    async def list_users(
        self,
        accounts: AccountService,
        q: Annotated[str | None, Parameter(max_length=254)] = None,
        page: Annotated[int, Parameter(ge=1, le=1_000_000)] = 1,
    ) -> UserListOut:
        found = await accounts.list_users(q, page, PAGE_SIZE)
        return UserListOut(
            count=found.total, page=found.page, page_size=found.page_size, results=[user_out(u) for u in found.users]
        )

    @post(
        "/{user_id:int}/deactivate",
        status_code=HTTP_200_OK,
        summary="Deactivate: no more logins, and every session ends now",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER, e409=SELF),
    )
    async def deactivate(self, user_id: int, accounts: AccountService, staff_user: User) -> AdminUserOut:
        return user_out(await accounts.deactivate_user(user_id, actor_id=staff_user.id))

    @post(
        "/{user_id:int}/activate",
        status_code=HTTP_200_OK,
        summary="Activate: the account can log in (again)",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER),
    )
    async def activate(self, user_id: int, accounts: AccountService) -> AdminUserOut:
        return user_out(await accounts.activate_user(user_id))

    @post(
        "/{user_id:int}/sign-out",
        status_code=HTTP_200_OK,
        summary="Sign out everywhere: every session of the account ends now",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER),
    )
    async def sign_out(self, user_id: int, accounts: AccountService) -> SessionsEnded:
        ended = await accounts.end_sessions(user_id)
        return SessionsEnded(detail="Every session of the account has ended.", sessions_ended=ended)

    @post(
        "/{user_id:int}/staff",
        status_code=HTTP_200_OK,
        summary="Grant or take staff rights",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER, e409=SELF),
    )
    async def set_staff(
        self, user_id: int, data: StaffChange, accounts: AccountService, staff_user: User
    ) -> AdminUserOut:
        return user_out(await accounts.set_staff(user_id, data.is_staff, actor_id=staff_user.id))

    @post(
        "/{user_id:int}/resend-activation",
        status_code=HTTP_202_ACCEPTED,
        summary="Send an inactive account a fresh activation email (earlier links stop working)",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER, e409=ACTIVE_ALREADY),
    )
    async def resend_activation(self, user_id: int, accounts: AccountService) -> ActivationResent:
        email_id = await accounts.resend_activation(user_id)
        return ActivationResent(detail="An activation email with a fresh link is on its way.", email_id=email_id)

    @delete(
        "/{user_id:int}",
        status_code=HTTP_200_OK,
        summary="Delete the account and its tokens; its sessions end now",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_USER, e409=SELF),
    )
    async def remove(self, user_id: int, accounts: AccountService, staff_user: User) -> Deleted:
        await accounts.delete_user(user_id, actor_id=staff_user.id)
        return Deleted("User deleted.")
