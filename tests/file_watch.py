"""Whether anyone opened a file: Linux inotify through ctypes, for tests that prove a file was never read."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

IN_ACCESS = 0x00000001
IN_OPEN = 0x00000020
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class OpenWatch:
    """Watches one file for opens and reads by any process, from creation until ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if _libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN | IN_ACCESS) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch failed for {path}")

    def touched(self) -> bool:
        """True when the file was opened or read since the watch began (or since the last call)."""
        try:
            return len(os.read(self._fd, 65536)) > 0
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> OpenWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
