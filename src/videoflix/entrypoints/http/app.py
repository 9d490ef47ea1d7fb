"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from videoflix.bootstrap import Container, bootstrap, request_metrics
from videoflix.entrypoints.http.accounts import AccountController
from videoflix.entrypoints.http.admin import AdminCategoryController, AdminVideoController
from videoflix.entrypoints.http.admin_users import AdminUserController
from videoflix.entrypoints.http.bodies import ApiRequest
from videoflix.entrypoints.http.clientip import ClientAddress
from videoflix.entrypoints.http.csrf import CSRFMiddleware
from videoflix.entrypoints.http.dependencies import DEPENDENCIES
from videoflix.entrypoints.http.docs import DOCS_HANDLERS, schema_router
from videoflix.entrypoints.http.errors import EXCEPTION_HANDLERS, JsonErrorsMiddleware
from videoflix.entrypoints.http.frontend import frontend_handlers
from videoflix.entrypoints.http.health import HEALTH_HANDLERS
from videoflix.entrypoints.http.hosts import AllowedHostsMiddleware
from videoflix.entrypoints.http.metrics import metrics
from videoflix.entrypoints.http.openapi import openapi_config
from videoflix.entrypoints.http.operations import AdminOperationsController
from videoflix.entrypoints.http.proxies import TrustedProxies
from videoflix.entrypoints.http.ratelimits import RateLimits
from videoflix.entrypoints.http.requestlog import RequestLogMiddleware
from videoflix.entrypoints.http.studio_files import studio_handlers
from videoflix.entrypoints.http.tus import TusUploadController
from videoflix.entrypoints.http.tus_protocol import REQUEST_HEADERS, RESPONSE_HEADERS, TusHeaders
from videoflix.entrypoints.http.videos import (
    CatalogListing,
    VideoController,
    linked_file,
    master_playlist,
    rendition_file,
    thumbnail,
)
from videoflix.entrypoints.logs import redact
from videoflix.settings import Settings, prepare_data_dir


def _tracing(settings: Settings, provider: Any) -> list[Any]:
    if not settings.otel_enabled:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    from videoflix.bootstrap import tracer_provider

    config = OpenTelemetryConfig(
        tracer_provider=provider or tracer_provider(),
        scope_span_details_extractor=_span_details,
        server_request_hook_handler=_redact_span,
    )
    return [OpenTelemetryPlugin(config)]


def _span_details(scope: Any) -> tuple[str, dict[str, Any]]:
    """The span's name before routing: the method only. ``_name_span`` adds the route template once it is known:
    bounded names, and never a one-time token of an activation or reset path."""
    return str(scope.get("method", "")), {}


def _name_span(request: Request[Any, Any, Any]) -> None:
    from opentelemetry import trace

    template = request.scope.get("path_template") or "unmatched"
    trace.get_current_span().update_name(f"{request.method} {template}")
    trace.get_current_span().set_attribute("http.route", template)


def _redact_span(span: Any, scope: Any) -> None:
    """One-time tokens stay out of traces too (see docs/security.md (S25))."""
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full", "http.target", "url.path"):
        if isinstance(attributes.get(key), str):
            span.set_attribute(key, redact(attributes[key]))


# The hot path (playlists and segments): counted by route and status in batches, without a latency histogram. A
# shared counter's increment and a histogram's observation cost more than 3% there (bench/streaming.py measures it;
# docs/benchmarks.md has the figures); the catalog and every other route get both.
STREAMING_ROUTES = ["/api/video/{video_id}/{resolution}/{name}", "/api/video/{video_id}/{name}"]


def create_app(
    settings: Settings | None = None, container: Container | None = None, tracer_provider: Any = None
) -> Litestar:
    """Build the app. Without ``container``, the app wires its own on startup and closes it on shutdown. With
    ``OTEL_ENABLED``, requests are traced (spans to ``tracer_provider``, by default exported with OTLP)."""
    settings = settings or (container.settings if container else prepare_data_dir(Settings.from_env()))
    client_address = ClientAddress()
    proxies = TrustedProxies(settings.trusted_proxies)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        own = container is None
        app.state.container = container or await bootstrap(settings, serves_http=True)
        app.state.rate_limits = RateLimits(app.state.container, client_address)
        app.state.catalog_listing = CatalogListing(app.state.container.catalog, settings.public_base_url)
        try:
            yield
        finally:
            if own:
                await app.state.container.close()

    def rate_limits() -> RateLimits:
        return app.state.rate_limits  # type: ignore[no-any-return]

    app = Litestar(
        route_handlers=[
            AccountController,
            VideoController,
            master_playlist,
            linked_file,
            rendition_file,
            AdminVideoController,
            AdminUserController,
            AdminOperationsController,
            AdminCategoryController,
            TusUploadController,
            thumbnail,
            *HEALTH_HANDLERS,
            *DOCS_HANDLERS,
            *([metrics] if settings.metrics_enabled else []),
            *studio_handlers(),
            *frontend_handlers(settings),
        ],
        dependencies={**DEPENDENCIES, "rate_limits": Provide(rate_limits, sync_to_thread=False)},
        openapi_config=openapi_config(version("videoflix"), schema_router()),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        cors_config=CORSConfig(
            allow_origins=settings.cors_allowed_origins,
            allow_credentials=True,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["content-type", "x-csrftoken", *REQUEST_HEADERS],  # tus: a browser client elsewhere
            expose_headers=["x-request-id", "x-total-count", *RESPONSE_HEADERS],
            max_age=600,
        ),
        middleware=[DefineMiddleware(CSRFMiddleware, trusted_origins=settings.csrf_trusted_origins)],
        request_max_body_size=settings.max_json_body_bytes,
        request_class=ApiRequest,
        lifespan=[lifespan],
        plugins=_tracing(settings, tracer_provider),
        before_request=_name_span if settings.otel_enabled else None,
        logging_config=None,  # entrypoints/logs.py configures logging (LOG_FORMAT); Litestar's default would replace it
        debug=False,  # never render tracebacks to clients, even with DEBUG=true (S18)
    )
    # tus discovery (public OPTIONS), also on the CORS preflights that Litestar answers before any route.
    app.asgi_handler = TusHeaders(app.asgi_handler, settings.max_upload_bytes)
    # Outermost, not route middlewares: unknown paths (404), wrong methods (405) and CORS preflights, which
    # Litestar answers before any route middleware runs, get a request id and a log line, their Host header is
    # checked (also with ALLOWED_HOSTS=*, S24), and whatever escapes the app is still a JSON error (S18). The
    # request log sees the connection's own peer (a proxy's X-Request-ID is taken only from TRUSTED_PROXIES);
    # everything inside it sees the client and scheme the trusted proxy forwarded.
    app.asgi_handler = AllowedHostsMiddleware(app.asgi_handler, settings.allowed_hosts)
    app.asgi_handler = JsonErrorsMiddleware(app.asgi_handler)
    observer = request_metrics(batched_routes=STREAMING_ROUTES) if settings.metrics_enabled else None
    app.asgi_handler = RequestLogMiddleware(proxies.wrap(app.asgi_handler), proxies, observer)
    return app
