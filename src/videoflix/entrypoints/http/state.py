"""Access to the process's container from a request."""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection

from videoflix.bootstrap import Container


def container_of(request: Request | ASGIConnection) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]
