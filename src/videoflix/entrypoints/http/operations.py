"""Staff-only operations API (for the Studio console): the outbox, sending a failed email again, and an overview of
queues, emails, videos and readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.model import EmailStatus, OutboxEmail
from videoflix.domain.accounts.service import AccountService
from videoflix.domain.operations.service import OperationsService
from videoflix.entrypoints.http.access import staff
from videoflix.entrypoints.http.dependencies import ContainerDep
from videoflix.entrypoints.http.health import OK, run_checks
from videoflix.entrypoints.http.openapi import VIEWER, VIEWER_WRITE, errors

NO_EMAIL = "No such email."
NOT_FAILED = "The email has not failed (only failed emails are sent again)."


class EmailOut(msgspec.Struct):
    id: int
    recipient: str
    subject: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class RetryOut(msgspec.Struct):
    outcome: str  # resent | cancelled
    new_email_id: int | None
    reason: str


class JobCounts(msgspec.Struct):
    queued: int
    running: int


class RunningJobOut(msgspec.Struct):
    job: str
    key: str
    arguments: dict[str, Any]
    started_at: datetime | None


class QueueOut(msgspec.Struct):
    available: bool
    error: str | None
    jobs: dict[str, JobCounts]
    running: list[RunningJobOut]


class ReadinessOut(msgspec.Struct):
    status: str
    checks: dict[str, str]


class OperationsOut(msgspec.Struct):
    queue: QueueOut
    emails: dict[str, int]
    videos: dict[str, int]
    failed_transcodes: int
    readiness: ReadinessOut


def email_out(email: OutboxEmail) -> EmailOut:
    return EmailOut(
        id=email.id,
        recipient=email.to,
        subject=email.subject,
        kind=email.kind.value,
        status=email.status.value,
        attempts=email.attempts,
        last_error=email.last_error,
        created_at=email.created_at,
        sent_at=email.sent_at,
    )


class AdminOperationsController(Controller):
    """Every route here is staff-only by the guard."""

    path = "/api/admin"
    tags = ["admin"]
    guards = [staff]

    @get(
        "/emails",
        summary="Outbox emails, newest first (optionally of one status)",
        security=VIEWER,
        responses=errors(400, 401, 403),
    )
    async def emails(
        self,
        email_delivery: EmailDelivery,
        status: EmailStatus | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[EmailOut]:
        return [email_out(email) for email in await email_delivery.recent(status, limit)]

    @post(
        "/emails/{email_id:int}/retry",
        status_code=HTTP_202_ACCEPTED,
        summary="Send a failed email again (a fresh one-time link for activation and reset emails)",
        security=VIEWER_WRITE,
        responses=errors(400, 401, 403, 413, e404=NO_EMAIL, e409=NOT_FAILED),
    )
    async def retry(self, email_id: int, accounts: AccountService) -> RetryOut:
        resend = await accounts.resend_email(email_id)
        return RetryOut(outcome=resend.outcome.value, new_email_id=resend.new_outbox_id, reason=resend.reason)

    @get(
        "/operations",
        summary="Queue depth and running jobs, outbox and videos by status, readiness checks",
        security=VIEWER,
        responses=errors(401, 403),
    )
    async def overview(self, operations: OperationsService, process: ContainerDep) -> OperationsOut:
        overview = await operations.overview()
        checks = await run_checks(process)
        queue = overview.queue
        return OperationsOut(
            queue=QueueOut(
                available=queue is not None,
                error=overview.queue_error,
                jobs={job.value: JobCounts(state.queued, state.running) for job, state in queue.jobs.items()}
                if queue
                else {},
                running=[
                    RunningJobOut(
                        job=running.job.value,
                        key=running.key,
                        arguments=running.kwargs,
                        started_at=datetime.fromtimestamp(running.started_at, UTC) if running.started_at else None,
                    )
                    for running in (queue.running if queue else [])
                ],
            ),
            emails=overview.emails,
            videos=overview.videos,
            failed_transcodes=overview.videos.get("failed", 0),
            readiness=ReadinessOut(
                status="ready" if all(answer == OK for answer in checks.values()) else "not ready", checks=checks
            ),
        )
