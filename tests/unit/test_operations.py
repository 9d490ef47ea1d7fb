"""What operators rely on, against fakes: a failed email sent again with a fresh link, housekeeping that removes only
what is old, the overview of queue, outbox and videos, and the report of every transcode."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes import FakeJobQueue, FakeMailer, FakeMediaStore, FakeTranscoder, FakeUnitOfWorkFactory
from tests.unit.test_accounts_service import EMAIL, PASSWORD, World, active_user, make_world, registered
from tests.unit.test_media_service import DRAFT
from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.model import (
    EmailKind,
    EmailMessage,
    EmailStatus,
    OneTimeToken,
    RefreshTokenRecord,
    ResendOutcome,
    TokenPurpose,
)
from videoflix.domain.errors import Conflict, InvalidInput, NotFound
from videoflix.domain.jobs import Job, JobState, QueueSnapshot, RunningJob
from videoflix.domain.media.model import TranscodeReport
from videoflix.domain.media.service import MediaService
from videoflix.domain.operations.model import HousekeepingPolicy
from videoflix.domain.operations.service import OperationsService
from videoflix.domain.ports import JobMonitor


@pytest.fixture
def world() -> World:
    return make_world()


# ------------------------------------------------------------------------------------------ sending again


async def fail_last_email(world: World, address: str = EMAIL) -> int:
    """Deliver the newest email to ``address`` with a permanent SMTP refusal: it ends failed."""
    mailer = FakeMailer()
    mailer.fail_next(1, "550 mailbox unavailable", permanent=True)
    [row] = [r for r in world.emails_to(address) if r.status == "pending"][-1:]
    await EmailDelivery(world.uow, mailer, world.queue, world.clock).deliver(row.id)
    assert world.uow.state.outbox[row.id].status == "failed"
    return row.id


async def test_a_failed_activation_email_is_sent_again_with_a_fresh_link_that_activates(world: World) -> None:
    await registered(world)
    old_link = world.last_link()
    failed = await fail_last_email(world)
    assert "token=" not in world.uow.state.outbox[failed].message.text  # its body is gone: the link was one-time

    resend = await world.service.resend_email(failed)

    assert resend.outcome is ResendOutcome.RESENT and resend.new_outbox_id is not None
    old, new = world.uow.state.outbox[failed], world.uow.state.outbox[resend.new_outbox_id]
    assert (old.status, new.status, new.kind, new.user_id) == ("retried", "pending", EmailKind.ACTIVATION, 1)
    assert world.queue.jobs[-1][:2] == (Job.DELIVER_EMAIL, f"email:{resend.new_outbox_id}")
    link = world.last_link()
    assert link["token"] != old_link["token"]
    with pytest.raises(InvalidInput):  # the undelivered link is spent
        await world.service.activate(old_link["uid"], old_link["token"])
    await world.service.activate(link["uid"], link["token"])
    assert (await world.service.get_user(1)).is_active  # type: ignore[union-attr]


async def test_a_failed_activation_email_of_an_account_active_meanwhile_is_cancelled(world: World) -> None:
    await registered(world)
    failed = await fail_last_email(world)
    await world.service.create_admin(EMAIL, PASSWORD)  # an operator activated it by hand
    rings = len(world.queue.rings)

    resend = await world.service.resend_email(failed)

    assert (resend.outcome, resend.new_outbox_id) == (ResendOutcome.CANCELLED, None)
    assert "active already" in resend.reason
    assert world.uow.state.outbox[failed].status == "cancelled"
    assert len(world.queue.rings) == rings  # nothing sent


async def test_a_failed_reset_email_is_sent_again_with_a_fresh_reset_link(world: World) -> None:
    await active_user(world)
    await world.service.request_password_reset(EMAIL)
    failed = await fail_last_email(world)

    resend = await world.service.resend_email(failed)

    assert resend.outcome is ResendOutcome.RESENT
    link = world.last_link()
    assert link["page"] == "confirm_password.html"
    await world.service.confirm_password_reset(link["uid"], link["token"], "brand-New-pass-42", "brand-New-pass-42")


async def test_another_email_is_sent_again_as_it_was(world: World) -> None:
    message = EmailMessage(to="ops@example.com", subject="Report", text="Hello", html="<p>Hello</p>")
    async with world.uow() as uow:
        outbox_id = await uow.outbox.add(message, world.clock.now())
        await uow.commit()
    failed = await fail_last_email(world, "ops@example.com")
    assert failed == outbox_id

    resend = await world.service.resend_email(failed)

    assert resend.new_outbox_id is not None
    assert world.uow.state.outbox[resend.new_outbox_id].message == message


async def test_only_failed_emails_of_a_known_kind_are_sent_again(world: World) -> None:
    await registered(world)
    pending = world.outbox[-1].id
    with pytest.raises(Conflict, match="pending"):
        await world.service.resend_email(pending)
    with pytest.raises(NotFound):
        await world.service.resend_email(999)
    failed = await fail_last_email(world)
    world.uow.state.outbox[failed].kind = EmailKind.UNKNOWN  # queued before kinds were recorded
    with pytest.raises(Conflict, match="cannot be rebuilt"):
        await world.service.resend_email(failed)


async def test_staff_resend_a_fresh_activation_link_whatever_became_of_the_last_email(world: World) -> None:
    user_id = await registered(world)
    links = [world.last_link()]
    failed = await fail_last_email(world)

    email_id = await world.service.resend_activation(user_id)

    assert world.uow.state.outbox[email_id].kind is EmailKind.ACTIVATION
    assert world.queue.jobs[-1][:2] == (Job.DELIVER_EMAIL, f"email:{email_id}")
    assert world.uow.state.outbox[failed].status == "retried"  # no longer waiting for a Retry in the console
    links.append(world.last_link())
    await world.service.resend_activation(user_id)  # the last one still pending: a fresh link all the same
    link = world.last_link()
    for stale in links:
        with pytest.raises(InvalidInput):  # earlier links end
            await world.service.activate(stale["uid"], stale["token"])
    await world.service.activate(link["uid"], link["token"])

    with pytest.raises(Conflict, match="active already"):
        await world.service.resend_activation(user_id)
    with pytest.raises(NotFound):
        await world.service.resend_activation(404)


async def test_the_outbox_lists_newest_first_by_status(world: World) -> None:
    await registered(world, "a@example.com")
    await registered(world, "b@example.com")
    failed = await fail_last_email(world, "b@example.com")
    delivery = world.delivery()

    assert [email.to for email in await delivery.recent()] == ["b@example.com", "a@example.com"]
    [only] = await delivery.recent(EmailStatus.FAILED)
    assert (only.id, only.kind, only.last_error) == (failed, EmailKind.ACTIVATION, "550 mailbox unavailable")


# ------------------------------------------------------------------------------------------ housekeeping


def operations(world: World, store: FakeMediaStore, monitor: JobMonitor | None = None) -> OperationsService:
    return OperationsService(world.uow, store, world.clock, HousekeepingPolicy(), monitor)


def age(path: Path, world: World, hours: float) -> None:
    when = (world.clock.now() - timedelta(hours=hours)).timestamp()
    for item in [path, *path.rglob("*")]:
        os.utime(item, (when, when))


async def test_housekeeping_removes_old_sent_emails_expired_tokens_and_stale_temporary_files(
    world: World, tmp_path: Path
) -> None:
    store = FakeMediaStore(tmp_path / "scratch")
    now = world.clock.now()
    async with world.uow() as uow:
        for days, status in ((20, "sent"), (3, "sent"), (20, "failed")):
            outbox_id = await uow.outbox.add(EmailMessage("x@example.com", "s", "t", "h"), now)
            row = world.uow.state.outbox[outbox_id]
            row.status, row.sent_at = status, now - timedelta(days=days)
        for name, expired in (("old", now - timedelta(days=2)), ("fresh", now + timedelta(hours=1))):
            await uow.one_time_tokens.add(OneTimeToken(name, 1, TokenPurpose.ACTIVATION, expired, expired))
            await uow.refresh_tokens.add(RefreshTokenRecord(name, 1, "family", now - timedelta(days=9), expired))
        await uow.commit()
    with store.incoming() as stale_upload, store.incoming() as fresh_upload:
        stale_upload.write_bytes(b"half an upload")
        fresh_upload.write_bytes(b"an upload streaming in")
        age(stale_upload, world, hours=25)
        age(fresh_upload, world, hours=1)
        stale_staging, fresh_staging = store.new_staging(1), store.new_staging(2)
        (stale_staging / "480p").mkdir()
        (stale_staging / "480p" / "000.ts").write_bytes(b"ts")
        age(stale_staging, world, hours=49)
        age(fresh_staging, world, hours=1)

        removed = await operations(world, store).housekeeping()

        assert removed == {
            "sent_emails": 1,
            "one_time_tokens": 1,
            "refresh_tokens": 1,
            "uploads": 1,
            "staging": 1,
        }
        assert not stale_upload.exists() and fresh_upload.exists()
    assert not stale_staging.exists() and fresh_staging.exists()
    assert sorted(row.status for row in world.uow.state.outbox.values()) == ["failed", "sent"]
    assert set(world.uow.state.one_time_tokens) == {"fresh"} and set(world.uow.state.refresh_tokens) == {"fresh"}


async def test_housekeeping_logs_each_removal(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FakeMediaStore(tmp_path / "scratch")
    age(store.new_staging(7), world, hours=72)
    caplog.set_level(logging.INFO)
    await operations(world, store).housekeeping()
    assert any("removing staging staging-7" in record.getMessage() for record in caplog.records)
    assert any("housekeeping removed 1 staging" in record.getMessage() for record in caplog.records)


# ------------------------------------------------------------------------------------------ overview


class Monitor(JobMonitor):
    def __init__(self, snapshot: QueueSnapshot | None) -> None:
        self._snapshot = snapshot

    async def snapshot(self) -> QueueSnapshot:
        if self._snapshot is None:
            raise ConnectionError("Redis down")
        return self._snapshot


async def test_the_overview_counts_emails_and_videos_and_shows_the_queue(world: World, tmp_path: Path) -> None:
    await registered(world)
    await fail_last_email(world)
    await registered(world, "b@example.com")
    snapshot = QueueSnapshot(
        jobs={Job.TRANSCODE_VIDEO: JobState(queued=2, running=1)},
        running=[RunningJob(Job.TRANSCODE_VIDEO, "transcode:3", {"video_id": 3})],
    )
    overview = await operations(world, FakeMediaStore(tmp_path), Monitor(snapshot)).overview()
    assert overview.emails == {"failed": 1, "pending": 1}
    assert overview.queue == snapshot and overview.queue_error is None


async def test_the_overview_says_when_the_queue_cannot_be_asked(world: World, tmp_path: Path) -> None:
    overview = await operations(world, FakeMediaStore(tmp_path), Monitor(None)).overview()
    assert overview.queue is None and overview.queue_error == "unavailable (ConnectionError)"
    assert overview.emails == {} and overview.videos == {}


# ------------------------------------------------------------------------------------------ transcode reports


async def test_a_transcode_logs_its_start_and_end_and_reports_duration_speed_and_renditions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world()
    reports: list[TranscodeReport] = []
    transcoder = FakeTranscoder()  # 10 s of 1080p video
    transcoder.clock, transcoder.seconds_per_step = world.clock, 1.0  # four progress steps: 4 s of work
    store = FakeMediaStore(tmp_path / "scratch")
    media = MediaService(
        FakeUnitOfWorkFactory(), store, transcoder, FakeJobQueue(), world.clock, on_transcoded=reports.append
    )
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(b"video")
    video = await media.ingest(upload, "holiday.mp4", DRAFT)
    assert video.id is not None
    caplog.set_level(logging.INFO, logger="videoflix.domain.media.service")

    await media.transcode(video.id)

    [report] = reports
    assert (report.outcome, report.seconds, report.media_seconds) == ("ready", 4.0, 10.0)
    assert report.realtime_factor == 2.5
    assert report.renditions == ("480p", "720p", "1080p")
    lines = [record.getMessage() for record in caplog.records]
    assert any(
        f"video {video.id}: transcode started (attempt 1, 10.0 s of video, holiday.mp4)" in line for line in lines
    )
    assert any(
        f"video {video.id}: transcode ready in 4.0 s (10.0 s of video, 2.50x realtime, renditions: 480p, 720p, 1080p)"
        in line
        for line in lines
    )


async def test_a_failed_or_interrupted_transcode_is_reported_too(tmp_path: Path) -> None:
    world = make_world()
    reports: list[TranscodeReport] = []
    transcoder = FakeTranscoder()
    store = FakeMediaStore(tmp_path / "scratch")
    media = MediaService(
        FakeUnitOfWorkFactory(), store, transcoder, FakeJobQueue(), world.clock, on_transcoded=reports.append
    )
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(b"video")
    video = await media.ingest(upload, "a.mp4", DRAFT)
    assert video.id is not None
    transcoder.output_duration = 2.0  # truncated: fails verification
    await media.transcode(video.id)
    transcoder.output_duration, transcoder.build_error = None, OSError("disk full")
    await media.request_transcode(video.id)
    with pytest.raises(OSError):
        await media.transcode(video.id)
    assert [report.outcome for report in reports] == ["failed", "error"]
    assert reports[0].renditions == ()
