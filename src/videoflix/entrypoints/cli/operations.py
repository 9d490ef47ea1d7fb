"""Operator commands: ``videoflix emails list|retry`` and ``videoflix users list``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from videoflix.domain.accounts.model import EmailStatus, OutboxEmail, ResendOutcome
from videoflix.entrypoints.cli.exits import FAILED, NotFoundError
from videoflix.entrypoints.startup import prepared_settings

if TYPE_CHECKING:
    from videoflix.bootstrap import Container

T = TypeVar("T")


def _run(work: Callable[[Container], Awaitable[T]]) -> T:
    """``work(container)`` in a container of this process (jobs it rings go to the configured queue)."""
    settings = prepared_settings()

    async def run() -> T:
        from videoflix.bootstrap import bootstrap

        container = await bootstrap(settings, run_periodic_sweeps=False)
        try:
            result = await work(container)
            drain = getattr(container.queue, "drain", None)
            if drain is not None:  # the embedded default: the email this process queued is sent before it ends
                await drain(60)
            return result
        finally:
            await container.close()

    return asyncio.run(run())


def _when(email: OutboxEmail) -> str:
    return (email.sent_at or email.created_at).strftime("%Y-%m-%d %H:%M")


@click.group()
def emails() -> None:
    """The email outbox: what was sent, what waits, what failed; send failed emails again."""


@emails.command("list")
@click.option(
    "--status", type=click.Choice([status.value for status in EmailStatus]), default=None, help="Only this status."
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most this many.")
def list_emails(status: str | None, limit: int) -> None:
    """Outbox emails, newest first: id, status, attempts, kind, recipient, subject, last error."""
    chosen = EmailStatus(status) if status else None
    found = _run(lambda container: container.email_delivery.recent(chosen, limit))
    for email in found:
        error = f"\t{email.last_error}" if email.last_error else ""
        click.echo(
            f"{email.id}\t{email.status.value}\t{email.attempts}\t{_when(email)}\t{email.kind.value}\t"
            f"{email.to}\t{email.subject}{error}"
        )
    if not found:
        click.echo("no emails" + (f" with status {status}" if status else ""), err=True)


@emails.command("retry")
@click.argument("email_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every failed email instead of one.")
def retry(email_id: int | None, all_failed: bool) -> None:
    """Send failed emails again: activation and reset emails with a fresh link, others as they were.

    An email that is no longer needed (the account was activated meanwhile) is marked cancelled instead. Exits 3
    for an unknown EMAIL_ID, 1 when an email could not be sent again.
    """
    if (email_id is None) == (not all_failed):
        raise click.UsageError("Give one EMAIL_ID or --all-failed.")

    async def work(container: Container) -> list[str]:
        from videoflix.domain.errors import Conflict, NotFound

        if email_id is not None:
            ids = [email_id]
        else:
            ids = [email.id for email in await container.email_delivery.recent(EmailStatus.FAILED, 100_000)]
        problems = []
        for outbox_id in sorted(ids):
            try:
                resend = await container.accounts.resend_email(outbox_id)
            except NotFound:
                raise NotFoundError(f"There is no email with id {outbox_id}.") from None
            except Conflict as error:
                problems.append(error.message)
                click.echo(f"email {outbox_id}: {error.message}", err=True)
                continue
            if resend.outcome is ResendOutcome.RESENT:
                click.echo(f"email {outbox_id}: sent again as email {resend.new_outbox_id}")
            else:
                click.echo(f"email {outbox_id}: cancelled, {resend.reason}")
        if not ids:
            click.echo("no failed emails")
        return problems

    if _run(work):
        sys.exit(FAILED)


@click.command("list")
def list_users() -> None:
    """Accounts, oldest first: id, email, active or not, staff or not."""
    found = _run(lambda container: container.operations.users(100_000))
    for user in found:
        flags = ("active" if user.is_active else "inactive") + (", staff" if user.is_staff else "")
        click.echo(f"{user.id}\t{user.email}\t{flags}\t{user.created_at:%Y-%m-%d}")
    if not found:
        click.echo("no users yet: `videoflix users create-admin` makes the first", err=True)
