"""The media commands of the real ``videoflix`` executable, on the embedded default (SQLite) in a temporary
data folder: ``videos import``, ``hls regenerate`` and ``demo``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.integration.clips import ffmpeg, make_clip, make_standard_clip
from tests.media_layout import source_file
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.model import VideoStatus
from videoflix.entrypoints.http.app import create_app

pytestmark = pytest.mark.ffmpeg

VIDEOFLIX = Path(sys.executable).parent / "videoflix"
SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"


@dataclass
class Cli:
    data_dir: Path
    env: dict[str, str]

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    async def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [str(VIDEOFLIX), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def releases(self, video_id: int) -> list[Path]:
        folder = self.media / "releases" / str(video_id)
        return sorted(folder.iterdir()) if folder.is_dir() else []

    def published(self, video_id: int) -> Path:
        """The release folder ``videos/<id>`` points to."""
        return (self.media / "videos" / str(video_id)).resolve()

    def leftovers(self) -> list[Path]:
        return [p for folder in ("uploads", "staging") for p in (self.media / folder).rglob("*")]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DB_", "REDIS_", "MEDIA_"))}
    env.update(
        VIDEOFLIX_DATA_DIR=str(data_dir),
        VIDEOFLIX_ENV_FILE="/nonexistent/.env",
        SECRET_KEY=SECRET,
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        FRONTEND_URL=TEST_ORIGIN,
        LOG_LEVEL="WARNING",
    )
    return Cli(data_dir, env)


@pytest.fixture
async def observer(cli: Cli) -> AsyncIterator[Container]:
    """A container on the CLI's database and media root, to look at what the commands did."""
    await cli.run("db", "upgrade")
    container = await bootstrap(make_settings(cli.data_dir), run_periodic_sweeps=False)
    yield container
    await container.close()


def summary(output: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+) ready, (\d+) skipped, (\d+) failed", output)
    assert match, output
    return int(match[1]), int(match[2]), int(match[3])


async def test_import_then_regenerate_skips_rebuilds_and_repairs(cli, observer, tmp_path):
    clip = make_standard_clip(tmp_path / "holiday.mp4", 640, 360, 2)
    original = clip.read_bytes()

    imported = await cli.run(
        "videos", "import", str(clip), "--title", "Holiday", "--category", "Family", "--description", "Beach."
    )
    assert imported.returncode == 0, imported.stderr
    video_id = int(re.search(r"imported video (\d+)", imported.stdout)[1])  # type: ignore[index]
    assert f"video {video_id}: ready" in imported.stdout
    # No terminal here (as under cron or CI): the progress is plain lines with the percentage, ending at 100%.
    progress = re.findall(rf"^video {video_id} 'Holiday': (\d+)%$", imported.stderr, re.MULTILINE)
    assert progress and progress[-1] == "100", imported.stderr
    assert [int(p) for p in progress] == sorted(int(p) for p in progress)
    assert "\r" not in imported.stderr and "[#" not in imported.stderr  # no progress bar drawing
    assert clip.read_bytes() == original  # copied, never moved or changed
    video = await observer.media.get(video_id)
    assert video.status is VideoStatus.READY and video.progress == 100
    assert (video.title, video.category, video.description) == ("Holiday", "Family", "Beach.")
    assert [r.name for r in video.renditions] == ["480p"] and video.source_name == "holiday.mp4"
    assert observer.media.is_complete(video) and video.thumbnail
    (first_release,) = cli.releases(video_id)
    assert cli.published(video_id) == first_release
    assert cli.leftovers() == []

    skipped = await cli.run("hls", "regenerate")
    assert skipped.returncode == 0, skipped.stderr
    assert summary(skipped.stdout) == (0, 1, 0) and "complete, skipped" in skipped.stdout
    assert cli.releases(video_id) == [first_release]
    listed = await cli.run("videos", "list", "--status", "ready")
    assert listed.returncode == 0 and listed.stdout.startswith(f"{video_id}\tready\tFamily\tHoliday\t")
    assert (await cli.run("videos", "list", "--status", "failed")).stdout == ""
    assert (await cli.run("videos", "list", "--status", "lost")).returncode == 2  # a usage error

    rebuilt = await cli.run("hls", "regenerate", "--video-id", str(video_id), "--overwrite")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert summary(rebuilt.stdout) == (1, 0, 0)
    # a new release folder is published; the one it replaced may linger for requests already on their way
    second_release = cli.published(video_id)
    assert second_release != first_release and set(cli.releases(video_id)) <= {first_release, second_release}
    assert (await observer.media.get(video_id)).status is VideoStatus.READY

    # a rung's playlist lost by hand: not complete any more, so a plain regenerate rebuilds it
    lost = cli.media / "videos" / str(video_id) / "480p" / "index.m3u8"
    lost.unlink()
    assert not observer.media.is_complete(await observer.media.get(video_id))
    repaired = await cli.run("hls", "regenerate")
    assert repaired.returncode == 0, repaired.stderr
    assert summary(repaired.stdout) == (1, 0, 0)
    assert lost.is_file() and "#EXT-X-ENDLIST" in lost.read_text()
    assert observer.media.is_complete(await observer.media.get(video_id))
    third_release = cli.published(video_id)
    assert third_release not in (first_release, second_release)
    assert not first_release.exists()  # older releases are gone: at most the published one and its predecessor
    assert set(cli.releases(video_id)) <= {second_release, third_release}
    assert cli.leftovers() == []


