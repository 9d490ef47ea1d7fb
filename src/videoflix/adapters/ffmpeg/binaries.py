"""Locating the ffmpeg and ffprobe executables, and telling whether ffmpeg runs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time

ANSWER_SECONDS = 60.0  # `ffmpeg -version` costs a process start: the readiness probe asks once a minute at most
OK = "ok"

# binary -> (monotonic time the answer expires, answer)
_answers: dict[str, tuple[float, str]] = {}


def find_ffmpeg(configured: str | None = None) -> str:
    """The configured path, else ``ffmpeg`` on PATH, else the binary of the ``imageio-ffmpeg`` wheel."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # only needed when there is no system ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise FileNotFoundError(
            "ffmpeg not found: install it (apt-get install ffmpeg) or pip install 'videoflix[ffmpeg-wheel]'"
        ) from exc


def find_ffprobe(configured: str | None = None) -> str | None:
    """The configured path, else ``ffprobe`` on PATH, else ``None`` (probing then parses ``ffmpeg -i``)."""
    if configured:
        return configured
    return shutil.which("ffprobe")


async def ffmpeg_answers(configured: str | None = None) -> str:
    """``ok`` when ``ffmpeg -version`` runs, else a short reason (no paths). Cached for a minute."""
    try:
        binary = find_ffmpeg(configured)
    except FileNotFoundError:
        return "ffmpeg not found"
    cached = _answers.get(binary)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    answer = await _run_version(binary)
    _answers[binary] = (time.monotonic() + ANSWER_SECONDS, answer)
    return answer


async def _run_version(binary: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            binary, "-version", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError as error:
        return f"ffmpeg not runnable ({type(error).__name__})"
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise
    return OK if code == 0 else f"ffmpeg exited with {code}"
