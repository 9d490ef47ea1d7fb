"""Staff-only video management: upload, status and progress, metadata, delete, transcode again."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.model import Video
from videoflix.domain.media.service import MediaService, VideoDraft
from videoflix.entrypoints.http.access import staff
from videoflix.entrypoints.http.bodies import accepts
from videoflix.entrypoints.http.dependencies import MediaStorePort
from videoflix.entrypoints.http.openapi import VIEWER, VIEWER_WRITE, MultipartUploadOperation, errors
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
    title: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    category: Annotated[str, msgspec.Meta(max_length=100)] | None = None


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

    @get("/", summary="Every video with its processing status", security=VIEWER, responses=errors(401, 403))
    async def list_all(self, media: MediaService, public_base: str) -> list[AdminVideoOut]:
        return [video_out(public_base, v) for v in await media.list_all()]

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
