"""ffmpeg as an HLS client, with the login cookie, plays every rendition and the master playlist over HTTP
from a real ``videoflix serve`` process (several Granian workers)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import Server, access_token, create_staff, process_env
from tests.integration.clips import FFMPEG
from tests.library import Library, build_library

PASSWORD = "playback-password-1"


@pytest.fixture(scope="module")
def served_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, Server, str]]:
    base = tmp_path_factory.mktemp("playback")
    library = build_library(make_settings(base / "data"), base)
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(library.settings.data_dir),
        SECRET_KEY=library.settings.secret_key,
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
    )
    create_staff(env, "player@example.com", PASSWORD)
    server = Server(env, base / "server.log", workers=2)
    try:
        server.wait_ready()
        yield library, server, access_token(server.url, "player@example.com", PASSWORD, TEST_ORIGIN)
    finally:
        server.stop()


def play(url: str, access_token: str | None) -> subprocess.CompletedProcess[str]:
    """Decode a whole HLS stream; ffmpeg passes the header on to every playlist and segment request."""
    headers = ["-headers", f"Cookie: access_token={access_token}\r\n"] if access_token else []
    return subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", *headers, "-i", url, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("rendition", ["480p", "720p", "1080p"])
def test_ffmpeg_plays_every_rendition_with_the_cookie(served_library, rendition):
    library, server, token = served_library
    done = play(f"{server.url}/api/video/{library.full_hd}/{rendition}/index.m3u8", token)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_ffmpeg_plays_the_master_playlist_and_sees_every_variant(served_library):
    library, server, token = served_library
    done = play(f"{server.url}/api/video/{library.hd}/index.m3u8", token)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    probe = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-hide_banner",
            "-headers",
            f"Cookie: access_token={token}\r\n",
            "-i",
            f"{server.url}/api/video/{library.full_hd}/index.m3u8",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for size in ("854x480", "1280x720", "1920x1080"):
        assert size in probe.stderr  # one program per variant of the master playlist


def test_without_the_cookie_ffmpeg_gets_nothing(served_library):
    library, server, _ = served_library
    done = play(f"{server.url}/api/video/{library.hd}/480p/index.m3u8", None)
    assert done.returncode != 0
    assert "401" in done.stderr
