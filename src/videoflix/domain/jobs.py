"""The names of every background job: one source, used by the domain to ring, and by both queues to register.

SAQ uses a job's name to find its handler. A name spelled twice could drift, and SAQ would then drop the job
quietly; so the domain rings with a ``Job`` member and ``bootstrap.job_handlers`` maps every member to its handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Job(StrEnum):
    DELIVER_EMAIL = "deliver_email"
    TRANSCODE_VIDEO = "transcode_video"
    SWEEP = "sweep"
    HOUSEKEEPING = "housekeeping"


@dataclass
class JobState:
    """How many rings of one job wait (``queued``, retries and delays included) and run right now."""

    queued: int = 0
    running: int = 0


@dataclass(frozen=True)
class RunningJob:
    """A job at work, and what it works on (its arguments: ``video_id``, ``outbox_id``)."""

    job: Job
    key: str
    kwargs: dict[str, Any]
    started_at: float | None = None  # Unix time, when the queue knows it


@dataclass
class QueueSnapshot:
    """The queue as operators see it: per job, what waits and what runs."""

    jobs: dict[Job, JobState] = field(default_factory=dict)
    running: list[RunningJob] = field(default_factory=list)
