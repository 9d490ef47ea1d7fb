"""R1/R2 end to end below HTTP: registration -> outbox -> queue -> the real SMTP adapter -> a real SMTP server.

The SMTP server goes down, answers 4xx or 5xx, or hangs; Redis is unreachable. Registration must answer at once
every time, and the email must arrive exactly once when the fault is gone (or never, for a permanent refusal).
Time is a clock the test moves, so backoffs are crossed without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import TEST_ORIGIN, make_settings
from tests.smtp_server import SmtpSink
from videoflix.adapters.db.models import OutboxEmailModel
from videoflix.adapters.queue.inprocess import InProcessJobQueue
from videoflix.adapters.queue.saq_queue import SaqJobQueue
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.accounts.delivery import backoff
from videoflix.domain.accounts.model import encode_uid
from videoflix.domain.accounts.service import Registration
from videoflix.entrypoints.worker.main import create_worker
from videoflix.settings import Settings

PASSWORD = "tangerine-rocket-harbour-42"
EMAIL = "new@example.com"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
AT_ONCE = 2.0  # seconds: one argon2 hash and a few queries, never an SMTP conversation


class ManualClock:
    def __init__(self) -> None:
        self._now = datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass(frozen=True)
class OutboxState:
    id: int
    status: str
    attempts: int
    last_error: str | None


async def outbox_state(app: Container, recipient: str = EMAIL) -> OutboxState:
    async with app.uow() as uow:
        row = await uow.session.scalar(select(OutboxEmailModel).where(OutboxEmailModel.recipient == recipient))
        assert row is not None
        return OutboxState(row.id, row.status, row.attempts, row.last_error)


def activation_link(registration: Registration) -> str:
    """The start of the user's activation link, up to its token (which only the email knows, S26)."""
    assert registration.user.id is not None
    return f"{TEST_ORIGIN}/pages/auth/activate.html?uid={encode_uid(registration.user.id)}&token="


