"""The seven account endpoints of the contract, exactly as the frontend calls them."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from videoflix.domain.errors import InvalidInput
from videoflix.entrypoints.http.cookies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    csrf_cookie,
    expired_cookies,
    token_cookie,
)
from videoflix.entrypoints.http.ratelimits import enforce
from videoflix.entrypoints.http.state import container_of

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


LOGOUT_DONE = "Logout successful! All tokens will be deleted. Refresh token is now invalid."


class AccountController(Controller):
    path = "/api"
    tags = ["accounts"]

    @post("/register/", status_code=HTTP_201_CREATED, summary="Register an inactive account and email the link")
    async def register(self, request: Request, data: RegisterRequest) -> RegisterResponse:
        await enforce(request, "register")
        registration = await container_of(request).accounts.register(data.email, data.password, data.confirmed_password)
        user = registration.user
        assert user.id is not None
        return RegisterResponse(user=UserOut(id=user.id, email=user.email), token=registration.activation_token)

    @get("/activate/{uidb64:str}/{token:str}/", summary="Activate an account from the emailed link")
    async def activate(self, request: Request, uidb64: PathToken, token: PathToken) -> Response[Message]:
        try:
            await container_of(request).accounts.activate(uidb64, token)
        except InvalidInput:
            return Response(Message("Activation failed."), status_code=400)
        return Response(Message("Account successfully activated."), status_code=HTTP_200_OK)

    @post("/login/", status_code=HTTP_200_OK, summary="Log in; sets the token cookies and csrftoken")
    async def login(self, request: Request, data: LoginRequest) -> Response[LoginResponse]:
        await enforce(request, "login", subject=data.email)
        container = container_of(request)
        session = await container.accounts.login(data.email, data.password)
        now = container.clock.now()
        settings = container.settings
        refresh_max_age = int((session.refresh.expires_at - now).total_seconds())
        return Response(
            LoginResponse(detail="Login successful", user=LoginUser(id=session.user_id, username=session.email)),
            cookies=[
                token_cookie(ACCESS_COOKIE, session.access, now, settings),
                token_cookie(REFRESH_COOKIE, session.refresh, now, settings),
                csrf_cookie(settings, refresh_max_age),
            ],
        )

    @post("/logout/", status_code=HTTP_200_OK, summary="Log out: revoke the refresh token, delete the cookies")
    async def logout(self, request: Request) -> Response[Detail]:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            return Response(Detail("Refresh token missing."), status_code=400)
        container = container_of(request)
        await container.accounts.logout(refresh)
        return Response(Detail(LOGOUT_DONE), cookies=expired_cookies(container.settings))

    @post(
        "/token/refresh/",
        status_code=HTTP_200_OK,
        summary="New access token from the refresh cookie (rotated)",
    )
    async def refresh(self, request: Request) -> Response[RefreshResponse] | Response[Detail]:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            return Response(Detail("Refresh token missing."), status_code=400)
        container = container_of(request)
        session = await container.accounts.refresh(refresh)
        now = container.clock.now()
        return Response(
            RefreshResponse(detail="Token refreshed", access=session.access.token),
            cookies=[
                token_cookie(ACCESS_COOKIE, session.access, now, container.settings),
                token_cookie(REFRESH_COOKIE, session.refresh, now, container.settings),
                # Renewed with the refresh token, or a session kept alive by refreshes loses its logout after 7 days.
                csrf_cookie(
                    container.settings,
                    int((session.refresh.expires_at - now).total_seconds()),
                    value=request.cookies.get(CSRF_COOKIE),
                ),
            ],
        )

    @post("/password_reset/", status_code=HTTP_200_OK, summary="Email a reset link if the account exists")
    async def password_reset(self, request: Request, data: PasswordResetRequest) -> Detail:
        await enforce(request, "password_reset", subject=data.email)
        await container_of(request).accounts.request_password_reset(data.email)
        return Detail("An email has been sent to reset your password.")

    @post(
        "/password_confirm/{uidb64:str}/{token:str}/",
        status_code=HTTP_200_OK,
        summary="Set a new password from the emailed link",
    )
    async def password_confirm(
        self, request: Request, uidb64: PathToken, token: PathToken, data: PasswordConfirmRequest
    ) -> Detail:
        await container_of(request).accounts.confirm_password_reset(
            uidb64, token, data.new_password, data.confirm_password
        )
        return Detail("Your Password has been successfully reset.")
