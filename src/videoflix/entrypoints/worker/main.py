"""The SAQ worker process: bootstrap wires it, every job is a thin call into a domain service (see
``Container.job_handlers``)."""

from __future__ import annotations

import asyncio

from videoflix.bootstrap import create_worker
from videoflix.settings import Settings


def run_worker(settings: Settings, *, concurrency: int = 2, burst: bool = False) -> None:
    """Run until SIGTERM/SIGINT (or, with ``burst``, until the queue is empty)."""
    asyncio.run(create_worker(settings, concurrency=concurrency, burst=burst).start())
