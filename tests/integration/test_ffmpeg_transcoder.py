"""The ffmpeg adapter against real (tiny, generated) clips: one test per row of the docs/media.md table."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import subprocess
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clips import FFMPEG, ffmpeg, make_clip, make_standard_clip
from videoflix.adapters.ffmpeg import commands
from videoflix.adapters.ffmpeg.binaries import find_ffmpeg, find_ffprobe
from videoflix.adapters.ffmpeg.probing import from_ffmpeg_stderr
from videoflix.adapters.ffmpeg.transcoder import FfmpegTranscoder, ProgressReporter
from videoflix.domain.media.model import MediaError, ProbeResult, Rendition, check_rendition, plan_ladder

FFPROBE = find_ffprobe(None)

pytestmark = [
    pytest.mark.ffmpeg,
    pytest.mark.skipif(FFPROBE is None, reason="the checks of the output use ffprobe"),
]


# --- helpers --------------------------------------------------------------------------------------------


@pytest.fixture
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder(FFMPEG, FFPROBE)


@pytest.fixture(params=["ffprobe", "ffmpeg-stderr"])
def any_prober(request: pytest.FixtureRequest) -> FfmpegTranscoder:
    """Both probing paths: ffprobe JSON, and parsing ``ffmpeg -i`` when there is no ffprobe."""
    return FfmpegTranscoder(FFMPEG, FFPROBE if request.param == "ffprobe" else None)


@dataclasses.dataclass
class Outcome:
    probe: ProbeResult
    renditions: list[Rendition]
    progress: list[float]
    out: Path


async def run_pipeline(transcoder: FfmpegTranscoder, source: Path, out: Path) -> Outcome:
    """What the media service does: probe -> plan -> one ladder -> check every rendition's playlist."""
    probe = await transcoder.probe(source)
    progress: list[float] = []

    async def on_progress(percent: float) -> None:
        progress.append(percent)

    renditions = await transcoder.build_ladder(source, probe, plan_ladder(probe), out, on_progress)
    for rendition in renditions:
        playlist = out / rendition.name / "index.m3u8"
        text = playlist.read_text() if playlist.is_file() else None
        check_rendition(rendition.name, text, probe.duration)
    return Outcome(probe, renditions, progress, out)


def ffprobe(path: Path) -> dict[str, Any]:
    assert FFPROBE is not None
    cmd = [FFPROBE, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)


def stream(path: Path, kind: str) -> dict[str, Any]:
    streams = [s for s in ffprobe(path)["streams"] if s["codec_type"] == kind]
    assert streams, f"no {kind} stream in {path}"
    return streams[0]


def first_segment(out: Path, rung: str) -> Path:
    return out / rung / "000.ts"


