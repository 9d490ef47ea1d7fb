"""Turning ffprobe JSON, or the stream listing of ``ffmpeg -i``, into a ``ProbeResult``.

Both parsers reduce their input to the same small stream descriptions, so the rules that reject a
source (not a container we read, no video, cover art only, no duration) live in one place: ``assemble``.

Which containers (S23): only self-contained files, read by a demuxer that never opens another file or URL. A
playlist (HLS), a concat list or an image sequence names other files, and ffmpeg would read them, anywhere on the
server. Probing runs with ``-format_whitelist`` (ffmpeg refuses any other demuxer before it reads the header, so
nothing a playlist names is opened), and every later run forces the demuxer the probe found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from videoflix.domain.media.model import MediaError, ProbeResult

# ffmpeg's demuxer names. mp3 is no video container, but an MP3 with cover art looks like a video to a naive
# pipeline: it is read, so the stream rules can refuse it with a reason staff understand.
VIDEO_DEMUXERS = ("mov", "matroska", "mpegts", "avi", "flv", "asf", "mpeg", "ogg", "mp3")
FORMAT_WHITELIST = ",".join(VIDEO_DEMUXERS)
ACCEPTED_CONTAINERS = "MP4/MOV, Matroska/WebM, MPEG-TS, AVI, FLV, WMV, MPEG-PS or Ogg"
# Single pictures, for uploaded thumbnails (no image2: it expands patterns in file names into sequences; no svg: it
# may load other files).
IMAGE_DEMUXERS = ",".join(("png_pipe", "jpeg_pipe", "webp_pipe", "gif", "bmp_pipe", "tiff_pipe"))
_NAMES = {"hls": "an HLS playlist", "concat": "a concat list", "image2": "an image sequence", "tty": "a text file"}
_NOT_ON_WHITELIST = re.compile(r"^\[(\w+) @ [^\]]*\] Format not on whitelist")
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
# Codecs that usually carry one still picture; with no frame rate they are cover art, not video.
IMAGE_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpeg2000", "jpegls"})


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str = ""
    sar: Fraction = Fraction(1)
    rotation: int = 0
    transfer: str = ""
    duration: float | None = None
    cover_art: bool = False


@dataclass(frozen=True)
class AudioStream:
    channels: int
    duration: float | None = None


def not_readable(detail: str) -> MediaError:
    return MediaError(f"not a video file: ffmpeg could not read it ({detail})")


def refused_format(stderr: list[str]) -> MediaError | None:
    """The reason for a file ffmpeg recognised as a format outside the whitelist, or None."""
    for line in stderr:
        if match := _NOT_ON_WHITELIST.match(line.strip()):
            return not_a_container(match[1])
    return None


def not_a_container(format_name: str) -> MediaError:
    what = _NAMES.get(format_name, f"the format {format_name!r}")
    return MediaError(f"not a video file: {what} is not accepted; upload one video file ({ACCEPTED_CONTAINERS})")


def demuxer_of(format_name: str) -> str:
    """The demuxer to force for a probed ``format_name`` ("mov,mp4,m4a,3gp,3g2,mj2" -> "mov")."""
    demuxer = format_name.split(",", 1)[0].strip()
    if demuxer not in VIDEO_DEMUXERS:
        raise not_a_container(demuxer or "unknown")
    return demuxer


def assemble(
    duration: float | None,
    videos: list[VideoStream],
    audios: list[AudioStream],
    size_bytes: int,
    format_name: str,
) -> ProbeResult:
    """Apply the acceptance rules and build the result; ``MediaError`` carries a reason staff can act on."""
    container = demuxer_of(format_name)
    real = [video for video in videos if not video.cover_art]
    if not real:
        raise MediaError(_no_video_reason(bool(videos), bool(audios)))
    video = real[0]
    if video.width <= 0 or video.height <= 0:
        raise MediaError("the video stream has no picture size")
    duration = _first_positive(duration, video.duration, *(audio.duration for audio in audios))
    if duration is None:
        raise MediaError("unknown or zero duration")
    width, height = _display_size(video)
    return ProbeResult(
        duration=duration,
        width=width,
        height=height,
        fps=video.fps,
        has_audio=bool(audios),
        size_bytes=size_bytes,
        video_codec=video.codec,
        pix_fmt=video.pix_fmt,
        audio_channels=audios[0].channels if audios else 0,
        rotation=video.rotation,
        is_hdr=video.transfer in HDR_TRANSFERS,
        container=container,
        coded_pixels=video.width * video.height,
    )


def _no_video_reason(has_pictures: bool, has_audio: bool) -> str:
    if has_pictures and has_audio:
        return "no video stream (audio with cover art)"
    if has_pictures:
        return "no video stream (a still image)"
    if has_audio:
        return "no video stream (audio only)"
    return "no video stream"


def _first_positive(*values: float | None) -> float | None:
    return next((value for value in values if value is not None and value > 0), None)


def _display_size(video: VideoStream) -> tuple[int, int]:
    """Width/height as shown: non-square pixels stretched, a quarter turn swaps the sides."""
    width = video.width
    if video.sar > 0 and video.sar != 1:
        width = max(2, round(width * video.sar))
    if video.rotation % 180 == 90:
        return video.height, width
    return width, video.height


def normalize_rotation(value: float) -> int:
    """Degrees in 0..359, snapped to quarter turns (the only ones a display matrix of a phone uses)."""
    return (round(value / 90) * 90) % 360


def _ratio(text: str | None) -> Fraction | None:
    """ "30000/1001", "16:9" or "29.97" as a fraction; None for missing or zero denominators ("0/0")."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:[/:]\s*(\d+)\s*)?", text)
    if not match:
        return None
    numerator, denominator = Fraction(match[1]), int(match[2] or 1)
    return numerator / denominator if denominator else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- ffprobe JSON ------------------------------------------------------------------------------------------


