"""``GET /metrics``: Prometheus's scrape, never public.

With ``METRICS_TOKEN`` set, a scrape must send it as ``Authorization: Bearer <token>`` (Prometheus:
``authorization: {credentials_file: ...}``). Without it, only requests from this machine are answered: behind a
trusted proxy the client is the forwarded one, so nobody reaches it through nginx (which also refuses the path).
The route is left out of the API schema.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from videoflix.bootstrap import metrics_authorized
from videoflix.entrypoints.http.dependencies import ContainerDep

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOCAL_ONLY = "Metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere."


def _local(request: Request[Any, Any, Any]) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], process: ContainerDep) -> Response[bytes]:
    token = process.settings.metrics_token
    if token:
        if not metrics_authorized(request.headers.get("authorization"), token):
            raise NotAuthorizedException(
                detail="A valid metrics token is needed.", headers={"WWW-Authenticate": "Bearer"}
            )
    elif not _local(request):
        raise PermissionDeniedException(detail=LOCAL_ONLY)
    body = await process.metrics_text()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
