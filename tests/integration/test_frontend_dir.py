"""Same-origin option: with FRONTEND_DIR set, the frontend is served at / and the API stays the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, make_settings
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import bootstrap
from videoflix.entrypoints.http.app import create_app

INDEX = "<!DOCTYPE html><title>Videoflix</title><h1>Welcome</h1>"
ACTIVATE = "<!DOCTYPE html><title>Activate</title>"


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    """A copy of the frontend, with folders named like the API's to try to shadow it."""
    folder = tmp_path / "frontend"
    (folder / "pages" / "auth").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "pages" / "auth" / "activate.html").write_text(ACTIVATE)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "config.js").write_text("const API_BASE_URL = '/api/';")
    for shadow in ("api/video", "api/health", "media/thumbnails"):
        (folder / shadow).mkdir(parents=True)
        (folder / shadow / "index.html").write_text("SHADOW")
    (folder / "api" / "ready").write_text("SHADOW")
    return folder


async def _client(tmp_path: Path, **env: str) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(tmp_path / "data", **env)
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            yield client
    finally:
        await container.close()


@pytest.fixture
async def same_origin(tmp_path: Path, frontend: Path) -> AsyncIterator[AsyncTestClient]:
    async for client in _client(tmp_path, FRONTEND_DIR=str(frontend)):
        yield client


async def test_the_frontend_is_served_at_the_root(same_origin: AsyncTestClient) -> None:
    index = await same_origin.get("/")
    assert index.status_code == 200
    assert index.text == INDEX
    assert index.headers["content-type"].startswith("text/html")
    page = await same_origin.get("/pages/auth/activate.html")
    assert page.status_code == 200
    assert page.text == ACTIVATE
    script = await same_origin.get("/scripts/config.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_the_api_keeps_its_paths(same_origin: AsyncTestClient) -> None:
    videos = await same_origin.get("/api/video/")
    assert videos.status_code == 401  # the API's answer, not the folder's index.html
    assert "detail" in videos.json()
    health = await same_origin.get("/api/health")
    assert health.json() == {"status": "ok"}
    ready = await same_origin.get("/api/ready")
    assert ready.headers["content-type"].startswith("application/json")
    for path in ("/api/no-such-endpoint/", "/media/thumbnails/", "/media/thumbnails/1-0123456789ab.jpg", "/api"):
        response = await same_origin.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json"), path
        assert "SHADOW" not in response.text, path


async def test_s18_a_missing_frontend_file_is_a_generic_json_404(same_origin: AsyncTestClient) -> None:
    for path in ("/pages/no-such-page.html", "/pages/", "/pages/auth/"):
        response = await same_origin.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        # the same answer as any other 404: not the static files' "no file or directory match the path ..."
        assert response.json() == {"detail": "Not found.", "request_id": response.headers["x-request-id"]}, path


async def test_files_outside_the_folder_stay_out_of_reach(same_origin: AsyncTestClient, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("SECRET")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/pages/../../secret.txt"):
        response = await same_origin.get(path)
        assert "SECRET" not in response.text, path
        assert response.status_code in (400, 404), path


async def test_without_frontend_dir_the_root_is_not_served(tmp_path: Path) -> None:
    async for client in _client(tmp_path):
        response = await client.get("/")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
