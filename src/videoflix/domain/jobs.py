"""The names of every background job: one source, used by the domain to ring, and by both queues to register.

SAQ uses a job's name to find its handler. A name spelled twice could drift, and SAQ would then drop the job
quietly; so the domain rings with a ``Job`` member and ``bootstrap.job_handlers`` maps every member to its handler.
"""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    DELIVER_EMAIL = "deliver_email"
    TRANSCODE_VIDEO = "transcode_video"
    SWEEP = "sweep"
