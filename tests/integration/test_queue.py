"""The job queues: the in-process one of the embedded default, and SAQ on a real Redis with a real worker."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, replace
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TEST_ORIGIN, make_settings
from tests.smtp_server import SmtpSink
from videoflix.adapters.db.models import OutboxEmailModel
from videoflix.adapters.queue.inprocess import InProcessJobQueue
from videoflix.adapters.queue.jobs import LIMITS, JobLimits
from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue
from videoflix.bootstrap import Container, bootstrap, create_worker
from videoflix.domain.accounts.model import encode_uid
from videoflix.domain.jobs import Job
from videoflix.settings import Settings

PASSWORD = "tangerine-rocket-harbour-42"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


# -- the in-process queue --------------------------------------------------------------------------------------


async def test_inprocess_runs_a_registered_job_with_its_arguments() -> None:
    queue = InProcessJobQueue()
    calls: list[dict[str, Any]] = []

    async def deliver(**kwargs: Any) -> None:
        calls.append(kwargs)

    queue.register({Job.DELIVER_EMAIL: deliver})
    try:
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:7", outbox_id=7)
        await queue.drain(timeout=5)
        assert calls == [{"outbox_id": 7}]
        assert not await queue.enqueue("no_such_job", key="x")  # reported as not rung, never raised
    finally:
        await queue.close()


async def test_inprocess_does_not_start_a_key_that_is_already_running() -> None:
    queue = InProcessJobQueue()
    release = asyncio.Event()
    started: list[int] = []

    async def deliver(outbox_id: int) -> None:
        started.append(outbox_id)
        await release.wait()

    queue.register({Job.DELIVER_EMAIL: deliver})
    try:
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)
        await asyncio.sleep(0.05)
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)  # a second ring: deduped
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:2", outbox_id=2)  # another key runs beside it
        await asyncio.sleep(0.05)
        assert started == [1, 2]
        release.set()
        await queue.drain(timeout=5)
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)  # finished: a new ring runs again
        await queue.drain(timeout=5)
        assert started == [1, 2, 1]
    finally:
        await queue.close()


async def test_inprocess_retries_a_failing_job_per_limits_with_backoff_then_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real retry count of the job; only the delay is shortened so the test does not wait 15 s.
    limits = replace(LIMITS[Job.DELIVER_EMAIL], retry_delay=0.05)
    monkeypatch.setitem(LIMITS, Job.DELIVER_EMAIL, limits)
    queue = InProcessJobQueue()
    loop = asyncio.get_running_loop()
    attempts: list[float] = []

    async def always_fails(outbox_id: int) -> None:
        attempts.append(loop.time())
        raise ConnectionError("SMTP down")

    queue.register({Job.DELIVER_EMAIL: always_fails})
    try:
        await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)
        await queue.drain(timeout=5)
        await asyncio.sleep(0.3)  # nothing comes after giving up
        assert len(attempts) == LIMITS[Job.DELIVER_EMAIL].retries == 3
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.05 * 0.9 and gaps[1] >= 0.1 * 0.9  # exponential backoff
    finally:
        await queue.close()


async def test_inprocess_a_job_that_recovers_is_not_retried_further(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, Job.DELIVER_EMAIL, replace(LIMITS[Job.DELIVER_EMAIL], retry_delay=0.01))
    queue = InProcessJobQueue()
    attempts: list[int] = []

    async def fails_once(outbox_id: int) -> None:
        attempts.append(outbox_id)
        if len(attempts) == 1:
            raise ConnectionError("SMTP down")

    queue.register({Job.DELIVER_EMAIL: fails_once})
    try:
        await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)
        await queue.drain(timeout=5)
        assert attempts == [1, 1]
    finally:
        await queue.close()


async def test_inprocess_enforces_the_job_timeout_per_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, Job.SWEEP, JobLimits(timeout=1, retries=2, retry_delay=0.01))
    queue = InProcessJobQueue()
    started: list[float] = []
    cancelled: list[float] = []

    async def hangs() -> None:
        started.append(time.monotonic())
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(time.monotonic())
            raise

    queue.register({Job.SWEEP: hangs})
    try:
        await queue.enqueue(Job.SWEEP, key="stuck")
        await queue.drain(timeout=50)
        assert len(started) == len(cancelled) == 2  # each attempt cut off, then retried
        # Cut off by the 1 s limit, not by the end of its 60 s sleep: bounds loose enough for a loaded machine.
        assert all(0.9 <= end - start < 30 for start, end in zip(started, cancelled, strict=True))
    finally:
        await queue.close()


async def test_inprocess_timeout_given_at_enqueue_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The media service passes a timeout sized to the video; it must win over the job's default."""
    monkeypatch.setitem(LIMITS, Job.SWEEP, JobLimits(timeout=3600, retries=1, retry_delay=0.01))
    queue = InProcessJobQueue()
    outcome: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.sleep(60)
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cut off")
            raise

    queue.register({Job.SWEEP: hangs})
    try:
        await queue.enqueue(Job.SWEEP, key="long", timeout=1)
        await queue.drain(timeout=30)
        assert outcome == ["cut off"]
    finally:
        await queue.close()


