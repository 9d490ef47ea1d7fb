"""Short generated demo videos (ffmpeg ``lavfi`` sources): a fresh install gets a full dashboard, no downloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from videoflix.adapters.ffmpeg.process import error_summary, run

WIDTH, HEIGHT, FPS = 1280, 720, 25


@dataclass(frozen=True)
class DemoClip:
    title: str
    description: str
    category: str
    video: str  # a lavfi filter graph producing WIDTHxHEIGHT at FPS (no duration: the output is cut with -t)
    tone: int  # Hz of the sine soundtrack, so every clip also sounds different
    seconds: float


_SIZE = f"size={WIDTH}x{HEIGHT}:rate={FPS}"

# Ordered so that any prefix spans several categories, and the first ones are the cheapest to generate.
DEMO_CLIPS: tuple[DemoClip, ...] = (
    DemoClip(
        "Signal Check",
        "A test pattern counts down the seconds while a steady tone holds the line. Nobody blinks first.",
        "Documentary",
        f"testsrc2={_SIZE}",
        440,
        4,
    ),
    DemoClip(
        "Colour Bars at Midnight",
        "The broadcast is over, the bars remain. A quiet drama about waiting for a signal that never comes.",
        "Drama",
        f"smptehdbars={_SIZE}",
        1000,
        5,
    ),
    DemoClip(
        "Slow Dissolve",
        "Two colours drift towards each other across the screen. A love story in gradients.",
        "Romance",
        f"gradients={_SIZE}:speed=0.02:nb_colors=3",
        330,
        6,
    ),
    DemoClip(
        "Rule 110",
        "A one-dimensional automaton races down the frame, cell by cell, with no way to stop it.",
        "Action",
        f"cellauto={_SIZE}:rule=110",
        660,
        4,
    ),
    DemoClip(
        "The Colony",
        "Conway's Game of Life, observed up close: birth, survival and overcrowding in a few seconds.",
        "Documentary",
        f"life=size=160x90:rate={FPS}:mold=10:ratio=0.3:life_color=#f0c040:death_color=#402010,"
        f"scale={WIDTH}:{HEIGHT}:flags=neighbor",
        220,
        5,
    ),
    DemoClip(
        "Spectrum",
        "Every colour at once, turning slowly. Sometimes the one you were looking for was there all along.",
        "Romance",
        f"colorspectrum={_SIZE}:type=all,hue=H=t",
        523,
        5,
    ),
    DemoClip(
        "Reverse Angle",
        "The same picture, seen from the other side. Nothing is what it seemed.",
        "Drama",
        f"testsrc2={_SIZE},negate,hue=H=2*t",
        294,
        6,
    ),
    DemoClip(
        "Triangles Never Lie",
        "A Sierpinski fractal on the run: every corner hides another chase.",
        "Action",
        f"sierpinski={_SIZE}",
        784,
        4,
    ),
)


def demo_clips(count: int) -> list[DemoClip]:
    """``count`` clips with distinct titles: the catalogue above, then numbered repeats of it."""
    clips = []
    for index in range(count):
        base = DEMO_CLIPS[index % len(DEMO_CLIPS)]
        round_ = index // len(DEMO_CLIPS)
        if round_:
            base = DemoClip(
                f"{base.title} ({round_ + 1})", base.description, base.category, base.video, base.tone, base.seconds
            )
        clips.append(base)
    return clips


def demo_clip_args(ffmpeg: str, clip: DemoClip, out_path: Path) -> list[str]:
    """H.264 + AAC stereo MP4 (written with ``-f mp4``: ``out_path`` may have any extension)."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", clip.video,
        "-f", "lavfi", "-i", f"sine=frequency={clip.tone}:sample_rate=48000:beep_factor=2",
        "-map", "0:v:0", "-map", "1:a:0", "-t", f"{clip.seconds:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        "-movflags", "+faststart", "-f", "mp4", str(out_path),
    ]  # fmt: skip


async def make_demo_clip(ffmpeg: str, clip: DemoClip, out_path: Path) -> Path:
    """Generate one demo clip; ``RuntimeError`` with ffmpeg's complaint when it cannot."""
    done = await run(demo_clip_args(ffmpeg, clip, out_path))
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not generate the demo clip {clip.title!r}: {error_summary(done.stderr)}")
    return out_path
