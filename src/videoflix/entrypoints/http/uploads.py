"""Multipart uploads streamed straight to disk: a 1 GB video never sits in memory.

Every file part goes to a path the caller hands out (``MediaStore.incoming()``), and the caller's context removes
whatever the media service did not take over: a failed or refused upload leaves nothing behind.

The upload limit counts every byte of the body as it arrives, not only the parts: a preamble before the first
boundary or an epilogue after the last one is data the client sends all the same (S16).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from python_multipart.multipart import MultipartParser, parse_options_header

from videoflix.domain.errors import InvalidInput, StorageFull

MULTIPART = "multipart/form-data"
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16
TOO_LARGE = "The upload is too large."


@dataclass
class UploadedFile:
    path: Path
    filename: str
    size: int


@dataclass
class UploadedForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


class _Collector:
    """Parser callbacks: text fields into memory (bounded), file fields into their own file on disk."""

    def __init__(self, new_path: Callable[[], Path]) -> None:
        self.form = UploadedForm()
        self._new_path = new_path
        self._parts = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._filename: str | None = None
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._file_path: Path | None = None
        self._file_size = 0

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._set("_header_field", self._header_field + d[s:e]),
            "on_header_value": lambda d, s, e: self._set("_header_value", self._header_value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _set(self, attribute: str, value: bytes) -> None:
        setattr(self, attribute, value)

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidInput("Too many form fields.")
        self._headers, self._buffer = {}, bytearray()
        self._name, self._filename = "", None

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None:
            self._filename = filename.decode("utf-8", "replace")
            self._file_path = self._new_path()
            self._file = self._file_path.open("wb")
            self._file_size = 0

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            # A plain write lands in the page cache in microseconds; the event loop is not held up.
            self._file.write(data[start:end])
            self._file_size += end - start
        else:
            self._buffer += data[start:end]
            if len(self._buffer) > MAX_FIELD_BYTES:
                raise InvalidInput("A form field is too long.")

    def _part_end(self) -> None:
        if self._file is not None and self._file_path is not None:
            self._file.close()
            self._file = None
            self.form.files[self._name] = UploadedFile(self._file_path, self._filename or "", self._file_size)
        else:
            self.form.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def abort(self) -> None:
        if self._file is not None:
            # The file is thrown away: its buffered bytes failing to flush (a full disk) must not hide the reason.
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


async def receive_multipart(
    request: Request[Any, Any, Any], new_path: Callable[[], Path], max_bytes: int
) -> UploadedForm:
    """Parse a multipart body as it arrives. 413 once the body passes ``max_bytes``; 400 for anything malformed."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type.decode("latin-1") != MULTIPART or not boundary:
        raise InvalidInput(f"Send the video as {MULTIPART}.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=TOO_LARGE)
    collector = _Collector(new_path)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:  # checked before the chunk is parsed: nothing past the limit is written
                raise HTTPException(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=TOO_LARGE)
            parser.write(chunk)
        parser.finalize()
    except (HTTPException, InvalidInput):
        collector.abort()
        raise
    except Exception as error:  # malformed multipart: the parser's own errors, or a client that went away
        collector.abort()
        if StorageFull.caused(error):  # the server's disk, not the client's request: a 503 to send again later
            raise StorageFull() from error
        raise InvalidInput("The upload could not be read.") from error
    except BaseException:  # cancelled (shutdown): leave no partial file behind
        collector.abort()
        raise
    if collector._file is not None:  # the body ended inside a file part
        collector.abort()
        raise InvalidInput("The upload is incomplete.")
    return collector.form
