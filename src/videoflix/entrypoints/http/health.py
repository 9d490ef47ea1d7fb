"""Liveness and readiness probes: ``GET /api/health`` and ``GET /api/ready`` (JSON, no auth, cheap).

``/api/health`` answers 200 while the process runs and touches nothing else: a container orchestrator restarts the
process when it stops answering. ``/api/ready`` checks what a request needs (the database, Redis when configured, a
writable media folder, a runnable ffmpeg) and answers 503 when one of them is missing, so a load balancer sends
traffic elsewhere instead of restarting anything. Each check is bounded by ``CHECK_TIMEOUT`` seconds and the checks
run concurrently, so the probe itself never hangs; the reasons are short and leak no paths or credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from videoflix.bootstrap import CheckFailed, Container
from videoflix.entrypoints.http.dependencies import ContainerDep

CHECK_TIMEOUT = 2.0  # seconds, per check
OK = "ok"
NO_STORE = {"Cache-Control": "no-store"}


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str]
    detail: str | None = None


async def _bounded(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except CheckFailed as error:
        return str(error)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:
        return f"unavailable ({type(error).__name__})"
    return OK


async def run_checks(process: Container) -> dict[str, str]:
    """Every readiness check, at once, each bounded: ``ok`` or the reason it failed."""
    checks = process.readiness_checks()
    answers = await asyncio.gather(*(_bounded(check) for check in checks.values()))
    return dict(zip(checks, answers, strict=True))


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
async def ready(process: ContainerDep) -> Response[Readiness]:
    results = await run_checks(process)
    failed = [name for name, answer in results.items() if answer != OK]
    if failed:
        body = Readiness(status="not ready", checks=results, detail="Not ready: " + ", ".join(failed) + ".")
        return Response(body, status_code=503, headers=NO_STORE)
    return Response(Readiness(status="ready", checks=results), headers=NO_STORE)


HEALTH_HANDLERS = [health, ready]
