"""The Studio, the staff's web console, served on the API's own origin at ``/studio/`` (no CORS, same cookies).

Its files are built from ``studio/`` (npm, esbuild) into the ``studio`` folder next to this module, which the
wheel carries. ``index.html`` is never cached, so a new build is picked up at once; the assets it names have a hash
in their names and are cached for a year. The files hold no data and are public: the page signs in against the
API, and every admin endpoint it calls is guarded by ``access.staff``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

from videoflix.entrypoints.http.errors import STATUS_MESSAGES, error_response

STUDIO_DIR = Path(__file__).with_name("studio")
ONE_YEAR = 365 * 24 * 3600

# The console only ever talks to its own origin; hls.js runs its demuxer in a worker made from a blob URL.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Videoflix Studio is not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The Studio is not built yet</h1>
<p>This server runs from a checkout where the staff console has not been built. Build it with
<code>make studio</code> (or start the server with <code>make run</code>, which builds it first), then reload
this page.</p>
<p>The API itself works: its documentation is at <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


@get(["/studio", "/studio/"], include_in_schema=False, sync_to_thread=False)
def studio_page() -> Response[bytes]:
    """The console's page, or a short explanation when the Studio was not built (never a 500)."""
    try:
        page = (STUDIO_DIR / "index.html").read_bytes()  # a few hundred bytes from the page cache
    except OSError:
        return Response(
            NOT_BUILT.encode(), media_type="text/html", status_code=HTTP_503_SERVICE_UNAVAILABLE, headers=PAGE_HEADERS
        )
    return Response(page, media_type="text/html", headers=PAGE_HEADERS)


def _not_found(request: Request[Any, Any, Any], _: NotFoundException) -> Response[Any]:
    return error_response(request, HTTP_404_NOT_FOUND, STATUS_MESSAGES[404])  # not the static router's wording


def studio_handlers() -> list[ControllerRouterHandler]:
    assets: Router = create_static_files_router(
        path="/studio/assets",
        directories=[STUDIO_DIR / "assets"],
        name="studio-assets",
        cache_control=CacheControlHeader(max_age=ONE_YEAR, public=True, immutable=True),
        include_in_schema=False,
        exception_handlers={NotFoundException: _not_found},
    )
    return [studio_page, assets]
