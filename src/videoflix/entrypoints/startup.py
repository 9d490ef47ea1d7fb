"""What every entrypoint does before it works: settings read (a configuration error ends the process with one line
and exit code 2), the data folder prepared (the embedded default's generated key), logging configured, and for
commands that use the database on the embedded default, an up-to-date schema."""

from __future__ import annotations

import sys

from videoflix.bootstrap import tracing_available, upgrade_database
from videoflix.entrypoints.logs import configure_logging
from videoflix.settings import Settings, SettingsError, prepare_data_dir

CONFIGURATION_ERROR_EXIT = 2


def load_settings() -> Settings:
    """The settings of this process. The one place a configuration error is caught: its one line goes to stderr and
    the process exits with code 2, without a traceback. The CLI and the Granian app factory come through here."""
    try:
        settings = prepare_data_dir(Settings.from_env())
        if settings.otel_enabled and not tracing_available():
            raise SettingsError("OTEL_ENABLED: OpenTelemetry is not installed: pip install 'videoflix[otel]'")
    except SettingsError as error:
        print(f"videoflix: configuration error: {error}", file=sys.stderr)
        raise SystemExit(CONFIGURATION_ERROR_EXIT) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def prepared_settings(migrate: bool | None = None) -> Settings:
    """``load_settings``, then the schema upgraded when ``migrate`` (``None``: only on the embedded default, whose
    database no one else migrates). For every command that uses the database."""
    settings = load_settings()
    if migrate or (migrate is None and settings.embedded):
        upgrade_database(settings)
    return settings
