"""Liveness and readiness probes: ``GET /api/health`` and ``GET /api/ready`` (JSON, no auth, cheap).

``/api/health`` answers 200 while the process runs and touches nothing else: a container orchestrator restarts the
process when it stops answering. ``/api/ready`` checks what a request needs (the database, Redis when configured, a
writable media folder, a runnable ffmpeg) and answers 503 when one of them is missing, so a load balancer sends
traffic elsewhere instead of restarting anything. Each check is bounded by ``CHECK_TIMEOUT`` seconds and the checks
run concurrently, so the probe itself never hangs; the reasons are short and leak no paths or credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from videoflix.adapters.ffmpeg.binaries import find_ffmpeg
from videoflix.entrypoints.http.state import container_of

CHECK_TIMEOUT = 2.0  # seconds, per check
FFMPEG_CACHE_SECONDS = 60.0  # `ffmpeg -version` costs a process start: ask once a minute at most
OK = "ok"
NO_STORE = {"Cache-Control": "no-store"}

# binary -> (monotonic time the answer expires, answer)
_ffmpeg_answers: dict[str, tuple[float, str]] = {}


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str]
    detail: str | None = None


class CheckFailed(Exception):
    """A check's short, safe reason for saying no."""


async def _database(request: Request) -> None:
    async with container_of(request).engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis(request: Request) -> None:
    await container_of(request).redis.ping()


def _probe_media_root(root: Path) -> None:
    if not root.is_dir():
        raise CheckFailed("media folder missing")
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".ready-", delete=True) as handle:
            handle.write(b"ok")
            handle.flush()
    except OSError as error:
        raise CheckFailed(f"media folder not writable ({type(error).__name__})") from None


async def _media(request: Request) -> None:
    await asyncio.to_thread(_probe_media_root, container_of(request).settings.media_root)


async def _run_ffmpeg(binary: str) -> str:
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


async def _ffmpeg(request: Request) -> None:
    try:
        binary = find_ffmpeg(container_of(request).settings.ffmpeg_binary)
    except FileNotFoundError:
        raise CheckFailed("ffmpeg not found") from None
    now = time.monotonic()
    cached = _ffmpeg_answers.get(binary)
    if cached is not None and cached[0] > now:
        answer = cached[1]
    else:
        answer = await _run_ffmpeg(binary)
        _ffmpeg_answers[binary] = (time.monotonic() + FFMPEG_CACHE_SECONDS, answer)
    if answer != OK:
        raise CheckFailed(answer)


async def _bounded(check: Callable[[Request], Awaitable[None]], request: Request) -> str:
    try:
        await asyncio.wait_for(check(request), CHECK_TIMEOUT)
    except CheckFailed as error:
        return str(error)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:
        return f"unavailable ({type(error).__name__})"
    return OK


@get(
    "/api/health",
    tags=["operations"],
    summary="Liveness: the process is up (no database, no Redis)",
)
async def health() -> Response[Health]:
    return Response(Health(status="ok"), headers=NO_STORE)


@get(
    "/api/ready",
    tags=["operations"],
    summary="Readiness: database, Redis (when configured), media folder writable, ffmpeg runnable",
    responses={503: ResponseSpec(Readiness, description="Not ready: at least one check failed; see `checks`.")},
)
async def ready(request: Request) -> Response[Readiness]:
    checks: dict[str, Callable[[Request], Awaitable[None]]] = {"database": _database}
    if container_of(request).redis is not None:
        checks["redis"] = _redis
    checks["media"] = _media
    checks["ffmpeg"] = _ffmpeg
    answers = await asyncio.gather(*(_bounded(check, request) for check in checks.values()))
    results = dict(zip(checks, answers, strict=True))
    failed = [name for name, answer in results.items() if answer != OK]
    if failed:
        body = Readiness(status="not ready", checks=results, detail="Not ready: " + ", ".join(failed) + ".")
        return Response(body, status_code=503, headers=NO_STORE)
    return Response(Readiness(status="ready", checks=results), headers=NO_STORE)


HEALTH_HANDLERS = [health, ready]

__all__ = ["CHECK_TIMEOUT", "HEALTH_HANDLERS", "Health", "Readiness", "health", "ready"]
