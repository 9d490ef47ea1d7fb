"""Videos and their HLS ladder: the lifecycle media owns, what a source can become, how to check the result."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

SEGMENT_SECONDS = 4


class VideoStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class TranscodeOutcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do: complete already, deleted, or another worker is on it
    BUSY = "busy"  # another process is transcoding it right now


@dataclass(frozen=True)
class Rendition:
    """One published rung of the HLS ladder."""

    name: str  # "480p", "720p" or "1080p"
    width: int
    height: int
    bandwidth: int  # peak bits per second, as the master playlist announces it
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"


@dataclass
class Video:
    title: str
    description: str
    category: str
    created_at: datetime
    updated_at: datetime
    status: VideoStatus = VideoStatus.QUEUED
    id: int | None = None
    progress: float = 0.0
    failure_reason: str | None = None
    duration: float | None = None
    source_size: int | None = None
    source_name: str | None = None
    thumbnail: str | None = None  # the media store's name for the image, e.g. "thumbnails/3-1a2b.jpg"
    custom_thumbnail: bool = False  # uploaded by staff: regeneration keeps it
    renditions: list[Rendition] = field(default_factory=list)
    published: bool = False  # a complete ladder is being served; stays true while a new one is built
    attempts: int = 0
    processing_started_at: datetime | None = None  # when the current (or last) transcode started


@dataclass(frozen=True)
class TranscodeReport:
    """How one transcode went, for logs and metrics: ``outcome`` is a ``TranscodeOutcome`` value, or ``error`` /
    ``cancelled`` when it was interrupted (the video goes back to the queue)."""

    video_id: int
    outcome: str
    seconds: float  # wall time, claim to publish
    media_seconds: float | None = None  # length of the video, when it was probed
    renditions: tuple[str, ...] = ()

    @property
    def realtime_factor(self) -> float | None:
        """Seconds of video per second of work (2.0: twice as fast as playing it)."""
        if not self.media_seconds or self.seconds <= 0:
            return None
        return self.media_seconds / self.seconds


class TemporaryKind(StrEnum):
    UPLOAD = "upload"  # a file in the media store's uploads folder (an upload or a converted image)
    STAGING = "staging"  # a staging folder of a ladder being built


@dataclass(frozen=True)
class TemporaryFile:
    """A temporary file or folder of the media store; ``modified_at`` is its latest write (inside, for a folder)."""

    kind: TemporaryKind
    name: str
    modified_at: datetime


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class VideoQuery:
    """One page of the staff's list, newest first: titles containing ``text`` (case-insensitive), optionally one
    status and one category (case-insensitive). ``MediaService.search`` builds it from what staff typed."""

    text: str = ""
    status: VideoStatus | None = None
    category: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class VideoPage:
    videos: list[Video]
    total: int  # every video matching the query, on all pages


@dataclass(frozen=True)
class CategoryCount:
    name: str
    videos: int


class MediaError(Exception):
    """The source cannot be turned into a video (not a video, truncated, ...). ``reason`` is shown to staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutputNotStored(Exception):
    """ffmpeg finished, but a file its playlists name is missing or empty: the storage did not keep the bytes (the
    soak test saw it on a full media volume, ffmpeg still exiting 0). Not the source's fault, so not a ``MediaError``:
    the transcode is retried like any passing fault, and nothing is published."""


@dataclass(frozen=True)
class ProbeResult:
    """What ffprobe found in a source. ``width``/``height`` are as displayed (rotation applied)."""

    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    size_bytes: int
    video_codec: str = ""
    pix_fmt: str = ""
    audio_channels: int = 0
    rotation: int = 0
    is_hdr: bool = False
    container: str = ""  # the demuxer that read it ("mov", "matroska", ...): every later run is forced to it (S23)
    coded_pixels: int = 0  # width x height as stored, before rotation and pixel aspect: what decoding costs

    @property
    def frame_pixels(self) -> int:
        """Pixels per frame, the larger of the stored and the displayed picture (a pixel aspect ratio cannot hide
        a huge stored frame)."""
        return max(self.width * self.height, self.coded_pixels)


