"""S23: a staff upload is untrusted input (staff can be phished). Through the real app and real ffmpeg: a file that
makes ffmpeg read other files of the server is refused without one byte of them read, and a file that claims more
work than the machine should do is refused at upload, naming the limit it is over."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.file_watch import OpenWatch
from tests.integration.clips import ffmpeg, make_standard_clip
from tests.integration.test_http_admin import assert_json_error, files_under, login_staff, upload, wait_for
from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.ffmpeg.binaries import find_ffmpeg, find_ffprobe
from videoflix.adapters.ffmpeg.transcoder import FfmpegTranscoder
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.model import MediaError
from videoflix.entrypoints.http.app import create_app

pytestmark = pytest.mark.ffmpeg

FFMPEG = find_ffmpeg(None)
FFPROBE = find_ffprobe(None)
MEDIA_FOLDERS = ("uploads", "sources", "staging", "releases", "videos", "thumbnails")


async def app_client(tmp_path: Path, **env: str) -> AsyncIterator[tuple[AsyncTestClient, Container]]:
    settings = make_settings(tmp_path / "data", **env)
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            await login_staff(client, container)
            yield client, container
    finally:
        await container.close()


@pytest.fixture
async def staff(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient, Container]]:
    async for pair in app_client(tmp_path):
        yield pair


async def assert_refused(client: AsyncTestClient, container: Container, upload_bytes: bytes, *words: str) -> str:
    """400 JSON naming the problem; nothing stored, nothing queued, nothing on disk."""
    body = assert_json_error(await upload(client, upload_bytes), 400)
    detail = body["detail"]
    assert detail.startswith("The file is not a usable video: "), detail
    for word in words:
        assert word in detail, detail
    assert await container.media.list_all() == []
    assert files_under(container.store.root, *MEDIA_FOLDERS) == []
    return str(detail)


# --- files that make ffmpeg read other files ---------------------------------------------------------------------


@pytest.fixture
def secret_video(tmp_path: Path) -> Path:
    """A private video of the server's, outside the media root, with an extension ffmpeg's HLS reader accepts."""
    folder = tmp_path / "private"
    folder.mkdir()
    path = folder / "secret.ts"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts", str(path),
    )  # fmt: skip
    return path


def hls_playlist(segment: Path) -> bytes:
    """The attack as it was sent: a 130-byte playlist whose one segment is an absolute path of the server."""
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n".encode()


async def test_s23_an_hls_playlist_naming_a_server_file_is_refused_and_the_file_never_read(
    staff, secret_video: Path
) -> None:
    client, container = staff
    with OpenWatch(secret_video) as watch:
        detail = await assert_refused(client, container, hls_playlist(secret_video), "HLS playlist")
        assert not watch.touched(), "ffmpeg opened the file the playlist names"
    assert str(secret_video) not in detail


async def test_s23_a_concat_list_naming_a_server_file_is_refused_and_the_file_never_read(
    staff, secret_video: Path
) -> None:
    client, container = staff
    concat = f"ffconcat version 1.0\nfile '{secret_video}'\n".encode()
    with OpenWatch(secret_video) as watch:
        await assert_refused(client, container, concat, "concat list")
        assert not watch.touched()


@pytest.mark.parametrize("prober", ["ffprobe", "ffmpeg -i"])
async def test_s23_both_probes_refuse_a_playlist_before_reading_what_it_names(
    prober: str, secret_video: Path, tmp_path: Path
) -> None:
    if prober == "ffprobe" and FFPROBE is None:
        pytest.fail("ffprobe is missing")  # installed by make and CI; the other probe covers the wheel's ffmpeg
    transcoder = FfmpegTranscoder(FFMPEG, FFPROBE if prober == "ffprobe" else None)
    playlist = tmp_path / "upload.part"
    playlist.write_bytes(hls_playlist(secret_video))
    with OpenWatch(secret_video) as watch:
        with pytest.raises(MediaError, match="HLS playlist"):
            await transcoder.probe(playlist)
        assert not watch.touched()


async def test_s23_a_staff_thumbnail_that_is_a_playlist_is_refused_and_the_file_never_read(
    staff, secret_video: Path, tmp_path: Path
) -> None:
    """The poster is converted by ffmpeg too: a playlist there would put a frame of the server's file online."""
    client, container = staff
    clip = make_standard_clip(tmp_path / "tiny.mp4", 320, 180, 1)
    with OpenWatch(secret_video) as watch:
        response = await upload(client, clip, thumbnail=("poster.png", hls_playlist(secret_video), "image/png"))
        body = assert_json_error(response, 400)
        assert "thumbnail" in body["detail"].lower()
        assert not watch.touched()
    assert await container.media.list_all() == []
    assert files_under(container.store.root, *MEDIA_FOLDERS) == []


