"""The catalog and HLS streaming: the hottest paths of the service.

Streaming verifies the access JWT without touching the database and maps the URL to a file through a
whitelist of resolutions, a strict file-name pattern and a check of the one symlink on the way (S19). The master
playlist names its renditions by signed, expiring links (``/media/hls/...``), served without cookies. In production
nginx serves rendition playlists, segments and signed links itself, with the same rules (docs/edge.md); these
handlers are the embedded default's, and the reference the nginx tests compare against.
"""

from __future__ import annotations

import os
import time
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
from videoflix.domain.media.streaming import StreamLinks
from videoflix.entrypoints.http.access import NOT_LOGGED_IN, access_claims, viewer
from videoflix.entrypoints.http.dependencies import MediaStorePort
from videoflix.entrypoints.http.errors import STATUS_MESSAGES, send_error
from videoflix.entrypoints.http.files import FileSendResponse
from videoflix.entrypoints.http.openapi import VIEWER, errors

MEDIA_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/MP2T", ".jpg": "image/jpeg"}
PLAYLIST_CACHE = "private, max-age=10"  # short: a regeneration swaps the ladder under the same URLs
SEGMENT_CACHE = "private, max-age=31536000, immutable"
THUMBNAIL_CACHE = "public, max-age=31536000, immutable"
NOT_FOUND = "Video not found."
NOT_FOUND_OR_BAD = "A malformed path parameter (the video id is a number)."
STREAM_DESCRIPTION = "The playlist (application/vnd.apple.mpegurl) or segment (video/MP2T)."
LINK_REFUSED = "This stream link is not valid or has expired."
LINK_PLAYLIST_MAX_AGE = 10  # seconds; segments are cached until their link expires


class VideoOut(msgspec.Struct):
    id: int
    created_at: datetime
    title: str
    description: str
    thumbnail_url: str
    category: str


def _file_response(served: ServedFile, cache_control: str, is_head: bool) -> ASGIResponse:
    media_type = MEDIA_TYPES[os.path.splitext(served.path)[1]]
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    return FileSendResponse(served.path, os.stat(served.path).st_size, media_type, headers, is_head=is_head)


def _master_response(container: Container, served: ServedFile, video_id: int, is_head: bool) -> ASGIResponse:
    """The master playlist with signed links to its renditions (read per request: it is fetched once per play)."""
    with open(served.path, encoding="utf-8") as file:
        text = container.stream_links.master_playlist(video_id, file.read(), time.time())
    headers = {"Cache-Control": PLAYLIST_CACHE, "X-Content-Type-Options": "nosniff"}
    body = text.encode()
    # HEAD: no body, but the length a GET would send (Litestar's is_head_response would drop both headers).
    return ASGIResponse(
        body=b"" if is_head else body, content_length=len(body), media_type=MEDIA_TYPES[".m3u8"], headers=headers
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _stream(scope: HTTPScope, send: Send, resolution: str | None, name: str, signed: bool) -> None:
    """Authorization (the access cookie: a JWT, no database; or a signed link), then whitelist + strict name +
    symlink check, then the file (S19-S21)."""
    request_id = scope.get("state", {}).get("request_id")
    if scope["method"] not in ("GET", "HEAD"):
        await send_error(send, 405, STATUS_MESSAGES[405], request_id, headers=[(b"allow", b"GET, HEAD")])
        return
    container: Container = scope["app"].state.container
    params = scope["path_params"]  # Litestar parsed them: {video_id:int}, {expires:int}
    video_id = cast("int", params["video_id"])
    if signed:
        assert resolution is not None  # the link route always names one
        expires = cast("int", params["expires"])
        cache = _link_cache(container, expires, params["signature"], video_id, resolution, name)
        if cache is None:
            await send_error(send, 403, LINK_REFUSED, request_id)
            return
    else:
        try:
            access_claims(container, _header(scope, b"cookie"))
        except AuthenticationFailed:
            await send_error(send, 401, NOT_LOGGED_IN, request_id)
            return
        cache = SEGMENT_CACHE if name.endswith(".ts") else PLAYLIST_CACHE
    served = container.store.stream_file(video_id, resolution, name)
    if served is None:
        await send_error(send, 404, NOT_FOUND, request_id)
        return
    is_head = scope["method"] == "HEAD"
    try:
        if resolution is None:
            response = _master_response(container, served, video_id, is_head)
        else:
            response = _file_response(served, cache, is_head)
    except OSError:  # removed between the check and the stat (a video deleted this instant)
        await send_error(send, 404, NOT_FOUND, request_id)
        return
    await response(scope, None, send)  # type: ignore[arg-type]


def _link_cache(
    container: Container, expires: int, signature: str, video_id: int, resolution: str, name: str
) -> str | None:
    """The Cache-Control of a file behind a valid signed link (shared caches, a CDN, may keep it until the link
    expires, not a second longer), or None when the link is forged or expired."""
    now = time.time()
    if not container.stream_links.valid(expires, signature, video_id, resolution, now):
        return None
    remaining = int(expires - now)
    return f"public, max-age={remaining if name.endswith('.ts') else min(LINK_PLAYLIST_MAX_AGE, remaining)}"


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

    def __init__(self, resolution: str | None, name: str, *, signed: bool = False) -> None:
        self.resolution, self.name, self.signed = resolution, name, signed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _stream(cast("HTTPScope", scope), send, self.resolution, self.name, self.signed)


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
async def thumbnail(request: Request[Any, Any, Any], name: str, store: MediaStorePort) -> ASGIResponse:
    served = store.thumbnail_file(name)
    if served is None:
        raise NotFoundException(detail="Not found.")
    try:
        return _file_response(served, THUMBNAIL_CACHE, request.method == "HEAD")
    except OSError:
        raise NotFoundException(detail="Not found.") from None


@route(
    StreamLinks.PREFIX + "/{expires:int}/{signature:str}/{video_id:int}/{resolution:str}/{name:str}",
    http_method=["GET", "HEAD"],
    tags=["videos"],
    summary="A rendition's playlist or segment behind a signed link (from the master playlist; no cookie)",
    response_description=STREAM_DESCRIPTION,
    responses=errors(e400=NOT_FOUND_OR_BAD, e403=LINK_REFUSED, e404="No such video, or not ready, or no such file."),
)
async def linked_file(resolution: str, name: str) -> ASGIResponse:
    """What the master playlist's signed links lead to: public, cacheable until the link expires."""
    return _Stream(resolution, name, signed=True)
