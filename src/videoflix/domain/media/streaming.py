"""Which stream files may be asked for: a whitelist of resolutions and strict file names (S19)."""

from __future__ import annotations

import re

from videoflix.domain.media.model import RESOLUTIONS

PLAYLIST = "index.m3u8"
# What our ladder writes: 000.ts, 001.ts, ... Nothing else is ever served from a rung folder.
SEGMENT_NAME = re.compile(r"^[0-9]{1,6}\.ts$")


def is_stream_file(resolution: str | None, name: str) -> bool:
    """True for the master playlist (``resolution`` None), a rung's playlist, or one of its segments."""
    if resolution is None:
        return name == PLAYLIST
    return resolution in RESOLUTIONS and (name == PLAYLIST or SEGMENT_NAME.fullmatch(name) is not None)
