"""The offline docs page: ``GET /api/docs`` (Swagger UI) over the schema at ``GET /api/schema/openapi.json``.

Swagger UI's JavaScript and CSS come from the ``swagger-ui-bundle-v2`` package (Swagger UI's own dist files,
installed with pip) and are served under ``/api/docs/assets/``: no CDN, works offline. What the schema says about
each operation is declared on the handlers (see ``openapi.py``).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Response, get
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.response.file import File
from litestar.router import Router
from swagger_ui_bundle import swagger_ui_path

from videoflix.entrypoints.http.cookies import CSRF_COOKIE
from videoflix.entrypoints.http.openapi import CSRF_HEADER, SCHEMA_PATH

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
SWAGGER_DIR = Path(str(swagger_ui_path))
SWAGGER_VERSION = SWAGGER_DIR.name.removeprefix("swagger-ui-")
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")


def _json_404_for_unknown_schema_paths(response: Response) -> Response:  # type: ignore[type-arg]
    """Litestar answers unknown paths under the schema router with an HTML page; the API answers JSON."""
    if response.status_code == 404 and response.media_type == MediaType.HTML:
        raise NotFoundException()
    return response


def schema_router() -> Router:
    return Router(
        SCHEMA_PATH, route_handlers=[], include_in_schema=False, after_request=_json_404_for_unknown_schema_paths
    )


# -- the docs page ------------------------------------------------------------------------------------------------

DOCS_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Videoflix API</title>
  <link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <style>body {{ margin: 0; }}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{SCHEMA_PATH}/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      withCredentials: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      // Unsafe requests need the csrftoken cookie's value as a header: send it, as the frontend does.
      requestInterceptor: (request) => {{
        if (!["GET", "HEAD", "OPTIONS"].includes((request.method || "GET").toUpperCase())) {{
          const match = document.cookie.match(/(?:^|;\\s*){CSRF_COOKIE}=([^;]+)/);
          if (match) request.headers["{CSRF_HEADER}"] = decodeURIComponent(match[1]);
        }}
        return request;
      }},
    }});
  </script>
</body>
</html>
"""


@get(DOCS_PATH, include_in_schema=False, media_type=MediaType.HTML, cache_control=None)
async def docs_page() -> Response[str]:
    return Response(DOCS_PAGE, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False)
async def docs_asset(name: str) -> File:
    if name not in ASSETS:
        raise NotFoundException()
    return File(
        SWAGGER_DIR / name,
        filename=name,
        media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=86400"},
    )


DOCS_HANDLERS = [docs_page, docs_asset]
