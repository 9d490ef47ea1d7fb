"""Which stream files may be asked for: a whitelist of resolutions and strict file names (S19)."""

from __future__ import annotations

import base64
import hashlib
import hmac
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


class StreamLinks:
    """Signed, expiring links to one rendition of one video: ``/media/hls/<expires>/<signature>/<id>/<rendition>/``.

    The master playlist names its renditions by these links, so the rendition playlists and their segments (relative
    URIs) are fetched without cookies, and nginx or a CDN can serve them. The signature is an HMAC-SHA256 over
    ``<expires>/<id>/<rendition>`` with a key derived from the signing key (never the key itself, which also signs
    the sessions). Expiry times are rounded up to a ``window``, so every viewer of a video gets the same link within
    it: one cache entry per window instead of one per viewer. A link lives ``lifetime`` to ``lifetime + window``
    seconds; whoever holds it can watch until then (what a signed link means), whatever happens to their session.
    """

    PREFIX = "/media/hls"
    KEY_PURPOSE = b"videoflix stream links"

    def __init__(self, signing_key: str, lifetime_seconds: int, window_seconds: int) -> None:
        self._key = hmac.new(signing_key.encode(), self.KEY_PURPOSE, hashlib.sha256).digest()
        self.lifetime = lifetime_seconds
        self.window = window_seconds

    def expiry(self, now: float) -> int:
        """When a link made at ``now`` expires: ``now + lifetime``, rounded up to the window."""
        return -(-int(now + self.lifetime) // self.window) * self.window

    def signature(self, expires: int, video_id: int, resolution: str) -> str:
        message = f"{expires}/{video_id}/{resolution}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def link(self, video_id: int, resolution: str, now: float) -> str:
        """The folder of one rendition, ending in ``/``: its playlist is ``<link>index.m3u8``."""
        expires = self.expiry(now)
        return f"{self.PREFIX}/{expires}/{self.signature(expires, video_id, resolution)}/{video_id}/{resolution}/"

    def valid(self, expires: int, signature: str, video_id: int, resolution: str, now: float) -> bool:
        """The link is ours, unaltered, for a rendition we publish, and not expired."""
        if resolution not in RESOLUTIONS or expires <= now:
            return False
        # As bytes: compare_digest refuses str with non-ASCII characters, and a URL may carry any.
        return hmac.compare_digest(signature.encode(), self.signature(expires, video_id, resolution).encode())

    def master_playlist(self, video_id: int, text: str, now: float) -> str:
        """A master playlist whose rendition URIs (``480p/index.m3u8``) are replaced by signed links."""
        lines = []
        for line in text.splitlines():
            rendition = line.partition("/")[0]
            if line == f"{rendition}/{PLAYLIST}" and rendition in RESOLUTIONS:
                line = self.link(video_id, rendition, now) + PLAYLIST
            lines.append(line)
        return "\n".join(lines) + "\n"
