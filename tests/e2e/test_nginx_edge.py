"""Production serving: the deploy/ nginx config (with njs) in front of a real ``videoflix serve``. nginx checks the
access cookie and the signed links itself and sends rendition playlists and segments from disk; the app serves the
master playlist with signed links. The frontend's requests succeed; forged, expired and ended sessions fail."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import Server, create_staff, process_env
from tests.e2e.test_streaming_playback import play
from tests.library import Library, build_library
from tests.nginx import NJS_MODULE, NginxProxy, find_nginx
from videoflix.domain.media.streaming import StreamLinks

PASSWORD = "edge-password-1234"
NOT_LOGGED_IN = {"detail": "Authentication credentials were not provided or are invalid."}
LINK_REFUSED = {"detail": "This stream link is not valid or has expired."}
LINK = re.compile(r"/media/hls/\d+/[A-Za-z0-9_-]{43}/\d+/\w+/index\.m3u8")


@dataclass
class Edge:
    library: Library
    proxy: NginxProxy
    revocations: Path
    key: str

    def login(self, email: str = "edge@example.com") -> httpx.Client:
        """A browser's session through nginx: the cookies and the CSRF header the frontend sends."""
        client = httpx.Client(base_url=self.proxy.url, headers={"Origin": TEST_ORIGIN})
        response = client.post("/api/login/", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        return client

    def stream(self, path: str, token: str | None, method: str = "GET") -> httpx.Response:
        cookies = {"access_token": token} if token is not None else None
        with httpx.Client(base_url=self.proxy.url, cookies=cookies) as client:
            return client.request(method, path, headers={"Origin": TEST_ORIGIN})


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    if (find_nginx() is None or not NJS_MODULE.is_file()) and not os.environ.get("CI"):
        pytest.skip("nginx with njs is not installed (apt-get install nginx-light libnginx-mod-http-js)")
    base = tmp_path_factory.mktemp("edge")
    library = build_library(make_settings(base / "data"), base)
    revocations = base / "edge" / "revoked-sessions"
    shared = {
        "SECRET_KEY": library.settings.secret_key,
        "EDGE_REVOCATION_FILE": str(revocations),
        "CORS_ALLOWED_ORIGINS": TEST_ORIGIN,
    }
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(library.settings.data_dir),
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        TRUSTED_PROXIES="127.0.0.1",
        **shared,
    )
    for email in ("edge@example.com", "leaver@example.com"):
        create_staff(env, email, PASSWORD)
    server = Server(env, base / "server.log", workers=2)
    proxy = None
    try:
        server.wait_ready()
        proxy = NginxProxy(server.port, library.settings.media_root, env=shared).start()
        yield Edge(library, proxy, revocations, library.settings.secret_key)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


@pytest.fixture(scope="module")
def token(edge: Edge) -> str:
    with closing(edge.login()) as client:
        return client.cookies["access_token"]


def test_nginx_sends_rendition_files_itself_with_the_contract_headers(edge, token):
    hd = edge.library.hd
    for path, media_type, cache in (
        (f"/api/video/{hd}/720p/index.m3u8", "application/vnd.apple.mpegurl", "private, max-age=10"),
        (f"/api/video/{hd}/720p/000.ts", "video/mp2t", "private, max-age=31536000, immutable"),
        (f"/api/video/{hd}/720p/000.ts/", "video/mp2t", "private, max-age=31536000, immutable"),
    ):
        for method in ("GET", "HEAD"):
            response = edge.stream(path, token, method)
            assert response.status_code == 200, (path, method, response.text[:200])
            assert response.headers["content-type"].lower() == media_type.lower()
            assert response.headers["cache-control"] == cache
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["access-control-allow-origin"] == TEST_ORIGIN  # hls.js with credentials
            assert response.headers["access-control-allow-credentials"] == "true"
            assert "x-request-id" not in response.headers  # nginx answered: the app was never asked
            assert (response.content != b"") == (method == "GET")
    master = edge.stream(f"/api/video/{hd}/index.m3u8", token)
    assert master.status_code == 200 and "x-request-id" in master.headers  # the app signs the master's links
    assert master.headers["cache-control"].startswith("private")


def forged_tokens(edge: Edge, token: str) -> dict[str, str]:
    claims = jwt.decode(token, edge.key, algorithms=["HS256"], issuer="videoflix")
    now = int(time.time())
    return {
        "wrong key": jwt.encode(claims, "x" * 64, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 1}, edge.key, algorithm="HS256"),
        "refresh token": jwt.encode({**claims, "type": "refresh"}, edge.key, algorithm="HS256"),
        "another issuer": jwt.encode({**claims, "iss": "elsewhere"}, edge.key, algorithm="HS256"),
        "no session": jwt.encode({k: v for k, v in claims.items() if k != "fam"}, edge.key, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "altered": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "garbage": "x.y.z",
    }


def test_missing_forged_and_expired_cookies_are_refused(edge, token):
    segment = f"/api/video/{edge.library.hd}/480p/000.ts"
    refused = {"no cookie": None, **forged_tokens(edge, token)}
    for reason, value in refused.items():
        for method in ("GET", "HEAD"):
            response = edge.stream(segment, value, method)
            assert response.status_code == 401, (reason, method)
            if method == "GET":
                assert response.json() == NOT_LOGGED_IN, reason
                assert response.headers["access-control-allow-origin"] == TEST_ORIGIN  # hls.js can read the 401


