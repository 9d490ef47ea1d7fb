"""The SAQ worker: every ``Job`` registered under its name and run by the handler bootstrap gives for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from saq import Worker
from saq.types import Context

from videoflix.adapters.queue.jobs import LIMITS
from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue
from videoflix.domain.jobs import Job

log = logging.getLogger(__name__)
Handlers = Mapping[Job, Callable[..., Awaitable[Any]]]


class WorkerContext(Context, total=False):
    handlers: Handlers  # set at startup, once bootstrap has wired the process
    sweeper: asyncio.Task[None]


def saq_function(job: Job) -> Callable[..., Awaitable[Any]]:
    """The function SAQ runs for ``job``: it calls the job's handler, and keeps a heartbeat going for jobs with one,
    so a worker killed mid-way stops beating and the job is retried elsewhere (R3)."""
    heartbeat = LIMITS[job].heartbeat

    async def run(ctx: WorkerContext, **kwargs: Any) -> Any:
        handler = ctx["handlers"][job]
        saq_job = ctx.get("job")
        if not heartbeat or saq_job is None:
            return await handler(**kwargs)

        async def beat() -> None:
            while True:
                await asyncio.sleep(max(1, heartbeat // 3))
                with contextlib.suppress(Exception):
                    await saq_job.update()

        beating = asyncio.create_task(beat())
        try:
            return await handler(**kwargs)
        finally:
            beating.cancel()

    run.__qualname__ = run.__name__ = job.value
    return run


def create_saq_worker(
    redis_url: str,
    *,
    startup: Callable[[SaqJobQueue], Awaitable[Handlers]],
    shutdown: Callable[[], Awaitable[None]],
    concurrency: int,
    burst: bool,
    sweep_every: int,
) -> Worker[WorkerContext]:
    """A worker on the ``videoflix`` queue. ``startup`` wires the process and returns the job handlers."""
    queue = create_saq_queue(create_redis(redis_url))
    job_queue = SaqJobQueue(queue)

    async def on_startup(ctx: WorkerContext) -> None:
        ctx["handlers"] = await startup(job_queue)
        if not burst:  # the sweep re-rings lost work; SWEEP_INTERVAL_SECONDS, as on the embedded default
            ctx["sweeper"] = asyncio.create_task(_ring_every(job_queue, Job.SWEEP, sweep_every))

    async def on_shutdown(ctx: WorkerContext) -> None:
        sweeper = ctx.get("sweeper")
        if sweeper is not None:
            sweeper.cancel()
        await shutdown()

    return Worker(
        queue,
        functions=[(job.value, saq_function(job)) for job in Job],
        startup=on_startup,
        shutdown=on_shutdown,
        concurrency=concurrency,
        burst=burst,
        dequeue_timeout=1.0 if burst else 0.0,  # SAQ refuses burst mode without a positive dequeue timeout
        shutdown_grace_period_s=30,  # SIGTERM: let jobs finish; a transcode that can't is handed back to the queue
    )


async def _ring_every(queue: SaqJobQueue, job: Job, seconds: int) -> None:
    """Ring ``job`` every ``seconds``; one key, so several workers ringing at once run it once."""
    while True:
        await asyncio.sleep(seconds)
        await queue.enqueue(job, key=f"periodic:{job.value}")
