"""Running ffmpeg/ffprobe as child processes without blocking the event loop or leaking them."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

LineHandler = Callable[[str], Awaitable[None]]

_CHUNK = 64 * 1024
_MAX_LINE = 1000  # characters kept of one stderr line
_IGNORED = ("conversion failed!", "exiting normally", "at least one output file must be specified")


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes  # only when captured, else b""
    stderr: list[str]  # the last lines, bounded


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines of a pipe, read in chunks so one endless line cannot exhaust the reader's limit."""
    pending = b""
    while chunk := await stream.read(_CHUNK):
        pending += chunk
        *complete, pending = pending.replace(b"\r", b"\n").split(b"\n")
        for raw in complete:
            yield raw.decode("utf-8", "replace")
        pending = pending[-_CHUNK:]
    if pending:
        yield pending.decode("utf-8", "replace")


async def _collect_tail(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    async for line in _lines(stream):
        if line.strip():
            tail.append(line.rstrip()[:_MAX_LINE])


async def _feed(stream: asyncio.StreamReader, on_line: LineHandler) -> None:
    async for line in _lines(stream):
        await on_line(line)


async def _capture(stream: asyncio.StreamReader, into: list[bytes]) -> None:
    into.append(await stream.read())


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill a still running child and reap it, even while the caller is being cancelled."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    # shield: a second cancellation must not leave a zombie behind
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(proc.wait())


async def run(
    args: Sequence[str],
    *,
    capture_stdout: bool = False,
    on_stdout_line: LineHandler | None = None,
    stderr_lines: int = 50,
) -> Completed:
    """Run a program (never through a shell); drain stdout and stderr concurrently so neither pipe fills.

    On cancellation (or any error) the child is killed and reaped before the exception propagates.
    """
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=stderr_lines)
    captured: list[bytes] = []
    stdout_reader = (
        _capture(proc.stdout, captured) if capture_stdout else _feed(proc.stdout, on_stdout_line or _discard)
    )
    readers = [asyncio.ensure_future(stdout_reader), asyncio.ensure_future(_collect_tail(proc.stderr, tail))]
    try:
        # plain gather rather than a TaskGroup: a failing progress callback propagates unwrapped
        await asyncio.gather(*readers)
        returncode = await proc.wait()
    finally:
        for reader in readers:
            reader.cancel()
        await _kill(proc)
    return Completed(returncode, b"".join(captured), list(tail))


async def _discard(_line: str) -> None:
    return None


def error_summary(stderr: list[str], source: str | None = None, lines: int = 3, limit: int = 400) -> str:
    """The last meaningful stderr lines, without ffmpeg's generic trailers and the (long) source path."""
    meaningful = [line.strip() for line in stderr if not line.strip().lower().startswith(_IGNORED)]
    text = " | ".join(meaningful[-lines:])
    if source:
        text = text.replace(f"{source}: ", "").replace(source, "<source>")
    return text[:limit] or "no error output"