def plain_text(message: MimeMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


async def register_at_once(app: Container) -> Registration:
    started = time.monotonic()
    registration = await app.accounts.register(EMAIL, PASSWORD, PASSWORD)
    elapsed = time.monotonic() - started
    assert elapsed < AT_ONCE, f"registration waited {elapsed:.1f}s for something"
    return registration


async def drain(app: Container) -> None:
    assert isinstance(app.queue, InProcessJobQueue)
    await app.queue.drain(timeout=15)


async def sweep_emails(app: Container) -> int:
    rung = (await app.sweep())["emails"]
    await drain(app)
    return rung


def with_smtp(settings: Settings, port: int, timeout: int = 5) -> Settings:
    return dataclasses.replace(
        settings,
        email_host="127.0.0.1",
        email_port=port,
        email_use_tls=False,
        email_use_ssl=False,
        email_timeout=timeout,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server, created stopped: each test decides when it is up."""
    server = SmtpSink()
    yield server
    server.stop()


@pytest.fixture
async def app(any_db_settings: Settings, sink: SmtpSink, clock: ManualClock) -> AsyncIterator[Container]:
    """The embedded shape (in-process jobs) with the real SMTP adapter, on SQLite and on Postgres."""
    built = await bootstrap(with_smtp(any_db_settings, sink.port), clock=clock, run_periodic_sweeps=False)
    yield built
    await built.close()


async def test_r1_smtp_down_registration_answers_at_once_and_the_email_arrives_once_smtp_is_back(
    app: Container, sink: SmtpSink, clock: ManualClock
) -> None:
    assert not sink.running
    registration = await register_at_once(app)
    await drain(app)  # the delivery attempt, after the answer

    failed_attempt = await outbox_state(app)
    assert (failed_attempt.status, failed_attempt.attempts) == ("pending", 1)
    assert failed_attempt.last_error and "connect" in failed_attempt.last_error

    sink.start()
    assert await sweep_emails(app) == 0  # the backoff has not passed: nobody hammers a recovering server
    assert sink.messages == []

    clock.advance(backoff(1))
    assert await sweep_emails(app) == 1
    [message] = await sink.wait_for_async(1)
    assert message["To"] == EMAIL
    assert activation_link(registration) in plain_text(message)
    delivered = await outbox_state(app)
    assert (delivered.status, delivered.last_error) == ("sent", None)

    # Exactly once: later sweeps and a stray ring do not send it again.
    clock.advance(timedelta(hours=2))
    assert await sweep_emails(app) == 0
    assert await app.email_delivery.deliver(delivered.id) == "skipped"
    await asyncio.sleep(0.2)
    assert len(sink.messages) == 1


async def test_r1_smtp_answering_451_then_ok_delivers_once(app: Container, sink: SmtpSink, clock: ManualClock) -> None:
    sink.start()
    sink.fail_next(451)
    registration = await register_at_once(app)
    await drain(app)

    deferred = await outbox_state(app)
    assert (deferred.status, deferred.attempts) == ("pending", 1)
    assert deferred.last_error and "451" in deferred.last_error
    assert sink.messages == []

    clock.advance(backoff(1))
    assert await sweep_emails(app) == 1
    [message] = await sink.wait_for_async(1)
    assert activation_link(registration) in plain_text(message)
    assert (await outbox_state(app)).status == "sent"
    clock.advance(timedelta(hours=2))
    assert await sweep_emails(app) == 0
    assert len(sink.messages) == 1


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_r1_smtp_answering_550_marks_the_email_failed_and_the_sweep_never_retries_it(
    app: Container, sink: SmtpSink, clock: ManualClock, stage: str
) -> None:
    sink.start()
    sink.fail_next(550, stage=stage)  # type: ignore[arg-type]
    await register_at_once(app)
    await drain(app)

    refused = await outbox_state(app)
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.last_error and "550" in refused.last_error

    for _ in range(3):
        clock.advance(timedelta(days=1))
        assert await sweep_emails(app) == 0
    assert await app.email_delivery.deliver(refused.id) == "skipped"
    await asyncio.sleep(0.2)
    assert sink.messages == []
    assert (await outbox_state(app)).status == "failed"


@contextlib.contextmanager
def silent_smtp_port() -> Iterator[int]:
    """A port that accepts TCP connections and then says nothing: a hung SMTP server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accept(): the kernel completes the handshake, the greeting never comes
        yield listener.getsockname()[1]


async def test_r1_hanging_smtp_server_does_not_hold_up_registration(
    sqlite_settings: Settings, clock: ManualClock
) -> None:
    with silent_smtp_port() as port:
        # An SMTP timeout longer than AT_ONCE: a registration that waited for the send would fail the check.
        smtp_timeout = 3
        assert smtp_timeout > AT_ONCE
        app = await bootstrap(
            with_smtp(sqlite_settings, port, timeout=smtp_timeout), clock=clock, run_periodic_sweeps=False
        )
        try:
            await register_at_once(app)
            assert (await outbox_state(app)).attempts == 0  # the attempt is still waiting for a greeting
            await drain(app)
            timed_out = await outbox_state(app)
            assert (timed_out.status, timed_out.attempts) == ("pending", 1)
            assert timed_out.last_error and "timeout" in timed_out.last_error.lower()
        finally:
            await app.close()


# -- R2: Redis down --------------------------------------------------------------------------------------------


async def run_burst_worker(settings: Settings, timeout: float = 30) -> None:
    """``videoflix worker`` until the queue is empty (SAQ burst mode), in this event loop."""
    worker = create_worker(settings, burst=True)
    # SAQ's upkeep loops sleep up to 60 s between rounds and stop() waits for them: short rounds let the burst
    # end as soon as the queue is empty.
    worker.timers.update(schedule=1, worker_info=1, sweep=1, abort=1)
    try:
        await asyncio.wait_for(worker.start(), timeout)
    finally:
        await worker.queue.disconnect()


async def test_r2_registration_succeeds_with_redis_down_and_the_email_goes_out_when_redis_is_back(
    pg_database: str, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SmtpSink() as smtp:
        env = {
            "DATABASE_URL": pg_database,
            "EMAIL_HOST": smtp.host,
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_TIMEOUT": "5",
        }
        redis_down = make_settings(tmp_path, REDIS_URL=UNREACHABLE_REDIS, **env)
        app = await bootstrap(redis_down, run_periodic_sweeps=False)
        try:
            started = time.monotonic()
            registration = await app.accounts.register(EMAIL, PASSWORD, PASSWORD)
            assert time.monotonic() - started < 5  # the ring gives up quickly; the user is registered
            assert "could not enqueue deliver_email" in caplog.text
            waiting = await outbox_state(app)
            assert (waiting.status, waiting.attempts) == ("pending", 0)
        finally:
            await app.close()

        redis_back = make_settings(tmp_path, REDIS_URL=redis_url, **env)
        app = await bootstrap(redis_back, run_periodic_sweeps=False)
        try:
            assert (await app.sweep())["emails"] == 1  # the sweep rings again for the lost ring
            assert isinstance(app.queue, SaqJobQueue)
            assert await app.queue.queue.job(f"email:{waiting.id}") is not None
            assert smtp.messages == []

            await run_burst_worker(redis_back)

            [message] = smtp.messages
            assert activation_link(registration) in plain_text(message)
            assert (await outbox_state(app)).status == "sent"
        finally:
            await app.close()
        assert len(smtp.messages) == 1
