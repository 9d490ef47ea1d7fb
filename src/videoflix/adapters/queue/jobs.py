"""Run limits of every background job, shared by the SAQ and the in-process queue, and the one way both queues run
a job: with its job id (and the id of the request that rang it) on every log line, a line when it starts and when
it ends, and its figures in the metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from videoflix.adapters.metrics import prometheus as metrics
from videoflix.domain.context import job_context
from videoflix.domain.jobs import Job

log = logging.getLogger("videoflix.jobs")


@dataclass(frozen=True)
class JobLimits:
    timeout: int  # seconds; SAQ's default of 10 s would kill a transcode
    retries: int
    retry_delay: float
    heartbeat: int = 0  # seconds without a heartbeat after which SAQ declares a (killed) worker's job lost
    periodic: bool = False  # rung on a timer: its start and an uneventful end are logged at DEBUG only


LIMITS: dict[Job, JobLimits] = {
    Job.DELIVER_EMAIL: JobLimits(timeout=60, retries=3, retry_delay=5.0),
    Job.TRANSCODE_VIDEO: JobLimits(timeout=3600, retries=3, retry_delay=10.0, heartbeat=60),
    Job.SWEEP: JobLimits(timeout=120, retries=1, retry_delay=0.0, periodic=True),
    Job.HOUSEKEEPING: JobLimits(timeout=900, retries=1, retry_delay=0.0, periodic=True),
}


def _uneventful(result: Any) -> bool:
    return isinstance(result, Mapping) and not any(result.values())


async def run_job(
    job: Job,
    job_id: str,
    handler: Callable[..., Awaitable[Any]],
    kwargs: dict[str, Any],
    request_id: str | None = None,
) -> Any:
    """``handler(**kwargs)`` with ``job_id`` and ``request_id`` on its log lines; logs and measures the run."""
    quiet = LIMITS[job].periodic
    with job_context(job_id, request_id):
        subject = " ".join(f"{key}={value}" for key, value in kwargs.items())
        log.log(logging.DEBUG if quiet else logging.INFO, "job %s started %s", job.value, subject)
        started = time.perf_counter()
        try:
            result = await handler(**kwargs)
        except BaseException as error:
            seconds = time.perf_counter() - started
            metrics.job_finished(job.value, "error", seconds)
            log.warning("job %s %s ended with %s after %.1fs", job.value, subject, type(error).__name__, seconds)
            raise
        seconds = time.perf_counter() - started
        outcome = str(result) if isinstance(result, str) else "done"
        metrics.job_finished(job.value, outcome, seconds)
        level = logging.DEBUG if quiet and _uneventful(result) else logging.INFO
        log.log(level, "job %s %s finished: %s in %.1fs", job.value, subject, result, seconds)
        return result
