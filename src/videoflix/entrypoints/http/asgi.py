"""What Granian loads in each worker process: settings (as the CLI reads them), logging configured, then the app."""

from __future__ import annotations

from litestar import Litestar

from videoflix.entrypoints.http.app import create_app
from videoflix.entrypoints.startup import load_settings


def create_asgi_app() -> Litestar:
    """A configuration error ends the worker process with its one-line message and exit code 2."""
    return create_app(load_settings())
