"""Locating the ffmpeg and ffprobe executables."""

from __future__ import annotations

import shutil


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
        raise FileNotFoundError("ffmpeg not found: install it or the imageio-ffmpeg package") from exc


def find_ffprobe(configured: str | None = None) -> str | None:
    """The configured path, else ``ffprobe`` on PATH, else ``None`` (probing then parses ``ffmpeg -i``)."""
    if configured:
        return configured
    return shutil.which("ffprobe")
