"""The client's address (S15). ``X-Forwarded-For`` is believed only from ``TRUSTED_PROXIES``, and only in one
place: entrypoints/http/proxies.py rewrites the connection's client before any handler runs, so here the client
of the connection is the real one."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection


class ClientAddress:
    def of(self, request: ASGIConnection[Any, Any, Any, Any]) -> str:
        return request.client.host if request.client else "unknown"
