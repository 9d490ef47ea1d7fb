"""SAQ on Redis: the production job queue. Enqueue failures (Redis down) are reported, never raised."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from saq.job import ACTIVE_STATUSES
from saq.queue.redis import RedisQueue

from videoflix.adapters.queue.jobs import LIMITS
from videoflix.domain.jobs import Job

log = logging.getLogger(__name__)

QUEUE_NAME = "videoflix"


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
                    **kwargs,
                )
        except Exception as error:
            log.warning("could not enqueue %s (%s): %s; the sweep will retry", job, key, type(error).__name__)
            return False
        return True

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
