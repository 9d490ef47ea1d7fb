"""Configuration read once from the environment (and an optional ``.env`` file).

The variable names of the original Django setup keep working (``SECRET_KEY``, ``DEBUG``, ``DB_HOST``, ``EMAIL_HOST``, ...).
With nothing configured, Videoflix runs on the embedded default: SQLite, in-process jobs, a file outbox for emails.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

TRUE_VALUES = {"1", "true", "yes", "on"}
MIN_SECRET_KEY_LENGTH = 32


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUE_VALUES


def _list(value: str | None, default: list[str]) -> list[str]:
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def _int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    return int(value)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a simple ``KEY=value`` file; comments and blank lines are ignored."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Settings:
    """Every setting Videoflix reads. See the README for what each one does."""

    secret_key: str
    debug: bool = False
    data_dir: Path = Path("data")
    media_root: Path = Path("data/media")
    allowed_hosts: list[str] = field(default_factory=lambda: ["*"])
    csrf_trusted_origins: list[str] = field(default_factory=list)
    cors_allowed_origins: list[str] = field(default_factory=list)
    frontend_url: str = "http://127.0.0.1:5500"
    public_base_url: str | None = None
    database_url: str = "sqlite+aiosqlite:///data/videoflix.sqlite3"
    redis_url: str | None = None
    email_host: str | None = None
    email_port: int = 587
    email_host_user: str = ""
    email_host_password: str = ""
    email_use_tls: bool = False
    email_use_ssl: bool = False
    email_timeout: int = 20
    default_from_email: str = "Videoflix <noreply@videoflix.local>"
    operator_name: str = "Videoflix"
    operator_address: str = "Videoflix, Example Street 1, 12345 Example City"
    access_token_minutes: int = 30
    refresh_token_days: int = 7
    activation_token_hours: int = 24
    reset_token_hours: int = 1
    cookie_secure: bool = True
    trusted_proxies: list[str] = field(default_factory=list)
    login_rate_limit: int = 10
    email_rate_limit: int = 5
    rate_limit_window_seconds: int = 60
    max_json_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 4 * 1024**3
    ffmpeg_binary: str | None = None
    ffprobe_binary: str | None = None
    media_accel_redirect_prefix: str | None = None
    frontend_dir: Path | None = None
    log_format: str = "console"
    log_level: str = "INFO"
    password_hash_workers: int = 1
    sweep_interval_seconds: int = 60

    @property
    def embedded(self) -> bool:
        """True on the one-machine default (SQLite, in-process jobs)."""
        return self.database_url.startswith("sqlite")

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``.env`` overlaid by the process environment)."""
        if environ is None:
            env = read_dotenv(Path(os.environ.get("VIDEOFLIX_ENV_FILE", ".env")))
            env.update(os.environ)
        else:
            env = dict(environ)
        debug = _bool(env.get("DEBUG"), False)
        data_dir = Path(env.get("VIDEOFLIX_DATA_DIR") or "data").resolve()
        media_root = Path(env.get("MEDIA_ROOT") or data_dir / "media").resolve()
        trusted = _list(env.get("CSRF_TRUSTED_ORIGINS"), ["http://127.0.0.1:5500", "http://localhost:5500"])
        frontend_dir = env.get("FRONTEND_DIR")
        return cls(
            secret_key=_secret_key(env, data_dir),
            debug=debug,
            data_dir=data_dir,
            media_root=media_root,
            allowed_hosts=_list(env.get("ALLOWED_HOSTS"), ["*"]),
            csrf_trusted_origins=trusted,
            cors_allowed_origins=_list(env.get("CORS_ALLOWED_ORIGINS"), trusted),
            frontend_url=(env.get("FRONTEND_URL") or "http://127.0.0.1:5500").rstrip("/"),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            database_url=_database_url(env, data_dir),
            redis_url=env.get("REDIS_URL") or None,
            email_host=env.get("EMAIL_HOST") or None,
            email_port=_int(env.get("EMAIL_PORT"), 587),
            email_host_user=env.get("EMAIL_HOST_USER", ""),
            email_host_password=env.get("EMAIL_HOST_PASSWORD", ""),
            email_use_tls=_bool(env.get("EMAIL_USE_TLS"), False),
            email_use_ssl=_bool(env.get("EMAIL_USE_SSL"), False),
            email_timeout=_int(env.get("EMAIL_TIMEOUT"), 20),
            default_from_email=env.get("DEFAULT_FROM_EMAIL") or "Videoflix <noreply@videoflix.local>",
            operator_name=env.get("OPERATOR_NAME") or "Videoflix",
            operator_address=env.get("OPERATOR_ADDRESS") or "Videoflix, Example Street 1, 12345 Example City",
            access_token_minutes=_int(env.get("ACCESS_TOKEN_MINUTES"), 30),
            refresh_token_days=_int(env.get("REFRESH_TOKEN_DAYS"), 7),
            activation_token_hours=_int(env.get("ACTIVATION_TOKEN_HOURS"), 24),
            reset_token_hours=_int(env.get("RESET_TOKEN_HOURS"), 1),
            cookie_secure=_bool(env.get("COOKIE_SECURE"), not debug),
            trusted_proxies=_list(env.get("TRUSTED_PROXIES"), []),
            login_rate_limit=_int(env.get("LOGIN_RATE_LIMIT"), 10),
            email_rate_limit=_int(env.get("EMAIL_RATE_LIMIT"), 5),
            rate_limit_window_seconds=_int(env.get("RATE_LIMIT_WINDOW_SECONDS"), 60),
            max_json_body_bytes=_int(env.get("MAX_JSON_BODY_BYTES"), 64 * 1024),
            max_upload_bytes=_int(env.get("MAX_UPLOAD_BYTES"), 4 * 1024**3),
            ffmpeg_binary=env.get("FFMPEG_BINARY") or None,
            ffprobe_binary=env.get("FFPROBE_BINARY") or None,
            media_accel_redirect_prefix=env.get("MEDIA_ACCEL_REDIRECT_PREFIX") or None,
            frontend_dir=Path(frontend_dir).resolve() if frontend_dir else None,
            log_format=(env.get("LOG_FORMAT") or "console").lower(),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            password_hash_workers=_int(env.get("PASSWORD_HASH_WORKERS"), 1),
            sweep_interval_seconds=_int(env.get("SWEEP_INTERVAL_SECONDS"), 60),
        )


