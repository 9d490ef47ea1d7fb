"""Configuration read once from the environment (and an optional ``.env`` file).

Every setting is declared once, in the ``Settings`` table below: its field, its environment variable, its default
and the parser that checks it. Any variable may instead name a file holding its value (``SECRET_KEY_FILE``,
``DB_PASSWORD_FILE``, ...: container secrets). The variable names of the original Django setup keep working (``SECRET_KEY``,
``DEBUG``, ``DB_HOST``, ``EMAIL_HOST``, ...). With nothing configured, Videoflix runs on the embedded default:
SQLite, in-process jobs, a file outbox for emails.

Reading settings has no side effects. ``prepare_data_dir`` is the explicit step that creates the data folder and,
where that is allowed, the generated secret key in it.
"""

# ruff: noqa: RUF009 - ``setting(...)`` returns a ``dataclasses.field``, evaluated once like ``field(...)`` itself

from __future__ import annotations

import logging
import math
import os
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

ENV_FILE_VARIABLE = "VIDEOFLIX_ENV_FILE"  # read from the process environment only: which .env file to read
FILE_SUFFIX = "_FILE"  # NAME_FILE=/run/secrets/name: the value of NAME is that file's content
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_BITS = 128
ENTROPY_WINDOW = 512  # characters of a key the estimate looks at: plenty for 128 bits, and quick
SECRET_KEY_FILE = "secret_key"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class SettingsError(ValueError):
    """An invalid configuration. ``str(error)`` is one line that starts with the variable's name."""


# --- parsers: raw text (never empty) -> value; a ValueError's message says what was expected -----------------------


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")


def text(raw: str) -> str:
    return raw


def url_base(raw: str) -> str:
    """A base URL: no trailing slash."""
    return raw.strip().rstrip("/")


def optional_url_base(raw: str) -> str | None:
    return url_base(raw) or None


def path(raw: str) -> Path:
    return Path(raw.strip())


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false, yes/no, on/off, 1/0), got {_shown(raw)}")


