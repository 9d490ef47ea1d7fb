"""A request id for every request, one log line per request, and the request's figures for the metrics.

The id is put into the request's context (``domain/context.py``), so every line logged while the request runs (an
error, an email queued, a job rung) carries it, and jobs rung by the request carry it too. A proxy's
``X-Request-ID`` is adopted only from ``TRUSTED_PROXIES`` (S25): anyone else could pick ids that collide with other
requests' or fill the logs with junk. What the client controls (path, method, user agent) is capped before it is
logged; entrypoints/logs.py escapes control characters and redacts one-time tokens in every line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Protocol

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send

from videoflix.domain.context import request_id as current_request_id
from videoflix.entrypoints.http.proxies import TrustedProxies
from videoflix.entrypoints.logs import cap

log = logging.getLogger("videoflix.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PATH_LIMIT = 512
USER_AGENT_LIMIT = 256
METHOD_LIMIT = 16
UNMATCHED = "unmatched"  # the route label of a request no route answered (never the raw path: unbounded labels)
_UPLOAD_TYPES = (b"multipart/form-data", b"application/offset+octet-stream")


class RequestObserver(Protocol):
    """Where each request's figures go (the Prometheus metrics)."""

    def request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    def upload_bytes(self, count: int) -> None: ...


def _header(scope: HTTPScope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return b""


class RequestLogMiddleware:
    def __init__(
        self, app: ASGIApp, proxies: TrustedProxies | None = None, observer: RequestObserver | None = None
    ) -> None:
        self.app = app
        self.proxies = proxies or TrustedProxies([])
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        await self._logged(scope, receive, send)

    def _request_id(self, scope: HTTPScope) -> str:
        # Reuse nginx's id, so a request can be followed across the proxy and the app; never a client's (S25).
        if self.proxies.trusts(scope):
            incoming = _header(scope, b"x-request-id").decode("latin-1")
            if _VALID_ID.match(incoming):
                return incoming
        return uuid.uuid4().hex

    async def _logged(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        request_id = self._request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        status = 500
        started = time.perf_counter()
        observer = self.observer
        if observer is not None and scope["method"] in ("POST", "PUT", "PATCH") and _is_upload(scope):
            receive = _counting(receive, observer)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = cap(scope["method"], METHOD_LIMIT)
            path = cap(scope["path"], PATH_LIMIT)
            if observer is not None:
                observer.request(method, scope.get("path_template") or UNMATCHED, status, seconds)
            client = scope.get("client")
            log.info(
                "%s %s %s %.1fms",
                method,
                path,
                status,
                seconds * 1000,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client": client[0] if client else None,
                    "user_agent": cap(_header(scope, b"user-agent").decode("latin-1"), USER_AGENT_LIMIT) or None,
                },
            )
            current_request_id.reset(token)


def _is_upload(scope: HTTPScope) -> bool:
    return _header(scope, b"content-type").split(b";", 1)[0].strip().lower() in _UPLOAD_TYPES


def _counting(receive: Receive, observer: RequestObserver) -> Receive:
    async def counted() -> ReceiveMessage:
        message = await receive()
        if message["type"] == "http.request":
            observer.upload_bytes(len(message.get("body", b"")))
        return message

    return counted
