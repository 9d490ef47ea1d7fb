"""Liveness (/api/health) and readiness (/api/ready): what an orchestrator or a load balancer sees."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, make_settings
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import bootstrap
from videoflix.entrypoints.http.app import create_app
from videoflix.settings import Settings

DEAD_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/videoflix"  # nothing listens on port 1
DEAD_REDIS = "redis://127.0.0.1:1/0"


@asynccontextmanager
async def api(settings: Settings, *, media_root: Path | None = None) -> AsyncIterator[AsyncTestClient]:
    """The app on ``settings``; ``media_root`` swaps the folder the app believes is its media root."""
    container = await bootstrap(settings, run_periodic_sweeps=False)
    if media_root is not None:
        container.store.root = media_root  # type: ignore[attr-defined]
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            yield client
    finally:
        await container.close()


async def test_health_answers_ok_without_touching_the_database(tmp_path: Path) -> None:
    async with api(make_settings(tmp_path, DATABASE_URL=DEAD_POSTGRES)) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_on_a_working_setup(sqlite_settings: Settings) -> None:
    async with api(sqlite_settings) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "media": "ok", "ffmpeg": "ok"}}


async def test_ready_checks_redis_when_configured(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, REDIS_URL=redis_url)
    await asyncio.to_thread(upgrade, settings.database_url)
    async with api(settings) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "media": "ok", "ffmpeg": "ok"}


async def test_ready_with_postgres(tmp_path: Path, pg_database: str) -> None:
    async with api(make_settings(tmp_path, DATABASE_URL=pg_database)) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["database"] == "ok"


async def test_not_ready_with_a_dead_database(tmp_path: Path) -> None:
    async with api(make_settings(tmp_path, DATABASE_URL=DEAD_POSTGRES)) as client:
        response = await client.get("/api/ready")
        health = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] != "ok"
    assert body["checks"]["media"] == body["checks"]["ffmpeg"] == "ok"
    assert "database" in body["detail"]
    assert "127.0.0.1" not in response.text and "postgres" not in response.text  # no connection details leak
    assert health.status_code == 200  # alive, just not ready: nothing to restart


async def test_not_ready_with_a_dead_redis(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, REDIS_URL=DEAD_REDIS)
    await asyncio.to_thread(upgrade, settings.database_url)
    async with api(settings) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] != "ok"
    assert checks["database"] == "ok"


async def test_not_ready_when_the_media_folder_is_gone(sqlite_settings: Settings) -> None:
    async with api(sqlite_settings) as client:
        assert (await client.get("/api/ready")).status_code == 200
        shutil.rmtree(sqlite_settings.media_root)  # e.g. a volume that went away
        sqlite_settings.media_root.write_text("not a folder")
        response = await client.get("/api/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["media"] == "media folder missing"


async def test_not_ready_when_the_media_folder_is_read_only(sqlite_settings: Settings, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through file modes: use a folder of a read-only file system instead.
        read_only = Path("/proc/self")
    else:
        read_only = tmp_path / "read-only-media"
        read_only.mkdir()
        read_only.chmod(0o500)
    try:
        async with api(sqlite_settings, media_root=read_only) as client:
            response = await client.get("/api/ready")
    finally:
        if read_only.is_relative_to(tmp_path):
            read_only.chmod(0o700)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["media"].startswith("media folder not writable")
    assert body["checks"]["database"] == "ok"
    assert str(read_only) not in response.text


async def test_not_ready_when_ffmpeg_does_not_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, FFMPEG_BINARY=str(tmp_path / "no-such-ffmpeg"))
    await asyncio.to_thread(upgrade, settings.database_url)
    async with api(settings) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["ffmpeg"].startswith("ffmpeg not runnable")


async def test_probes_need_no_login_and_are_in_the_schema(client: AsyncTestClient) -> None:
    schema = (await client.get("/api/schema/openapi.json")).json()
    assert {"/api/health", "/api/ready"} <= set(schema["paths"])
    ready = schema["paths"]["/api/ready"]["get"]
    assert {"200", "503"} <= set(ready["responses"])
    assert "security" not in ready
