"""The seven account endpoints of the contract, exactly as the frontend calls them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from videoflix.domain.accounts.model import PasswordRefused
from videoflix.domain.accounts.service import AccountService
from videoflix.domain.errors import InvalidInput
from videoflix.entrypoints.http.cookies import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    csrf_cookie,
    expired_cookies,
    token_cookie,
)
from videoflix.entrypoints.http.dependencies import ClockPort
from videoflix.entrypoints.http.errors import request_id_of
from videoflix.entrypoints.http.openapi import (
    LOGIN_COOKIES,
    REFRESH_SESSION,
    REFRESH_SESSION_WRITE,
    SESSION_COOKIES,
    Error,
    errors,
)
from videoflix.entrypoints.http.ratelimits import LOGIN, RateLimits, rate_limited
from videoflix.settings import Settings

Short = Annotated[str, msgspec.Meta(max_length=1024)]
PathToken = Annotated[str, Parameter(max_length=256)]


class RegisterRequest(msgspec.Struct):
    email: Short
    password: Short
    confirmed_password: Short


class LoginRequest(msgspec.Struct):
    email: Short
    password: Short


class PasswordResetRequest(msgspec.Struct):
    email: Short


class PasswordConfirmRequest(msgspec.Struct):
    new_password: Short
    confirm_password: Short


class UserOut(msgspec.Struct):
    id: int
    email: str


class RegisterResponse(msgspec.Struct):
    user: UserOut
    token: str


class LoginUser(msgspec.Struct):
    id: int
    username: str


class LoginResponse(msgspec.Struct):
    detail: str
    user: LoginUser


class RefreshResponse(msgspec.Struct):
    detail: str
    access: str


class Detail(msgspec.Struct):
    detail: str


class Message(msgspec.Struct):
    message: str


class PasswordProblems(msgspec.Struct, omit_defaults=True):
    """A refused password at register: every rule it breaks (S28)."""

    password: list[str]
    request_id: str | None = None


class NewPasswordProblems(msgspec.Struct, omit_defaults=True):
    """A refused password at a reset: every rule it breaks (S28)."""

    new_password: list[str]
    request_id: str | None = None


def password_refused(request: Request[Any, Any, Any], error: PasswordRefused) -> Response[Any]:
    """A refused password answers which rules it breaks, under its field's name, as Django REST framework does:
    ``{"password": ["This password is too common."]}`` (the frontend shows every message)."""
    body: dict[str, Any] = {error.field: error.problems}
    request_id = request_id_of(request)
    if request_id:
        body["request_id"] = request_id
    return Response(body, status_code=400, media_type="application/json")


BAD_REGISTRATION = (
    "Invalid input, a taken address included: the generic message (S6). A password that breaks a rule: "
    '`{"password": [...]}`, every rule it breaks.',
    Error | PasswordProblems,
)
BAD_RESET = (
    "A bad link, a used or expired token, mismatching passwords: the generic message. A new password that breaks a "
    'rule: `{"new_password": [...]}`, every rule it breaks.',
    Error | NewPasswordProblems,
)


LOGOUT_DONE = "Logout successful! All tokens will be deleted. Refresh token is now invalid."
MISSING_REFRESH = "Refresh token missing."
AnyRequest = Request[Any, Any, Any]


class AccountController(Controller):
    path = "/api"
    tags = ["accounts"]
    exception_handlers = {PasswordRefused: password_refused}

    @post(
        "/register/",
        status_code=HTTP_201_CREATED,
        summary="Register an inactive account and email the link",
        guards=[rate_limited],
        opt={"rate_limit": "register"},
        responses=errors(403, 413, 429, e400=BAD_REGISTRATION),
    )
    async def register(self, data: RegisterRequest, accounts: AccountService) -> RegisterResponse:
        registration = await accounts.register(data.email, data.password, data.confirmed_password)
        user = registration.user
        assert user.id is not None
        # "token" keeps the contract's shape but is a receipt: only the emailed link activates (S26).
        return RegisterResponse(user=UserOut(id=user.id, email=user.email), token=registration.receipt)

    @get(
        "/activate/{uidb64:str}/{token:str}/",
        summary="Activate an account from the emailed link",
        responses=errors(e400="Activation failed: a bad link or an expired or used token."),
    )
    async def activate(self, uidb64: PathToken, token: PathToken, accounts: AccountService) -> Message:
        await accounts.activate(uidb64, token)  # InvalidInput("Activation failed.") for any bad link: a JSON 400
        return Message("Account successfully activated.")

    @post(
        "/login/",
        status_code=HTTP_200_OK,
        summary="Log in; sets the token cookies and csrftoken",
        guards=[rate_limited],
        opt={"rate_limit": LOGIN},
        response_cookies=LOGIN_COOKIES,
        responses=errors(
            400, 403, 413, 429, e401="Wrong email or password, or an inactive account (one message for all three)."
        ),
    )
    async def login(
        self,
        data: LoginRequest,
        accounts: AccountService,
        rate_limits: RateLimits,
        settings: Settings,
        clock: ClockPort,
    ) -> Response[LoginResponse]:
        await rate_limits.hit_subject(LOGIN, data.email)
        session = await accounts.login(data.email, data.password)
        now = clock.now()
        refresh_max_age = int((session.refresh.expires_at - now).total_seconds())
        return Response(
            LoginResponse(detail="Login successful", user=LoginUser(id=session.user_id, username=session.email)),
            cookies=[
                token_cookie(ACCESS_COOKIE, session.access, now, settings),
                token_cookie(REFRESH_COOKIE, session.refresh, now, settings),
                csrf_cookie(settings, refresh_max_age, session.family_id),
            ],
        )

    @post(
        "/logout/",
        status_code=HTTP_200_OK,
        summary="Log out: end the session (refresh and access tokens), delete the cookies",
        security=REFRESH_SESSION_WRITE,
        response_description="Logged out; the three cookies are deleted (Max-Age=0).",
        responses=errors(403, 413, e400="The refresh_token cookie is missing."),
    )
    async def logout(self, request: AnyRequest, accounts: AccountService, settings: Settings) -> Response[Detail]:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise InvalidInput(MISSING_REFRESH)
        await accounts.logout(refresh, request.cookies.get(ACCESS_COOKIE))
        return Response(Detail(LOGOUT_DONE), cookies=expired_cookies(settings))

    @post(
        "/token/refresh/",
        status_code=HTTP_200_OK,
        summary="New access token from the refresh cookie (rotated)",
        security=REFRESH_SESSION,
        response_cookies=SESSION_COOKIES,
        responses=errors(
            403,
            413,
            e400="The refresh_token cookie is missing.",
            e401="The refresh token is invalid, expired or revoked.",
        ),
    )
    async def refresh(
        self, request: AnyRequest, accounts: AccountService, settings: Settings, clock: ClockPort
    ) -> Response[RefreshResponse]:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise InvalidInput(MISSING_REFRESH)
        session = await accounts.refresh(refresh)
        now = clock.now()
        return Response(
            RefreshResponse(detail="Token refreshed", access=session.access.token),
            cookies=[
                token_cookie(ACCESS_COOKIE, session.access, now, settings),
                token_cookie(REFRESH_COOKIE, session.refresh, now, settings),
                # Renewed with the refresh token, or a session kept alive by refreshes loses its logout after 7 days;
                # derived from the session again, never copied from what the client sent.
                csrf_cookie(settings, int((session.refresh.expires_at - now).total_seconds()), session.family_id),
            ],
        )

    @post(
        "/password_reset/",
        status_code=HTTP_200_OK,
        summary="Email a reset link if the account exists",
        guards=[rate_limited],
        opt={"rate_limit": "password_reset"},
        responses=errors(400, 403, 413, 429),
    )
    async def password_reset(
        self, data: PasswordResetRequest, accounts: AccountService, rate_limits: RateLimits
    ) -> Detail:
        await rate_limits.hit_subject("password_reset", data.email)
        await accounts.request_password_reset(data.email)
        return Detail("An email has been sent to reset your password.")

    @post(
        "/password_confirm/{uidb64:str}/{token:str}/",
        status_code=HTTP_200_OK,
        summary="Set a new password from the emailed link",
        responses=errors(403, 413, e400=BAD_RESET),
    )
    async def password_confirm(
        self, uidb64: PathToken, token: PathToken, data: PasswordConfirmRequest, accounts: AccountService
    ) -> Detail:
        await accounts.confirm_password_reset(uidb64, token, data.new_password, data.confirm_password)
        return Detail("Your Password has been successfully reset.")
