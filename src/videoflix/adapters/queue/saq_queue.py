"""SAQ on Redis: the production job queue. Enqueue failures (Redis down) are reported, never raised."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from saq.job import ACTIVE_STATUSES, Status
from saq.queue.redis import RedisQueue

from videoflix.adapters.queue.jobs import LIMITS
from videoflix.domain.context import request_id as current_request_id
from videoflix.domain.jobs import Job, JobState, QueueSnapshot, RunningJob

log = logging.getLogger(__name__)

QUEUE_NAME = "videoflix"
SNAPSHOT_LIMIT = 10_000  # jobs read per snapshot: enough for any real backlog, bounded for a runaway one
WAITING = frozenset({Status.NEW, Status.QUEUED})  # queued, or waiting for a retry's delay


def create_redis(url: str) -> Redis:
    # Short timeouts: with Redis down, a request must not hang waiting for a doorbell.
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def create_saq_queue(redis: Redis) -> RedisQueue:
    return RedisQueue(redis, name=QUEUE_NAME)


class SaqJobQueue:
    def __init__(self, queue: RedisQueue) -> None:
        self.queue = queue

    async def enqueue(self, job: Job, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        limits = LIMITS[job]
        request_id = current_request_id.get()
        try:
            async with asyncio.timeout(3):
                await self.queue.enqueue(
                    job.value,
                    key=key,
                    timeout=timeout or limits.timeout,
                    retries=limits.retries,
                    retry_delay=limits.retry_delay,
                    retry_backoff=True,
                    heartbeat=limits.heartbeat,
                    # The request that rang the job: the worker puts its id on the job's log lines.
                    meta={"request_id": request_id} if request_id else {},
                    **kwargs,
                )
        except Exception as error:
            log.warning("could not enqueue %s (%s): %s; the sweep will retry", job, key, type(error).__name__)
            return False
        return True

    async def snapshot(self) -> QueueSnapshot:
        """Every unfinished job in Redis (queued, waiting for a retry, running), by job; running ones with their
        arguments. Raises when Redis cannot be reached."""
        states = {job: JobState() for job in Job}
        running: list[RunningJob] = []
        redis = self.queue.redis
        ids = await redis.zrange(self.queue.namespace("incomplete"), 0, SNAPSHOT_LIMIT - 1)
        ids += await redis.lrange(self.queue.namespace("active"), 0, SNAPSHOT_LIMIT - 1)  # type: ignore[misc]
        unique = list(dict.fromkeys(ids))  # a running job is in both
        raw: list[bytes | None] = await redis.mget(unique) if unique else []
        for payload in raw:
            saq_job = self.queue.deserialize(payload) if payload else None
            if saq_job is None or saq_job.function not in Job.__members__.values():
                continue
            job = Job(saq_job.function)
            if saq_job.status is Status.ACTIVE:
                states[job].running += 1
                started = saq_job.started / 1000 if saq_job.started else None
                running.append(
                    RunningJob(job=job, key=saq_job.key, kwargs=dict(saq_job.kwargs or {}), started_at=started)
                )
            elif saq_job.status in WAITING:
                states[job].queued += 1
        running.sort(key=lambda item: item.started_at or time.time())
        return QueueSnapshot(jobs=states, running=running)

    async def cancel(self, job: Job, *, key: str) -> bool:
        """Abort the SAQ job of ``key``: a waiting one is dropped; a running one is cancelled by its worker, which
        polls for aborts every second (ffmpeg is killed with it). Redis down: reported, never raised."""
        try:
            async with asyncio.timeout(3):
                saq_job = await self.queue.job(key)
                if saq_job is None or saq_job.status not in ACTIVE_STATUSES:
                    return False
                await self.queue.abort(saq_job, error=f"cancelled: {job} {key}")
        except Exception as error:
            log.warning("could not cancel %s (%s): %s", job, key, type(error).__name__)
            return False
        return True

    async def close(self) -> None:
        try:
            async with asyncio.timeout(3):
                await self.queue.disconnect()
        except Exception as error:
            # SAQ's disconnect unsubscribes on the server first; with Redis down, just drop our connections.
            log.warning("closing the queue: Redis unavailable (%s)", type(error).__name__)
            await self.queue.redis.aclose()
