"""Account commands for operators: ``videoflix users deactivate|activate|delete|sign-out EMAIL``.

Ending sessions here ends them on every running server within a second: the servers learn it from the database
(S27).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from videoflix.entrypoints.cli.exits import NotFoundError
from videoflix.entrypoints.startup import prepared_settings

if TYPE_CHECKING:
    from videoflix.domain.accounts.model import User
    from videoflix.domain.accounts.service import AccountService

T = TypeVar("T")


def _run(email: str, action: Callable[[AccountService, User], Awaitable[T]], confirm: str | None = None) -> T:
    """``action`` on the account with ``email``, with a container of its own; exit 3 when there is none.
    ``confirm``: a question to answer yes to first (after the settings are checked)."""
    settings = prepared_settings()
    if confirm is not None:
        click.confirm(confirm, abort=True)

    async def run() -> T:
        from videoflix.bootstrap import bootstrap
        from videoflix.domain.errors import DomainError

        container = await bootstrap(settings, run_periodic_sweeps=False)
        try:
            user = await container.accounts.find_user(email)
            if user is None:
                raise NotFoundError(f"no account with the email {email}")
            return await action(container.accounts, user)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        finally:
            await container.close()

    return asyncio.run(run())


def _id(user: User) -> int:
    assert user.id is not None
    return user.id


@click.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Deactivate an account: it cannot log in, and every session it has ends now."""
    user = _run(email, lambda accounts, user: accounts.deactivate_user(_id(user)))
    click.echo(f"deactivated {user.email}; its sessions have ended")


@click.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """Activate an account (again), without the emailed link."""
    user = _run(email, lambda accounts, user: accounts.activate_user(_id(user)))
    click.echo(f"activated {user.email}")


@click.command("sign-out")
@click.argument("email")
def sign_out(email: str) -> None:
    """Sign an account out everywhere: every session ends now, access tokens included."""
    ended = _run(email, lambda accounts, user: accounts.end_sessions(_id(user)))
    click.echo(f"signed {email} out everywhere: {ended} session{'' if ended == 1 else 's'} ended")


@click.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(email: str, yes: bool) -> None:
    """Delete an account and its tokens; its sessions end now."""
    _run(email, lambda accounts, user: accounts.delete_user(_id(user)), None if yes else f"Delete {email} for good?")
    click.echo(f"deleted {email}")


COMMANDS = [deactivate, activate, sign_out, delete]
