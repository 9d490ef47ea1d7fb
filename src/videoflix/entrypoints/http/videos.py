"""The catalog and HLS streaming: the hottest paths of the service.

Streaming verifies the access JWT without touching the database and maps the URL to a file through a
whitelist of resolutions, a strict file-name pattern and a real-path check under the media root (S19).
"""

from __future__ import annotations

import os
import re
from datetime import datetime

import msgspec
from litestar import Controller, Request, Response, get, route
from litestar.exceptions import NotFoundException
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from videoflix.bootstrap import Container
from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.errors import AuthenticationFailed
from videoflix.entrypoints.http.auth import NOT_LOGGED_IN, authenticated_user_id
from videoflix.entrypoints.http.cookies import ACCESS_COOKIE
from videoflix.entrypoints.http.errors import STATUS_MESSAGES, send_error
from videoflix.entrypoints.http.files import FileSendResponse
from videoflix.entrypoints.http.state import container_of

MEDIA_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/MP2T", ".jpg": "image/jpeg"}
PLAYLIST_CACHE = "private, max-age=10"  # short: a regeneration swaps the ladder under the same URLs
SEGMENT_CACHE = "private, max-age=31536000, immutable"
THUMBNAIL_NAME = re.compile(r"^[0-9]{1,18}-[0-9a-f]{12}\.jpg$")
NOT_FOUND = "Video not found."


class VideoOut(msgspec.Struct):
    id: int
    created_at: datetime
    title: str
    description: str
    thumbnail_url: str
    category: str


def public_base(request: Request) -> str:
    """The configured public URL, or the scheme and host this request came to."""
    configured = container_of(request).settings.public_base_url
    if configured:
        return configured
    return f"{request.url.scheme}://{request.url.netloc}"


def _file_response(container: Container, path: str, cache_control: str, is_head: bool) -> ASGIResponse:
    extension = os.path.splitext(path)[1]
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    prefix = container.settings.media_accel_redirect_prefix
    if prefix:
        # Production behind nginx: we only authorize; nginx sends the file with sendfile.
        headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + os.path.relpath(path, container.store.root)
        return ASGIResponse(body=b"", media_type=MEDIA_TYPES[extension], headers=headers)
    return FileSendResponse(path, os.stat(path).st_size, MEDIA_TYPES[extension], headers, is_head=is_head)


def _access_cookie(scope: Scope) -> str | None:
    """The ``access_token`` cookie, read straight from the header (the hot path skips full cookie parsing)."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, token = part.strip().partition("=")
                if key == ACCESS_COOKIE:
                    return token
    return None


async def _stream(scope: Scope, send: Send, resolution: str | None, name: str) -> None:
    """Auth (JWT, no database), then whitelist + strict name + real-path check, then the file (S19-S21)."""
    state = scope.get("state", {})
    if scope["method"] not in ("GET", "HEAD"):
        await send_error(send, 405, STATUS_MESSAGES[405], state.get("request_id"), headers=[(b"allow", b"GET, HEAD")])
        return
    container: Container = scope["app"].state.container
    token = _access_cookie(scope)
    try:
        if not token:
            raise AuthenticationFailed
        container.tokens.decode_access(token)
    except AuthenticationFailed:
        await send_error(send, 401, NOT_LOGGED_IN, state.get("request_id"))
        return
    params = scope["path_params"]
    path = container.store.stream_file(params["video_id"], resolution, name)
    if path is None:
        await send_error(send, 404, NOT_FOUND, state.get("request_id"))
        return
    cache = SEGMENT_CACHE if name.endswith(".ts") else PLAYLIST_CACHE
    try:
        response = _file_response(container, str(path), cache, is_head=scope["method"] == "HEAD")
    except OSError:  # removed between the check and the stat (a video deleted this instant)
        await send_error(send, 404, NOT_FOUND, state.get("request_id"))
        return
    await response(scope, None, send)  # type: ignore[arg-type]


class _EncodedCatalog:
    """The JSON body of the list, encoded once per catalog answer and base URL.

    The catalog service hands out the same list object for as long as it caches it, so identity is the version.
    """

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._entries: list[CatalogEntry] | None = None  # held so its id() cannot be reused meanwhile
        self._body = b""

    def __call__(self, base: str, entries: list[CatalogEntry]) -> bytes:
        if self._key != (id(entries), base) or self._entries is not entries:
            self._body = msgspec.json.encode(
                [
                    VideoOut(
                        id=entry.id,
                        created_at=entry.created_at,
                        title=entry.title,
                        description=entry.description,
                        thumbnail_url=f"{base}/media/{entry.thumbnail}" if entry.thumbnail else "",
                        category=entry.category,
                    )
                    for entry in entries
                ]
            )
            self._key, self._entries = (id(entries), base), entries
        return self._body


class VideoController(Controller):
    path = "/api/video"
    tags = ["videos"]

    @get("/", summary="Ready videos, newest first (a plain array)")
    async def list_videos(self, request: Request) -> Response[list[VideoOut]]:
        authenticated_user_id(request)
        encoded = request.app.state.setdefault("encoded_catalog", _EncodedCatalog())
        body = encoded(public_base(request), await container_of(request).catalog.list_ready())
        return Response(body, media_type="application/json")  # type: ignore[arg-type]


class _Stream(ASGIResponse):
    """Hands the raw ASGI call to ``_stream``: the hottest path builds no Request and no Response objects."""

    def __init__(self, resolution: str | None, name: str) -> None:
        self.resolution, self.name = resolution, name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _stream(scope, send, self.resolution, self.name)


@route("/api/video/{video_id:int}/{name:str}", http_method=["GET", "HEAD"], include_in_schema=True)
async def master_playlist(name: str) -> ASGIResponse:
    """The master playlist (``index.m3u8``): every rendition with BANDWIDTH, RESOLUTION and CODECS."""
    return _Stream(None, name)


@route("/api/video/{video_id:int}/{resolution:str}/{name:str}", http_method=["GET", "HEAD"])
async def rendition_file(resolution: str, name: str) -> ASGIResponse:
    """A rendition's playlist (``index.m3u8``) or one of its segments (``000.ts``, trailing slash optional)."""
    return _Stream(resolution, name)


@route("/media/thumbnails/{name:str}", http_method=["GET", "HEAD"], summary="A video thumbnail (no login needed)")
async def thumbnail(request: Request, name: str) -> ASGIResponse:
    if not THUMBNAIL_NAME.fullmatch(name):
        raise NotFoundException(detail="Not found.")
    container = container_of(request)
    path = container.store.resolve_under_root(f"thumbnails/{name}")
    if path is None:
        raise NotFoundException(detail="Not found.")
    try:
        return _file_response(container, str(path), "public, max-age=31536000, immutable", request.method == "HEAD")
    except OSError:
        raise NotFoundException(detail="Not found.") from None
