"""The SAQ worker: every ``Job`` registered under its name and run by the handler bootstrap gives for it.

Two changes to SAQ's own worker, for operators:

- **Burst mode ends when the queue is empty.** SAQ's upkeep loops sleep (up to 60 s) between rounds, and stopping
  waits for them, up to the shutdown grace period: ``videoflix worker --burst`` took about 30 s to exit. Here the
  loops wait on the worker's stop event instead of sleeping, so they end the moment the worker stops (a SIGTERM too).
- **A dependency that is down gets backoff.** With Redis down, SAQ's dequeue loop fails and tries again at once, in
  a busy loop. Here a failed dequeue or upkeep round waits 1 s, then 2, 4, ... up to 30 s, and says so in one
  warning per failure; a burst worker gives up after a few and exits non-zero (cron notices).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from redis.exceptions import RedisError
from saq import Worker
from saq.job import Job as SaqJob
from saq.queue.redis import RedisQueue
from saq.types import Context

from videoflix.adapters.queue.jobs import LIMITS, run_job
from videoflix.adapters.queue.saq_queue import QUEUE_NAME, SaqJobQueue, create_redis
from videoflix.domain.jobs import Job

log = logging.getLogger(__name__)
Handlers = Mapping[Job, Callable[..., Awaitable[Any]]]

DEQUEUE_TIMEOUT = 2.0  # seconds a dequeue blocks in Redis: short, so a stop is noticed soon, and below socket_timeout
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
BURST_GIVE_UP = 5  # failed dequeues in a row after which a burst worker stops (Redis is not coming back soon)
HEARTBEAT_TTL = 60  # seconds a worker's heartbeat (SAQ's worker_info) stays in Redis without a renewal


def backoff(failures: int) -> float:
    return min(BACKOFF_START * float(2 ** max(failures - 1, 0)), BACKOFF_MAX)


class WorkerContext(Context, total=False):
    handlers: Handlers  # set at startup, once bootstrap has wired the process
    sweepers: list[asyncio.Task[None]]


class ResilientRedisQueue(RedisQueue):
    """SAQ's Redis queue whose dequeue pauses after a failure (``pause`` waits, the worker can cut it short)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = 0
        self.pause: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> SaqJob | None:
        try:
            job = await super().dequeue(timeout, poll_interval)
        except (RedisError, OSError) as error:
            self.failures += 1
            wait = backoff(self.failures)
            log.warning("Redis unavailable (%s); dequeuing again in %.0f s", type(error).__name__, wait)
            await self.pause(wait)
            raise
        self.failures = 0
        return job


class VideoflixWorker(Worker[WorkerContext]):
    """SAQ's worker, with upkeep loops that end when the worker stops and backoff when Redis is down."""

    queue: ResilientRedisQueue

    def __init__(self, queue: ResilientRedisQueue, *args: Any, **kwargs: Any) -> None:
        super().__init__(queue, *args, **kwargs)
        self.unavailable = False  # a burst worker gave up on Redis: the command exits non-zero
        queue.pause = self._pause

    async def _pause(self, seconds: float) -> None:
        if self.burst and self.queue.failures >= BURST_GIVE_UP:
            self.unavailable = True
            self.event.set()  # stop: no new dequeue starts, and `start` returns
            return
        await self._wait(seconds)

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the worker stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)

    async def upkeep(self) -> list[asyncio.Task[None]]:
        async def poll(name: str, func: Callable[[int], Coroutine[Any, Any, Any]], every: int, arg: int) -> None:
            failures = 0
            while not self.event.is_set():
                try:
                    await func(arg)
                    failures, wait = 0, float(every)
                except Exception as error:
                    if self.event.is_set():
                        return
                    failures += 1
                    wait = max(float(every), backoff(failures))
                    log.warning("worker upkeep (%s) failed: %s; again in %.0f s", name, type(error).__name__, wait)
                await self._wait(wait)

        timers = self.timers
        return [
            asyncio.create_task(poll("abort", self.abort, timers["abort"], timers["abort"])),
            asyncio.create_task(poll("schedule", self.schedule, timers["schedule"], timers["schedule"])),
            asyncio.create_task(poll("sweep", self.queue.sweep, timers["sweep"], timers["sweep"])),
            # The heartbeat (`videoflix worker-health` reads it): renewed every few seconds, kept for a minute.
            asyncio.create_task(poll("heartbeat", self.worker_info, timers["worker_info"], HEARTBEAT_TTL)),
        ]


