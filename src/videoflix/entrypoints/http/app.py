"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.metadata import version

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from videoflix.bootstrap import Container, bootstrap
from videoflix.entrypoints.http.accounts import AccountController
from videoflix.entrypoints.http.admin import AdminCategoryController, AdminVideoController
from videoflix.entrypoints.http.clientip import ClientAddress
from videoflix.entrypoints.http.csrf import CSRFMiddleware
from videoflix.entrypoints.http.dependencies import DEPENDENCIES
from videoflix.entrypoints.http.docs import DOCS_HANDLERS, schema_router
from videoflix.entrypoints.http.errors import EXCEPTION_HANDLERS
from videoflix.entrypoints.http.frontend import frontend_handlers
from videoflix.entrypoints.http.health import HEALTH_HANDLERS
from videoflix.entrypoints.http.hosts import AllowedHostsMiddleware
from videoflix.entrypoints.http.openapi import openapi_config
from videoflix.entrypoints.http.ratelimits import RateLimits
from videoflix.entrypoints.http.requestlog import RequestLogMiddleware
from videoflix.entrypoints.http.studio_files import studio_handlers
from videoflix.entrypoints.http.videos import VideoController, master_playlist, rendition_file, thumbnail
from videoflix.settings import Settings, prepare_data_dir


def create_app(settings: Settings | None = None, container: Container | None = None) -> Litestar:
    """Build the app. Without ``container``, the app wires its own on startup and closes it on shutdown."""
    settings = settings or (container.settings if container else prepare_data_dir(Settings.from_env()))
    client_address = ClientAddress(settings.trusted_proxies)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        own = container is None
        app.state.container = container or await bootstrap(settings)
        app.state.rate_limits = RateLimits(app.state.container, client_address)
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
            rendition_file,
            AdminVideoController,
            AdminCategoryController,
            thumbnail,
            *HEALTH_HANDLERS,
            *DOCS_HANDLERS,
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
            allow_headers=["content-type", "x-csrftoken"],
            expose_headers=["x-request-id", "x-total-count"],
            max_age=600,
        ),
        middleware=[DefineMiddleware(CSRFMiddleware, trusted_origins=settings.csrf_trusted_origins)],
        request_max_body_size=settings.max_json_body_bytes,
        lifespan=[lifespan],
        logging_config=None,  # entrypoints/logs.py configures logging (LOG_FORMAT); Litestar's default would replace it
        debug=False,  # never render tracebacks to clients, even with DEBUG=true (S18)
    )
    # Outermost, not a route middleware: unknown paths (404), wrong methods (405) and CORS preflights, which
    # Litestar answers before any route middleware runs, get a request id and a log line too.
    if "*" not in settings.allowed_hosts:
        app.asgi_handler = AllowedHostsMiddleware(app.asgi_handler, settings.allowed_hosts)
    app.asgi_handler = RequestLogMiddleware(app.asgi_handler)
    return app
