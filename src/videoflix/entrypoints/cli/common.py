"""What every command needs before it works: settings, logging, and on the embedded default a current schema."""

from __future__ import annotations

from videoflix.bootstrap import upgrade_database
from videoflix.entrypoints.logs import configure_logging
from videoflix.settings import Settings


def load_settings() -> Settings:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def prepared_settings() -> Settings:
    """Settings and logging, and on the embedded default an up-to-date schema, as ``serve`` does."""
    settings = load_settings()
    if settings.embedded:
        upgrade_database(settings)
    return settings
