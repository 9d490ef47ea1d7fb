"""Sending a file: ASGI ``http.response.pathsend`` when the server offers it (Granian does), chunks otherwise."""

from __future__ import annotations

import anyio
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

CHUNK = 256 * 1024
PATHSEND = "http.response.pathsend"


class FileSendResponse(ASGIResponse):
    def __init__(self, path: str, size: int, media_type: str, headers: dict[str, str], is_head: bool) -> None:
        super().__init__(
            content_length=size, media_type=media_type, headers=headers, is_head_response=is_head, body=b""
        )
        self.path = path
        if is_head:  # Litestar leaves HEAD answers without a length; players use it to size the download
            self.headers["content-length"] = str(size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start_response(send)
        if self.is_head_response:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif PATHSEND in scope.get("extensions", {}):
            await send({"type": PATHSEND, "path": self.path})  # type: ignore[typeddict-item]
        else:
            async with await anyio.open_file(self.path, "rb") as handle:
                while True:
                    chunk = await handle.read(CHUNK)
                    more = len(chunk) == CHUNK
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
                    if not more:
                        break
