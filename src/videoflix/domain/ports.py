"""Ports shared by every domain package: unit of work, clock, job queue and its monitor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, Self, runtime_checkable

from videoflix.domain.jobs import Job, QueueSnapshot


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class JobQueue(Protocol):
    """A doorbell for background work. The database holds the work itself; losing a ring only delays it."""

    async def enqueue(self, job: Job, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        """Ask for ``job(**kwargs)`` to run soon; ``key`` dedupes rings, ``timeout`` overrides the job's default
        limit in seconds. Returns False when the ring was not delivered (the sweep will ring again)."""
        ...

    async def cancel(self, job: Job, *, key: str) -> bool:
        """Stop the job rung with ``key``: drop it when it waits, stop it (and what it started) when it runs.
        Returns False when there was nothing to stop or the queue could not be reached."""
        ...


@runtime_checkable
class JobMonitor(Protocol):
    """What operators see of a job queue: per job, what waits and what runs, and on what."""

    async def snapshot(self) -> QueueSnapshot: ...


class UnitOfWorkBase(Protocol):
    """One transaction: ``async with uow: ...; await uow.commit()``. Leaving without commit rolls back."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...
