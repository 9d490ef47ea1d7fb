"""Argument lists for ffmpeg and ffprobe: probing, the one-process HLS ladder, thumbnails. Pure functions, no I/O.

Every input is opened with the ``file`` protocol only, and with the demuxer the probe found forced (S23): nothing
is detected again, so a source can never be read as a playlist that names other files.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from videoflix.adapters.ffmpeg.probing import FORMAT_WHITELIST, IMAGE_DEMUXERS, VIDEO_DEMUXERS
from videoflix.domain.media.model import AUDIO_KBPS, SEGMENT_SECONDS, MediaError, PlannedRung, ProbeResult

MAX_FPS = 60
DEFAULT_FPS = Fraction(30)
# Rates players and encoders expect exactly; a probed average close to one of them is that rate.
STANDARD_RATES = tuple(
    Fraction(rate) for rate in ("24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60")
)
THUMBNAIL_WIDTH = 640
# HDR10/HLG -> SDR bt709: linearise, map the primaries, compress highlights (hable), back to video range.
TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
)
# Without zscale: at least convert the matrix, and tag the output bt709 (below) so it is never flagged PQ.
HDR_FALLBACK = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
BT709_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")


FILE_ONLY = ("-protocol_whitelist", "file")


def probe_args(ffprobe: str, source: Path) -> list[str]:
    """ffprobe's JSON report; only whitelisted demuxers may open the file (refused before its header is read)."""
    return [
        ffprobe, "-v", "error", *FILE_ONLY, "-format_whitelist", FORMAT_WHITELIST,
        "-print_format", "json", "-show_format", "-show_streams", "-i", str(source),
    ]  # fmt: skip


def listing_args(ffmpeg: str, source: Path) -> list[str]:
    """``ffmpeg -i`` without an output: the input listing on stderr (when there is no ffprobe)."""
    return [ffmpeg, "-nostdin", "-hide_banner", *FILE_ONLY, "-format_whitelist", FORMAT_WHITELIST, "-i", str(source)]


def source_input(probe: ProbeResult, source: Path, *, seek: float | None = None) -> list[str]:
    """``-i SOURCE`` with the file protocol only and the probed demuxer forced; a seek goes before ``-i`` (fast)."""
    if probe.container not in VIDEO_DEMUXERS:
        raise MediaError("the source's container is unknown: probe it first")
    args = [*FILE_ONLY, "-f", probe.container]
    if seek is not None:
        args += ["-ss", f"{seek:.3f}"]
    return [*args, "-i", str(source)]


def output_fps(probed: float) -> Fraction:
    """A constant output rate: a standard rate within 2% of the probe, else whole frames per second, <= 60."""
    if probed <= 0:
        return DEFAULT_FPS
    # the nearest one: 30 is within 2% of 29.97 too, and must stay 30 (no dropped frames)
    close = [rate for rate in STANDARD_RATES if abs(probed - rate) <= rate * Fraction(2, 100)]
    if close:
        return min(close, key=lambda rate: abs(probed - rate))
    return Fraction(min(MAX_FPS, max(1, round(probed))))


def gop_frames(fps: Fraction) -> int:
    """One keyframe per segment, so every rung cuts at the same instants."""
    return max(1, round(SEGMENT_SECONDS * fps))


def hdr_chain(probe: ProbeResult, can_tonemap: bool) -> str:
    if not probe.is_hdr:
        return ""
    return (TONEMAP if can_tonemap else HDR_FALLBACK) + ","


def ladder_filter(probe: ProbeResult, rungs: list[PlannedRung], fps: Fraction, can_tonemap: bool) -> str:
    """Decode once; tone-map and fix the frame rate once; then one scaled 8-bit 4:2:0 branch per rung."""
    count = len(rungs)
    head = f"[0:V:0]{hdr_chain(probe, can_tonemap)}fps={fps},split={count}"
    head += "".join(f"[s{i}]" for i in range(count))
    branches = [f"[s{i}]scale={rung.width}:{rung.height},setsar=1,format=yuv420p[v{i}]" for i, rung in enumerate(rungs)]
    return ";".join([head, *branches])


def ladder_args(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    rungs: list[PlannedRung],
    out_dir: Path,
    *,
    can_tonemap: bool,
    threads: int = 0,
) -> list[str]:
    """One ffmpeg run writing ``out_dir/<rung>/index.m3u8`` + ``NNN.ts`` and the master ``index.m3u8``."""
    fps = output_fps(probe.fps)
    gop = str(gop_frames(fps))
    args = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    args += [*source_input(probe, source), "-filter_complex", ladder_filter(probe, rungs, fps, can_tonemap)]
    for i in range(len(rungs)):
        args += ["-map", f"[v{i}]"]
        if probe.has_audio:
            args += ["-map", "0:a:0"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
    args += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
    args += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})"]
    for i, rung in enumerate(rungs):
        kbps = rung.video_kbps
        args += [f"-b:v:{i}", f"{kbps}k", f"-maxrate:v:{i}", f"{kbps}k", f"-bufsize:v:{i}", f"{2 * kbps}k"]
    if probe.is_hdr:
        args += list(BT709_TAGS)
    if probe.has_audio:
        # -ac 2 downmixes 5.1 (browsers play multichannel AAC mute or not at all)
        args += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2", "-ar", "48000"]
    if threads > 0:
        args += ["-threads", str(threads), "-filter_complex_threads", str(threads)]
    # many outputs fed from one decoder can outrun each other at the start
    args += ["-max_muxing_queue_size", "4096"]
    args += _hls_args(rungs, out_dir, probe.has_audio)
    return args


def var_stream_map(rungs: list[PlannedRung], has_audio: bool) -> str:
    """``v:0,a:0,name:480p v:1,a:1,name:720p``; no ``a:`` entries for a silent source."""
    entries = []
    for i, rung in enumerate(rungs):
        audio = f"a:{i}," if has_audio else ""
        entries.append(f"v:{i},{audio}name:{rung.name}")
    return " ".join(entries)


def _hls_args(rungs: list[PlannedRung], out_dir: Path, has_audio: bool) -> list[str]:
    return [
        "-f", "hls",
        "-hls_time", str(SEGMENT_SECONDS),
        "-hls_playlist_type", "vod",
        "-hls_flags", "independent_segments",
        "-hls_segment_type", "mpegts",
        "-hls_segment_filename", str(out_dir / "%v" / "%03d.ts"),
        "-master_pl_name", "index.m3u8",
        "-var_stream_map", var_stream_map(rungs, has_audio),
        str(out_dir / "%v" / "index.m3u8"),
    ]  # fmt: skip


def thumbnail_args(ffmpeg: str, source_input: list[str], out_path: Path, *, hdr_filter: str = "") -> list[str]:
    """One JPEG frame, 640 px wide (even height), of the input ``source_input`` opens."""
    args = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-loglevel", "error", *source_input]
    args += ["-map", "0:V:0", "-frames:v", "1"]
    args += ["-vf", f"{hdr_filter}scale={THUMBNAIL_WIDTH}:-2", "-q:v", "3"]
    args += ["-f", "image2", "-update", "1", str(out_path)]
    return args


def image_input(image: Path) -> list[str]:
    """An uploaded picture: the file protocol only, and only single-picture demuxers."""
    return [*FILE_ONLY, "-format_whitelist", IMAGE_DEMUXERS, "-i", str(image)]