async def test_inprocess_runs_one_transcode_at_a_time() -> None:
    queue = InProcessJobQueue()
    running, peak = 0, 0

    async def transcode(video_id: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    queue.register({Job.TRANSCODE_VIDEO: transcode})
    try:
        for video_id in range(3):
            await queue.enqueue(Job.TRANSCODE_VIDEO, key=f"video:{video_id}", video_id=video_id)
        await queue.drain(timeout=5)
        assert peak == 1
    finally:
        await queue.close()


async def test_s23_inprocess_cancel_stops_a_running_job_and_waits_for_its_cleanup() -> None:
    queue = InProcessJobQueue()
    cleaned: list[int] = []
    started = asyncio.Event()

    async def transcode(video_id: int) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # the cleanup of a cancelled transcode (ffmpeg reaped, staging removed)
            cleaned.append(video_id)

    queue.register({Job.TRANSCODE_VIDEO: transcode})
    try:
        assert not await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:1")  # nothing rung: nothing to stop
        await queue.enqueue(Job.TRANSCODE_VIDEO, key="transcode:1", video_id=1)
        await queue.enqueue(Job.TRANSCODE_VIDEO, key="transcode:2", video_id=2)  # waits for the one slot
        await asyncio.wait_for(started.wait(), 5)

        assert await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:2")  # a waiting one is dropped
        assert await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:1")
        assert cleaned == [1]  # done when cancel returns; the second never started
        await queue.drain(timeout=5)
        assert cleaned == [1]
    finally:
        await queue.close()


# -- SAQ on Redis ----------------------------------------------------------------------------------------------


async def test_saq_enqueue_puts_the_job_with_its_limits_into_redis(redis_url: str) -> None:
    redis = create_redis(redis_url)
    queue = SaqJobQueue(create_saq_queue(redis))
    try:
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:7", outbox_id=7)
        job = await queue.queue.job("email:7")
        assert job is not None
        assert (job.function, job.kwargs, job.status.value) == (Job.DELIVER_EMAIL, {"outbox_id": 7}, "queued")
        limits = LIMITS[Job.DELIVER_EMAIL]
        assert (job.timeout, job.retries, job.retry_delay) == (limits.timeout, limits.retries, limits.retry_delay)
        assert await redis.exists(job.id) == 1  # in Redis itself, for any worker to see
        assert await queue.queue.count("queued") == 1

        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:7", outbox_id=7)  # a second ring: one job
        assert await queue.queue.count("queued") == 1

        assert await queue.enqueue(Job.TRANSCODE_VIDEO, key="video:3", timeout=900, video_id=3)
        transcode = await queue.queue.job("video:3")
        assert transcode is not None and transcode.timeout == 900  # not SAQ's 10 s default
        assert transcode.heartbeat == LIMITS[Job.TRANSCODE_VIDEO].heartbeat > 0  # a killed worker's job comes back
    finally:
        await queue.close()


async def test_s23_saq_cancel_drops_a_waiting_job(redis_url: str) -> None:
    """A running job is aborted the same way; its worker cancels it (tests/e2e/test_delete_cancels_transcode.py)."""
    queue = SaqJobQueue(create_saq_queue(create_redis(redis_url)))
    try:
        assert not await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:9")  # never rung
        assert await queue.enqueue(Job.TRANSCODE_VIDEO, key="transcode:9", timeout=900, video_id=9)
        assert await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:9")
        job = await queue.queue.job("transcode:9")
        assert job is not None and job.status.value == "aborted"
        assert await queue.queue.count("queued") == 0
        assert not await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:9")  # over already
    finally:
        await queue.close()


async def test_r2_saq_enqueue_with_redis_down_returns_false_quickly(caplog: pytest.LogCaptureFixture) -> None:
    queue = SaqJobQueue(create_saq_queue(create_redis(UNREACHABLE_REDIS)))
    try:
        started = time.monotonic()
        assert await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1) is False
        assert time.monotonic() - started < 5
        assert "could not enqueue" in caplog.text
        assert await queue.cancel(Job.TRANSCODE_VIDEO, key="transcode:1") is False  # reported, never raised
        assert "could not cancel" in caplog.text
    finally:
        await queue.close()  # shutting down with Redis down does not raise either


