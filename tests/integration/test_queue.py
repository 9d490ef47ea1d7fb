"""The job queues: the in-process one of the embedded default, and SAQ on a real Redis with a real worker."""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import VIDEOFLIX, Worker, process_env
from tests.smtp_server import SmtpSink
from videoflix.adapters.db.models import OutboxEmailModel
from videoflix.adapters.queue.inprocess import InProcessJobQueue
from videoflix.adapters.queue.jobs import LIMITS, JobLimits
from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue
from videoflix.bootstrap import Container, bootstrap, create_worker
from videoflix.domain.accounts.model import encode_uid
from videoflix.domain.jobs import Job
from videoflix.entrypoints.logs import ContextFilter
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


async def run_burst_worker(settings: Settings, timeout: float = 120) -> None:
    """``videoflix worker --burst`` until the queue is empty, in this event loop (``timeout`` only guards a hang)."""
    worker = create_worker(settings, burst=True)
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
            link = f"{TEST_ORIGIN}/pages/auth/activate.html?uid={encode_uid(registration.user.id)}&token="
            assert link in plain_text(message)
            sent = await outbox_row(app, "new@example.com")
            assert (sent.status, sent.attempts, sent.last_error) == ("sent", 0, None)
            done = await app.queue.queue.job(f"email:{row.id}")
            assert done is not None and done.status.value == "complete" and done.result == "sent"
        finally:
            await app.close()
        assert len(sink.messages) == 1


async def test_a_burst_worker_exits_as_soon_as_the_queue_is_empty(sqlite_settings: Settings, redis_url: str) -> None:
    """Cron-friendly: nothing waits out SAQ's upkeep rounds or the shutdown grace period. Both are an hour here,
    so a worker that waited for them would hit the guard instead of ending."""
    settings = replace(sqlite_settings, redis_url=redis_url)
    worker = create_worker(settings, burst=True)
    worker.timers.update(schedule=3600, worker_info=3600, sweep=3600, abort=3600)
    worker._shutdown_grace_period_s = 3600
    try:
        await asyncio.wait_for(worker.start(), 60)
    finally:
        await worker.queue.disconnect()
    assert not worker.tasks and not worker.unavailable


async def test_jobs_run_by_the_worker_log_their_job_id_and_the_request_that_rang_them(
    sqlite_settings: Settings, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from videoflix.domain.context import request_id

    settings = replace(sqlite_settings, redis_url=redis_url)
    app = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        token = request_id.set("req-from-the-web-0001")
        try:
            await app.queue.enqueue(Job.SWEEP, key="sweep-now")
        finally:
            request_id.reset(token)
        caplog.set_level(logging.DEBUG, logger="videoflix.jobs")
        caplog.handler.addFilter(ContextFilter())  # what the configured handler adds to every line
        await run_burst_worker(settings)
    finally:
        await app.close()
    [started] = [r for r in caplog.records if r.name == "videoflix.jobs" and "started" in r.getMessage()]
    assert (started.job_id, started.request_id) == ("sweep-now", "req-from-the-web-0001")  # type: ignore[attr-defined]
    assert any("job sweep  finished" in r.getMessage() for r in caplog.records if r.name == "videoflix.jobs")


async def test_the_queue_snapshot_counts_waiting_jobs_per_job(redis_url: str) -> None:
    queue = SaqJobQueue(create_saq_queue(create_redis(redis_url)))
    try:
        await queue.enqueue(Job.DELIVER_EMAIL, key="email:1", outbox_id=1)
        await queue.enqueue(Job.DELIVER_EMAIL, key="email:2", outbox_id=2)
        await queue.enqueue(Job.TRANSCODE_VIDEO, key="transcode:3", video_id=3)
        snapshot = await queue.snapshot()
    finally:
        await queue.close()
    assert (snapshot.jobs[Job.DELIVER_EMAIL].queued, snapshot.jobs[Job.TRANSCODE_VIDEO].queued) == (2, 1)
    assert snapshot.jobs[Job.SWEEP].queued == 0 and snapshot.running == []


def test_worker_health_follows_the_heartbeat_of_a_worker_on_this_machine(tmp_path: Path, redis_url: str) -> None:
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256-0123456789",
        DEBUG="true",
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
    )
    subprocess.run([VIDEOFLIX, "db", "upgrade"], env=env, capture_output=True, check=True)

    def health() -> subprocess.CompletedProcess[str]:
        return subprocess.run([VIDEOFLIX, "worker-health"], env=env, capture_output=True, text=True, check=False)

    alone = health()
    assert alone.returncode == 1 and "no worker heartbeat" in alone.stderr
    worker = Worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 90
        while (answer := health()).returncode != 0:
            assert worker.proc.poll() is None, worker.log()
            assert time.monotonic() < deadline, answer.stderr + worker.log()
            time.sleep(0.5)
        assert answer.stdout.startswith("healthy: 1 worker")
    finally:
        worker.stop()
    down = subprocess.run(
        [VIDEOFLIX, "worker-health"], env={**env, "REDIS_URL": UNREACHABLE_REDIS}, capture_output=True, text=True
    )
    assert down.returncode == 1 and "Redis unavailable" in down.stderr


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process (and its waited-for children), in clock ticks, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15])


def test_r2_with_redis_down_the_worker_backs_off_instead_of_spinning(tmp_path: Path) -> None:
    """R2: a worker whose Redis is gone waits longer and longer between attempts. Over the same stretch of time it
    uses a small part of the CPU that a busy loop uses (compared in one run: the machine may be loaded)."""
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256-0123456789",
        DEBUG="true",
        REDIS_URL=UNREACHABLE_REDIS,
        LOG_LEVEL="INFO",
    )
    subprocess.run([VIDEOFLIX, "db", "upgrade"], env=env, capture_output=True, check=True)
    worker = Worker(env, tmp_path / "worker.log")
    busy = None
    try:
        deadline = time.monotonic() + 90
        while worker.log().count("Redis unavailable") < 3:  # started, and failing to dequeue
            assert worker.proc.poll() is None, worker.log()
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        worker_before, busy_before = cpu_ticks(worker.proc.pid), cpu_ticks(busy.pid)
        time.sleep(4)
        worker_used, busy_used = cpu_ticks(worker.proc.pid) - worker_before, cpu_ticks(busy.pid) - busy_before
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        worker.stop()
    assert busy_used > 50, "the busy loop got no CPU: nothing to compare with"
    assert worker_used < busy_used * 0.1, (worker_used, busy_used)
