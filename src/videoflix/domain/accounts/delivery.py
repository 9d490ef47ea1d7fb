"""Email delivery from the outbox: idempotent, retried with backoff, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from videoflix.domain.accounts.model import DeliveryOutcome, EmailStatus, OutboxEmail
from videoflix.domain.accounts.ports import DeliveryError, Mailer, UnitOfWorkFactory
from videoflix.domain.errors import Unavailable
from videoflix.domain.jobs import Job
from videoflix.domain.ports import Clock, JobQueue

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
MAX_ATTEMPTS = 20
MAX_BACKOFF = timedelta(hours=1)
# Once the SMTP server took an email, recording that must survive a database that is briefly away: while the lease
# (LEASE_SECONDS) holds nobody else sends it, but once it runs out the sweep sends it a second time. So the record
# is tried again for about half a minute, well inside the lease and the delivery job's timeout (60 s).
RECORD_SENT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at an hour: an SMTP outage of a day still delivers."""
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class EmailDelivery:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        mailer: Mailer,
        queue: JobQueue,
        clock: Clock,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._uow = uow
        self._mailer = mailer
        self._queue = queue
        self._clock = clock
        self._sleep = sleep

    async def deliver(self, outbox_id: int) -> DeliveryOutcome:
        """Send one outbox email unless it was sent already or someone else is sending it."""
        async with self._uow() as uow:
            claimed = await uow.outbox.claim(outbox_id, self._clock.now(), LEASE_SECONDS)
            await uow.commit()
        if claimed is None:
            return DeliveryOutcome.SKIPPED
        try:
            await self._mailer.send(claimed.message, message_id=f"outbox-{outbox_id}")
        except DeliveryError as error:
            async with self._uow() as uow:
                if error.permanent:
                    await uow.outbox.mark_failed(outbox_id, error.reason)
                    outcome = DeliveryOutcome.FAILED
                elif claimed.attempts + 1 >= MAX_ATTEMPTS:
                    await uow.outbox.mark_failed(outbox_id, f"gave up after {MAX_ATTEMPTS} attempts: {error.reason}")
                    outcome = DeliveryOutcome.FAILED
                else:
                    retry_at = self._clock.now() + backoff(claimed.attempts + 1)
                    await uow.outbox.mark_retry(outbox_id, error.reason, retry_at)
                    outcome = DeliveryOutcome.RETRY
                await uow.commit()
            log.warning("email %s not delivered (%s): %s", outbox_id, outcome, error.reason)
            return outcome
        await self._record_sent(outbox_id)
        return DeliveryOutcome.SENT

    async def _record_sent(self, outbox_id: int) -> None:
        """Mark a sent email sent, trying again while the database is unavailable (see RECORD_SENT_DELAYS): the
        soak test restarted Postgres while SMTP was slow and saw an activation email sent twice without this."""
        for delay in (*RECORD_SENT_DELAYS, None):
            try:
                async with self._uow() as uow:
                    await uow.outbox.mark_sent(outbox_id, self._clock.now())
                    await uow.commit()
                return
            except Unavailable:
                if delay is None:
                    raise  # the lease runs out later: the email may go out once more (at least once, never lost)
                log.warning("email %s was sent; the database is unavailable, recording it in %.1f s", outbox_id, delay)
                await self._sleep(delay)

    async def sweep(self, limit: int = 500) -> int:
        """Ring again for every pending email that is due: lost rings, crashed workers, SMTP back up."""
        async with self._uow() as uow:
            due = await uow.outbox.due(self._clock.now(), limit)
        for outbox_id in due:
            await self._queue.enqueue(Job.DELIVER_EMAIL, key=f"email:{outbox_id}", outbox_id=outbox_id)
        return len(due)

    async def recent(self, status: EmailStatus | None = None, limit: int = 100) -> list[OutboxEmail]:
        """The outbox for operators, newest first: every email, or those of one status."""
        async with self._uow() as uow:
            return await uow.outbox.recent(status, limit)
