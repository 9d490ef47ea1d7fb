"""Tiny test clips generated with ffmpeg at test time (no binaries in the repository, no network).

``make_clip(kind, dest_dir)`` makes one of ``KINDS``; ``make_standard_clip`` makes a plain test pattern.
Every kind matches a row of the "inputs that break pipelines" table in docs/media.md.
"""

from __future__ import annotations

import functools
import random
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from videoflix.adapters.ffmpeg.binaries import find_ffmpeg

FFMPEG = find_ffmpeg(None)
_ENCODE = ("-c:v", "libx264", "-preset", "ultrafast")


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; raise with its stderr when it fails."""
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed making a test clip: {done.stderr.strip()}")


def make_standard_clip(
    path: Path,
    width: int,
    height: int,
    seconds: float,
    audio: bool = True,
    *,
    fps: int = 30,
    pix_fmt: str = "yuv420p",
    audio_channels: int = 2,
    faststart: bool = True,
    extra: Sequence[str] = (),
) -> Path:
    """An H.264 (+ AAC) MP4 test pattern; ``extra`` goes right before the output name."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        args += ["-c:a", "aac", "-b:a", "96k", "-ac", str(audio_channels)]
    args += [*_ENCODE, "-pix_fmt", pix_fmt, "-t", str(seconds)]
    if faststart:
        args += ["-movflags", "+faststart"]
    ffmpeg(*args, *extra, str(path))
    return path


def make_large_clip(path: Path, megabytes: int) -> Path:
    """A real MP4 of at least ``megabytes`` MiB, quickly: a noisy 1 s clip at a high bitrate, looped without encoding
    (for uploads that take several requests)."""
    one = path.with_suffix(".one.mp4")
    make_standard_clip(one, 1280, 720, 1, extra=["-vf", "noise=alls=25:allf=t", "-b:v", "60M"])
    loops = max(1, -(-megabytes * 1024 * 1024 // one.stat().st_size))
    ffmpeg("-stream_loop", str(loops - 1), "-i", str(one), "-c", "copy", "-f", "mp4", str(path))
    one.unlink()
    return path


def _standard(dest: Path) -> Path:
    return make_standard_clip(dest / "standard_720p.mp4", 1280, 720, 3)


def _full_hd(dest: Path) -> Path:
    return make_standard_clip(dest / "full_hd_1080p.mp4", 1920, 1080, 2)


def _no_audio(dest: Path) -> Path:
    return make_standard_clip(dest / "no_audio.mp4", 640, 360, 2, audio=False)


def _garbage(dest: Path) -> Path:
    path = dest / "garbage.mp4"
    path.write_bytes(random.Random(1234).randbytes(200_000))  # seeded: the same bytes every run
    return path


def _empty(dest: Path) -> Path:
    path = dest / "empty.mp4"
    path.write_bytes(b"")
    return path


def _truncated(dest: Path) -> Path:
    """moov at the start (faststart), then half the bytes: every header says 4 s, half the media is there."""
    whole = make_standard_clip(dest / "whole.mp4", 320, 180, 4, faststart=True)
    data = whole.read_bytes()
    path = dest / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


def _cover_art_mp3(dest: Path) -> Path:
    path = dest / "cover_art.mp3"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-f", "lavfi", "-i", "color=red:size=64x64:duration=1",
        "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-frames:v", "1",
        "-disposition:v", "attached_pic", str(path),
    )  # fmt: skip
    return path


def _rotated(dest: Path) -> Path:
    """A phone clip: a 640x360 encode whose display matrix turns it a quarter, so it shows as 360x640."""
    plain = make_standard_clip(dest / "landscape.mp4", 640, 360, 2)
    path = dest / "rotated.mp4"
    if _supports("display_rotation"):  # ffmpeg >= 6: an input option that sets the display matrix
        ffmpeg("-display_rotation:v:0", "90", "-i", str(plain), "-c", "copy", str(path))
    else:  # ffmpeg 5.x: the old "rotate" tag, honoured when stream copying into MP4
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    plain.unlink()
    return path


def _odd_444(dest: Path) -> Path:
    return make_standard_clip(dest / "odd_853x481_yuv444.mp4", 853, 481, 2, audio=False, pix_fmt="yuv444p")


def _vfr(dest: Path) -> Path:
    """1.5 s at 30 fps then 1.5 s at 12 fps in one stream, timestamps kept as they are (VFR)."""
    path = dest / "vfr.mp4"
    graph = (
        "testsrc2=size=320x180:rate=30:duration=1.5[a];"
        "testsrc2=size=320x180:rate=12:duration=1.5[b];[a][b]concat=n=2:v=1:a=0[v]"
    )
    mode = ("-fps_mode", "vfr") if _supports("fps_mode") else ("-vsync", "vfr")
    ffmpeg("-filter_complex", graph, "-map", "[v]", *mode, *_ENCODE, "-pix_fmt", "yuv420p", str(path))
    return path


def _surround(dest: Path) -> Path:
    return make_standard_clip(dest / "surround_5_1.mp4", 320, 180, 2, audio_channels=6)


def _hdr10(dest: Path) -> Path:
    """10-bit 4:2:0 tagged bt2020/PQ (libx264 of Debian builds High 10)."""
    tags = ("-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc")
    return make_standard_clip(dest / "hdr10.mp4", 640, 360, 2, audio=False, pix_fmt="yuv420p10le", extra=tags)


def _short(dest: Path) -> Path:
    return make_standard_clip(dest / "short_0_5s.mp4", 320, 180, 0.5)


def _long(dest: Path) -> Path:
    """20 s, for cancellation: long enough that the ladder is still running a second in."""
    return make_standard_clip(dest / "long_20s.mp4", 640, 360, 20, extra=("-crf", "30"))


KINDS: dict[str, Callable[[Path], Path]] = {
    "standard": _standard,
    "full_hd": _full_hd,
    "no_audio": _no_audio,
    "garbage": _garbage,
    "empty": _empty,
    "truncated": _truncated,
    "cover_art_mp3": _cover_art_mp3,
    "rotated": _rotated,
    "odd_444": _odd_444,
    "vfr": _vfr,
    "surround": _surround,
    "hdr10": _hdr10,
    "short": _short,
    "long": _long,
}


def make_clip(kind: str, dest_dir: Path) -> Path:
    """Generate a clip of ``kind`` (one of ``KINDS``) in ``dest_dir`` and return its path."""
    if kind not in KINDS:
        raise ValueError(f"unknown clip kind {kind!r}; known: {', '.join(KINDS)}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    return KINDS[kind](dest_dir)


@functools.cache
def _supports(option: str) -> bool:
    """Whether this ffmpeg knows a command-line option (they changed between 5.x and 6+)."""
    done = subprocess.run([FFMPEG, "-hide_banner", "-h", "full"], capture_output=True, text=True, check=False)
    return f"-{option}" in done.stdout
