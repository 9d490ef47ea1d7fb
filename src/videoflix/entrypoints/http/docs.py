"""OpenAPI schema and an offline docs page.

- ``GET /api/schema/openapi.json``: the OpenAPI 3.1 schema Litestar builds from the controllers.
- ``GET /api/docs``: Swagger UI. Its JavaScript and CSS come from the ``swagger-ui-bundle-v2`` package (Swagger UI's
  own dist files, installed with pip) and are served by the app under ``/api/docs/assets/``: no CDN, works offline.

The controllers declare their request and response bodies; ``document_api(app)`` adds what they leave out, in one
place instead of in every decorator: the error answers of each operation (every error body is ``{"detail": str}``
plus the request id, see ``errors.py``), the cookie security schemes (``access_token``, ``refresh_token``), the
cookies that login/refresh/logout set, and the multipart body of the upload. It runs once after the app is built
and before the schema is first generated (Litestar builds it lazily on the first schema request).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

import msgspec
from litestar import Litestar, Response, get
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.response.file import File
from litestar.router import Router
from litestar.routes import HTTPRoute
from swagger_ui_bundle import swagger_ui_path

from videoflix.entrypoints.http.accounts import Message, RefreshResponse
from videoflix.entrypoints.http.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from videoflix.entrypoints.http.errors import GENERIC_400, STATUS_MESSAGES

SCHEMA_PATH = "/api/schema"  # the JSON is at /api/schema/openapi.json (and /api/schema)
DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
SWAGGER_DIR = Path(str(swagger_ui_path))
SWAGGER_VERSION = SWAGGER_DIR.name.removeprefix("swagger-ui-")
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")

ACCESS_SCHEME = "accessTokenCookie"
REFRESH_SCHEME = "refreshTokenCookie"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROTECTED_PREFIXES = ("/api/video", "/api/admin")  # every route under these needs the access_token cookie
RATE_LIMITED = frozenset({"register", "login", "password_reset"})

DESCRIPTION = f"""\
The REST API of Videoflix: accounts, the video catalog, HLS streaming and the staff-only media pipeline.

**Authentication** is by cookies, as the frontend uses it. `POST /api/login/` sets `{ACCESS_COOKIE}` and
`{REFRESH_COOKIE}` (HttpOnly) and `{CSRF_COOKIE}` (readable); the browser sends them back by itself. On this page,
"Try it out" on login is enough: the following requests carry the cookies.

**CSRF**: unsafe requests (POST, PATCH, DELETE) authenticated by cookie must come from a trusted origin (or the API's
own), with a JSON body; a multipart upload must also send the `{CSRF_COOKIE}` cookie's value as `X-CSRFToken`.

