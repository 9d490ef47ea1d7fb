"""The SAQ worker process: bootstrap wires it, every job is a thin call into a domain service (see
``Container.job_handlers``)."""

from __future__ import annotations

import asyncio
import logging
import os

from videoflix.bootstrap import create_worker, describe, start_worker_metrics
from videoflix.settings import Settings

log = logging.getLogger("videoflix.worker")
REDIS_UNAVAILABLE_EXIT = 1


def run_worker(settings: Settings, *, concurrency: int = 2, burst: bool = False) -> int:
    """Run until SIGTERM/SIGINT (or, with ``burst``, until the queue is empty); the exit code: 0, or 1 when a
    burst worker gave up because Redis was unavailable."""
    # One process with a port of its own: its counters live in this process, not in the web's multiprocess folder.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log.info("worker starting (%s, concurrency %d%s)", describe(settings), concurrency, ", burst" if burst else "")
    server = start_worker_metrics(settings)
    worker = create_worker(settings, concurrency=concurrency, burst=burst)
    try:
        asyncio.run(worker.start())
    finally:
        if server is not None:
            server.stop()
    if worker.unavailable:
        log.error("Redis stayed unavailable: the burst ended before the queue was empty")
        return REDIS_UNAVAILABLE_EXIT
    return 0
