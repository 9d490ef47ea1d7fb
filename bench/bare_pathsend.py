"""The reference for segment serving: a bare ASGI app that only answers with ``http.response.pathsend`` of one
file, on the same Granian. It is Granian's own ceiling for sending a file from Python."""

from __future__ import annotations

import os

PATH = os.environ["BENCH_FILE"]
SIZE = str(os.path.getsize(PATH)).encode()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = [(b"content-type", b"video/MP2T"), (b"content-length", SIZE)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.pathsend", "path": PATH})
