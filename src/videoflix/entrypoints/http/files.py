"""Sending a file: ASGI ``http.response.pathsend`` when the server offers it (Granian does), chunks otherwise."""

from __future__ import annotations

import anyio
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

CHUNK = 256 * 1024
PATHSEND = "http.response.pathsend"


class FileSendResponse(ASGIResponse):
    """A file answer with the headers encoded once; it skips ``ASGIResponse.__init__`` (header containers, body
    handling) because this is the hottest path of the service."""

    def __init__(self, path: str, size: int, media_type: str, headers: dict[str, str], is_head: bool) -> None:
        self.path = path
        self.is_head_response = is_head
        self.status_code = 200
        self.background = None
        self._raw_headers = [
            (b"content-type", media_type.encode("latin-1")),
            (b"content-length", str(size).encode("latin-1")),  # HEAD too: players size the download with it
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
        ]

    async def start_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._raw_headers})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start_response(send)
        if self.is_head_response:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif PATHSEND in (scope.get("extensions") or {}):
            await send({"type": PATHSEND, "path": self.path})  # type: ignore[arg-type]  # not in Litestar's types
        else:
            async with await anyio.open_file(self.path, "rb") as handle:
                while True:
                    chunk = await handle.read(CHUNK)
                    more = len(chunk) == CHUNK
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
                    if not more:
                        break
