"""Resumable uploads for staff (tus 1.0.0: core, creation, creation-with-upload, termination, expiration,
checksum): a 4 GB video over a hotel connection arrives in pieces, survives dropped connections and server
restarts, and becomes a video exactly as a multipart upload does.

    POST    /api/admin/uploads/          create (Upload-Length, Upload-Metadata), optionally with the first bytes
    HEAD    /api/admin/uploads/<id>      how many bytes are safely stored (Upload-Offset)
    PATCH   /api/admin/uploads/<id>      more bytes (application/offset+octet-stream) at Upload-Offset
    DELETE  /api/admin/uploads/<id>      terminate
    OPTIONS /api/admin/uploads[/<id>]    discovery, public like CORS preflights (answered by ``TusHeaders``)

The handlers translate headers; the rules are ``UploadService``'s (domain/media/uploads.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, head, patch, post
from litestar.datastructures import ResponseHeader
from litestar.exceptions import InternalServerException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from videoflix.domain.accounts.model import User
from videoflix.domain.errors import DomainError, InvalidInput, NotFound
from videoflix.domain.media.upload_model import (
    UPLOAD_ID,
    ChecksumMismatch,
    UploadGone,
    UploadSession,
    UploadTooLarge,
)
from videoflix.domain.media.uploads import NO_SUCH_UPLOAD, UploadService
from videoflix.entrypoints.http.access import staff
from videoflix.entrypoints.http.bodies import accepts
from videoflix.entrypoints.http.errors import AnyRequest, error_response
from videoflix.entrypoints.http.openapi import VIEWER, VIEWER_WRITE, errors
from videoflix.entrypoints.http.tus_protocol import (
    CHUNK_MEDIA_TYPE,
    TUS_VERSION,
    UPLOADS_PATH,
    VIDEO_ID_HEADER,
    encode_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_size,
    require_chunk_media_type,
    require_version,
)

CHECKSUM_MISMATCH = 460  # tus's own status: the chunk's checksum does not match, nothing of it was kept

# Request headers, declared so the API docs list them (all optional to Litestar: a missing Tus-Resumable is a
# 412 of the protocol, not a validation 400).
TusResumable = Annotated[
    str | None, Parameter(header="Tus-Resumable", description=f"Always `{TUS_VERSION}`.", required=False)
]
UploadOffset = Annotated[
    str | None, Parameter(header="Upload-Offset", description="Where these bytes go (the HEAD's offset).")
]
UploadChecksum = Annotated[
    str | None,
    Parameter(header="Upload-Checksum", description="`sha1 <base64 digest>` (or sha256, sha512, md5) of this body."),
]

OFFSET_HEADER = ResponseHeader(name="Upload-Offset", description="Bytes safely stored.", documentation_only=True)
EXPIRES_HEADER = ResponseHeader(
    name="Upload-Expires", description="When the unfinished upload will be removed.", documentation_only=True
)
VIDEO_HEADER = ResponseHeader(
    name=VIDEO_ID_HEADER,
    description="Once the last byte arrived: the id of the video it became (see GET /api/admin/videos/<id>).",
    documentation_only=True,
)
RESUMABLE_HEADER = ResponseHeader(name="Tus-Resumable", description=TUS_VERSION, documentation_only=True)

E404 = "No such upload (also someone else's)."
E409 = "Upload-Offset is not where the upload is, or another request is writing to it right now."
E410 = "The upload expired or was terminated."
E412 = "Tus-Resumable is missing or not 1.0.0 (the answer names the version in Tus-Version)."
E413 = "Upload-Length is over MAX_UPLOAD_BYTES, or the bytes go past Upload-Length."
E415 = f"The bytes are not sent as {CHUNK_MEDIA_TYPE}."
E460 = "Upload-Checksum does not match the bytes; none of them were kept (the offset is unchanged)."


class BodyInterrupted(InvalidInput):
    """The client went away in the middle of its body (whatever arrived before is kept)."""

    message = "The upload was interrupted; ask for its offset and go on from there."


def _status(status: int) -> Any:
    def handle(request: AnyRequest, error: DomainError) -> Response[Any]:
        return error_response(request, status, error.message)

    return handle


def _chunk_body(description: str, *, required: bool) -> RequestBody:
    binary = Schema(type="string", format="binary")  # type: ignore[arg-type]
    return RequestBody(
        required=required, description=description, content={CHUNK_MEDIA_TYPE: OpenAPIMediaType(schema=binary)}
    )


@dataclass
class CreationOperation(Operation):
    """The creation reads its (optional) first bytes as a stream: describe them."""

    def __post_init__(self) -> None:
        self.request_body = _chunk_body(
            "Optional: the first bytes of the file (creation-with-upload), as for PATCH.", required=False
        )


@dataclass
class ChunkOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _chunk_body("The next bytes of the file, from Upload-Offset on.", required=True)


def _location(session: UploadSession) -> str:
    return f"{UPLOADS_PATH}/{session.id}"


def _progress_headers(session: UploadSession) -> dict[str, str]:
    headers = {"Upload-Offset": str(session.offset), "Cache-Control": "no-store"}
    if session.video_id is not None:
        headers[VIDEO_ID_HEADER] = str(session.video_id)
    else:
        headers["Upload-Expires"] = http_date(session.expires_at)
    return headers


def _checked_id(upload_id: str) -> str:
    if not UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(NO_SUCH_UPLOAD)
    return upload_id


async def _body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    """The request body as it arrives, never all of it in memory."""
    try:
        async for chunk in request.stream():
            yield chunk
    except InternalServerException as error:  # Litestar's word for a client that disconnected mid-body
        raise BodyInterrupted() from error


def _has_body(request: Request[Any, Any, Any]) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


class TusUploadController(Controller):
    """Every route is staff-only (guard) and its unsafe requests need X-CSRFToken (guard)."""

    path = UPLOADS_PATH
    tags = ["admin"]
    # CSRF: every change needs X-CSRFToken (the CSRF middleware reads VIEWER_WRITE below), a creation without a body
    # included.
    guards = [staff]
    exception_handlers = {
        UploadGone: _status(410),
        UploadTooLarge: _status(413),
        ChecksumMismatch: _status(CHECKSUM_MISMATCH),
    }

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,  # MAX_UPLOAD_BYTES and Upload-Length are checked while streaming
        summary="Start a resumable upload (tus creation, creation-with-upload)",
        description=(
            "Upload-Length (bytes, up to MAX_UPLOAD_BYTES) and Upload-Metadata (tus's comma-separated "
            "`key base64value` pairs: `title`, `category`, `description`, `filename`, checked like the multipart "
            "upload's form) are required. Answers 201 with the upload's URL in Location. A body with Content-Type "
            f"{CHUNK_MEDIA_TYPE} holds the first bytes. Discovery: OPTIONS answers Tus-Version, Tus-Extension, "
            "Tus-Max-Size and Tus-Checksum-Algorithm."
        ),
        security=VIEWER_WRITE,
        opt=accepts(CHUNK_MEDIA_TYPE),
        operation_class=CreationOperation,
        responses=errors(400, 401, 403, 413, 415, e409=E409, e412=E412, e460=E460),
        response_headers=[
            ResponseHeader(name="Location", description="The upload's URL.", documentation_only=True),
            OFFSET_HEADER,
            EXPIRES_HEADER,
            VIDEO_HEADER,
            RESUMABLE_HEADER,
        ],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        uploads: UploadService,
        staff_user: User,
        tus_resumable: TusResumable = None,
        upload_length: Annotated[
            str | None, Parameter(header="Upload-Length", description="The file's size in bytes (required).")
        ] = None,
        upload_metadata: Annotated[
            str | None,
            Parameter(
                header="Upload-Metadata", description="`title <b64>,category <b64>,...` (title, category required)."
            ),
        ] = None,
        upload_checksum: UploadChecksum = None,
    ) -> Response[None]:
        require_version(tus_resumable)
        with_body = _has_body(request)
        if with_body:
            require_chunk_media_type(request.headers.get("content-type"))
        if request.headers.get("upload-concat") is not None:
            raise InvalidInput("Concatenation of uploads is not supported.")
        length = parse_size(upload_length, "Upload-Length")
        if length is None:
            raise InvalidInput("Send the file's size as Upload-Length (deferring it is not supported).")
        metadata = parse_metadata(upload_metadata)
        checksum = parse_checksum(upload_checksum)
        declared = parse_size(request.headers.get("content-length"), "Content-Length")
        if declared is not None and declared > length:
            raise UploadTooLarge(f"The body is longer than Upload-Length ({length} bytes).")
        assert staff_user.id is not None
        session = await uploads.create(staff_user.id, length, metadata)
        if with_body:
            session = await uploads.append(
                staff_user.id, session.id, 0, _body(request), declared_length=declared, checksum=checksum
            )
        return Response(
            content=None,
            status_code=HTTP_201_CREATED,
            headers={"Location": _location(session), **_progress_headers(session)},
        )

    @head(
        "/{upload_id:str}",
        status_code=HTTP_200_OK,
        summary="How many bytes of the upload are safely stored (tus offset)",
        description=(
            "Upload-Offset is where to go on; Upload-Length the file's size. A completed upload answers its full "
            f"length and the video's id in {VIDEO_ID_HEADER}."
        ),
        security=VIEWER,
        responses=errors(400, 401, 403, e404=E404, e410=E410, e412=E412),
        response_headers=[
            OFFSET_HEADER,
            ResponseHeader(name="Upload-Length", description="The file's size.", documentation_only=True),
            ResponseHeader(name="Upload-Metadata", description="As sent at creation.", documentation_only=True),
            EXPIRES_HEADER,
            VIDEO_HEADER,
            RESUMABLE_HEADER,
        ],
    )
    async def offset(
        self, upload_id: str, uploads: UploadService, staff_user: User, tus_resumable: TusResumable = None
    ) -> Response[None]:
        require_version(tus_resumable)
        assert staff_user.id is not None
        session = await uploads.status(staff_user.id, _checked_id(upload_id))
        headers = {**_progress_headers(session), "Upload-Length": str(session.length)}
        if metadata := encode_metadata(session.metadata):
            headers["Upload-Metadata"] = metadata
        return Response(content=None, status_code=HTTP_200_OK, headers=headers)

    @patch(
        "/{upload_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        request_max_body_size=None,
        summary="Send the next bytes of the upload (tus core, checksum)",
        description=(
            f"Content-Type {CHUNK_MEDIA_TYPE}; Upload-Offset must be the upload's offset. Answers 204 with the "
            f"new Upload-Offset. When the last byte arrived, the file is probed and becomes a video (status "
            f"`queued`, then transcoded) exactly as a multipart upload does; the answer then carries "
            f"{VIDEO_ID_HEADER}. A file that is not a video ends the upload with 400 and nothing is kept."
        ),
        security=VIEWER_WRITE,
        opt=accepts(CHUNK_MEDIA_TYPE),
        operation_class=ChunkOperation,
        responses=errors(400, 401, 403, 413, 415, e404=E404, e409=E409, e410=E410, e412=E412, e460=E460),
        response_headers=[OFFSET_HEADER, EXPIRES_HEADER, VIDEO_HEADER, RESUMABLE_HEADER],
    )
    async def append(
        self,
        request: Request[Any, Any, Any],
        upload_id: str,
        uploads: UploadService,
        staff_user: User,
        tus_resumable: TusResumable = None,
        upload_offset: UploadOffset = None,
        upload_checksum: UploadChecksum = None,
    ) -> Response[None]:
        require_version(tus_resumable)
        require_chunk_media_type(request.headers.get("content-type"))
        offset = parse_size(upload_offset, "Upload-Offset")
        if offset is None:
            raise InvalidInput("Send Upload-Offset: where these bytes go (ask with HEAD).")
        checksum = parse_checksum(upload_checksum)
        assert staff_user.id is not None
        session = await uploads.append(
            staff_user.id,
            _checked_id(upload_id),
            offset,
            _body(request),
            declared_length=parse_size(request.headers.get("content-length"), "Content-Length"),
            checksum=checksum,
        )
        return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers=_progress_headers(session))

    @delete(
        "/{upload_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Terminate an upload (its bytes are removed; a completed upload's video stays)",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=E404, e412=E412),
        response_headers=[RESUMABLE_HEADER],
    )
    async def terminate(
        self, upload_id: str, uploads: UploadService, staff_user: User, tus_resumable: TusResumable = None
    ) -> None:
        require_version(tus_resumable)
        assert staff_user.id is not None
        await uploads.terminate(staff_user.id, _checked_id(upload_id))