def saq_function(job: Job) -> Callable[..., Awaitable[Any]]:
    """The function SAQ runs for ``job``: it calls the job's handler with its job id and the id of the request that
    rang it on every log line, and keeps a heartbeat going for jobs with one, so a worker killed mid-way stops
    beating and the job is retried elsewhere (R3)."""
    heartbeat = LIMITS[job].heartbeat

    async def run(ctx: WorkerContext, **kwargs: Any) -> Any:
        handler = ctx["handlers"][job]
        saq_job = ctx.get("job")
        job_id = saq_job.key if saq_job is not None else job.value
        request_id = saq_job.meta.get("request_id") if saq_job is not None else None
        if not heartbeat or saq_job is None:
            return await run_job(job, job_id, handler, kwargs, request_id)

        async def beat() -> None:
            while True:
                await asyncio.sleep(max(1, heartbeat // 3))
                with contextlib.suppress(Exception):
                    await saq_job.update()

        beating = asyncio.create_task(beat())
        try:
            return await run_job(job, job_id, handler, kwargs, request_id)
        finally:
            beating.cancel()

    run.__qualname__ = run.__name__ = job.value
    return run


def worker_metadata() -> dict[str, Any]:
    """What the worker's heartbeat says about it: `videoflix worker-health` looks for this machine's name."""
    return {"host": socket.gethostname()}


def create_saq_worker(
    redis_url: str,
    *,
    startup: Callable[[SaqJobQueue], Awaitable[Handlers]],
    shutdown: Callable[[], Awaitable[None]],
    concurrency: int,
    burst: bool,
    periodic: Mapping[Job, int],
) -> VideoflixWorker:
    """A worker on the ``videoflix`` queue. ``startup`` wires the process and returns the job handlers;
    ``periodic`` rings each of its jobs every so many seconds (not in burst mode)."""
    queue = ResilientRedisQueue(create_redis(redis_url), name=QUEUE_NAME)
    job_queue = SaqJobQueue(queue)

    async def on_startup(ctx: WorkerContext) -> None:
        ctx["handlers"] = await startup(job_queue)
        if not burst:  # the sweep re-rings lost work, housekeeping tidies up; one key each, so many workers ring once
            ctx["sweepers"] = [
                asyncio.create_task(_ring_every(job_queue, job, every)) for job, every in periodic.items()
            ]

    async def on_shutdown(ctx: WorkerContext) -> None:
        for sweeper in ctx.get("sweepers", []):
            sweeper.cancel()
        await shutdown()

    return VideoflixWorker(
        queue,
        functions=[(job.value, saq_function(job)) for job in Job],
        startup=on_startup,
        shutdown=on_shutdown,
        concurrency=concurrency,
        burst=burst,
        dequeue_timeout=DEQUEUE_TIMEOUT,
        shutdown_grace_period_s=30,  # SIGTERM: let jobs finish; a transcode that can't is handed back to the queue
        timers={"worker_info": 10},
        metadata=worker_metadata(),
    )


async def _ring_every(queue: SaqJobQueue, job: Job, seconds: int) -> None:
    """Ring ``job`` every ``seconds``; one key, so several workers ringing at once run it once."""
    while True:
        await asyncio.sleep(seconds)
        await queue.enqueue(job, key=f"periodic:{job.value}")


async def healthy_workers(redis_url: str, host: str | None = None) -> int:
    """How many workers (on ``host``, when given) sent a heartbeat within the last minute. Raises when Redis
    cannot be reached."""
    queue = RedisQueue(create_redis(redis_url), name=QUEUE_NAME)
    try:
        workers = (await queue.info())["workers"]
    finally:
        await queue.redis.aclose()
    return sum(1 for info in workers.values() if host is None or (info.get("metadata") or {}).get("host") == host)
