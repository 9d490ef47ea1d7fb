"""Run limits of every background job, shared by the SAQ and the in-process queue."""

from __future__ import annotations

from dataclasses import dataclass

from videoflix.domain.jobs import Job


@dataclass(frozen=True)
class JobLimits:
    timeout: int  # seconds; SAQ's default of 10 s would kill a transcode
    retries: int
    retry_delay: float
    heartbeat: int = 0  # seconds without a heartbeat after which SAQ declares a (killed) worker's job lost


LIMITS: dict[Job, JobLimits] = {
    Job.DELIVER_EMAIL: JobLimits(timeout=60, retries=3, retry_delay=5.0),
    Job.TRANSCODE_VIDEO: JobLimits(timeout=3600, retries=3, retry_delay=10.0, heartbeat=60),
    Job.SWEEP: JobLimits(timeout=120, retries=1, retry_delay=0.0),
}
