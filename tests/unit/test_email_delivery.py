"""Outbox delivery: idempotent, retried with backoff while SMTP is down, never lost, given up on for good reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.fakes import FakeClock, FakeJobQueue, FakeMailer, FakeUnitOfWorkFactory, OutboxRow
from videoflix.domain.accounts.delivery import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    RECORD_SENT_DELAYS,
    EmailDelivery,
    backoff,
)
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.errors import Unavailable
from videoflix.domain.jobs import Job

MESSAGE = EmailMessage(to="jane@example.com", subject="Confirm your email", text="link", html="<p>link</p>")


@dataclass
class Setup:
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    mailer: FakeMailer
    queue: FakeJobQueue
    delivery: EmailDelivery

    async def add_email(self, message: EmailMessage = MESSAGE) -> int:
        async with self.uow() as uow:
            outbox_id = await uow.outbox.add(message, self.clock.now())
            await uow.commit()
        return outbox_id

    def row(self, outbox_id: int) -> OutboxRow:
        return self.uow.state.outbox[outbox_id]

    async def sweep_rings(self) -> list[int]:
        """Run the sweep and return the outbox ids it rang for."""
        self.queue.clear()
        count = await self.delivery.sweep()
        rung = [ring.kwargs["outbox_id"] for ring in self.queue.delivered(Job.DELIVER_EMAIL)]
        assert count == len(rung)
        return rung


@pytest.fixture
def setup() -> Setup:
    clock, uow, mailer, queue = FakeClock(), FakeUnitOfWorkFactory(), FakeMailer(), FakeJobQueue()
    return Setup(clock, uow, mailer, queue, EmailDelivery(uow, mailer, queue, clock))


async def test_deliver_sends_the_email_once_and_marks_it_sent(setup: Setup) -> None:
    outbox_id = await setup.add_email()

    assert await setup.delivery.deliver(outbox_id) == "sent"

    (sent,) = setup.mailer.sent
    assert sent.message == MESSAGE and sent.message_id == f"outbox-{outbox_id}"
    row = setup.row(outbox_id)
    assert row.status == "sent" and row.sent_at == setup.clock.now() and row.last_error is None
    assert await setup.sweep_rings() == []


async def test_delivering_the_same_email_again_sends_nothing(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    await setup.delivery.deliver(outbox_id)

    assert await setup.delivery.deliver(outbox_id) == "skipped"
    setup.clock.advance(days=1)
    assert await setup.delivery.deliver(outbox_id) == "skipped"

    assert len(setup.mailer.sent) == 1 and setup.mailer.attempts == 1


async def test_delivering_an_unknown_id_does_nothing(setup: Setup) -> None:
    assert await setup.delivery.deliver(12345) == "skipped"
    assert setup.mailer.attempts == 0


async def test_a_second_worker_does_not_send_an_email_that_is_being_sent(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    concurrent: list[str] = []

    async def meanwhile() -> None:
        setup.mailer.during_send = None
        concurrent.append(await setup.delivery.deliver(outbox_id))

    setup.mailer.during_send = meanwhile

    assert await setup.delivery.deliver(outbox_id) == "sent"
    assert concurrent == ["skipped"] and len(setup.mailer.sent) == 1


async def test_r1_a_transient_error_schedules_a_retry_after_the_backoff(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.mailer.fail_next(1, "421 4.3.2 service not available")

    assert await setup.delivery.deliver(outbox_id) == "retry"

    row = setup.row(outbox_id)
    assert row.status == "pending" and row.attempts == 1 and "421" in (row.last_error or "")
    assert row.available_at == setup.clock.now() + backoff(1)
    assert await setup.sweep_rings() == []  # not before the backoff elapsed
    assert await setup.delivery.deliver(outbox_id) == "skipped"  # nor by a stray ring

    setup.clock.advance(backoff(1))
    assert await setup.sweep_rings() == [outbox_id]
    assert await setup.delivery.deliver(outbox_id) == "sent"
    assert len(setup.mailer.sent) == 1 and setup.row(outbox_id).status == "sent"


async def test_r1_an_smtp_outage_of_many_attempts_still_delivers_exactly_once(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.mailer.fail_next(6, "connection refused")
    outcomes = []

    for _ in range(7):
        assert await setup.sweep_rings() == [outbox_id]
        outcomes.append(await setup.delivery.deliver(outbox_id))
        setup.clock.advance(backoff(setup.row(outbox_id).attempts))

    assert outcomes == ["retry"] * 6 + ["sent"]
    assert len(setup.mailer.sent) == 1
    assert await setup.sweep_rings() == []


def test_backoff_doubles_from_five_seconds_and_is_capped_at_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert backoff(30) == MAX_BACKOFF == timedelta(hours=1)
    assert backoff(0) == timedelta(seconds=5)


async def test_a_permanent_error_marks_the_email_failed_and_the_sweep_never_rings_it(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.mailer.fail_next(1, "550 5.1.1 no such user", permanent=True)

    assert await setup.delivery.deliver(outbox_id) == "failed"

    row = setup.row(outbox_id)
    assert row.status == "failed" and "550" in (row.last_error or "")
    setup.clock.advance(days=2)
    assert await setup.sweep_rings() == []
    assert await setup.delivery.deliver(outbox_id) == "skipped"
    assert setup.mailer.sent == []


async def test_after_max_attempts_of_transient_errors_the_email_is_failed(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.mailer.fail_next(MAX_ATTEMPTS + 5, "421 try later")
    outcomes = []

    for _ in range(MAX_ATTEMPTS):
        outcomes.append(await setup.delivery.deliver(outbox_id))
        setup.clock.advance(MAX_BACKOFF)

    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    row = setup.row(outbox_id)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS
    assert f"gave up after {MAX_ATTEMPTS} attempts" in (row.last_error or "")
    assert await setup.sweep_rings() == []
    assert setup.mailer.attempts == MAX_ATTEMPTS


async def test_a_worker_that_dies_mid_send_leaves_the_email_for_the_sweep_after_the_lease(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.mailer.crash_next(RuntimeError("worker killed"))

    with pytest.raises(RuntimeError):
        await setup.delivery.deliver(outbox_id)

    assert setup.row(outbox_id).status == "pending"
    setup.clock.advance(seconds=LEASE_SECONDS - 1)
    assert await setup.sweep_rings() == []  # still leased by the dead worker
    setup.clock.advance(seconds=1)
    assert await setup.sweep_rings() == [outbox_id]
    assert await setup.delivery.deliver(outbox_id) == "sent"
    assert len(setup.mailer.sent) == 1


async def test_the_sweep_rings_every_due_email_in_order_and_respects_the_limit(setup: Setup) -> None:
    ids = [await setup.add_email() for _ in range(5)]
    await setup.delivery.deliver(ids[1])

    assert await setup.sweep_rings() == [ids[0], *ids[2:]]
    assert setup.queue.jobs[0] == (Job.DELIVER_EMAIL, f"email:{ids[0]}", None, {"outbox_id": ids[0]})

    setup.queue.clear()
    assert await setup.delivery.sweep(limit=2) == 2
    assert [ring.kwargs["outbox_id"] for ring in setup.queue.rings] == [ids[0], ids[2]]


async def test_a_sweep_while_the_queue_is_down_loses_nothing(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    setup.queue.available = False

    assert await setup.delivery.sweep() == 1  # it tried
    assert setup.queue.delivered() == []

    setup.queue.available = True
    assert await setup.sweep_rings() == [outbox_id]


class DatabaseAwayAfterSend:
    """The database goes away while the SMTP server answers (the soak test: Postgres restarted while SMTP was
    slow): the next ``commits`` commits fail, starting with the one that records the email as sent."""

    def __init__(self, setup: Setup, commits: int) -> None:
        self.setup, self.commits = setup, commits
        self.slept: list[float] = []

    async def __call__(self) -> None:
        self.setup.uow.unavailable_commits = self.commits

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_a_sent_email_is_recorded_once_the_database_is_back_and_never_sent_twice(setup: Setup) -> None:
    outbox_id = await setup.add_email()
    away = DatabaseAwayAfterSend(setup, commits=3)
    setup.mailer.during_send = away
    delivery = EmailDelivery(setup.uow, setup.mailer, setup.queue, setup.clock, sleep=away.sleep)

    assert await delivery.deliver(outbox_id) == "sent"

    assert away.slept == list(RECORD_SENT_DELAYS[:3])  # three failed records, the fourth one kept
    assert setup.row(outbox_id).status == "sent" and len(setup.mailer.sent) == 1
    setup.clock.advance(seconds=LEASE_SECONDS + 1)  # the lease is long over: nothing is due, nothing goes out again
    assert await setup.sweep_rings() == []


async def test_a_database_away_longer_than_the_retries_fails_the_job_and_leaves_the_email_leased(
    setup: Setup,
) -> None:
    outbox_id = await setup.add_email()
    away = DatabaseAwayAfterSend(setup, commits=len(RECORD_SENT_DELAYS) + 1)
    setup.mailer.during_send = away
    delivery = EmailDelivery(setup.uow, setup.mailer, setup.queue, setup.clock, sleep=away.sleep)

    with pytest.raises(Unavailable):
        await delivery.deliver(outbox_id)

    assert away.slept == list(RECORD_SENT_DELAYS)
    assert setup.row(outbox_id).status == "pending"  # at least once: sent again only after the lease (120 s)
    assert await setup.sweep_rings() == []