**Errors** are JSON: `{{"detail": "<a generic message>", "request_id": "<id>"}}`. The request id is also in the
`x-request-id` header of every answer and in the server's log line for the request.
"""


class Error(msgspec.Struct, omit_defaults=True):
    """Every error answer: a generic, human-readable message, and the id of the request for the logs."""

    detail: str
    request_id: str | None = None


# -- the schema ---------------------------------------------------------------------------------------------------


def _json_404_for_unknown_schema_paths(response: Response) -> Response:
    """Litestar answers unknown paths under the schema router with an HTML page; the API answers JSON."""
    if response.status_code == 404 and response.media_type == MediaType.HTML:
        raise NotFoundException()
    return response


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Videoflix API",
        version=version,
        description=DESCRIPTION,
        render_plugins=[JsonRenderPlugin(path=["/openapi.json", "/"])],
        openapi_router=Router(
            SCHEMA_PATH, route_handlers=[], include_in_schema=False, after_request=_json_404_for_unknown_schema_paths
        ),
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
            }
        ),
        tags=[
            Tag(name="accounts", description="Register, activate, log in and out, refresh, reset the password."),
            Tag(name="videos", description="The catalog and HLS streaming (needs the access_token cookie)."),
            Tag(name="admin", description="Staff only: upload, status, metadata, delete, transcode again."),
            Tag(name="operations", description="Health and readiness probes for orchestrators."),
        ],
    )


def _error(description: str, container: object = Error) -> ResponseSpec:
    return ResponseSpec(data_container=container, description=description, generate_examples=False)


def _cookie_doc(key: str, description: str, *, httponly: bool = True) -> Cookie:
    return Cookie(key=key, description=description, httponly=httponly, samesite="lax", documentation_only=True)


SESSION_COOKIES = [
    _cookie_doc(ACCESS_COOKIE, "The access JWT (30 minutes by default)."),
    _cookie_doc(REFRESH_COOKIE, "The refresh JWT (7 days by default)."),
]
LOGIN_COOKIES = [*SESSION_COOKIES, _cookie_doc(CSRF_COOKIE, "Echo it as X-CSRFToken on logout.", httponly=False)]


def error_codes(path: str, methods: set[str], handler: HTTPRouteHandler) -> dict[int, ResponseSpec]:
    """The error answers an operation can give, from what the route is (protected, unsafe, with input...)."""
    name = handler.handler_name
    unsafe = bool(methods & UNSAFE_METHODS)
    has_input = "data" in handler.parsed_fn_signature.parameters or "{" in path
    codes: dict[int, ResponseSpec] = {}
    if unsafe or has_input:
        codes[400] = _error(f"Invalid input: `{GENERIC_400}` (or a message saying what to fix).")
    if name == "activate":
        codes[400] = _error("Activation failed: a bad link or an expired or used token.", Message | Error)
    if name in {"refresh", "logout"}:
        codes[400] = _error("The refresh_token cookie is missing.")
    if path.startswith(PROTECTED_PREFIXES):
        codes[401] = _error("The access_token cookie is missing, invalid or expired.")
    if name == "refresh":
        codes[401] = _error("The refresh token is invalid, expired or revoked.")
    if name == "login":
        codes[401] = _error("Wrong email or password, or an inactive account (one message for all three).")
    if unsafe:
        codes[403] = _error("CSRF check failed: a foreign Origin, a form body, or an X-CSRFToken mismatch.")
    if path.startswith("/api/admin"):
        codes[403] = _error("Staff only (or a failed CSRF check on unsafe requests).")
    if "{" in path and (path.startswith(("/api/video/", "/api/admin/")) or path.startswith("/media/")):
        codes[404] = _error("No such video, or not ready, or no such file.")
    if unsafe:
        codes[413] = _error(STATUS_MESSAGES[413])
    if name in RATE_LIMITED:
        codes[429] = _error("Too many attempts from this address or for this account; see Retry-After.")
    return codes


@dataclass
class MultipartUploadOperation(Operation):
    """The upload reads its multipart body as a stream (never in memory), so Litestar cannot see it: describe it."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
        self.request_body = RequestBody(
            required=True,
            description="The video and its metadata; send the csrftoken cookie's value as X-CSRFToken.",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["title", "category", "file"],
                        properties={
                            "title": text,
                            "description": text,
                            "category": text,
                            "file": binary,
                            "thumbnail": binary,
                        },
                    )
                )
            },
        )


def document_api(app: Litestar) -> None:
    """Add error answers, cookie security and cookie/multipart details to every API operation of ``app``."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(("/api/", "/media/")):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            methods = {str(method) for method in handler.http_methods}
            errors = error_codes(route.path_format, methods, handler)
            handler.responses = {**errors, **(handler.responses or {})}
            name = handler.handler_name
            if not any(layer.tags for layer in handler.ownership_layers):  # a module-level handler: group it
                handler.tags = ["videos"] if route.path.startswith(("/api/video", "/media/")) else None
            if route.path.startswith(PROTECTED_PREFIXES):
                handler.security = [{ACCESS_SCHEME: []}]
            elif name in {"refresh", "logout"}:
                handler.security = [{REFRESH_SCHEME: []}]
            if name == "login":
                handler.response_cookies = LOGIN_COOKIES
            elif name == "refresh":
                # Its return annotation is a union of two Responses, which Litestar cannot describe: say it here.
                handler.responses.setdefault(
                    200,
                    ResponseSpec(
                        RefreshResponse,
                        description="A new access token; Set-Cookie: access_token, and refresh_token (rotated).",
                        generate_examples=False,
                    ),
                )
            elif name == "logout":
                handler.response_description = "Logged out; the three cookies are deleted (Max-Age=0)."
            elif name in {"master_playlist", "rendition_file"}:
                handler.response_description = (
                    "The playlist (application/vnd.apple.mpegurl) or segment (video/MP2T); behind nginx "
                    "(MEDIA_ACCEL_REDIRECT_PREFIX) an empty answer whose X-Accel-Redirect nginx serves."
                )
            elif name == "thumbnail":
                handler.response_description = "The JPEG image (no login needed; cached for a year)."
            elif name == "upload":
                handler.operation_class = MultipartUploadOperation


# -- the docs page ------------------------------------------------------------------------------------------------

DOCS_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Videoflix API</title>
  <link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <style>body {{ margin: 0; }}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{SCHEMA_PATH}/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      withCredentials: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    }});
  </script>
</body>
</html>
"""


@get(DOCS_PATH, include_in_schema=False, media_type=MediaType.HTML, cache_control=None)
async def docs_page() -> Response[str]:
    return Response(DOCS_PAGE, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False)
async def docs_asset(name: str) -> File:
    if name not in ASSETS:
        raise NotFoundException()
    return File(
        SWAGGER_DIR / name,
        filename=name,
        media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=86400"},
    )


DOCS_HANDLERS = [docs_page, docs_asset]
