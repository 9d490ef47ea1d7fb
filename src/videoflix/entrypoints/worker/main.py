"""The SAQ worker: each job is a thin call into a domain service through the container."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from saq import CronJob, Worker

from videoflix.adapters.queue.jobs import LIMITS, TRANSCODE_VIDEO
from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue
from videoflix.bootstrap import Container, bootstrap
from videoflix.settings import Settings

log = logging.getLogger(__name__)
Context = dict[str, Any]


def _container(ctx: Context) -> Container:
    return ctx["container"]  # type: ignore[no-any-return]


async def deliver_email(ctx: Context, *, outbox_id: int) -> str:
    return await _container(ctx).email_delivery.deliver(outbox_id)


async def transcode_video(ctx: Context, *, video_id: int) -> str:
    """Transcode while telling SAQ we are alive; a worker killed mid-way stops the heartbeat and the job is
    retried elsewhere (R3)."""
    job = ctx.get("job")
    interval = max(1, LIMITS[TRANSCODE_VIDEO].heartbeat // 3)

    async def heartbeat() -> None:
        while job is not None:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await job.update()

    beating = asyncio.create_task(heartbeat())
    try:
        return await _container(ctx).media.transcode(video_id)
    finally:
        beating.cancel()


async def sweep(ctx: Context) -> dict[str, int]:
    return await _container(ctx).sweep()


def create_worker(settings: Settings, *, concurrency: int = 2, burst: bool = False) -> Worker:
    if not settings.redis_url:
        raise SystemExit("The worker needs REDIS_URL. Without it, jobs run inside `videoflix serve`.")
    queue = create_saq_queue(create_redis(settings.redis_url))

    async def startup(ctx: Context) -> None:
        ctx["container"] = await bootstrap(settings, queue=SaqJobQueue(queue))
        await ctx["container"].sweep()

    async def shutdown(ctx: Context) -> None:
        if "container" in ctx:
            await ctx["container"].close()

    return Worker(
        queue,
        functions=[deliver_email, transcode_video, sweep],
        cron_jobs=[CronJob(sweep, cron="* * * * *", timeout=LIMITS["sweep"].timeout)],
        startup=startup,
        shutdown=shutdown,
        concurrency=concurrency,
        burst=burst,
        dequeue_timeout=1.0 if burst else 0.0,  # SAQ refuses burst mode without a positive dequeue timeout
        shutdown_grace_period_s=30,  # SIGTERM: let jobs finish; a transcode that can't is handed back to the queue
    )