@dataclass(frozen=True)
class MediaLimits:
    """What one upload may ask of the machine (S23). A source over any limit is refused before it is queued."""

    max_duration_seconds: int = 4 * 3600
    max_frame_pixels: int = 4096 * 2160
    max_fps: int = 120
    # A real video needs bytes for every second it claims: a 7 KB file claiming an hour is a forged header.
    min_bytes_per_second: int = 1000
    max_transcode_seconds: int = 12 * 3600  # the job timeout, whatever the duration


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def check_limits(probe: ProbeResult, limits: MediaLimits) -> None:
    """Raise ``MediaError`` naming the first limit the probed source is over."""
    if probe.duration > limits.max_duration_seconds:
        raise MediaError(
            f"it lasts {_clock(probe.duration)}, longer than the maximum duration of "
            f"{_clock(limits.max_duration_seconds)}"
        )
    if probe.frame_pixels > limits.max_frame_pixels:
        raise MediaError(
            f"its picture has {probe.frame_pixels} pixels ({probe.width}x{probe.height}), more than the maximum "
            f"of {limits.max_frame_pixels} pixels per frame"
        )
    if probe.fps > limits.max_fps:
        raise MediaError(f"its frame rate is {probe.fps:.2f} fps, more than the maximum of {limits.max_fps} fps")
    if probe.size_bytes < probe.duration * limits.min_bytes_per_second:
        raise MediaError(
            f"it claims {_clock(probe.duration)} of video in {probe.size_bytes} bytes "
            f"({probe.size_bytes / probe.duration:.0f} bytes per second; at least "
            f"{limits.min_bytes_per_second} expected): a damaged file or a forged header"
        )


@dataclass(frozen=True)
class RungSpec:
    name: str
    short_side: int
    video_kbps: int  # target and cap (maxrate); bufsize is twice this


LADDER = (
    RungSpec("480p", 480, 1400),
    RungSpec("720p", 720, 2800),
    RungSpec("1080p", 1080, 5000),
)
AUDIO_KBPS = 128
RESOLUTIONS = tuple(spec.name for spec in LADDER)


@dataclass(frozen=True)
class PlannedRung:
    name: str
    width: int
    height: int
    video_kbps: int


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def plan_ladder(probe: ProbeResult) -> list[PlannedRung]:
    """Rungs by the short side of the displayed picture, never upscaled; portrait stays portrait.

    A source smaller than 480p still gets one "480p" rung, at its own size.
    """
    short, long_ = sorted((probe.width, probe.height))
    portrait = probe.height > probe.width
    rungs: list[PlannedRung] = []
    for spec in LADDER:
        if spec.short_side > short and rungs:
            break
        target_short = min(spec.short_side, short)
        scale = target_short / short
        s, l_ = _even(target_short), _even(long_ * scale)
        width, height = (s, l_) if portrait else (l_, s)
        rungs.append(PlannedRung(spec.name, width, height, spec.video_kbps))
        if spec.short_side > short:
            break
    return rungs


_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)", re.MULTILINE)


def playlist_duration(playlist_text: str) -> float:
    """Sum of the segment durations of a media playlist."""
    return sum(float(value) for value in _EXTINF.findall(playlist_text))


def media_segments(playlist_text: str) -> list[str]:
    """The URIs a media playlist names (its segments), in order."""
    return [line.strip() for line in playlist_text.splitlines() if line.strip() and not line.startswith("#")]


def check_segments_stored(name: str, playlist_text: str, size_of: Callable[[str], int | None]) -> None:
    """Every segment of a rung's playlist is a non-empty file (``size_of``: its size, None when missing)."""
    for segment in media_segments(playlist_text):
        size = size_of(segment)
        if not size:
            state = "missing" if size is None else "empty"
            raise OutputNotStored(f"rendition {name}: segment {segment} is {state} (was the media volume full?)")


def check_rendition(name: str, playlist_text: str | None, expected_duration: float) -> None:
    """A rung is complete when its playlist is a finished VOD playlist as long as the source (within 1 s or 5%)."""
    if playlist_text is None:
        raise MediaError(f"rendition {name} is missing")
    if "#EXT-X-ENDLIST" not in playlist_text:
        raise MediaError(f"rendition {name} is incomplete")
    got = playlist_duration(playlist_text)
    tolerance = max(1.0, expected_duration * 0.05)
    if got <= 0 or abs(got - expected_duration) > tolerance:
        raise MediaError(
            f"rendition {name} lasts {got:.2f}s but the source lasts {expected_duration:.2f}s (truncated source?)"
        )
