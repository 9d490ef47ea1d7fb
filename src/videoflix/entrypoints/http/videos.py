"""The catalog and HLS streaming: the hottest paths of the service.

Streaming verifies the access JWT without touching the database and maps the URL to a file through a
whitelist of resolutions, a strict file-name pattern and a real-path check under the media root (S19).
"""

from __future__ import annotations

import os
import re
from datetime import datetime

import msgspec
from litestar import Controller, Request, get, route
from litestar.exceptions import NotFoundException
from litestar.response.base import ASGIResponse

from videoflix.entrypoints.http.auth import authenticated_user_id
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


def _send(request: Request, path: str, cache_control: str) -> ASGIResponse:
    container = container_of(request)
    extension = os.path.splitext(path)[1]
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    prefix = container.settings.media_accel_redirect_prefix
    if prefix:
        # nginx sends the file with sendfile once we said yes (production mode).
        headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + os.path.relpath(path, container.store.root)
        return ASGIResponse(body=b"", media_type=MEDIA_TYPES[extension], headers=headers)
    return FileSendResponse(
        path, os.stat(path).st_size, MEDIA_TYPES[extension], headers, is_head=request.method == "HEAD"
    )


def _stream(request: Request, video_id: int, resolution: str | None, name: str) -> ASGIResponse:
    authenticated_user_id(request)
    path = container_of(request).store.stream_file(video_id, resolution, name)
    if path is None:
        raise NotFoundException(detail=NOT_FOUND)
    return _send(request, str(path), SEGMENT_CACHE if name.endswith(".ts") else PLAYLIST_CACHE)


class VideoController(Controller):
    path = "/api/video"
    tags = ["videos"]

    @get("/", summary="Ready videos, newest first (a plain array)")
    async def list_videos(self, request: Request) -> list[VideoOut]:
        authenticated_user_id(request)
        base = public_base(request)
        entries = await container_of(request).catalog.list_ready()
        return [
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

    @route("/{video_id:int}/{name:str}", http_method=["GET", "HEAD"], summary="Master playlist (index.m3u8)")
    async def master_playlist(self, request: Request, video_id: int, name: str) -> ASGIResponse:
        return _stream(request, video_id, None, name)

    @route(
        "/{video_id:int}/{resolution:str}/{name:str}",
        http_method=["GET", "HEAD"],
        summary="A rendition's playlist (index.m3u8) or one of its segments (000.ts)",
    )
    async def rendition_file(self, request: Request, video_id: int, resolution: str, name: str) -> ASGIResponse:
        return _stream(request, video_id, resolution, name)


@route("/media/thumbnails/{name:str}", http_method=["GET", "HEAD"], summary="A video thumbnail (no login needed)")
async def thumbnail(request: Request, name: str) -> ASGIResponse:
    if not THUMBNAIL_NAME.fullmatch(name):
        raise NotFoundException(detail="Not found.")
    path = container_of(request).store.resolve_under_root(f"thumbnails/{name}")
    if path is None:
        raise NotFoundException(detail="Not found.")
    return _send(request, str(path), "public, max-age=31536000, immutable")