def assert_decodes(out: Path, renditions: list[Rendition]) -> None:
    """Every rung plays from start to end without a single decoder complaint."""
    for rendition in renditions:
        cmd = [FFMPEG, "-v", "error", "-i", str(out / rendition.name / "index.m3u8"), "-f", "null", "-"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == "", done.stderr


def assert_master(out: Path, renditions: list[Rendition]) -> None:
    text = (out / "index.m3u8").read_text()
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:")
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    entries = [line for line in text.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(entries) == len(uris) == len(renditions)
    bandwidths = [int(entry.split("BANDWIDTH=")[1].split(",")[0]) for entry in entries]
    assert bandwidths == sorted(bandwidths)
    for entry in entries:
        assert "RESOLUTION=" in entry
        assert 'CODECS="avc1.' in entry
    for uri in uris:
        assert not uri.startswith("/")
        assert (out / uri).is_file()


# --- the standard case and the ladder ----------------------------------------------------------------------


async def test_720p_source_gets_480p_and_720p_never_upscaled(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("standard", tmp_path), tmp_path / "out")

    assert [(r.name, r.width, r.height) for r in result.renditions] == [
        ("480p", 854, 480),
        ("720p", 1280, 720),
    ]
    assert not (tmp_path / "out" / "1080p").exists()
    for rendition in result.renditions:
        assert rendition.bandwidth > 0
        assert rendition.codecs.startswith("avc1.")
        assert rendition.codecs.endswith(",mp4a.40.2")
    assert_master(result.out, result.renditions)
    assert_decodes(result.out, result.renditions)
    segment = first_segment(result.out, "720p")
    assert (stream(segment, "video")["width"], stream(segment, "video")["height"]) == (1280, 720)
    assert stream(segment, "audio")["sample_rate"] == "48000"


async def test_progress_is_monotonic_clamped_and_ends_at_100(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("short", tmp_path), tmp_path / "out")

    assert result.progress, "no progress reported"
    assert result.progress == sorted(result.progress)
    assert all(0 <= value <= 100 for value in result.progress)
    assert result.progress[-1] == 100


async def test_progress_reporter_parses_microseconds_and_throttles():
    sent: list[float] = []

    async def record(percent: float) -> None:
        sent.append(percent)

    reporter = ProgressReporter(10.0, record, interval=0)
    lines = ["frame=1", "out_time_us=N/A", "out_time_us=2500000", "out_time_ms=1000000"]
    for line in [*lines, "out_time_us=99000000"]:
        await reporter.line(line)
    await reporter.finish()
    assert sent == [25.0, 100.0]  # a step back is not reported; past the end is clamped

    throttled: list[float] = []

    async def record_throttled(percent: float) -> None:
        throttled.append(percent)

    slow = ProgressReporter(10.0, record_throttled, interval=60)
    for second in range(1, 10):
        await slow.line(f"out_time_us={second * 1_000_000}")
    assert throttled == [10.0]


async def test_1080p_source_gets_three_rungs(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("full_hd", tmp_path), tmp_path / "out")

    assert [r.name for r in result.renditions] == ["480p", "720p", "1080p"]
    assert (result.renditions[-1].width, result.renditions[-1].height) == (1920, 1080)
    assert_master(result.out, result.renditions)
    assert_decodes(result.out, result.renditions)


async def test_keyframes_are_aligned_to_segments(transcoder, tmp_path):
    """A 10 s source at 4 s segments: every rung cuts at 4 s and 8 s (-g/-force_key_frames)."""
    source = make_standard_clip(tmp_path / "ten.mp4", 320, 180, 10, audio=False)
    result = await run_pipeline(transcoder, source, tmp_path / "out")

    playlist = (result.out / "480p" / "index.m3u8").read_text()
    durations = [float(line[8:].rstrip(",")) for line in playlist.splitlines() if line.startswith("#EXTINF:")]
    assert [round(d, 2) for d in durations] == [4.0, 4.0, 2.0]


# --- the inputs that break pipelines -----------------------------------------------------------------------


async def test_no_audio_gives_a_video_only_ladder(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("no_audio", tmp_path), tmp_path / "out")

    assert not result.probe.has_audio
    assert [r.codecs for r in result.renditions] == ["avc1.64001e"]
    assert [s["codec_type"] for s in ffprobe(first_segment(result.out, "480p"))["streams"]] == ["video"]
    assert_master(result.out, result.renditions)
    assert_decodes(result.out, result.renditions)


async def test_garbage_is_rejected_with_a_reason(any_prober, tmp_path):
    with pytest.raises(MediaError, match="not a video file: ffmpeg could not read it"):
        await any_prober.probe(make_clip("garbage", tmp_path))


async def test_empty_file_is_rejected(any_prober, tmp_path):
    with pytest.raises(MediaError, match="empty file"):
        await any_prober.probe(make_clip("empty", tmp_path))


async def test_missing_file_is_rejected(transcoder, tmp_path):
    with pytest.raises(MediaError, match="missing"):
        await transcoder.probe(tmp_path / "nothing.mp4")


async def test_truncated_upload_fails_the_rendition_check(transcoder, tmp_path):
    """ffmpeg exits 0 and writes half the video; comparing with the probed duration catches it."""
    with pytest.raises(MediaError, match=r"truncated|could not read|ffmpeg failed") as caught:
        await run_pipeline(transcoder, make_clip("truncated", tmp_path), tmp_path / "out")
    assert caught.value.reason


async def test_mp3_with_cover_art_is_rejected(any_prober, tmp_path):
    with pytest.raises(MediaError, match=r"no video stream \(audio with cover art\)"):
        await any_prober.probe(make_clip("cover_art_mp3", tmp_path))


async def test_rotated_phone_video_is_probed_as_portrait(any_prober, tmp_path):
    probe = await any_prober.probe(make_clip("rotated", tmp_path))

    assert (probe.width, probe.height) == (360, 640)
    assert probe.rotation in (90, 270)


async def test_rotated_phone_video_gives_portrait_rungs(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("rotated", tmp_path), tmp_path / "out")

    assert [(r.width, r.height) for r in result.renditions] == [(360, 640)]
    video = stream(first_segment(result.out, "480p"), "video")
    assert (video["width"], video["height"]) == (360, 640)
    assert not video.get("side_data_list")  # no second rotation by the player
    assert_decodes(result.out, result.renditions)


async def test_odd_size_444_source_gives_even_420_rungs(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("odd_444", tmp_path), tmp_path / "out")

    assert result.probe.pix_fmt == "yuv444p"
    video = stream(first_segment(result.out, "480p"), "video")
    assert video["width"] % 2 == 0
    assert video["height"] % 2 == 0
    assert video["pix_fmt"] == "yuv420p"
    assert video["profile"] == "High"
    assert_decodes(result.out, result.renditions)


async def test_variable_frame_rate_source_gives_constant_frame_rate(transcoder, tmp_path):
    source = make_clip("vfr", tmp_path)
    source_video = stream(source, "video")
    assert source_video["r_frame_rate"] != source_video["avg_frame_rate"]  # the clip really is VFR

    result = await run_pipeline(transcoder, source, tmp_path / "out")

    segment = first_segment(result.out, "480p")
    video = stream(segment, "video")
    assert video["r_frame_rate"] == video["avg_frame_rate"]
    fps = Fraction(video["avg_frame_rate"])
    cmd = [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time"]
    done = subprocess.run([*cmd, "-of", "csv=p=0", str(segment)], capture_output=True, text=True, check=True)
    times = sorted(float(line.strip(",")) for line in done.stdout.split())
    steps = {round(later - earlier, 3) for earlier, later in itertools.pairwise(times)}
    assert steps == {round(1 / float(fps), 3)}
    assert_decodes(result.out, result.renditions)


async def test_surround_audio_is_downmixed_to_stereo(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("surround", tmp_path), tmp_path / "out")

    assert result.probe.audio_channels == 6
    audio = stream(first_segment(result.out, "480p"), "audio")
    assert audio["channels"] == 2
    assert audio["codec_name"] == "aac"
    assert_decodes(result.out, result.renditions)


async def test_hdr10_is_tone_mapped_to_8_bit_bt709(transcoder, tmp_path):
    result = await run_pipeline(transcoder, make_clip("hdr10", tmp_path), tmp_path / "out")

    assert result.probe.is_hdr
    video = stream(first_segment(result.out, "480p"), "video")
    assert video["pix_fmt"] == "yuv420p"
    assert video.get("color_transfer", "bt709") in ("bt709", "unknown")
    assert video.get("color_primaries", "bt709") != "bt2020"
    assert_decodes(result.out, result.renditions)


async def test_hdr10_is_recognised_by_both_probes(any_prober, tmp_path):
    probe = await any_prober.probe(make_clip("hdr10", tmp_path))

    assert probe.is_hdr
    assert probe.pix_fmt == "yuv420p10le"


async def test_hdr10_without_zscale_is_still_tagged_bt709(transcoder, tmp_path, monkeypatch):
    async def no_zscale() -> bool:
        return False

    monkeypatch.setattr(transcoder, "can_tonemap", no_zscale)
    result = await run_pipeline(transcoder, make_clip("hdr10", tmp_path), tmp_path / "out")

    video = stream(first_segment(result.out, "480p"), "video")
    assert video["pix_fmt"] == "yuv420p"
    assert video.get("color_transfer") == "bt709"


async def test_clip_under_a_second_gives_one_valid_segment(tmp_path):
    transcoder = FfmpegTranscoder(FFMPEG, FFPROBE, threads=1)  # also covers the -threads options
    result = await run_pipeline(transcoder, make_clip("short", tmp_path), tmp_path / "out")

    playlist = (result.out / "480p" / "index.m3u8").read_text()
    assert playlist.count("#EXTINF:") == 1
    assert "#EXT-X-TARGETDURATION:0" not in playlist
    assert sorted(p.name for p in (result.out / "480p").glob("*.ts")) == ["000.ts"]
    assert_decodes(result.out, result.renditions)


# --- failures, cancellation, thumbnails --------------------------------------------------------------------


async def test_ffmpeg_failure_carries_its_reason(transcoder, tmp_path):
    """A wrong probe (audio claimed on a silent clip) makes ffmpeg exit non-zero; the reason says why."""
    source = make_clip("no_audio", tmp_path)
    probe = dataclasses.replace(await transcoder.probe(source), has_audio=True)

    async def ignore(_percent: float) -> None:
        return None

    with pytest.raises(MediaError, match=r"ffmpeg failed: .*0:a:0") as caught:
        await transcoder.build_ladder(source, probe, plan_ladder(probe), tmp_path / "out", ignore)
    assert "Conversion failed" not in caught.value.reason


async def test_a_failing_progress_callback_stops_ffmpeg(transcoder, tmp_path):
    source = make_clip("no_audio", tmp_path)
    probe = await transcoder.probe(source)
    out = tmp_path / "callback-failed-out"

    async def explode(_percent: float) -> None:
        raise RuntimeError("the video was deleted meanwhile")

    with pytest.raises(RuntimeError, match="deleted"):
        await transcoder.build_ladder(source, probe, plan_ladder(probe), out, explode)
    assert _pids_running(str(out)) == []


def _pids_running(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (our unique output folder)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # the process ended while we looked
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
async def test_cancelling_the_ladder_kills_ffmpeg(transcoder, tmp_path):
    source = make_clip("long", tmp_path)
    probe = await transcoder.probe(source)
    out = tmp_path / "cancelled-ladder-out"

    async def ignore(_percent: float) -> None:
        return None

    started = time.monotonic()
    task = asyncio.create_task(transcoder.build_ladder(source, probe, plan_ladder(probe), out, ignore))
    pids: list[int] = []
    while not pids and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
        pids = _pids_running(str(out))
    assert pids, "ffmpeg never started"
    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    assert not task.done(), "the ladder finished before it could be cancelled"

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _pids_running(str(out)) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)  # killed and reaped, no zombie


async def test_thumbnail_is_a_640_wide_jpeg(transcoder, tmp_path):
    source = make_clip("rotated", tmp_path)
    probe = await transcoder.probe(source)
    out = tmp_path / "thumb.jpg"

    await transcoder.thumbnail(source, probe, out)

    image = stream(out, "video")
    assert image["codec_name"] == "mjpeg"
    assert image["width"] == 640
    assert image["height"] % 2 == 0
    assert image["height"] > image["width"]  # rotated like the video


async def test_thumbnail_falls_back_to_the_first_frame(transcoder, tmp_path):
    source = make_clip("no_audio", tmp_path)
    probe = dataclasses.replace(await transcoder.probe(source), duration=300.0)  # a third is past the end
    out = tmp_path / "thumb.jpg"

    await transcoder.thumbnail(source, probe, out)

    assert out.read_bytes()[:2] == b"\xff\xd8"


async def test_thumbnail_of_garbage_raises(transcoder, tmp_path):
    probe = ProbeResult(duration=3.0, width=640, height=360, fps=30, has_audio=False, size_bytes=1, container="mov")
    with pytest.raises(MediaError, match="thumbnail"):
        await transcoder.thumbnail(make_clip("garbage", tmp_path), probe, tmp_path / "thumb.jpg")


# --- probing details ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "container"), [(".mp4", "mov"), (".mkv", "matroska"), (".ts", "mpegts")])
async def test_s23_the_probe_names_the_demuxer_and_every_run_is_forced_to_it(any_prober, tmp_path, suffix, container):
    source = make_standard_clip(tmp_path / f"clip{suffix}", 320, 180, 1)
    probe = await any_prober.probe(source)
    assert probe.container == container

    forced = ["-protocol_whitelist", "file", "-f", container]
    ladder = commands.ladder_args(FFMPEG, source, probe, plan_ladder(probe), tmp_path, can_tonemap=False)
    assert ladder[ladder.index("-i") - 4 : ladder.index("-i") + 2] == [*forced, "-i", str(source)]
    grab = commands.thumbnail_args(FFMPEG, commands.source_input(probe, source, seek=1.0), tmp_path / "t.jpg")
    assert grab[grab.index("-i") - 6 : grab.index("-i") + 2] == [*forced, "-ss", "1.000", "-i", str(source)]
    for args in (commands.probe_args("ffprobe", source), commands.listing_args(FFMPEG, source)):
        assert args[args.index("-protocol_whitelist") + 1] == "file" and "-format_whitelist" in args

    await any_prober.thumbnail(source, probe, tmp_path / "thumb.jpg")  # and ffmpeg reads it so
    assert (tmp_path / "thumb.jpg").read_bytes()[:2] == b"\xff\xd8"


async def test_s23_a_run_without_a_probed_container_is_refused(transcoder, tmp_path):
    source = make_standard_clip(tmp_path / "clip.mp4", 320, 180, 1)
    unprobed = dataclasses.replace(await transcoder.probe(source), container="")
    with pytest.raises(MediaError, match="container is unknown"):
        await transcoder.build_ladder(source, unprobed, plan_ladder(unprobed), tmp_path / "out", _ignore)


async def _ignore(_percent: float) -> None:
    return None


async def test_both_probes_agree(tmp_path):
    source = make_clip("surround", tmp_path)
    with_ffprobe = await FfmpegTranscoder(FFMPEG, FFPROBE).probe(source)
    from_stderr = await FfmpegTranscoder(FFMPEG, None).probe(source)

    assert dataclasses.replace(from_stderr, duration=0) == dataclasses.replace(with_ffprobe, duration=0)
    assert from_stderr.duration == pytest.approx(with_ffprobe.duration, abs=0.02)
    assert (with_ffprobe.width, with_ffprobe.height, with_ffprobe.fps) == (320, 180, 30)
    assert with_ffprobe.has_audio


def test_stderr_parser_reads_newer_ffmpeg_listings():
    """ffmpeg 6+ capitalises "Display Matrix" and may report a negative angle."""
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 1901 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67), 1920x1080 [SAR 1:1 DAR 16:9], 8000 kb/s, 29.97 fps, 29.97 tbr, 600 tbn (default)
    Side data:
      Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Video: mjpeg (Baseline), yuvj420p(pc), 512x512, 90k tbr, 90k tbn (attached pic)
  Stream #0:2[0x3](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1(side), fltp, 384 kb/s
"""
    probe = from_ffmpeg_stderr(text, 1000)

    assert (probe.width, probe.height, probe.rotation) == (1080, 1920, 270)
    assert probe.duration == 62.5
    assert probe.fps == pytest.approx(29.97)
    assert probe.is_hdr
    assert (probe.has_audio, probe.audio_channels) == (True, 6)


# --- running without system binaries ----------------------------------------------------------------------


async def test_imageio_ffmpeg_fallback_without_ffprobe(tmp_path, monkeypatch):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    source = make_standard_clip(tmp_path / "small.mp4", 320, 180, 1)
    monkeypatch.setenv("PATH", "")

    binary = find_ffmpeg(None)
    assert binary == imageio_ffmpeg.get_ffmpeg_exe()
    assert find_ffprobe(None) is None
    assert find_ffmpeg("/opt/ffmpeg/bin/ffmpeg") == "/opt/ffmpeg/bin/ffmpeg"

    result = await run_pipeline(FfmpegTranscoder(binary, None), source, tmp_path / "out")
    assert (result.probe.width, result.probe.height, result.probe.has_audio) == (320, 180, True)
    assert [r.name for r in result.renditions] == ["480p"]
    monkeypatch.undo()
    assert_decodes(result.out, result.renditions)


def _mean_colour(image: Path) -> tuple[int, int, int]:
    done = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(image),
            "-vf",
            "scale=1:1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    red, green, blue = done.stdout[:3]
    return red, green, blue


async def test_thumbnail_at_a_chosen_time_takes_that_frame(transcoder, tmp_path):
    """Red for a second, then blue: the frame at 0.5 s is red, at 1.5 s blue, and the very end (where a seek
    finds no frame) gives the last second's frame rather than an error."""
    source = tmp_path / "red_then_blue.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:size=320x180:rate=25:duration=1",
        "-f", "lavfi", "-i", "color=c=blue:size=320x180:rate=25:duration=1",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source),
    )  # fmt: skip
    probe = await transcoder.probe(source)

    for at, reddish in ((0.5, True), (1.5, False), (probe.duration, False)):
        out = tmp_path / f"frame-{at}.jpg"
        await transcoder.thumbnail(source, probe, out, at=at)
        red, _, blue = _mean_colour(out)
        assert (red > blue) is reddish, (at, red, blue)
