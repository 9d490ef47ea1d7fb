"""The OpenAPI facts that handlers declare on their decorators: security schemes, error answers, cookies.

Nothing here looks at handler names or paths: each handler says what it needs (``security=...``,
``responses=errors(...)``, ``response_cookies=...``), next to its guard, so the docs cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar.datastructures import Cookie
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
    Tag,
)
from litestar.router import Router

from videoflix.entrypoints.http.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from videoflix.entrypoints.http.errors import GENERIC_400, STATUS_MESSAGES

SCHEMA_PATH = "/api/schema"  # the JSON is at /api/schema/openapi.json (and /api/schema)
ACCESS_SCHEME = "accessTokenCookie"
REFRESH_SCHEME = "refreshTokenCookie"
CSRF_SCHEME = "csrfHeader"
CSRF_HEADER = "X-CSRFToken"

# Security requirements, as handlers and controllers declare them. Both schemes of one requirement are needed.
VIEWER: list[SecurityRequirement] = [{ACCESS_SCHEME: []}]
VIEWER_WRITE: list[SecurityRequirement] = [{ACCESS_SCHEME: [], CSRF_SCHEME: []}]
REFRESH_SESSION: list[SecurityRequirement] = [{REFRESH_SCHEME: []}]
REFRESH_SESSION_WRITE: list[SecurityRequirement] = [{REFRESH_SCHEME: [], CSRF_SCHEME: []}]

DESCRIPTION = f"""\
The REST API of Videoflix: accounts, the video catalog, HLS streaming and the staff-only media pipeline.

**Authentication** is by cookies, as the frontend uses it. `POST /api/login/` sets `{ACCESS_COOKIE}` and
`{REFRESH_COOKIE}` (HttpOnly) and `{CSRF_COOKIE}` (readable); the browser sends them back by itself. On this page,
"Try it out" on login is enough: the following requests carry the cookies.

**CSRF**: unsafe requests (POST, PATCH, DELETE) must not come from a foreign origin, and those that carry the session
cookies must send the `{CSRF_COOKIE}` cookie's value as `{CSRF_HEADER}` (the token refresh may instead come from a
trusted origin). Bodies must say `application/json` (the upload: `multipart/form-data`); other types get 415.
This page sends the header by itself once you are logged in.

**Errors** are JSON: `{{"detail": "<a generic message>", "request_id": "<id>"}}`. The request id is also in the
`x-request-id` header of every answer and in the server's log lines for the request.
"""


class Error(msgspec.Struct, omit_defaults=True):
    """Every error answer: a generic, human-readable message, and the id of the request for the logs. A 400 about
    one input also names it in ``field`` (e.g. ``title``), so a form can show the message next to that input."""

    detail: str
    request_id: str | None = None
    field: str | None = None


ERROR_DESCRIPTIONS = {
    400: f"Invalid input: `{GENERIC_400}` (or a message saying what to fix).",
    401: "The access_token cookie is missing, invalid, expired or revoked.",
    403: "Staff only, or a failed CSRF check (a foreign Origin, a missing or wrong X-CSRFToken).",
    404: "No such resource.",
    409: "The request conflicts with the current state.",
    413: STATUS_MESSAGES[413],
    415: "The body is not of a media type this operation reads (JSON unless stated otherwise), or has no type.",
    429: "Too many attempts from this address or for this account; see Retry-After.",
    503: STATUS_MESSAGES[503],
}


def errors(*codes: int, **described: str | tuple[str, object]) -> dict[int, ResponseSpec]:
    """Error answers of one operation: ``errors(400, 401, e404="No such video.")``. A value may be a
    ``(description, body type)`` pair when the body is not the usual ``Error``. An operation that takes a body
    (413 when it is too large) also refuses one of a media type it does not read (415, see csrf.py)."""
    if 413 in codes:
        codes = (*codes, 415)
    specs = {code: _spec(ERROR_DESCRIPTIONS[code]) for code in codes}
    for key, value in described.items():
        description, container = value if isinstance(value, tuple) else (value, Error)
        specs[int(key.removeprefix("e"))] = _spec(description, container)
    return specs


def _spec(description: str, container: object = Error) -> ResponseSpec:
    return ResponseSpec(data_container=container, description=description, generate_examples=False)


def documented_cookie(key: str, description: str, *, httponly: bool = True) -> Cookie:
    return Cookie(key=key, description=description, httponly=httponly, samesite="lax", documentation_only=True)


SESSION_COOKIES = [
    documented_cookie(ACCESS_COOKIE, "The access JWT (30 minutes by default)."),
    documented_cookie(REFRESH_COOKIE, "The refresh JWT (7 days by default), rotated on every refresh."),
]
LOGIN_COOKIES = [*SESSION_COOKIES, documented_cookie(CSRF_COOKIE, f"Echo it as {CSRF_HEADER}.", httponly=False)]


def _multipart_body(description: str, text: list[str], files: list[str], required: list[str]) -> RequestBody:
    binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
    properties: dict[str, Schema | Reference] = {name: Schema(type=OpenAPIType.STRING) for name in text}
    properties |= {name: binary for name in files}
    schema = Schema(type=OpenAPIType.OBJECT, required=required, properties=properties)
    return RequestBody(
        required=True, description=description, content={"multipart/form-data": OpenAPIMediaType(schema=schema)}
    )


@dataclass
class MultipartUploadOperation(Operation):
    """The upload reads its multipart body as a stream (never in memory), so Litestar cannot see it: describe it."""

    def __post_init__(self) -> None:
        self.request_body = _multipart_body(
            "The video and its metadata.",
            text=["title", "description", "category"],
            files=["file", "thumbnail"],
            required=["title", "category", "file"],
        )


@dataclass
class ThumbnailUploadOperation(Operation):
    """A new poster, streamed to disk like the upload: describe the multipart body Litestar cannot see."""

    def __post_init__(self) -> None:
        self.request_body = _multipart_body(
            "The image (JPEG, PNG, WebP, ...); it is converted to a 640 px wide JPEG.",
            text=[],
            files=["thumbnail"],
            required=["thumbnail"],
        )


def openapi_config(version: str, schema_router: Router) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Videoflix API",
        version=version,
        description=DESCRIPTION,
        render_plugins=[JsonRenderPlugin(path=["/openapi.json", "/"])],
        openapi_router=schema_router,
        components=Components(
            security_schemes={
                ACCESS_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=ACCESS_COOKIE,
                    security_scheme_in="cookie",
                    description="The access JWT, set by login and refresh (HttpOnly, SameSite=Lax).",
                ),
                REFRESH_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=REFRESH_COOKIE,
                    security_scheme_in="cookie",
                    description="The refresh JWT, set by login and rotated by refresh (HttpOnly, SameSite=Lax).",
                ),
                CSRF_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=CSRF_HEADER,
                    security_scheme_in="header",
                    description=f"The value of the readable `{CSRF_COOKIE}` cookie (this page fills it in).",
                ),
            }
        ),
        tags=[
            Tag(name="accounts", description="Register, activate, log in and out, refresh, reset the password."),
            Tag(name="videos", description="The catalog and HLS streaming (needs the access_token cookie)."),
            Tag(
                name="admin",
                description="Staff only: upload, list and search, status, metadata, thumbnails, delete, transcode again.",
            ),
            Tag(name="operations", description="Health and readiness probes for orchestrators."),
        ],
    )
