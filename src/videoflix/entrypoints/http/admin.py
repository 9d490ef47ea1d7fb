"""Staff-only video management: upload, list and search, status and progress, metadata, thumbnails, delete,
transcode again."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.model import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Video
from videoflix.domain.media.service import MediaService, VideoDraft
from videoflix.entrypoints.http.access import staff
from videoflix.entrypoints.http.bodies import accepts
from videoflix.entrypoints.http.dependencies import MediaStorePort
from videoflix.entrypoints.http.openapi import (
    VIEWER,
    VIEWER_WRITE,
    MultipartUploadOperation,
    ThumbnailUploadOperation,
    errors,
)
from videoflix.entrypoints.http.uploads import MULTIPART, receive_multipart
from videoflix.settings import Settings


class RenditionOut(msgspec.Struct):
    name: str
    width: int
    height: int
    bandwidth: int


class AdminVideoOut(msgspec.Struct):
    id: int
    title: str
    description: str
    category: str
    status: str
    progress: float
    failure_reason: str | None
    renditions: list[RenditionOut]
    duration: float | None
    source_size: int | None
    thumbnail_url: str | None
    created_at: datetime
    updated_at: datetime
    processing_started_at: datetime | None


class VideoPatch(msgspec.Struct, forbid_unknown_fields=True):
    # The lengths are the domain's rules (VideoDraft), checked there so that a refusal names its field.
    title: Annotated[str, msgspec.Meta(description="Up to 200 characters, not empty.")] | None = None
    description: Annotated[str, msgspec.Meta(description="Up to 5000 characters.")] | None = None
    category: Annotated[str, msgspec.Meta(description="Up to 100 characters, not empty.")] | None = None


class FrameRequest(msgspec.Struct, forbid_unknown_fields=True):
    seconds: Annotated[float, msgspec.Meta(description="Where in the video, in seconds from its start.")]


class CategoryOut(msgspec.Struct):
    name: str
    videos: int


class Deleted(msgspec.Struct):
    detail: str


def video_out(base: str, video: Video) -> AdminVideoOut:
    assert video.id is not None
    return AdminVideoOut(
        id=video.id,
        title=video.title,
        description=video.description,
        category=video.category,
        status=video.status.value,
        progress=round(video.progress, 1),
        failure_reason=video.failure_reason,
        renditions=[RenditionOut(r.name, r.width, r.height, r.bandwidth) for r in video.renditions],
        duration=video.duration,
        source_size=video.source_size,
        thumbnail_url=f"{base}/media/{video.thumbnail}" if video.thumbnail else None,
        created_at=video.created_at,
        updated_at=video.updated_at,
        processing_started_at=video.processing_started_at,
    )


NO_VIDEO = "No such video."
TOTAL_HEADER = "X-Total-Count"
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # a poster; deploy/nginx/videoflix.conf lets a little more through


class AdminVideoController(Controller):
    """Every route here is staff-only by the guard: a new one cannot forget the check."""

    path = "/api/admin/videos"
    tags = ["admin"]
    guards = [staff]

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # uploads have their own limit (MAX_UPLOAD_BYTES), checked while streaming
        opt=accepts(MULTIPART),
        summary="Upload a video (multipart: title, description, category, file, optional thumbnail)",
        security=VIEWER_WRITE,
        operation_class=MultipartUploadOperation,
        responses=errors(400, 401, 403, 413),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        media: MediaService,
        store: MediaStorePort,
        settings: Settings,
        public_base: str,
    ) -> AdminVideoOut:
        with ExitStack() as incoming:  # every file part; whatever ingest did not take over is removed
            form = await receive_multipart(
                request, lambda: incoming.enter_context(store.incoming()), settings.max_upload_bytes
            )
            upload = form.files.get("file")
            if upload is None:
                raise InvalidInput("Attach the video as the form field 'file'.")
            if upload.size == 0:
                raise InvalidInput("The file is not a usable video: it is empty.")
            thumbnail = form.files.get("thumbnail")
            draft = VideoDraft(
                title=form.fields.get("title", ""),
                description=form.fields.get("description", ""),
                category=form.fields.get("category", ""),
            )
            video = await media.ingest(
                upload.path, upload.filename, draft, thumbnail.path if thumbnail and thumbnail.size else None
            )
        return video_out(public_base, video)

    @get(
        "/",
        summary="Videos of any status, newest first, a page at a time; search and filter",
        security=VIEWER,
        responses=errors(400, 401, 403),
        response_headers=[
            ResponseHeader(
                name=TOTAL_HEADER,
                description="How many videos match the query on all pages.",
                documentation_only=True,
            )
        ],
    )
    async def list_all(
        self,
        media: MediaService,
        public_base: str,
        q: Annotated[str | None, Parameter(description="Only titles that contain this (case-insensitive).")] = None,
        status: Annotated[
            str | None, Parameter(description="Only this status: queued, processing, ready or failed.")
        ] = None,
        category: Annotated[str | None, Parameter(description="Only this category (case-insensitive).")] = None,
        page: Annotated[int, Parameter(description="From 1.")] = 1,
        page_size: Annotated[
            int, Parameter(description=f"From 1 to {MAX_PAGE_SIZE}; {DEFAULT_PAGE_SIZE} by default.")
        ] = DEFAULT_PAGE_SIZE,
    ) -> Response[list[AdminVideoOut]]:
        found = await media.search(q, status, category, page, page_size)
        return Response([video_out(public_base, v) for v in found.videos], headers={TOTAL_HEADER: str(found.total)})

    @get(
        "/{video_id:int}",
        summary="One video: status, progress, failure reason, renditions",
        security=VIEWER,
        responses=errors(400, 401, 403, e404=NO_VIDEO),
    )
    async def detail(self, video_id: int, media: MediaService, public_base: str) -> AdminVideoOut:
        return video_out(public_base, await media.get(video_id))

    @patch(
        "/{video_id:int}",
        summary="Change title, description or category",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_VIDEO),
    )
    async def update(self, video_id: int, data: VideoPatch, media: MediaService, public_base: str) -> AdminVideoOut:
        video = await media.update(video_id, title=data.title, description=data.description, category=data.category)
        return video_out(public_base, video)

    @put(
        "/{video_id:int}/thumbnail",
        request_max_body_size=None,  # streamed to disk, limited while it streams (MAX_IMAGE_BYTES)
        opt=accepts(MULTIPART),
        summary="Replace the thumbnail with an uploaded image (multipart: thumbnail)",
        security=VIEWER_WRITE,
        operation_class=ThumbnailUploadOperation,
        responses=errors(400, 401, 403, 413, 415, e404=NO_VIDEO),
    )
    async def replace_thumbnail(
        self,
        video_id: int,
        request: Request[Any, Any, Any],
        media: MediaService,
        store: MediaStorePort,
        public_base: str,
    ) -> AdminVideoOut:
        with ExitStack() as incoming:
            form = await receive_multipart(request, lambda: incoming.enter_context(store.incoming()), MAX_IMAGE_BYTES)
            image = form.files.get("thumbnail")
            if image is None or image.size == 0:
                raise InvalidInput("Attach the image as the form field 'thumbnail'.", field="thumbnail")
            video = await media.update(video_id, thumbnail=image.path)
        return video_out(public_base, video)

    @post(
        "/{video_id:int}/thumbnail/frame",
        status_code=HTTP_200_OK,
        summary="Replace the thumbnail with the frame at a given time of the video",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_VIDEO, e409="The video's source file is missing."),
    )
    async def thumbnail_from_frame(
        self, video_id: int, data: FrameRequest, media: MediaService, public_base: str
    ) -> AdminVideoOut:
        return video_out(public_base, await media.thumbnail_from_frame(video_id, data.seconds))

    @delete(
        "/{video_id:int}",
        status_code=HTTP_200_OK,
        summary="Delete a video and its files",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_VIDEO),
    )
    async def remove(self, video_id: int, media: MediaService) -> Deleted:
        await media.delete(video_id)
        return Deleted("Video deleted.")

    @post(
        "/{video_id:int}/transcode",
        status_code=HTTP_202_ACCEPTED,
        summary="Run the pipeline again",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_VIDEO),
    )
    async def transcode(self, video_id: int, media: MediaService, public_base: str) -> AdminVideoOut:
        return video_out(public_base, await media.request_transcode(video_id))


class AdminCategoryController(Controller):
    """The categories in use, for the Studio's filter and its category suggestions."""

    path = "/api/admin/categories"
    tags = ["admin"]
    guards = [staff]

    @get(
        "/",
        summary="Every category that has videos, by name, with how many",
        security=VIEWER,
        responses=errors(401, 403),
    )
    async def list_categories(self, media: MediaService) -> list[CategoryOut]:
        return [CategoryOut(c.name, c.videos) for c in await media.categories()]
