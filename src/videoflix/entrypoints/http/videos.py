"""The catalog and HLS streaming: the hottest paths of the service.

Streaming verifies the access JWT without touching the database and maps the URL to a file through a
whitelist of resolutions, a strict file-name pattern and a check of the one symlink on the way (S19).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, cast

import msgspec
from litestar import Controller, Request, Response, get, route
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response.base import ASGIResponse
from litestar.types import HTTPScope, Receive, Scope, Send

from videoflix.bootstrap import Container
from videoflix.domain.catalog.service import CatalogService
from videoflix.domain.errors import AuthenticationFailed
from videoflix.domain.media.ports import ServedFile
from videoflix.entrypoints.http.access import NOT_LOGGED_IN, access_claims, viewer
from videoflix.entrypoints.http.dependencies import MediaStorePort
from videoflix.entrypoints.http.errors import STATUS_MESSAGES, send_error
from videoflix.entrypoints.http.files import FileSendResponse
from videoflix.entrypoints.http.openapi import VIEWER, errors
from videoflix.settings import Settings

MEDIA_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/MP2T", ".jpg": "image/jpeg"}
PLAYLIST_CACHE = "private, max-age=10"  # short: a regeneration swaps the ladder under the same URLs
SEGMENT_CACHE = "private, max-age=31536000, immutable"
THUMBNAIL_CACHE = "public, max-age=31536000, immutable"
NOT_FOUND = "Video not found."
NOT_FOUND_OR_BAD = "A malformed path parameter (the video id is a number)."
STREAM_DESCRIPTION = (
    "The playlist (application/vnd.apple.mpegurl) or segment (video/MP2T); behind nginx "
    "(MEDIA_ACCEL_REDIRECT_PREFIX) an empty answer whose X-Accel-Redirect nginx serves."
)


class VideoOut(msgspec.Struct):
    id: int
    created_at: datetime
    title: str
    description: str
    thumbnail_url: str
    category: str


def _file_response(settings: Settings, served: ServedFile, cache_control: str, is_head: bool) -> ASGIResponse:
    media_type = MEDIA_TYPES[os.path.splitext(served.path)[1]]
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    prefix = settings.media_accel_redirect_prefix
    if prefix:
        # Production behind nginx: we only authorize; nginx sends the file with sendfile.
        headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + served.internal
        return ASGIResponse(body=b"", media_type=media_type, headers=headers)
    return FileSendResponse(served.path, os.stat(served.path).st_size, media_type, headers, is_head=is_head)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _stream(scope: HTTPScope, send: Send, resolution: str | None, name: str) -> None:
    """Auth (JWT, no database), then whitelist + strict name + symlink check, then the file (S19-S21)."""
    state = scope.get("state", {})
    if scope["method"] not in ("GET", "HEAD"):
        await send_error(send, 405, STATUS_MESSAGES[405], state.get("request_id"), headers=[(b"allow", b"GET, HEAD")])
        return
    container: Container = scope["app"].state.container
    try:
        access_claims(container, _header(scope, b"cookie"))
    except AuthenticationFailed:
        await send_error(send, 401, NOT_LOGGED_IN, state.get("request_id"))
        return
    video_id = cast("int", scope["path_params"]["video_id"])  # Litestar parsed it: {video_id:int}
    served = container.store.stream_file(video_id, resolution, name)
    if served is None:
        await send_error(send, 404, NOT_FOUND, state.get("request_id"))
        return
    cache = SEGMENT_CACHE if name.endswith(".ts") else PLAYLIST_CACHE
    try:
        response = _file_response(container.settings, served, cache, is_head=scope["method"] == "HEAD")
    except OSError:  # removed between the check and the stat (a video deleted this instant)
        await send_error(send, 404, NOT_FOUND, state.get("request_id"))
        return
    await response(scope, None, send)  # type: ignore[arg-type]


class CatalogListing:
    """The catalog's JSON body, encoded once per catalog version and base URL. One per app (made by the lifespan
    and handed to the handler as its only dependency: the catalog is a measured hot path, and Litestar resolves
    several dependencies of one level in a task group, which costs more than the whole rest of the request)."""

    def __init__(self, catalog: CatalogService, public_base_url: str | None) -> None:
        self._catalog = catalog
        self._public_base_url = public_base_url
        self._key: tuple[int, str] | None = None
        self._body = b""

    async def body(self, request: Request[Any, Any, Any]) -> bytes:
        base = self._public_base_url or f"{request.url.scheme}://{request.url.netloc}"
        snapshot = await self._catalog.list_ready()
        if self._key != (snapshot.version, base):
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
                    for entry in snapshot.entries
                ]
            )
            self._key = (snapshot.version, base)
        return self._body


def _listing(state: State) -> CatalogListing:
    return state.catalog_listing  # type: ignore[no-any-return]


class VideoController(Controller):
    path = "/api/video"
    tags = ["videos"]
    guards = [viewer]
    dependencies = {"listing": Provide(_listing, sync_to_thread=False)}

    @get("/", summary="Ready videos, newest first (a plain array)", security=VIEWER, responses=errors(401))
    async def list_videos(self, request: Request[Any, Any, Any], listing: CatalogListing) -> Response[list[VideoOut]]:
        return Response(await listing.body(request), media_type="application/json")  # type: ignore[arg-type]


class _Stream(ASGIResponse):
    """Hands the raw ASGI call to ``_stream``: the hottest path builds no Request and no Response objects and runs
    no guard or dependency injection (a benchmark in bench/streaming.py guards its speed), so it checks the access
    cookie itself, with the same function the ``viewer`` guard uses."""

    def __init__(self, resolution: str | None, name: str) -> None:
        self.resolution, self.name = resolution, name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _stream(cast("HTTPScope", scope), send, self.resolution, self.name)


@route(
    "/api/video/{video_id:int}/{name:str}",
    http_method=["GET", "HEAD"],
    tags=["videos"],
    security=VIEWER,
    response_description=STREAM_DESCRIPTION,
    responses=errors(401, e400=NOT_FOUND_OR_BAD, e404="No such video, or not ready, or no such file."),
)
async def master_playlist(name: str) -> ASGIResponse:
    """The master playlist (``index.m3u8``): every rendition with BANDWIDTH, RESOLUTION and CODECS."""
    return _Stream(None, name)


@route(
    "/api/video/{video_id:int}/{resolution:str}/{name:str}",
    http_method=["GET", "HEAD"],
    tags=["videos"],
    security=VIEWER,
    response_description=STREAM_DESCRIPTION,
    responses=errors(401, e400=NOT_FOUND_OR_BAD, e404="No such video, or not ready, or no such file."),
)
async def rendition_file(resolution: str, name: str) -> ASGIResponse:
    """A rendition's playlist (``index.m3u8``) or one of its segments (``000.ts``, trailing slash optional)."""
    return _Stream(resolution, name)


@route(
    "/media/thumbnails/{name:str}",
    http_method=["GET", "HEAD"],
    tags=["videos"],
    summary="A video thumbnail (no login needed)",
    response_description="The JPEG image (no login needed; cached for a year).",
    responses=errors(e400=NOT_FOUND_OR_BAD, e404="No such thumbnail."),
)
async def thumbnail(
    request: Request[Any, Any, Any], name: str, store: MediaStorePort, settings: Settings
) -> ASGIResponse:
    served = store.thumbnail_file(name)
    if served is None:
        raise NotFoundException(detail="Not found.")
    try:
        return _file_response(settings, served, THUMBNAIL_CACHE, request.method == "HEAD")
    except OSError:
        raise NotFoundException(detail="Not found.") from None
