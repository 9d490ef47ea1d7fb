"""The master playlist: read what ffmpeg announced, write the one we publish."""

from __future__ import annotations

import math
import re
from pathlib import Path

from videoflix.domain.media.model import AUDIO_KBPS, PlannedRung, Rendition

FALLBACK_VIDEO_CODEC = "avc1.640028"  # High profile, level 4.0: covers every rung up to 1080p
AAC_LC = "mp4a.40.2"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_VERSION = re.compile(r"^#EXT-X-VERSION:(\d+)", re.MULTILINE)


def parse_master(text: str) -> dict[str, dict[str, str]]:
    """Attributes of every ``#EXT-X-STREAM-INF``, keyed by the URI on the next line."""
    variants: dict[str, dict[str, str]] = {}
    attributes: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            pairs = _ATTRIBUTE.findall(line.partition(":")[2])
            attributes = {key: value.strip('"') for key, value in pairs}
        elif line and not line.startswith("#") and attributes is not None:
            variants[line] = attributes
            attributes = None
    return variants


def master_version(text: str | None) -> int:
    match = _VERSION.search(text or "")
    return max(3, int(match[1])) if match else 3


def codecs_for(announced: dict[str, str] | None, has_audio: bool) -> str:
    """RFC 6381 codecs: what ffmpeg announced, completed with AAC when there is audio."""
    codecs = [c for c in (announced or {}).get("CODECS", "").split(",") if c]
    if not any(c.startswith("avc1.") for c in codecs):
        codecs.insert(0, FALLBACK_VIDEO_CODEC)
    if has_audio and not any(c.startswith("mp4a.") for c in codecs):
        codecs.append(AAC_LC)
    return ",".join(codecs)


def renditions_from(rungs: list[PlannedRung], ffmpeg_master: str | None, has_audio: bool) -> list[Rendition]:
    """One ``Rendition`` per rung; bandwidth is the nominal peak (the video cap plus the audio bitrate)."""
    announced = parse_master(ffmpeg_master or "")
    audio_kbps = AUDIO_KBPS if has_audio else 0
    return [
        Rendition(
            name=rung.name,
            width=rung.width,
            height=rung.height,
            bandwidth=(rung.video_kbps + audio_kbps) * 1000,
            codecs=codecs_for(announced.get(f"{rung.name}/index.m3u8"), has_audio),
        )
        for rung in rungs
    ]


def render_master(renditions: list[Rendition], version: int = 3) -> str:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in sorted(renditions, key=lambda r: r.bandwidth):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f'RESOLUTION={rendition.width}x{rendition.height},CODECS="{rendition.codecs}"'
        )
        lines.append(f"{rendition.name}/index.m3u8")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Readers never see a half-written playlist."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


_TARGET = re.compile(r"^#EXT-X-TARGETDURATION:(\d+)$", re.MULTILINE)
_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)", re.MULTILINE)


def with_valid_target_duration(text: str) -> str:
    """ffmpeg rounds the target duration to the nearest second, so a clip under a second gets
    ``TARGETDURATION:0``, which players reject. RFC 8216 wants at least every segment's duration rounded."""
    durations = [float(value) for value in _EXTINF.findall(text)]
    match = _TARGET.search(text)
    if not durations or match is None:
        return text
    needed = max(1, math.ceil(max(durations)))
    if int(match.group(1)) >= needed:
        return text
    return _TARGET.sub(f"#EXT-X-TARGETDURATION:{needed}", text, count=1)
