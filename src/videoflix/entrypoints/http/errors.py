"""One place that turns every error into a JSON body with a generic message (S18)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from videoflix.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
)

log = logging.getLogger("videoflix.http")
AnyRequest = Request[Any, Any, Any]

GENERIC_400 = "Please check your input and try again."
STATUS_MESSAGES = {
    400: GENERIC_400,
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    429: "Too many requests. Please try again later.",
    500: "Something went wrong on our side. Please try again later.",
    503: "The service is temporarily unavailable. Please try again later.",
}
DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidInput: HTTP_400_BAD_REQUEST,
    AuthenticationFailed: HTTP_401_UNAUTHORIZED,
    PermissionDenied: HTTP_403_FORBIDDEN,
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
    Unavailable: HTTP_503_SERVICE_UNAVAILABLE,
}
RETRY_AFTER_SECONDS = 5


def request_id_of(request: AnyRequest) -> str | None:
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    return request_id


def error_response(
    request: AnyRequest, status: int, detail: str, headers: dict[str, str] | None = None, field: str | None = None
) -> Response[Any]:
    body: dict[str, str] = {"detail": detail}
    if field:
        body["field"] = field  # the input at fault, so a form shows the message next to it
    request_id = request_id_of(request)
    if request_id:
        body["request_id"] = request_id
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def send_error(
    send: Send, status: int, detail: str, request_id: str | None, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """The same JSON error body, for raw ASGI handlers that bypass Litestar's exception handling."""
    body = {"detail": detail, "request_id": request_id} if request_id else {"detail": detail}
    payload = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def domain_error_handler(request: AnyRequest, error: DomainError) -> Response[Any]:
    status = next((code for kind, code in DOMAIN_STATUS.items() if isinstance(error, kind)), HTTP_400_BAD_REQUEST)
    if isinstance(error, Unavailable):
        # One line, no traceback: while the database restarts, every request would otherwise log a page of it.
        cause = error.__cause__
        log.warning("%s %s: 503, %s", request.method, request.scope.get("path", ""), _short(cause))
        return error_response(request, status, error.message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return error_response(request, status, error.message, field=getattr(error, "field", None))


def _short(cause: BaseException | None) -> str:
    """The kind of failure and the first line of its message, capped (it may come from a database driver)."""
    if cause is None:
        return "unavailable"
    origin = getattr(cause, "orig", None) or cause
    first_line = str(origin).strip().splitlines()[0][:200] if str(origin).strip() else ""
    return f"{type(origin).__name__}: {first_line}" if first_line else type(origin).__name__


def http_error_handler(request: AnyRequest, error: HTTPException) -> Response[Any]:
    status = error.status_code
    if isinstance(error, ValidationException) or status == HTTP_400_BAD_REQUEST:
        detail = GENERIC_400  # never echo parser internals back
    elif isinstance(error, NotAuthorizedException):
        detail = error.detail if error.detail and error.detail != "Unauthorized" else STATUS_MESSAGES[401]
    elif status >= HTTP_500_INTERNAL_SERVER_ERROR:
        detail = STATUS_MESSAGES.get(status, STATUS_MESSAGES[500])
    else:
        detail = (
            error.detail
            if error.detail and error.detail not in _DEFAULT_DETAILS
            else STATUS_MESSAGES.get(status, "Error.")
        )
    return error_response(request, status, detail, headers=error.headers)


def unexpected_error_handler(request: AnyRequest, error: Exception) -> Response[Any]:
    # Only the raw scope here: this handler must not raise itself (request.url parses the Host header, and a
    # handler that raises leaves the client a plain-text 500 from the server).
    log_unexpected(request.scope, error)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, STATUS_MESSAGES[500])


def log_unexpected(scope: Scope, error: BaseException) -> None:
    log.error(
        "unhandled error on %s %s (request id %s)",
        scope.get("method"),
        scope.get("path"),
        scope.get("state", {}).get("request_id"),
        exc_info=error,
    )


class JsonErrorsMiddleware:
    """The last line of S18, around the whole app: an error that escapes it still gets a JSON 500 with the
    request id (instead of the server's plain-text one), and the CORS preflight's refusal, which Litestar writes as
    text, becomes a JSON error too. Only preflights get a wrapped ``send``: the streaming path pays for no wrapper."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        if scope["method"] == "OPTIONS":
            send = _json_refusals(send, request_id)
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            log_unexpected(scope, error)
            # When the answer had begun, the server refuses a second start and closes the connection instead.
            with contextlib.suppress(Exception):
                await send_error(send, HTTP_500_INTERNAL_SERVER_ERROR, STATUS_MESSAGES[500], request_id)


CORS_REFUSED = "This origin, method or header is not allowed to call the API."


def _json_refusals(send: Send, request_id: str | None) -> Send:
    """``send`` that replaces a non-JSON error answer (the CORS preflight's ``Disallowed CORS Origin``) by ours."""
    replacing = False

    async def wrapped(message: Message) -> None:
        nonlocal replacing
        if message["type"] == "http.response.start" and message["status"] >= HTTP_400_BAD_REQUEST:
            headers = message.get("headers", [])
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            if not content_type.startswith(b"application/json"):
                replacing = True
                kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
                await send_error(send, message["status"], CORS_REFUSED, request_id, headers=kept)
                return
        if replacing:  # the body of the answer we replaced
            return
        await send(message)

    return wrapped


# Litestar's own default details ("Not Found", "Method Not Allowed", ...): replaced by our friendlier ones.
_DEFAULT_DETAILS = {
    "Bad Request",
    "Unauthorized",
    "Forbidden",
    "Not Found",
    "Method Not Allowed",
    "Request Entity Too Large",
    "Too Many Requests",
    "Unsupported Media Type",
}

EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