def integer(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {_shown(raw)}") from None


def positive(raw: str) -> int:
    value = integer(raw)
    if value < 1:
        raise ValueError(f"expected a positive integer, got {_shown(raw)}")
    return value


def port(raw: str) -> int:
    value = integer(raw)
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a port number (1-65535), got {_shown(raw)}")
    return value


def comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def format_name(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("console", "json"):
        raise ValueError(f"expected console or json, got {_shown(raw)}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def level_name(raw: str) -> str:
    value = raw.strip().upper()
    if value not in logging.getLevelNamesMapping() or value == "NOTSET":
        raise ValueError(f"expected a log level ({', '.join(LOG_LEVELS)}), got {_shown(raw)}")
    return value


_KEY_ADVICE = 'use a random value, e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"'


def signing_key(raw: str) -> str:
    """A signing key: long enough for HS256 and not guessable. The message never repeats the key."""
    if len(raw) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(f"too short ({len(raw)} characters; at least {MIN_SECRET_KEY_LENGTH}): {_KEY_ADVICE}")
    bits = estimated_entropy_bits(raw)
    if bits < MIN_SECRET_KEY_BITS:
        raise ValueError(
            f"too predictable (about {bits:.0f} bits of entropy; at least {MIN_SECRET_KEY_BITS}): {_KEY_ADVICE}"
        )
    return raw


def estimated_entropy_bits(key: str) -> float:
    """Shannon entropy per character times length, where a run repeating earlier text counts as one character.

    ``changeme`` repeated (with or without a tail) counts about as one ``changeme``. A rough estimate: it catches
    repeated and low-variety keys, not dictionary words; random keys (``secrets.token_urlsafe(48)``, 64 hex digits,
    Django's 50 characters) score far above the minimum.
    """
    key = key[:ENTROPY_WINDOW]
    total = len(key)
    per_character = sum(n / total * math.log2(total / n) for n in Counter(key).values())
    return per_character * _length_without_repeats(key)


def _length_without_repeats(key: str, shortest: int = 4) -> int:
    """Characters of ``key`` when every run of ``shortest`` or more characters seen before (overlaps allowed, as
    in LZ77) counts as one."""
    index, length = 0, 0
    while index < len(key):
        run = 0
        while index + run < len(key) and key.find(key[index : index + run + 1], 0, index + run) != -1:
            run += 1
        index += run if run >= shortest else 1
        length += 1
    return length


# --- the table ------------------------------------------------------------------------------------------------------


def setting(
    env: str,
    default: Any = MISSING,
    parse: Callable[[str], Any] = text,
    *,
    factory: Callable[[], Any] | None = None,
    derive: Callable[[dict[str, Any]], Any] | None = None,
    secret: bool = False,
) -> Any:
    """One row of the table: ``env`` is the variable, ``parse`` turns its (non-empty) text into the value.

    Unset or empty, the value is ``derive(values so far)`` when given (a default computed from the settings above
    it), else ``default`` (or ``factory()``). ``secret`` keeps the value out of ``repr``.
    """
    metadata = {"env": env, "parse": parse, "derive": derive}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def _database_url(values: dict[str, Any]) -> str:
    """``DB_HOST`` selects Postgres (asyncpg) with the ``DB_*`` values; otherwise SQLite in the data folder."""
    if not values["db_host"]:
        return f"sqlite+aiosqlite:///{values['data_dir'] / 'videoflix.sqlite3'}"
    user = quote(values["db_user"], safe="")
    password = quote(values["db_password"], safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql+asyncpg://{auth}{values['db_host']}:{values['db_port']}/{values['db_name']}"


DEFAULT_ORIGINS = ["http://127.0.0.1:5500", "http://localhost:5500"]


@dataclass(frozen=True)
class Settings:
    """Every setting Videoflix reads. See the README for what each one does.

    ``secret_key`` is empty when SECRET_KEY is unset and a generated key is allowed (DEBUG, or the embedded
    default): ``prepare_data_dir`` fills it in from the data folder.
    """

    secret_key: str = setting("SECRET_KEY", "", signing_key, secret=True)
    debug: bool = setting("DEBUG", False, boolean)
    data_dir: Path = setting("VIDEOFLIX_DATA_DIR", Path("data"), path)
    media_root: Path = setting("MEDIA_ROOT", Path("data/media"), path, derive=lambda v: v["data_dir"] / "media")
    allowed_hosts: list[str] = setting("ALLOWED_HOSTS", parse=comma_list, factory=lambda: ["*"])
    csrf_trusted_origins: list[str] = setting(
        "CSRF_TRUSTED_ORIGINS", parse=comma_list, factory=lambda: list(DEFAULT_ORIGINS)
    )
    cors_allowed_origins: list[str] = setting(
        "CORS_ALLOWED_ORIGINS",
        parse=comma_list,
        factory=lambda: list(DEFAULT_ORIGINS),
        derive=lambda v: list(v["csrf_trusted_origins"]),
    )
    frontend_url: str = setting("FRONTEND_URL", "http://127.0.0.1:5500", url_base)
    public_base_url: str | None = setting("PUBLIC_BASE_URL", None, optional_url_base)
    db_host: str | None = setting("DB_HOST", None)
    db_port: int = setting("DB_PORT", 5432, port)
    db_name: str = setting("DB_NAME", "videoflix")
    db_user: str = setting("DB_USER", "postgres")
    db_password: str = setting("DB_PASSWORD", "", secret=True)
    database_url: str = setting(
        "DATABASE_URL", "sqlite+aiosqlite:///data/videoflix.sqlite3", derive=_database_url, secret=True
    )
    redis_url: str | None = setting("REDIS_URL", None, secret=True)
    email_host: str | None = setting("EMAIL_HOST", None)
    email_port: int = setting("EMAIL_PORT", 587, port)
    email_host_user: str = setting("EMAIL_HOST_USER", "")
    email_host_password: str = setting("EMAIL_HOST_PASSWORD", "", secret=True)
    email_use_tls: bool = setting("EMAIL_USE_TLS", False, boolean)
    email_use_ssl: bool = setting("EMAIL_USE_SSL", False, boolean)
    email_timeout: int = setting("EMAIL_TIMEOUT", 20, positive)
    default_from_email: str = setting("DEFAULT_FROM_EMAIL", "Videoflix <noreply@videoflix.local>")
    operator_name: str = setting("OPERATOR_NAME", "Videoflix")
    operator_address: str = setting("OPERATOR_ADDRESS", "Videoflix, Example Street 1, 12345 Example City")
    access_token_minutes: int = setting("ACCESS_TOKEN_MINUTES", 30, positive)
    refresh_token_days: int = setting("REFRESH_TOKEN_DAYS", 7, positive)
    activation_token_hours: int = setting("ACTIVATION_TOKEN_HOURS", 24, positive)
    reset_token_hours: int = setting("RESET_TOKEN_HOURS", 1, positive)
    cookie_secure: bool = setting("COOKIE_SECURE", True, boolean, derive=lambda v: not v["debug"])
    trusted_proxies: list[str] = setting("TRUSTED_PROXIES", parse=comma_list, factory=list)
    login_rate_limit: int = setting("LOGIN_RATE_LIMIT", 10, positive)
    email_rate_limit: int = setting("EMAIL_RATE_LIMIT", 5, positive)
    password_reset_emails_per_hour: int = setting("PASSWORD_RESET_EMAILS_PER_HOUR", 3, positive)
    rate_limit_window_seconds: int = setting("RATE_LIMIT_WINDOW_SECONDS", 60, positive)
    max_json_body_bytes: int = setting("MAX_JSON_BODY_BYTES", 64 * 1024, positive)
    max_upload_bytes: int = setting("MAX_UPLOAD_BYTES", 4 * 1024**3, positive)
    max_video_seconds: int = setting("MAX_VIDEO_SECONDS", 4 * 3600, positive)
    max_video_pixels: int = setting("MAX_VIDEO_PIXELS", 4096 * 2160, positive)
    max_video_fps: int = setting("MAX_VIDEO_FPS", 120, positive)
    min_video_bytes_per_second: int = setting("MIN_VIDEO_BYTES_PER_SECOND", 1000, positive)
    max_transcode_seconds: int = setting("MAX_TRANSCODE_SECONDS", 12 * 3600, positive)
    upload_expiry_hours: int = setting("UPLOAD_EXPIRY_HOURS", 24, positive)
    upload_max_per_user: int = setting("UPLOAD_MAX_PER_USER", 10, positive)
    upload_max_bytes_per_user: int = setting(
        "UPLOAD_MAX_BYTES_PER_USER", 16 * 1024**3, positive, derive=lambda v: 4 * v["max_upload_bytes"]
    )
    ffmpeg_binary: str | None = setting("FFMPEG_BINARY", None)
    ffprobe_binary: str | None = setting("FFPROBE_BINARY", None)
    stream_link_lifetime_seconds: int = setting("STREAM_LINK_LIFETIME_SECONDS", 6 * 3600, positive)
    stream_link_window_seconds: int = setting("STREAM_LINK_WINDOW_SECONDS", 900, positive)
    edge_revocation_file: Path | None = setting("EDGE_REVOCATION_FILE", None, path)
    frontend_dir: Path | None = setting("FRONTEND_DIR", None, path)
    log_format: str = setting("LOG_FORMAT", "console", format_name)
    log_level: str = setting("LOG_LEVEL", "INFO", level_name)
    password_hash_workers: int = setting("PASSWORD_HASH_WORKERS", 1, positive)
    sweep_interval_seconds: int = setting("SWEEP_INTERVAL_SECONDS", 60, positive)
    metrics_enabled: bool = setting("METRICS_ENABLED", True, boolean)
    metrics_token: str = setting("METRICS_TOKEN", "", secret=True)
    worker_metrics_port: int | None = setting("WORKER_METRICS_PORT", None, port)
    worker_metrics_host: str = setting("WORKER_METRICS_HOST", "127.0.0.1")
    otel_enabled: bool = setting("OTEL_ENABLED", False, boolean)
    housekeeping_interval_seconds: int = setting("HOUSEKEEPING_INTERVAL_SECONDS", 3600, positive)
    sent_email_retention_days: int = setting("SENT_EMAIL_RETENTION_DAYS", 14, positive)
    expired_token_retention_days: int = setting("EXPIRED_TOKEN_RETENTION_DAYS", 1, positive)
    stale_upload_hours: int = setting("STALE_UPLOAD_HOURS", 24, positive)
    stale_staging_hours: int = setting("STALE_STAGING_HOURS", 48, positive)

    @property
    def embedded(self) -> bool:
        """True on the one-machine default (SQLite, in-process jobs)."""
        return self.database_url.startswith("sqlite")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def may_generate_secret_key(self) -> bool:
        """A key generated into the data folder is only safe where one machine signs everything: in development
        (DEBUG) or on the embedded default (SQLite and no REDIS_URL). Elsewhere every node needs the same key."""
        return self.debug or (self.embedded and not self.redis_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``.env`` overlaid by the process environment).

        Raises ``SettingsError`` (one line naming the variable) for an invalid value. Creates no file or folder.
        """
        if environ is None:
            env = read_dotenv(Path(os.environ.get("VIDEOFLIX_ENV_FILE", ".env")))
            env.update(os.environ)
        else:
            env = dict(environ)
        values: dict[str, Any] = {}
        for item in fields(cls):
            name = item.metadata["env"]
            raw = _value_or_file(env, name)
            if raw is not None and raw.strip():
                try:
                    value = item.metadata["parse"](raw)
                except ValueError as error:
                    raise SettingsError(f"{name}: {error}") from None
            elif item.metadata["derive"] is not None:
                value = item.metadata["derive"](values)
            elif item.default_factory is not MISSING:
                value = item.default_factory()
            else:
                value = item.default
            values[item.name] = value.resolve() if isinstance(value, Path) else value
        settings = cls(**values)
        if not settings.secret_key and not settings.may_generate_secret_key:
            raise SettingsError(
                "SECRET_KEY: required when DEBUG is off and the database or the job queue is shared "
                "(DB_HOST, DATABASE_URL or REDIS_URL set): set the same random value on every machine, "
                'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        return settings


def _value_or_file(env: Mapping[str, str], name: str) -> str | None:
    """``NAME``, or the content of the file ``NAME_FILE`` names (Docker and compose secrets: ``/run/secrets/...``),
    without its trailing newline. Setting both is an error: which one would win is a guess."""
    file_name = (env.get(f"{name}{FILE_SUFFIX}") or "").strip()
    if not file_name:
        return env.get(name)
    if (env.get(name) or "").strip():
        raise SettingsError(f"{name}: set either {name} or {name}{FILE_SUFFIX}, not both")
    try:
        return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise SettingsError(f"{name}{FILE_SUFFIX}: cannot read {file_name}: {reason}") from None


def variable_names() -> list[str]:
    """Every environment variable Videoflix reads, in the order of the table (plus ``VIDEOFLIX_ENV_FILE``)."""
    return [item.metadata["env"] for item in fields(Settings)] + [ENV_FILE_VARIABLE]


def read_dotenv(file: Path) -> dict[str, str]:
    """Parse a simple ``KEY=value`` file; comments and blank lines are ignored."""
    values: dict[str, str] = {}
    if not file.is_file():
        return values
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


# --- the explicit step that writes: data folder and generated key ----------------------------------------------------


def prepare_data_dir(settings: Settings) -> Settings:
    """Create the data folder (mode 0700) when Videoflix keeps files in it and it is missing, and without
    SECRET_KEY, create or reuse ``<data folder>/secret_key``. Returns ``settings`` with that key.

    ``serve``, ``worker`` and the CLI commands call it before they bootstrap. An existing folder keeps its mode.
    Raises ``SettingsError`` when the folder cannot be created or the stored key is unusable.
    """
    data_dir = settings.data_dir
    try:
        if _keeps_files_in(settings, data_dir):
            data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        if settings.secret_key:
            return settings
        key = ensure_secret_key(data_dir)
    except OSError as error:
        raise SettingsError(f"VIDEOFLIX_DATA_DIR: cannot prepare {data_dir}: {error.strerror or error}") from None
    try:
        return replace(settings, secret_key=signing_key(key))
    except ValueError as error:
        raise SettingsError(
            f"SECRET_KEY: the generated key in {data_dir / SECRET_KEY_FILE} is {error}; delete the file"
        ) from None


def _keeps_files_in(settings: Settings, data_dir: Path) -> bool:
    """The generated key, the file outbox, the media folder or the SQLite database live in the data folder."""

    def inside(place: Path) -> bool:
        return place == data_dir or data_dir in place.parents

    database = Path(settings.database_url.split("///", 1)[-1]).resolve() if settings.embedded else None
    return (
        not settings.secret_key
        or not settings.email_host
        or inside(settings.media_root)
        or (database is not None and inside(database))
    )


def ensure_secret_key(data_dir: Path) -> str:
    """The key kept in ``data_dir/secret_key``, generated on first use so sessions survive restarts.

    The file is created with mode 0600 from the start. When several processes start at once, the first key
    wins; an empty file left by a crash is replaced.
    """
    key_file = data_dir / SECRET_KEY_FILE
    existing = _read_key(key_file)
    if existing:
        return existing
    data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    temp = data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, key_file)  # atomic, and never replaces: when several processes start at once, the first wins
        except FileExistsError:
            if not _read_key(key_file):  # an empty file left by a crash: take its place
                os.replace(temp, key_file)
    finally:
        temp.unlink(missing_ok=True)
    return _read_key(key_file)


def _read_key(key_file: Path) -> str:
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
