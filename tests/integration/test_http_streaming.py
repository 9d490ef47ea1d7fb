"""Catalog and HLS streaming through the app, on videos made by the real pipeline (S19-S21)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.library import Library, NoQueue, build_library
from videoflix.bootstrap import Container, bootstrap
from videoflix.entrypoints.http.app import create_app
from videoflix.settings import Settings

PASSWORD = "streaming-password-1"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    base = tmp_path_factory.mktemp("library")
    return build_library(make_settings(base / "data"), base)


async def _client_for(settings: Settings) -> tuple[Container, AsyncTestClient]:
    container = await bootstrap(settings, queue=NoQueue(), run_periodic_sweeps=False)
    client = AsyncTestClient(create_app(container=container), base_url=API_BASE)
    return container, client


@pytest.fixture
async def viewer(library: Library) -> AsyncIterator[tuple[Container, AsyncTestClient]]:
    """A logged-in viewer (access cookie set) on the library."""
    container, client = await _client_for(library.settings)
    async with client:
        client.headers["Origin"] = TEST_ORIGIN
        email = f"viewer{os.urandom(4).hex()}@example.com"
        await container.accounts.create_admin(email, PASSWORD)  # any active account will do
        assert (await client.post("/api/login/", json={"email": email, "password": PASSWORD})).status_code == 200
        yield container, client
    await container.close()


@pytest.fixture
async def anonymous(library: Library) -> AsyncIterator[AsyncTestClient]:
    container, client = await _client_for(library.settings)
    async with client:
        yield client
    await container.close()


async def test_catalog_is_a_plain_array_newest_first_ready_only(viewer, library):
    _, client = viewer
    response = await client.get("/api/video/")
    assert response.status_code == 200
    videos = response.json()
    assert isinstance(videos, list)
    assert [v["id"] for v in videos] == [library.hd, library.full_hd]  # newest first; queued one hidden
    for video in videos:
        assert set(video) == {"id", "created_at", "title", "description", "thumbnail_url", "category"}
        assert datetime.fromisoformat(video["created_at"].replace("Z", "+00:00")).tzinfo is not None
        assert video["thumbnail_url"].startswith(f"{API_BASE}/media/thumbnails/")
        assert isinstance(video["category"], str) and video["category"]
    assert {v["category"] for v in videos} == {"Drama", "Documentary"}


async def test_thumbnail_is_a_public_cached_jpeg(viewer, anonymous):
    _, client = viewer
    url = (await client.get("/api/video/")).json()[0]["thumbnail_url"]
    response = await anonymous.get(url.removeprefix(API_BASE))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert (await anonymous.get("/media/thumbnails/../../secret_key")).status_code == 404
    assert (await anonymous.get("/media/thumbnails/1-000000000000.jpg")).status_code == 404


async def test_public_base_url_setting_decides_thumbnail_urls(library, tmp_path):
    settings = make_settings(
        Path(library.settings.data_dir),
        PUBLIC_BASE_URL="https://cdn.videoflix.example/",
        SECRET_KEY=library.settings.secret_key,
    )
    container, client = await _client_for(settings)
    async with client:
        await container.accounts.create_admin("base@example.com", PASSWORD)
        await client.post(
            "/api/login/", json={"email": "base@example.com", "password": PASSWORD}, headers={"Origin": TEST_ORIGIN}
        )
        videos = (await client.get("/api/video/")).json()
        assert all(v["thumbnail_url"].startswith("https://cdn.videoflix.example/media/thumbnails/") for v in videos)
    await container.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/video/",
        "/api/video/{id}/index.m3u8",
        "/api/video/{id}/720p/index.m3u8",
        "/api/video/{id}/720p/000.ts",
        "/api/video/{id}/720p/000.ts/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_s20_everything_needs_the_access_cookie(anonymous, library, path, method):
    if method == "HEAD" and path == "/api/video/":
        assert (await anonymous.head(path)).status_code == 405  # the list is GET only
        return
    response = await anonymous.request(method, path.format(id=library.hd))
    assert response.status_code == 401
    if method == "GET":
        assert response.json()["detail"]
    garbage = await anonymous.request(method, path.format(id=library.hd), cookies={"access_token": "x.y.z"})
    assert garbage.status_code == 401


async def test_playlists_and_segments_are_served_with_contract_headers(viewer, library):
    _, client = viewer
    playlist = await client.get(f"/api/video/{library.hd}/720p/index.m3u8")
    assert playlist.status_code == 200
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["x-content-type-options"] == "nosniff"
    assert playlist.headers["cache-control"].startswith("private")
    assert playlist.text.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in playlist.text
    segment_name = re.search(r"^(\d+\.ts)$", playlist.text, re.MULTILINE).group(1)
    for path in (f"/api/video/{library.hd}/720p/{segment_name}", f"/api/video/{library.hd}/720p/{segment_name}/"):
        segment = await client.get(path)
        assert segment.status_code == 200, path  # both forms, no redirect
        assert segment.headers["content-type"] == "video/MP2T"
        assert segment.headers["x-content-type-options"] == "nosniff"
        assert "private" in segment.headers["cache-control"] and "immutable" in segment.headers["cache-control"]
        assert segment.content[0] == 0x47  # MPEG-TS sync byte
        assert int(segment.headers["content-length"]) == len(segment.content)
    head = await client.head(f"/api/video/{library.hd}/720p/{segment_name}")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(segment.content)


async def test_master_playlist_lists_existing_renditions_with_attributes(viewer, library):
    _, client = viewer
    for video_id, expected in ((library.hd, ["480p", "720p"]), (library.full_hd, ["480p", "720p", "1080p"])):
        master = await client.get(f"/api/video/{video_id}/index.m3u8")
        assert master.status_code == 200
        head = await client.head(f"/api/video/{video_id}/index.m3u8")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(master.content)  # what the GET sends
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        entries = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master.text)
        uris = [LINK.fullmatch(uri) for _, uri in entries]
        assert [(m.group(3), m.group(4)) for m in uris if m] == [(str(video_id), name) for name in expected]
        for attributes, uri in entries:
            assert re.search(r"BANDWIDTH=\d+", attributes)
            assert re.search(r"RESOLUTION=\d+x\d+", attributes)
            assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', attributes)
            assert (await client.get(uri)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/video/999999/720p/index.m3u8",
        "/api/video/{queued}/480p/index.m3u8",
        "/api/video/{queued}/index.m3u8",
        "/api/video/{hd}/1080p/index.m3u8",
        "/api/video/{hd}/720p/99999.ts",
        "/api/video/{hd}/999p/index.m3u8",
        "/api/video/{hd}/master.m3u8",
    ],
)
async def test_unknown_unready_or_missing_files_are_404_json(viewer, library, path):
    _, client = viewer
    response = await client.get(path.format(hd=library.hd, queued=library.queued))
    assert response.status_code == 404
    assert response.json()["detail"]


TRAVERSAL = [
    "/api/video/{hd}/720p/..%2F..%2F..%2Fsecret_key",
    "/api/video/{hd}/720p/%2e%2e%2f%2e%2e%2fsecret_key",
    "/api/video/{hd}/..%2f720p/index.m3u8",
    "/api/video/{hd}/720p/000.ts%00.m3u8",
    "/api/video/{hd}/720p/%00",
    "/api/video/{hd}/720p/.%2e/index.m3u8",
    "/api/video/{hd}/%2e%2e/index.m3u8",
    "/api/video/{hd}/720p/000.TS",
    "/api/video/{hd}/720p/-1.ts",
    "/api/video/{hd}/720p/000.ts.bak",
    "/api/video/{hd}/720p/.hidden.ts",
    "/api/video/{hd}/720p/..",
    "/api/video/..%2f..%2fetc/720p/index.m3u8",
    "/api/video/-1/720p/index.m3u8",
    "/api/video/1e3/720p/index.m3u8",
    "/api/video/{hd}/999p/000.ts",
    "/api/video/{hd}/720P/index.m3u8",
    "/api/video/{hd}/720p/index.m3u8%20",
    "/api/video/66/480p/index.m3u8",  # symlinked to a sibling folder outside the media root
    "/api/video/{hd}/480p/001.ts",  # a symlink planted inside a rung, pointing outside
]


@pytest.fixture
def planted(library: Library) -> None:
    """A sibling folder that starts like the media root, and symlinks pointing into it."""
    root = library.settings.media_root
    sibling = Path(str(root) + "-evil")
    (sibling / "66" / "480p").mkdir(parents=True, exist_ok=True)
    (sibling / "66" / "480p" / "index.m3u8").write_text("#EXTM3U\nsecret\n")
    (sibling / "secret.ts").write_bytes(b"G secret")
    link = root / "videos" / "66"
    if not link.is_symlink():
        link.symlink_to(sibling / "66")
    rung = (root / "videos" / str(library.hd) / "480p").resolve()
    planted_segment = rung / "001.ts"
    if planted_segment.exists() or planted_segment.is_symlink():
        planted_segment.unlink()
    planted_segment.symlink_to(sibling / "secret.ts")


@pytest.mark.parametrize("path", TRAVERSAL)
async def test_s19_traversal_corpus_is_404_never_200_or_5xx(viewer, library, planted, path):
    _, client = viewer
    response = await client.get(path.format(hd=library.hd))
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert b"secret" not in response.content


async def test_cors_with_credentials_on_playlists_and_segments(viewer, library):
    _, client = viewer
    for path in (f"/api/video/{library.hd}/index.m3u8", f"/api/video/{library.hd}/480p/000.ts"):
        response = await client.get(path, headers={"Origin": TEST_ORIGIN})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == TEST_ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"


LINK = re.compile(r"/media/hls/(\d+)/([A-Za-z0-9_-]{43})/(\d+)/(\w+)/index\.m3u8")


async def test_the_master_playlists_signed_links_play_without_cookies(viewer, anonymous, library):
    container, client = viewer
    master = await client.get(f"/api/video/{library.hd}/index.m3u8")
    links = [LINK.fullmatch(line) for line in master.text.splitlines() if not line.startswith("#")]
    assert links and all(links), master.text
    settings = container.settings
    for link in links:
        assert link is not None
        expires = int(link.group(1))
        assert expires % settings.stream_link_window_seconds == 0  # one link per window: a CDN caches it once
        playlist = await anonymous.get(link.group(0))  # no cookie: the link is the authorization
        assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U")
        assert playlist.headers["cache-control"] == "public, max-age=10"
        first = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
        segment = await anonymous.get(link.group(0).rpartition("/")[0] + "/" + first)  # relative, as hls.js
        assert segment.status_code == 200 and segment.headers["content-type"] == "video/MP2T"
        max_age = int(segment.headers["cache-control"].removeprefix("public, max-age="))
        assert 0 < max_age <= expires - time.time() + 1  # never cached beyond the link's end
    again = await client.get(f"/api/video/{library.hd}/index.m3u8")
    assert again.text == master.text  # the same links for every viewer within the window


async def test_forged_expired_or_misdirected_links_are_refused(viewer, anonymous, library):
    container, _ = viewer
    links = container.stream_links
    now = time.time()
    valid = links.link(library.hd, "480p", now)
    expires, signature = valid.split("/")[3:5]
    past = int(now) - 1
    refused = [
        valid.replace(signature, signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")),  # forged
        valid.replace(f"/{expires}/", f"/{int(expires) + 900}/"),  # a longer life, same signature
        links.link(library.hd, "480p", now).replace(f"/{library.hd}/", f"/{library.full_hd}/"),  # another video
        valid.replace("/480p/", "/720p/"),  # another rendition
        f"/media/hls/{past}/{links.signature(past, library.hd, '480p')}/{library.hd}/480p/",  # expired
    ]
    refused.append(f"/media/hls/{expires}/%C3%A9{signature[2:]}/{library.hd}/480p/")  # not ASCII: no 500
    for link in refused:
        response = await anonymous.get(link + "index.m3u8")
        assert response.status_code == 403, (link, response.status_code)
        assert response.json()["detail"] == "This stream link is not valid or has expired."
    assert (await anonymous.get(valid + "index.m3u8")).status_code == 200
    for name in ("..%2f..%2fsecret_key", "master.m3u8", "000.mp4", "%2e%2e"):
        assert (await anonymous.get(valid + name)).status_code in (400, 404), name
    assert (await anonymous.head(valid + "000.ts")).status_code == 200
    assert (await anonymous.post(valid + "000.ts")).status_code == 405