async def test_regenerate_unknown_video_exits_3_not_found_with_a_clear_message(cli, observer):
    result = await cli.run("hls", "regenerate", "--video-id", "999")
    assert result.returncode == 3  # not found; 2 is a usage error
    assert "no video with id 999" in result.stderr


async def test_regenerate_exits_non_zero_when_a_video_fails(cli, observer, tmp_path):
    clip = make_standard_clip(tmp_path / "ok.mp4", 320, 180, 1)
    assert (await cli.run("videos", "import", str(clip), "--title", "Ok", "--category", "C")).returncode == 0
    # the stored source went bad (disk fault, bad restore): the rebuild fails and says why
    source_file(observer.store, 1).write_bytes(make_clip("truncated", tmp_path / "bad").read_bytes())
    result = await cli.run("hls", "regenerate", "--overwrite")
    assert result.returncode == 1
    assert summary(result.stdout) == (0, 0, 1)
    assert "truncated" in result.stderr
    video = await observer.media.get(1)
    # the old ladder stays published: viewers never lose a video to a failed regeneration
    assert video.status is VideoStatus.READY and "regeneration failed" in (video.failure_reason or "")
    assert len(cli.releases(1)) == 1 and cli.leftovers() == []


async def test_import_of_garbage_exits_non_zero_with_the_reason(cli, observer, tmp_path):
    garbage = make_clip("garbage", tmp_path)
    result = await cli.run("videos", "import", str(garbage), "--title", "Junk", "--category", "Junk")
    assert result.returncode == 1
    assert "not a usable video" in result.stderr and "garbage.mp4" in result.stderr
    assert garbage.is_file()
    assert await observer.media.list_all() == []
    assert cli.leftovers() == []
    assert not any((cli.media / "sources").iterdir())


async def test_import_with_thumbnail_and_no_wait_then_regenerate_builds_it(cli, observer, tmp_path):
    clip = make_standard_clip(tmp_path / "clip.mp4", 320, 180, 1)
    poster = tmp_path / "poster.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=160x90", "-frames:v", "1", str(poster))
    queued = await cli.run(
        "videos", "import", str(clip), "--title", "Later", "--category", "C", "--thumbnail", str(poster), "--no-wait"
    )
    assert queued.returncode == 0, queued.stderr
    assert "queued" in queued.stdout
    assert poster.is_file() and not (tmp_path / "poster.png.jpg").exists()  # nothing written beside the user's file
    video = await observer.media.get(1)
    assert video.status is VideoStatus.QUEUED and video.custom_thumbnail and video.thumbnail
    built = await cli.run("hls", "regenerate")
    assert built.returncode == 0, built.stderr
    assert summary(built.stdout) == (1, 0, 0)
    ready = await observer.media.get(1)
    assert ready.status is VideoStatus.READY and ready.thumbnail == video.thumbnail
    assert cli.leftovers() == []


async def test_demo_creates_a_viewer_and_videos_in_several_categories(cli, observer):
    result = await cli.run("demo", "--videos", "2")
    assert result.returncode == 0, result.stderr
    email = re.search(r"email:\s+(\S+)", result.stdout)[1]  # type: ignore[index]
    password = re.search(r"password:\s+(\S+)", result.stdout)[1]  # type: ignore[index]

    async def catalog() -> list[dict[str, object]]:
        async with AsyncTestClient(create_app(container=observer), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            login = await client.post("/api/login/", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
            listed = await client.get("/api/video/")
            assert listed.status_code == 200
            return listed.json()

    videos = await catalog()
    assert len(videos) == 2
    assert len({v["category"] for v in videos}) == 2
    assert len({v["title"] for v in videos}) == 2 and all(v["description"] and v["thumbnail_url"] for v in videos)
    for video in await observer.media.list_all():
        assert observer.media.is_complete(video)
    user = await observer.accounts.get_user(1)
    assert user is not None and user.is_active and not user.is_staff

    again = await cli.run("demo", "--videos", "2")  # idempotent: same account, no duplicate videos
    assert again.returncode == 0, again.stderr
    assert "already there" in again.stdout
    assert len(await catalog()) == 2
