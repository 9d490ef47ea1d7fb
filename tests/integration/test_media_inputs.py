"""Every row of the "inputs that break pipelines" table in docs/media.md, through the real pipeline.

``container.media.ingest`` probes the upload (bad input is refused there with ``InvalidInput``), then
``container.media.transcode`` runs the real ffmpeg ladder, verifies it and publishes it. Each row ends
``ready`` with every rung decodable through the published master playlist, or refused/``failed`` with a
clear reason and nothing published. The job queue is a recorder: the test runs the transcode itself.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeJobQueue
from tests.integration.clips import FFMPEG, make_clip
from tests.media_layout import new_upload, published_dir, source_file
from videoflix.adapters.ffmpeg.binaries import find_ffprobe
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.errors import InvalidInput
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.domain.media.service import VideoDraft, transcode_timeout
from videoflix.settings import Settings

FFPROBE = find_ffprobe(None)
pytestmark = [
    pytest.mark.ffmpeg,
    pytest.mark.skipif(FFPROBE is None, reason="the checks of the output use ffprobe"),
]

DRAFT = VideoDraft(title="Input row", description="One row of the docs/media.md table.", category="Tests")


@dataclass
class Pipeline:
    container: Container
    queue: FakeJobQueue
    clips: Path

    @property
    def root(self) -> Path:
        return self.container.store.root

    async def ingest(self, kind: str) -> Video:
        clip = make_clip(kind, self.clips)
        upload = new_upload(self.container.store)
        upload.write_bytes(clip.read_bytes())
        return await self.container.media.ingest(upload, clip.name, DRAFT)

    async def run(self, kind: str) -> tuple[Video, str]:
        """Ingest and transcode; the video as it ended and the transcode's outcome."""
        video = await self.ingest(kind)
        assert video.id is not None
        progress: list[float] = []

        async def on_progress(percent: float) -> None:
            progress.append(percent)

        outcome = await self.container.media.transcode(video.id, on_progress=on_progress)
        ended = await self.container.media.get(video.id)
        if outcome == "ready":
            assert progress == sorted(progress) and progress[-1] == 100
        return ended, outcome

    async def catalog_ids(self) -> set[int]:
        return {entry.id for entry in (await self.container.catalog.list_ready()).entries}