async def test_s23_normal_containers_still_work(staff, tmp_path: Path) -> None:
    """MP4, Matroska, MPEG-TS and AVI are accepted and transcoded."""
    client, _ = staff
    source = make_standard_clip(tmp_path / "source.mp4", 320, 180, 1)
    for name, args in {
        "clip.mkv": ("-c", "copy"),
        "clip.ts": ("-c", "copy", "-f", "mpegts"),
        "clip.avi": ("-c:v", "mpeg4", "-c:a", "mp3"),
    }.items():
        ffmpeg("-i", str(source), *args, str(tmp_path / name))
    ids = []
    for path in [source, *(tmp_path / name for name in ("clip.mkv", "clip.ts", "clip.avi"))]:
        response = await upload(client, path)
        assert response.status_code == 202, f"{path.name}: {response.text}"
        ids.append(response.json()["id"])
    for video_id in ids:
        ended = (await wait_for(client, video_id))[-1]
        assert ended["status"] == "ready", ended["failure_reason"]


# --- files that claim more work than the machine should do --------------------------------------------------------


def forged_hour_of_1080p60(tmp_path: Path) -> bytes:
    """A second of black 1080p60 in Matroska whose header claims an hour: about 8 KB (the attack sent 7 KB)."""
    path = tmp_path / "second.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=1920x1080:rate=60:duration=1",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    data = path.read_bytes()
    at = data.index(b"\x44\x89\x88")  # Segment Info > Duration, an 8-byte float in milliseconds
    return data[: at + 3] + struct.pack(">d", 3_600_000.0) + data[at + 11 :]


async def test_s23_a_tiny_file_claiming_an_hour_is_refused_at_upload(staff, tmp_path: Path) -> None:
    client, container = staff
    forged = forged_hour_of_1080p60(tmp_path)
    assert len(forged) < 20_000
    detail = await assert_refused(client, container, forged, "1:00:00", "bytes per second")
    assert "forged header" in detail


@pytest.mark.parametrize(
    ("env", "clip", "words"),
    [
        ({"MAX_VIDEO_SECONDS": "2"}, {"width": 320, "height": 180, "seconds": 3}, ("0:00:03", "maximum duration")),
        ({"MAX_VIDEO_PIXELS": str(640 * 360)}, {"width": 1280, "height": 720, "seconds": 1}, ("pixels per frame",)),
        ({"MAX_VIDEO_FPS": "30"}, {"width": 320, "height": 180, "seconds": 1, "fps": 60}, ("60.00 fps", "maximum")),
    ],
    ids=["duration", "pixels", "frame-rate"],
)
async def test_s23_each_cap_refuses_an_upload_over_it(tmp_path: Path, env, clip, words) -> None:  # type: ignore[no-untyped-def]
    source = make_standard_clip(tmp_path / "clip.mp4", **clip)
    async for client, container in app_client(tmp_path, **env):
        await assert_refused(client, container, source.read_bytes(), *words)
    # and the same clip passes with the default limits
    async for client, _ in app_client(tmp_path / "defaults"):
        assert (await upload(client, source)).status_code == 202