def from_ffprobe(data: dict[str, Any], size_bytes: int) -> ProbeResult:
    """Parse ``ffprobe -print_format json -show_format -show_streams``."""
    streams = data.get("streams") or []
    videos = [_ffprobe_video(s) for s in streams if s.get("codec_type") == "video"]
    audios = [
        AudioStream(int(s.get("channels") or 0), _float(s.get("duration")))
        for s in streams
        if s.get("codec_type") == "audio"
    ]
    format_info = data.get("format") or {}
    duration = _float(format_info.get("duration"))
    return assemble(duration, videos, audios, size_bytes, str(format_info.get("format_name") or ""))


def _ffprobe_video(stream: dict[str, Any]) -> VideoStream:
    codec = str(stream.get("codec_name") or "")
    avg = _ratio(stream.get("avg_frame_rate"))
    fps = avg if avg else _ratio(stream.get("r_frame_rate"))
    disposition = stream.get("disposition") or {}
    cover = bool(disposition.get("attached_pic")) or (
        codec in IMAGE_CODECS and (not avg or str(stream.get("nb_frames")) == "1")
    )
    return VideoStream(
        codec=codec,
        width=int(stream.get("width") or 0),
        height=int(stream.get("height") or 0),
        fps=float(fps or 0),
        pix_fmt=str(stream.get("pix_fmt") or ""),
        sar=_ratio(stream.get("sample_aspect_ratio")) or Fraction(1),
        rotation=_ffprobe_rotation(stream),
        transfer=str(stream.get("color_transfer") or ""),
        duration=_float(stream.get("duration")),
        cover_art=cover,
    )


def _ffprobe_rotation(stream: dict[str, Any]) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            return normalize_rotation(float(side_data["rotation"]))
    rotate = _float((stream.get("tags") or {}).get("rotate"))  # ffmpeg < 5 reported a tag
    return normalize_rotation(rotate) if rotate else 0


# --- ffmpeg -i stderr --------------------------------------------------------------------------------------

_INPUT = re.compile(r"^Input #0, (.+?), from '")
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*?: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_TAG_DURATION = re.compile(r"^\s*DURATION\s*: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)", re.IGNORECASE)
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*: (-?\d+)")
_SIZE = re.compile(r"^(\d+)x(\d+)(?:\s*\[SAR (\d+):(\d+))?")
_PIX_FMT = re.compile(r"^([a-z0-9_]+)(?:\((.*)\))?$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(k?) (fps|tbr)$")
_NAMED_LAYOUTS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8}