def test_an_ended_session_is_refused_at_the_edge_at_once(edge):
    client = edge.login("leaver@example.com")
    old = client.cookies["access_token"]
    segment = f"/api/video/{edge.library.hd}/480p/000.ts"
    assert edge.stream(segment, old).status_code == 200
    assert client.post("/api/logout/").status_code == 200
    assert edge.stream(segment, old).status_code == 401  # the token itself is still valid for minutes
    assert edge.stream(f"/api/video/{edge.library.hd}/index.m3u8", old).status_code == 401  # the app agrees


def test_without_the_apps_list_of_ended_sessions_nginx_refuses_every_cookie(edge, token):
    segment = f"/api/video/{edge.library.hd}/480p/000.ts"
    aside = edge.revocations.with_name("aside")
    edge.revocations.rename(aside)
    try:
        assert edge.stream(segment, token).status_code == 401  # fail closed
    finally:
        aside.rename(edge.revocations)
    assert edge.stream(segment, token).status_code == 200


def test_the_masters_signed_links_play_without_cookies_and_are_cacheable(edge, token):
    master = edge.stream(f"/api/video/{edge.library.full_hd}/index.m3u8", token)
    links = LINK.findall(master.text)
    assert len(links) == 3, master.text
    for link in links:
        playlist = edge.stream(link, None)
        assert playlist.status_code == 200 and "x-request-id" not in playlist.headers
        assert playlist.headers["cache-control"] == "public, max-age=10"
        first = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
        segment = edge.stream(link.rpartition("/")[0] + "/" + first, None)
        assert segment.status_code == 200 and segment.headers["content-type"] == "video/MP2T"
        max_age = int(segment.headers["cache-control"].removeprefix("public, max-age="))
        expires = int(link.split("/")[3])
        assert 0 < max_age <= expires - time.time() + 1  # a CDN keeps it until the link expires, not longer


def test_a_signed_link_works_until_it_expires_and_not_after(edge):
    links = StreamLinks(edge.key, lifetime_seconds=2, window_seconds=1)
    folder = links.link(edge.library.hd, "480p", time.time())
    expires = int(folder.split("/")[3])
    assert edge.stream(folder + "000.ts", None).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    response = edge.stream(folder + "000.ts", None)
    assert response.status_code == 403 and response.json() == LINK_REFUSED


def test_forged_and_misdirected_links_are_refused(edge):
    links = StreamLinks(edge.key, lifetime_seconds=3600, window_seconds=60)
    hd, full_hd = edge.library.hd, edge.library.full_hd
    valid = links.link(hd, "480p", time.time())
    expires, signature = valid.split("/")[3:5]
    other_key = StreamLinks("y" * 64, lifetime_seconds=3600, window_seconds=60).link(hd, "480p", time.time())
    for link in (
        valid.replace(f"/{expires}/", f"/{int(expires) + 60}/"),
        valid.replace(f"/{hd}/", f"/{full_hd}/"),
        valid.replace("/480p/", "/720p/"),
        valid.replace(signature, signature[::-1]),
        other_key,
    ):
        assert edge.stream(link + "index.m3u8", None).status_code == 403, link
    assert edge.stream(valid + "index.m3u8", None).status_code == 200
    for name in ("..%2f..%2fsecret_key", "master.m3u8", "000.mp4", "../../480p/000.ts"):
        assert edge.stream(valid + name, None).status_code == 404, name


def test_internal_paths_and_traversals_stay_unreachable(edge, token):
    hd = edge.library.hd
    for path in (
        f"/media/videos/{hd}/720p/000.ts",
        f"/media/releases/{hd}/720p/000.ts",
        "/_protected_media/secret_key",
        f"/api/video/{hd}/720p/..%2F..%2F..%2Fsecret_key",
        f"/api/video/{hd}/999p/index.m3u8",
        f"/api/video/{hd}/720p/master.m3u8",
    ):
        response = edge.stream(path, token)
        assert response.status_code == 404, (path, response.status_code)
        assert b"SECRET" not in response.content.upper()
    missing = edge.stream(f"/api/video/{hd}/720p/999.ts", token)  # nginx's own 404, readable by hls.js
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
    assert missing.headers["access-control-allow-origin"] == TEST_ORIGIN


def test_the_frontends_flow_through_nginx(edge):
    """Log in, list, play each rendition (hls.js: the rendition playlist with the cookies) and the master."""
    with closing(edge.login()) as client:
        videos = client.get("/api/video/").json()
        assert {video["id"] for video in videos} >= {edge.library.hd, edge.library.full_hd}
        token = client.cookies["access_token"]
    for rendition in ("480p", "720p", "1080p"):
        done = play(f"{edge.proxy.url}/api/video/{edge.library.full_hd}/{rendition}/index.m3u8", token)
        assert done.returncode == 0 and done.stderr.strip() == "", (rendition, done.stderr)
    done = play(f"{edge.proxy.url}/api/video/{edge.library.full_hd}/index.m3u8", token)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_thumbnails_come_straight_from_disk(edge, token):
    videos = edge.stream("/api/video/", token).json()
    thumbnail = videos[0]["thumbnail_url"]
    assert thumbnail.startswith(edge.proxy.url + "/media/thumbnails/")
    response = httpx.get(thumbnail)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
