"""Same-origin option: with ``FRONTEND_DIR`` set, Videoflix serves that copy of the frontend at ``/``.

Frontend and API then share one origin (``http://host:8000/`` and ``http://host:8000/api/``): no CORS, and the
``SameSite=Lax`` cookies flow whatever name the browser used for the host. The API and the media keep their paths:
``/api/...``, ``/media/...`` and the Studio's ``/studio/...`` are never looked up in the frontend folder, whatever
it contains.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_404_NOT_FOUND

from videoflix.entrypoints.http.errors import STATUS_MESSAGES, error_response
from videoflix.settings import Settings

RESERVED_PREFIXES = ("/api", "/media", "/studio")


def _generic_not_found(request: Request[Any, Any, Any], _: NotFoundException) -> Response[Any]:
    """Litestar's static files say which path they looked for; the API's 404 says nothing more than "Not found"."""
    return error_response(request, HTTP_404_NOT_FOUND, STATUS_MESSAGES[404])


async def _not_for_reserved_paths(request: Request[Any, Any, Any]) -> None:
    path = request.url.path
    if any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES):
        raise NotFoundException()


def frontend_handlers(settings: Settings) -> list[Router]:
    """The static-files router for ``settings.frontend_dir`` (``index.html`` at ``/``), or nothing."""
    if settings.frontend_dir is None:
        return []
    return [
        create_static_files_router(
            path="/",
            directories=[settings.frontend_dir],
            html_mode=True,
            name="frontend",
            include_in_schema=False,
            before_request=_not_for_reserved_paths,
            exception_handlers={NotFoundException: _generic_not_found},
        )
    ]