def from_ffmpeg_stderr(text: str, size_bytes: int, source: str = "") -> ProbeResult:
    """Parse the input listing that ``ffmpeg -hide_banner -i SRC`` prints (used when there is no ffprobe)."""
    lines = text.splitlines()
    input_line = next((match for line in lines if (match := _INPUT.match(line))), None)
    if input_line is None:
        refused = refused_format(lines)
        if refused is not None:
            raise refused
        detail = next((ln for ln in reversed(lines) if ln.strip() and "output file" not in ln), "")
        raise not_readable(detail.replace(f"{source}: ", "").strip() or "unknown error")
    duration: float | None = None
    videos: list[VideoStream] = []
    audios: list[AudioStream] = []
    for kind, header, block in _stream_blocks(lines):
        if kind == "Video":
            videos.append(_stderr_video(header, block))
        elif kind == "Audio":
            audios.append(AudioStream(_channels(_fields(header)), _tag_duration(block)))
    for line in lines:
        if match := _DURATION.match(line):
            duration = _seconds(match)
            break
    return assemble(duration, videos, audios, size_bytes, input_line[1])


def _stream_blocks(lines: list[str]) -> list[tuple[str, str, list[str]]]:
    """(kind, text after "Kind: ", the indented lines under it) for every stream of input #0."""
    blocks: list[tuple[str, str, list[str]]] = []
    for line in lines:
        if line.startswith(("Output #", "Stream mapping", "Input #1")):
            break
        if match := _STREAM.match(line):
            blocks.append((match[1], match[2], []))
        elif blocks and line.startswith("    "):
            blocks[-1][2].append(line)
    return blocks


def _fields(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    fields, depth, current = [], 0, ""
    for char in text:
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0:
            fields.append(current.strip())
            current = ""
        else:
            current += char
    fields.append(current.strip())
    return fields


def _stderr_video(header: str, block: list[str]) -> VideoStream:
    fields = _fields(header)
    codec = fields[0].split(" ", 1)[0]
    pix_fmt, colors = "", ""
    if len(fields) > 1 and (match := _PIX_FMT.match(fields[1])):
        pix_fmt, colors = match[1], match[2] or ""
    width = height = 0
    sar = Fraction(1)
    rates: dict[str, float] = {}
    for field in fields[1:]:
        if (size := _SIZE.match(field)) and not width:
            width, height = int(size[1]), int(size[2])
            if size[3] and int(size[4]):
                sar = Fraction(int(size[3]), int(size[4])) or Fraction(1)
        elif rate := _RATE.match(field.split(" (")[0]):
            rates[rate[3]] = float(rate[1]) * (1000 if rate[2] else 1)
    cover = "(attached pic)" in header or (codec in IMAGE_CODECS and "fps" not in rates)
    return VideoStream(
        codec=codec,
        width=width,
        height=height,
        fps=rates.get("fps") or rates.get("tbr") or 0.0,
        pix_fmt=pix_fmt,
        sar=sar,
        rotation=_block_rotation(block),
        transfer=next((t for t in HDR_TRANSFERS if t in colors), ""),
        duration=_tag_duration(block),
        cover_art=cover,
    )


def _block_rotation(block: list[str]) -> int:
    for line in block:
        if match := _ROTATION.search(line) or _ROTATE_TAG.match(line):
            return normalize_rotation(float(match[1]))
    return 0


def _tag_duration(block: list[str]) -> float | None:
    """Matroska writes a per-stream DURATION tag; the only stream duration ``ffmpeg -i`` shows."""
    for line in block:
        if match := _TAG_DURATION.match(line):
            return _seconds(match)
    return None


def _seconds(match: re.Match[str]) -> float:
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def _channels(fields: list[str]) -> int:
    """Channel count from the layout field, e.g. "stereo", "5.1(side)", "7.1", "3 channels"."""
    for field in fields[1:]:
        name = field.split("(")[0].strip()
        if name in _NAMED_LAYOUTS:
            return _NAMED_LAYOUTS[name]
        if match := re.fullmatch(r"(\d+) channels", name):
            return int(match[1])
        if match := re.fullmatch(r"(\d)\.(\d)", name):
            return int(match[1]) + int(match[2])
    return 0
