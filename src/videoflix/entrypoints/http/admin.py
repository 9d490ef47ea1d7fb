"""Staff-only video management: upload, status and progress, metadata, delete, transcode again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from videoflix.domain.catalog.model import Video
from videoflix.domain.errors import InvalidInput
from videoflix.domain.media.service import VideoDraft
from videoflix.entrypoints.http.auth import staff_user
from videoflix.entrypoints.http.state import container_of
from videoflix.entrypoints.http.uploads import discard_quietly, receive_multipart
from videoflix.entrypoints.http.videos import public_base


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


class VideoPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    category: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Deleted(msgspec.Struct):
    detail: str


def video_out(request: Request, video: Video) -> AdminVideoOut:
    assert video.id is not None
    base = public_base(request)
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
    )


class AdminVideoController(Controller):
    path = "/api/admin/videos"
    tags = ["admin"]

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # uploads have their own limit (MAX_UPLOAD_BYTES), checked while streaming
        summary="Upload a video (multipart: title, description, category, file, optional thumbnail)",
    )
    async def upload(self, request: Request) -> AdminVideoOut:
        await staff_user(request)
        container = container_of(request)
        form = None
        try:
            form = await receive_multipart(
                request, container.store.new_upload_path, container.settings.max_upload_bytes
            )
            upload = form.files.get("file")
            if upload is None:
                raise InvalidInput("Attach the video as the form field 'file'.")
            if upload.size == 0:
                raise InvalidInput("The file is not a usable video: it is empty.")
            thumbnail = form.files.get("thumbnail")
            if thumbnail is not None and thumbnail.size == 0:
                thumbnail = None
            draft = VideoDraft(
                title=form.fields.get("title", ""),
                description=form.fields.get("description", ""),
                category=form.fields.get("category", ""),
            )
            video = await container.media.ingest(
                upload.path, upload.filename, draft, thumbnail.path if thumbnail else None
            )
        finally:
            discard_quietly(form)  # whatever ingest did not adopt
        return video_out(request, video)

    @get("/", summary="Every video with its processing status")
    async def list_all(self, request: Request) -> list[AdminVideoOut]:
        await staff_user(request)
        return [video_out(request, v) for v in await container_of(request).media.list_all()]

    @get("/{video_id:int}", summary="One video: status, progress, failure reason, renditions")
    async def detail(self, request: Request, video_id: int) -> AdminVideoOut:
        await staff_user(request)
        return video_out(request, await container_of(request).media.get(video_id))

    @patch("/{video_id:int}", summary="Change title, description or category")
    async def update(self, request: Request, video_id: int, data: VideoPatch) -> AdminVideoOut:
        await staff_user(request)
        video = await container_of(request).media.update(
            video_id, title=data.title, description=data.description, category=data.category
        )
        return video_out(request, video)

    @delete("/{video_id:int}", status_code=HTTP_200_OK, summary="Delete a video and its files")
    async def remove(self, request: Request, video_id: int) -> Deleted:
        await staff_user(request)
        await container_of(request).media.delete(video_id)
        return Deleted("Video deleted.")

    @post("/{video_id:int}/transcode", status_code=HTTP_202_ACCEPTED, summary="Run the pipeline again")
    async def transcode(self, request: Request, video_id: int) -> AdminVideoOut:
        await staff_user(request)
        return video_out(request, await container_of(request).media.request_transcode(video_id))
