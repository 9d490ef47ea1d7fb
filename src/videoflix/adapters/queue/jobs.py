"""Names and run limits of every background job, shared by the SAQ and the in-process queue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobLimits:
    timeout: int  # seconds; SAQ's default of 10 s would kill a transcode
    retries: int
    retry_delay: float
    heartbeat: int = 0  # seconds without a heartbeat after which SAQ declares a (killed) worker's job lost


DELIVER_EMAIL = "deliver_email"
TRANSCODE_VIDEO = "transcode_video"
SWEEP = "sweep"

LIMITS: dict[str, JobLimits] = {
    DELIVER_EMAIL: JobLimits(timeout=60, retries=3, retry_delay=5.0),
    TRANSCODE_VIDEO: JobLimits(timeout=3600, retries=3, retry_delay=10.0, heartbeat=60),
    SWEEP: JobLimits(timeout=120, retries=1, retry_delay=0.0),
}