def _database_url(env: dict[str, str], data_dir: Path) -> str:
    """``DATABASE_URL`` wins; ``DB_HOST`` selects Postgres (asyncpg); otherwise SQLite in the data folder."""
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    if env.get("DB_HOST"):
        user = quote(env.get("DB_USER") or "postgres", safe="")
        password = quote(env.get("DB_PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else f"{user}@"
        port = env.get("DB_PORT") or "5432"
        name = env.get("DB_NAME") or "videoflix"
        return f"postgresql+asyncpg://{auth}{env['DB_HOST']}:{port}/{name}"
    return f"sqlite+aiosqlite:///{data_dir / 'videoflix.sqlite3'}"


def _embedded_secret(data_dir: Path) -> str:
    """On the embedded default, keep one random key in the data folder so sessions survive restarts."""
    path = data_dir / "secret_key"
    existing = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    temp = data_dir / f".secret_key.{os.getpid()}"
    temp.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    temp.chmod(0o600)
    try:
        os.link(temp, path)  # atomic, and never replaces: when several processes start at once, the first wins
    except FileExistsError:
        if not path.read_text(encoding="utf-8").strip():  # an empty file left by a crash: take its place
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


def _secret_key(env: dict[str, str], data_dir: Path) -> str:
    key = env.get("SECRET_KEY") or _embedded_secret(data_dir)
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long (HS256 needs 256 bits)")
    return key
