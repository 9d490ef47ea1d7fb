"""Production serving: nginx in front of a real ``videoflix serve`` in X-Accel-Redirect mode. Videoflix authorizes
each playlist and segment request; nginx sends the file with sendfile. ffmpeg plays through nginx with the cookie."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import Server, access_token, create_staff, process_env
from tests.e2e.test_streaming_playback import play
from tests.library import Library, build_library
from tests.nginx import NginxProxy, find_nginx

PASSWORD = "accel-password-123"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, NginxProxy, str]]:
    if find_nginx() is None and not os.environ.get("CI"):
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    base = tmp_path_factory.mktemp("accel")
    library = build_library(make_settings(base / "data"), base)
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(library.settings.data_dir),
        SECRET_KEY=library.settings.secret_key,
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        MEDIA_ACCEL_REDIRECT_PREFIX="/_protected_media/",
        TRUSTED_PROXIES="127.0.0.1",
    )
    create_staff(env, "nginx@example.com", PASSWORD)
    server = Server(env, base / "server.log", workers=2)
    proxy = None
    try:
        server.wait_ready()
        proxy = NginxProxy(server.port, library.settings.media_root).start()
        yield library, proxy, access_token(proxy.url, "nginx@example.com", PASSWORD, TEST_ORIGIN)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


def test_nginx_sends_authorized_segments_with_contract_headers(stack):
    library, proxy, token = stack
    cookies = {"access_token": token}
    for path, media_type in (
        (f"/api/video/{library.hd}/720p/index.m3u8", "application/vnd.apple.mpegurl"),
        (f"/api/video/{library.hd}/720p/000.ts", "video/mp2t"),
        (f"/api/video/{library.hd}/720p/000.ts/", "video/mp2t"),
        (f"/api/video/{library.hd}/index.m3u8", "application/vnd.apple.mpegurl"),
    ):
        response = httpx.get(proxy.url + path, cookies=cookies, headers={"Origin": TEST_ORIGIN})
        assert response.status_code == 200, (path, response.text[:200])
        assert response.headers["content-type"].lower().startswith(media_type.lower())
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"].startswith("private")
        assert response.headers["access-control-allow-origin"] == TEST_ORIGIN  # hls.js with credentials
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "x-accel-redirect" not in response.headers  # internal: never shown to clients
        assert response.content


def test_without_the_cookie_nginx_sends_nothing(stack):
    library, proxy, _ = stack
    for method in ("GET", "HEAD"):
        response = httpx.request(method, f"{proxy.url}/api/video/{library.hd}/720p/000.ts")
        assert response.status_code == 401
    direct = httpx.get(f"{proxy.url}/_protected_media/videos/{library.hd}/720p/000.ts")
    assert direct.status_code == 404  # the internal location cannot be asked for directly
    traversal = httpx.get(
        f"{proxy.url}/api/video/{library.hd}/720p/..%2F..%2F..%2Fsecret_key", cookies={"access_token": stack[2]}
    )
    assert traversal.status_code == 404


def test_ffmpeg_plays_the_master_playlist_through_nginx(stack):
    library, proxy, token = stack
    done = play(f"{proxy.url}/api/video/{library.full_hd}/index.m3u8", token)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_thumbnails_come_straight_from_disk(stack):
    _, proxy, token = stack
    videos = httpx.get(f"{proxy.url}/api/video/", cookies={"access_token": token}).json()
    thumbnail = videos[0]["thumbnail_url"]
    assert thumbnail.startswith(proxy.url + "/media/thumbnails/")
    response = httpx.get(thumbnail)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
