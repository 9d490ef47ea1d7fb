"""The Studio's files at /studio/: the page is never cached, hashed assets are cached for a year, nothing comes
from another host, and a checkout where the Studio was not built explains how to build it instead of failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE
from videoflix.bootstrap import Container
from videoflix.entrypoints.http import studio_files
from videoflix.entrypoints.http.app import create_app

PAGE = (
    '<!doctype html><html><head><link rel="stylesheet" href="/studio/assets/studio-AAAA1111.css">'
    '<script type="module" src="/studio/assets/studio-BBBB2222.js"></script></head>'
    '<body><div id="studio"></div></body></html>'
)


async def client_for(studio_dir: Path, container: Container, monkeypatch: pytest.MonkeyPatch) -> AsyncTestClient:
    monkeypatch.setattr(studio_files, "STUDIO_DIR", studio_dir)
    return AsyncTestClient(create_app(container=container), base_url=API_BASE)


@pytest.fixture
async def built(
    tmp_path: Path, container: Container, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncTestClient]:
    studio = tmp_path / "studio"
    (studio / "assets").mkdir(parents=True)
    (studio / "index.html").write_text(PAGE)
    (studio / "assets" / "studio-AAAA1111.css").write_text("body { font-family: system-ui; }")
    (studio / "assets" / "studio-BBBB2222.js").write_text("console.log('studio');")
    async with await client_for(studio, container, monkeypatch) as client:
        yield client


async def test_the_page_is_served_at_studio_never_cached_and_locked_to_its_origin(built: AsyncTestClient) -> None:
    for path in ("/studio/", "/studio"):
        page = await built.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.text == PAGE


async def test_hashed_assets_are_cached_for_a_year_and_unknown_ones_are_a_json_404(built: AsyncTestClient) -> None:
    script = await built.get("/studio/assets/studio-BBBB2222.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "max-age=31536000, public, immutable"
    style = await built.get("/studio/assets/studio-AAAA1111.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for path in ("/studio/assets/nope.js", "/studio/assets/../index.html", "/studio/elsewhere"):
        missing = await built.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["detail"] == "Not found.", path


async def test_without_a_build_the_page_says_how_to_build_it(
    tmp_path: Path, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await client_for(tmp_path / "never-built", container, monkeypatch) as client:
        page = await client.get("/studio/")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "make studio" in page.text and "make run" in page.text
        assert (await client.get("/api/health")).status_code == 200  # the API does not depend on it


async def test_the_studio_is_not_in_the_api_schema(built: AsyncTestClient) -> None:
    schema = (await built.get("/api/schema/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/studio")]
