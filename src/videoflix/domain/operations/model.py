"""Operations: what an overview shows and what housekeeping removes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from videoflix.domain.jobs import QueueSnapshot


@dataclass(frozen=True)
class HousekeepingPolicy:
    """How old each kind of leftover must be before housekeeping removes it."""

    sent_email_retention: timedelta = timedelta(days=14)
    expired_token_retention: timedelta = timedelta(days=1)  # after a one-time or refresh token expired
    stale_upload_age: timedelta = timedelta(hours=24)  # an upload or converted image nobody took over
    stale_staging_age: timedelta = timedelta(hours=48)  # a ladder build nothing has written to (its worker died)


@dataclass
class Overview:
    """The state of the service for operators (admin API, metrics)."""

    queue: QueueSnapshot | None  # None when the queue cannot be asked (Redis down)
    emails: dict[str, int] = field(default_factory=dict)  # by status
    videos: dict[str, int] = field(default_factory=dict)  # by status
    queue_error: str | None = None
