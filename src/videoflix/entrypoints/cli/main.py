"""The ``videoflix`` command."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from videoflix.entrypoints.cli.accounts import COMMANDS as ACCOUNT_COMMANDS
from videoflix.entrypoints.cli.media import demo, hls, videos
from videoflix.entrypoints.startup import load_settings, prepared_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Videoflix: accounts, catalog, HLS streaming and the media pipeline.

    Configuration comes from environment variables (and ./.env); see the README.
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Granian worker processes.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Upgrade the database schema before serving (default: only on the embedded SQLite default).",
)
def serve(host: str, port: int, workers: int, migrate: bool | None) -> None:
    """Serve the HTTP API with Granian."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = prepared_settings(migrate)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    mode = (
        "embedded (SQLite, in-process jobs)"
        if settings.embedded
        else "database " + settings.database_url.split("@")[-1]
    )
    logging.getLogger("videoflix").info("Videoflix on http://%s:%s/api/ - %s", host, port, mode)
    Granian(
        "videoflix.entrypoints.http.asgi:create_asgi_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
        workers_kill_timeout=30,
    ).serve()


@cli.command()
@click.option("--concurrency", default=2, show_default=True, type=int, help="Jobs run at once.")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit (tests, cron).")
def worker(concurrency: int, burst: bool) -> None:
    """Run the SAQ worker (needs REDIS_URL): email delivery, transcoding, sweeps."""
    from videoflix.entrypoints.worker.main import run_worker

    run_worker(load_settings(), concurrency=concurrency, burst=burst)


@cli.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    from videoflix.bootstrap import upgrade_database

    upgrade_database(load_settings(), revision)
    click.echo(f"database upgraded to {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" removes every table)."""
    from videoflix.bootstrap import downgrade_database

    downgrade_database(load_settings(), revision)
    click.echo(f"database downgraded to {revision}")


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("create-admin")
@click.option("--email", required=True, help="Email address of the staff account.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting for it.",
)
def create_admin(email: str, password_stdin: bool) -> None:
    """Create an active staff account (or promote an existing one and set its password)."""
    settings = prepared_settings()  # a configuration error ends here, before anyone types a password
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        from videoflix.bootstrap import bootstrap
        from videoflix.domain.errors import DomainError

        container = await bootstrap(settings, run_periodic_sweeps=False)
        try:
            user = await container.accounts.create_admin(email, password)
        except DomainError as error:
            raise click.ClickException(
                f"{error.message} (is the password at least 8 characters and not common?)"
            ) from None
        finally:
            await container.close()
        click.echo(f"staff account ready: {user.email}")

    asyncio.run(run())


for command in ACCOUNT_COMMANDS:
    users.add_command(command)
cli.add_command(hls)
cli.add_command(videos)
cli.add_command(demo)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
