"""Shared fixtures: settings on a temporary data folder, real Postgres and Redis, a running app."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.services import PG_HOST, PG_PORT, PG_USER, REDIS_URL, redis_host_port, require
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.settings import Settings

TEST_ORIGIN = "http://127.0.0.1:5500"
API_BASE = "http://127.0.0.1:8000"


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings as the process environment would give them, on a private data folder."""
    values = {
        "VIDEOFLIX_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256-0123456789",
        "DEBUG": "true",
        "CSRF_TRUSTED_ORIGINS": TEST_ORIGIN,
        "FRONTEND_URL": TEST_ORIGIN,
        "LOGIN_RATE_LIMIT": "1000",
        "EMAIL_RATE_LIMIT": "1000",
        "SWEEP_INTERVAL_SECONDS": "3600",
    }
    values.update(env)
    return Settings.from_env(values)


@pytest.fixture(scope="session")
def pg_server() -> str:
    require("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}"


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, migrated Postgres database for one test; dropped afterwards."""
    import asyncpg

    name = f"videoflix_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{pg_server}/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> Iterator[str]:
    host, port = redis_host_port()
    require("Redis", host, port)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    upgrade(settings.database_url)
    return settings


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same test on the embedded default and on Postgres."""
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
        upgrade(settings.database_url)
        return settings
    url = request.getfixturevalue("pg_database")
    return make_settings(tmp_path, DATABASE_URL=url)


@pytest.fixture
async def container(sqlite_settings: Settings) -> AsyncIterator[Container]:
    """The container of a server process: it also polls for sessions other processes end (S27)."""
    built = await bootstrap(sqlite_settings, run_periodic_sweeps=False, serves_http=True)
    yield built
    await built.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient]:
    """The app as the frontend sees it: requests from the trusted origin to the API origin."""
    from videoflix.entrypoints.http.app import create_app

    app = create_app(container=container)
    async with AsyncTestClient(app, base_url=API_BASE) as test_client:
        test_client.headers["Origin"] = TEST_ORIGIN
        yield test_client


def outbox_files(settings: Settings) -> list[Path]:
    folder = settings.outbox_dir
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's proxy settings must not send test traffic for 127.0.0.1 elsewhere.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


os.environ.setdefault("VIDEOFLIX_ENV_FILE", "/nonexistent/.env")  # tests never read a developer's .env