@pytest.fixture
async def pipeline(sqlite_settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    queue = FakeJobQueue()
    container = await bootstrap(sqlite_settings, queue=queue, run_periodic_sweeps=False)
    yield Pipeline(container, queue, tmp_path / "clips")
    await container.close()


def ffprobe_streams(path: Path) -> list[dict[str, Any]]:
    assert FFPROBE is not None
    cmd = [FFPROBE, "-v", "error", "-print_format", "json", "-show_streams", str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)["streams"]


def first_of(path: Path, kind: str) -> dict[str, Any]:
    streams = [s for s in ffprobe_streams(path) if s["codec_type"] == kind]
    assert streams, f"no {kind} stream in {path}"
    return streams[0]


def leftovers(root: Path) -> list[str]:
    """Files in the upload and staging areas: a finished pipeline leaves none."""
    return [str(p.relative_to(root)) for folder in ("uploads", "staging") for p in (root / folder).rglob("*")]


async def assert_ready_and_playable(pipeline: Pipeline, video: Video, outcome: str) -> Path:
    """Ready, listed, one release, a thumbnail, and every rung decodes through the published master."""
    assert outcome == "ready", video.failure_reason
    assert video.status is VideoStatus.READY and video.failure_reason is None and video.progress == 100
    assert video.renditions and video.duration and video.thumbnail
    assert video.id in await pipeline.catalog_ids()
    published = published_dir(pipeline.container.store, video.id)  # type: ignore[arg-type]
    assert published is not None
    assert len(list((pipeline.root / "releases" / str(video.id)).iterdir())) == 1
    assert (pipeline.root / video.thumbnail).is_file()
    assert leftovers(pipeline.root) == []

    master = published / "index.m3u8"
    listed = [line for line in master.read_text().splitlines() if line and not line.startswith("#")]
    assert listed == [f"{r.name}/index.m3u8" for r in sorted(video.renditions, key=lambda r: r.bandwidth)]
    # every variant of the master, video and audio, decoded to the end: no error, no decoder complaint
    cmd = [FFMPEG, "-v", "error", "-i", str(master), "-map", "0:v", "-map", "0:a?", "-f", "null", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    decoded = [s for s in ffprobe_streams(master) if s["codec_type"] == "video"]
    assert len(decoded) == len(video.renditions)
    for rendition in video.renditions:
        segment = published / rendition.name / "000.ts"
        picture = first_of(segment, "video")
        assert (picture["width"], picture["height"]) == (rendition.width, rendition.height)
        assert picture["width"] % 2 == 0 and picture["height"] % 2 == 0
        assert picture["pix_fmt"] == "yuv420p" and picture["profile"] in ("High", "Main", "Constrained Baseline")
    return published


async def assert_nothing_published(pipeline: Pipeline, video: Video) -> None:
    assert video.id is not None
    assert published_dir(pipeline.container.store, video.id) is None
    assert not any((pipeline.root / "releases" / str(video.id)).glob("*"))
    assert video.id not in await pipeline.catalog_ids()
    assert leftovers(pipeline.root) == []


# --- inputs that must end ready ------------------------------------------------------------------------


async def test_standard_720p_gets_480p_and_720p(pipeline):
    video, outcome = await pipeline.run("standard")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    assert [(r.name, r.width, r.height) for r in video.renditions] == [("480p", 854, 480), ("720p", 1280, 720)]
    picture = first_of(published / "720p" / "000.ts", "video")
    assert picture["r_frame_rate"] == picture["avg_frame_rate"] == "30/1"  # 30 fps stays 30, not 29.97


async def test_full_hd_gets_the_whole_ladder(pipeline):
    video, outcome = await pipeline.run("full_hd")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    assert [r.name for r in video.renditions] == ["480p", "720p", "1080p"]
    assert first_of(published / "1080p" / "000.ts", "audio")["channels"] == 2


async def test_no_audio_gets_a_video_only_ladder(pipeline):
    video, outcome = await pipeline.run("no_audio")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    assert all("mp4a" not in r.codecs for r in video.renditions)
    assert [s["codec_type"] for s in ffprobe_streams(published / "480p" / "000.ts")] == ["video"]


async def test_rotated_phone_video_stays_portrait(pipeline):
    video, outcome = await pipeline.run("rotated")
    await assert_ready_and_playable(pipeline, video, outcome)
    # 640x360 turned a quarter: displayed 360x640, below 480p, so one rung at its own (portrait) size
    assert [(r.name, r.width, r.height) for r in video.renditions] == [("480p", 360, 640)]


async def test_odd_dimensions_with_444_chroma_become_even_420(pipeline):
    video, outcome = await pipeline.run("odd_444")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    assert [(r.name, r.width, r.height) for r in video.renditions] == [("480p", 852, 480)]
    assert first_of(published / "480p" / "000.ts", "video")["profile"] == "High"  # not High 4:4:4 Predictive


async def test_variable_frame_rate_becomes_constant(pipeline):
    video, outcome = await pipeline.run("vfr")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    picture = first_of(published / "480p" / "000.ts", "video")
    assert picture["r_frame_rate"] == picture["avg_frame_rate"]
    assert abs(video.duration - 3.0) < 0.2  # type: ignore[operator]


async def test_surround_audio_is_downmixed_to_stereo(pipeline):
    video, outcome = await pipeline.run("surround")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    audio = first_of(published / "480p" / "000.ts", "audio")
    assert (audio["codec_name"], audio["channels"], audio["sample_rate"]) == ("aac", 2, "48000")


async def test_hdr10_is_tone_mapped_to_8_bit_bt709(pipeline):
    video, outcome = await pipeline.run("hdr10")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    picture = first_of(published / "480p" / "000.ts", "video")
    assert picture["pix_fmt"] == "yuv420p"
    assert picture.get("color_transfer") != "smpte2084" and picture.get("color_primaries") != "bt2020"


async def test_clip_under_one_second_gets_one_valid_segment(pipeline):
    video, outcome = await pipeline.run("short")
    published = await assert_ready_and_playable(pipeline, video, outcome)
    playlist = (published / "480p" / "index.m3u8").read_text()
    assert playlist.count("#EXTINF:") == 1 and "#EXT-X-ENDLIST" in playlist
    assert "#EXT-X-TARGETDURATION:0" not in playlist


async def test_long_video_gets_a_job_timeout_scaled_to_its_duration(pipeline):
    video, outcome = await pipeline.run("long")
    await assert_ready_and_playable(pipeline, video, outcome)
    ring = pipeline.queue.delivered(Job.TRANSCODE_VIDEO)[-1]
    assert ring.kwargs == {"video_id": video.id}
    assert ring.timeout == transcode_timeout(video.duration) and ring.timeout > 600 + 20 * 19


# --- inputs that must be refused or fail, publishing nothing -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", "not a video file"),
        ("empty", "empty file"),
        ("cover_art_mp3", "no video stream (audio with cover art)"),
    ],
)
async def test_not_a_video_is_refused_at_ingest_with_a_clear_reason(pipeline, kind, reason):
    clip = make_clip(kind, pipeline.clips)
    upload = new_upload(pipeline.container.store)
    upload.write_bytes(clip.read_bytes())
    with pytest.raises(InvalidInput) as refused:
        await pipeline.container.media.ingest(upload, clip.name, DRAFT)
    assert "not a usable video" in refused.value.message and reason in refused.value.message
    assert await pipeline.container.media.list_all() == []
    assert pipeline.queue.rings == []
    assert not any((pipeline.root / "sources").iterdir())
    # the upload is left to its owner (the HTTP layer discards it); nothing else was written anywhere
    assert list((pipeline.root / "uploads").iterdir()) == [upload]
    assert not [
        p for folder in ("staging", "releases", "videos", "thumbnails") for p in (pipeline.root / folder).iterdir()
    ]


