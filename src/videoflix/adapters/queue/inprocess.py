"""The embedded default's job queue: asyncio tasks in the web process, same jobs and limits as SAQ."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from videoflix.adapters.queue.jobs import LIMITS, JobLimits, run_job
from videoflix.domain.jobs import Job, JobState, QueueSnapshot, RunningJob

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]
CANCEL_WAIT_SECONDS = 10.0  # ffmpeg is killed and reaped at once; this bounds a job that ignores cancellation


class InProcessJobQueue:
    """Runs each job as a task; a key already running is not started twice. Transcodes run one at a time."""

    def __init__(self) -> None:
        self._handlers: dict[Job, Handler] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._jobs: dict[str, tuple[Job, dict[str, Any]]] = {}  # key -> what it runs, while it runs or waits
        self._active: set[str] = set()  # keys whose handler is running now (not waiting for a slot or a retry)
        self._periodic: list[asyncio.Task[None]] = []
        self._transcode_slot = asyncio.Semaphore(1)  # two cores: one ffmpeg at a time keeps the API responsive

    def register(self, handlers: dict[Job, Handler]) -> None:
        self._handlers.update(handlers)

    @property
    def registered(self) -> frozenset[Job]:
        return frozenset(self._handlers)

    async def enqueue(self, job: Job, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        if job not in self._handlers:
            log.error("no handler for job %s", job)
            return False
        if key in self._running:
            return True
        limits = LIMITS[job]
        # The task copies this context: the request that rang the job stays on the job's log lines.
        task = asyncio.create_task(self._run(job, key, timeout or limits.timeout, limits, kwargs))
        self._running[key] = task
        self._jobs[key] = (job, kwargs)
        task.add_done_callback(lambda _t: self._forget(key))
        return True

    def _forget(self, key: str) -> None:
        self._running.pop(key, None)
        self._jobs.pop(key, None)
        self._active.discard(key)

    async def snapshot(self) -> QueueSnapshot:
        """Jobs of this process: waiting (for the transcode slot or a retry) and running."""
        states = {job: JobState() for job in Job}
        running = []
        for key, (job, kwargs) in list(self._jobs.items()):
            if key in self._active:
                states[job].running += 1
                running.append(RunningJob(job=job, key=key, kwargs=dict(kwargs)))
            else:
                states[job].queued += 1
        return QueueSnapshot(jobs=states, running=running)

    async def cancel(self, job: Job, *, key: str) -> bool:
        """Cancel the task of ``key`` and wait for it to wind down: a transcode kills its ffmpeg and removes its
        staging folder on the way out, so both are gone when this returns."""
        task = self._running.get(key)
        if task is None or task.done():
            return False
        task.cancel()
        if task is not asyncio.current_task():
            await asyncio.wait([task], timeout=CANCEL_WAIT_SECONDS)
        return True

    async def _run(self, job: Job, key: str, timeout: int, limits: JobLimits, kwargs: dict[str, Any]) -> None:
        for attempt in range(1, limits.retries + 1):
            try:
                if job is Job.TRANSCODE_VIDEO:
                    async with self._transcode_slot, asyncio.timeout(timeout):
                        await self._attempt(job, key, kwargs)
                else:
                    async with asyncio.timeout(timeout):
                        await self._attempt(job, key, kwargs)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s (%s) failed, attempt %d of %d", job, key, attempt, limits.retries)
                if attempt < limits.retries:
                    await asyncio.sleep(limits.retry_delay * 2 ** (attempt - 1))

    async def _attempt(self, job: Job, key: str, kwargs: dict[str, Any]) -> None:
        self._active.add(key)
        try:
            await run_job(job, key, self._handlers[job], kwargs)
        finally:
            self._active.discard(key)

    def every(self, seconds: float, job: Job) -> None:
        """Ring ``job`` periodically (the sweeps that pick up lost or stuck work)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                await self.enqueue(job, key=f"periodic:{job}")

        self._periodic.append(asyncio.create_task(loop()))

    async def drain(self, timeout: float = 30) -> None:
        """Wait for running jobs (tests and graceful shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._running and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(
                list(self._running.values()), timeout=max(0.01, deadline - asyncio.get_running_loop().time())
            )

    async def close(self) -> None:
        for task in [*self._periodic, *self._running.values()]:
            task.cancel()
        await asyncio.gather(*self._periodic, *self._running.values(), return_exceptions=True)
        self._periodic.clear()
