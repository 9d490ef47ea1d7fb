"""What Granian loads in each worker process: logging configured, then the app."""

from __future__ import annotations

from litestar import Litestar

from videoflix.entrypoints.http.app import create_app
from videoflix.entrypoints.logs import configure_logging
from videoflix.settings import Settings


def create_asgi_app() -> Litestar:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