async def test_truncated_upload_fails_with_a_clear_reason_and_publishes_nothing(pipeline):
    video, outcome = await pipeline.run("truncated")
    assert outcome == "failed" and video.status is VideoStatus.FAILED
    assert video.failure_reason and "truncated" in video.failure_reason
    assert video.progress == 0
    await assert_nothing_published(pipeline, video)


@pytest.mark.parametrize(("kind", "reason"), [("cover_art_mp3", "cover art"), ("garbage", "not a video file")])
async def test_source_that_went_bad_after_ingest_fails_clearly(pipeline, kind, reason):
    """The worker probes again: a source replaced on disk (or a probe that passed once) ends failed, not 5xx."""
    video = await pipeline.ingest("short")
    assert video.id is not None
    bad = make_clip(kind, pipeline.clips)
    source_file(pipeline.container.store, video.id).write_bytes(bad.read_bytes())
    assert await pipeline.container.media.transcode(video.id) == "failed"
    ended = await pipeline.container.media.get(video.id)
    assert ended.status is VideoStatus.FAILED and reason in (ended.failure_reason or "")
    await assert_nothing_published(pipeline, ended)


async def test_failed_video_succeeds_after_its_source_is_fixed(pipeline):
    """R5: retrying after a fix works."""
    video, outcome = await pipeline.run("truncated")
    assert outcome == "failed" and video.id is not None
    fixed = make_clip("standard", pipeline.clips / "fixed")
    source_file(pipeline.container.store, video.id).write_bytes(fixed.read_bytes())
    await pipeline.container.media.request_transcode(video.id)
    assert await pipeline.container.media.transcode(video.id) == "ready"
    await assert_ready_and_playable(pipeline, await pipeline.container.media.get(video.id), "ready")
