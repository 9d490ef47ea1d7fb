"""The overview operators look at, and the periodic housekeeping that keeps tables and folders from growing."""

from __future__ import annotations

import logging

from videoflix.domain.accounts.model import User
from videoflix.domain.jobs import QueueSnapshot
from videoflix.domain.media.model import TemporaryFile, TemporaryKind
from videoflix.domain.media.ports import MediaStore
from videoflix.domain.operations.model import HousekeepingPolicy, Overview
from videoflix.domain.operations.ports import OperationsUnitOfWorkFactory
from videoflix.domain.ports import Clock, JobMonitor

log = logging.getLogger(__name__)


class OperationsService:
    def __init__(
        self,
        uow: OperationsUnitOfWorkFactory,
        store: MediaStore,
        clock: Clock,
        policy: HousekeepingPolicy,
        monitor: JobMonitor | None = None,
    ) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self._policy = policy
        self._monitor = monitor

    async def overview(self) -> Overview:
        """Queue depth and running jobs, outbox and videos by status. A queue that cannot be asked (Redis down)
        leaves ``queue`` empty and says why; the database is asked in any case."""
        async with self._uow() as uow:
            emails = await uow.operations.email_counts()
            videos = await uow.operations.video_counts()
        queue: QueueSnapshot | None = None
        error = None
        if self._monitor is not None:
            try:
                queue = await self._monitor.snapshot()
            except Exception as failure:
                error = f"unavailable ({type(failure).__name__})"
        return Overview(queue=queue, emails=emails, videos=videos, queue_error=error)

    async def users(self, limit: int = 1000) -> list[User]:
        """Accounts for operators (``videoflix users list``), oldest first."""
        async with self._uow() as uow:
            return await uow.operations.users(limit)

    async def housekeeping(self) -> dict[str, int]:
        """Remove sent emails past their retention, expired tokens, and temporary files nobody will use."""
        now = self._clock.now()
        policy = self._policy
        async with self._uow() as uow:
            removed = {
                "sent_emails": await uow.operations.delete_sent_emails(now - policy.sent_email_retention),
                "one_time_tokens": await uow.operations.delete_expired_one_time_tokens(
                    now - policy.expired_token_retention
                ),
                "refresh_tokens": await uow.operations.delete_expired_refresh_tokens(
                    now - policy.expired_token_retention
                ),
            }
            await uow.commit()
        removed["uploads"] = removed["staging"] = 0
        limits = {TemporaryKind.UPLOAD: policy.stale_upload_age, TemporaryKind.STAGING: policy.stale_staging_age}
        for item in self._store.temporary_files():
            if item.modified_at <= now - limits[item.kind]:
                self._remove(item)
                removed["uploads" if item.kind is TemporaryKind.UPLOAD else "staging"] += 1
        for what, count in removed.items():
            if count:
                log.info("housekeeping removed %d %s", count, what.replace("_", " "))
        return removed

    def _remove(self, item: TemporaryFile) -> None:
        age = self._clock.now() - item.modified_at
        log.info("housekeeping: removing %s %s (untouched for %s)", item.kind.value, item.name, age)
        self._store.remove_temporary_file(item)