async def run_burst_worker(settings: Settings, timeout: float = 30) -> None:
    """``videoflix worker`` until the queue is empty (SAQ burst mode), in this event loop."""
    worker = create_worker(settings, burst=True)
    # SAQ's upkeep loops sleep up to 60 s between rounds and stop() waits for them (up to the 30 s grace period):
    # short rounds let the burst end as soon as the queue is empty.
    worker.timers.update(schedule=1, worker_info=1, sweep=1, abort=1)
    try:
        await asyncio.wait_for(worker.start(), timeout)
    finally:
        await worker.queue.disconnect()


def plain_text(message: MimeMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OutboxState:
    id: int
    status: str
    attempts: int
    last_error: str | None


async def outbox_row(container: Container, recipient: str) -> OutboxState:
    async with container.uow() as uow:
        row = await uow.session.scalar(select(OutboxEmailModel).where(OutboxEmailModel.recipient == recipient))
        assert row is not None
        return OutboxState(row.id, row.status, row.attempts, row.last_error)


async def test_burst_worker_delivers_the_activation_email_of_a_registration(
    pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    with SmtpSink() as sink:
        settings = make_settings(
            tmp_path,
            DATABASE_URL=pg_database,
            REDIS_URL=redis_url,
            EMAIL_HOST=sink.host,
            EMAIL_PORT=str(sink.port),
            EMAIL_USE_TLS="false",
            EMAIL_TIMEOUT="5",
        )
        app = await bootstrap(settings, run_periodic_sweeps=False)
        try:
            registration = await app.accounts.register("new@example.com", PASSWORD, PASSWORD)
            row = await outbox_row(app, "new@example.com")
            assert isinstance(app.queue, SaqJobQueue)
            rung = await app.queue.queue.job(f"email:{row.id}")
            assert rung is not None and rung.kwargs == {"outbox_id": row.id}
            assert sink.messages == []  # the web process only rings; the worker sends

            await run_burst_worker(settings)

            [message] = sink.messages
            assert message["To"] == "new@example.com"
            assert registration.user.id is not None
            link = (
                f"{TEST_ORIGIN}/pages/auth/activate.html"
                f"?uid={encode_uid(registration.user.id)}&token={registration.activation_token}"
            )
            assert link in plain_text(message)
            sent = await outbox_row(app, "new@example.com")
            assert (sent.status, sent.attempts, sent.last_error) == ("sent", 0, None)
            done = await app.queue.queue.job(f"email:{row.id}")
            assert done is not None and done.status.value == "complete" and done.result == "sent"
        finally:
            await app.close()
        assert len(sink.messages) == 1
