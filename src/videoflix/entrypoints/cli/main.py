"""The ``videoflix`` command (also ``python -m videoflix``). Exit codes: entrypoints/cli/exits.py."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import click

from videoflix.entrypoints.cli.accounts import COMMANDS as ACCOUNT_COMMANDS
from videoflix.entrypoints.cli.exits import FAILED
from videoflix.entrypoints.cli.media import demo, hls, videos
from videoflix.entrypoints.cli.operations import emails, list_users
from videoflix.entrypoints.startup import load_settings, prepared_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("videoflix"), "-V", "--version", prog_name="videoflix")
def cli() -> None:
    """Videoflix: accounts, catalog, HLS streaming and the media pipeline.

    Configuration comes from environment variables (and ./.env); see the README. Exit codes: 0 done, 1 failed,
    2 usage or configuration error, 3 not found.
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

    from videoflix.bootstrap import describe, prepare_multiprocess_metrics

    settings = prepared_settings(migrate)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    logging.getLogger("videoflix").info("Videoflix on http://%s:%s/api/ - %s", host, port, describe(settings))
    metrics_dir = None
    if settings.metrics_enabled:
        # Every Granian worker process writes its counters here; /metrics adds them up (see adapters/metrics).
        metrics_dir = _metrics_dir()
        prepare_multiprocess_metrics(metrics_dir)
    try:
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
    finally:
        if metrics_dir is not None and metrics_dir.name.startswith(METRICS_DIR_PREFIX):
            shutil.rmtree(metrics_dir, ignore_errors=True)


METRICS_DIR_PREFIX = "videoflix-metrics-"


def _metrics_dir() -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` when the operator chose one (a tmpfs, say), else a fresh private folder."""
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX))


@cli.command()
@click.option("--concurrency", default=2, show_default=True, type=int, help="Jobs run at once.")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit as soon as it is empty (cron).")
def worker(concurrency: int, burst: bool) -> None:
    """Run the SAQ worker (needs REDIS_URL): email delivery, transcoding, sweeps, housekeeping.

    Exits 1 when --burst gave up because Redis stayed unavailable.
    """
    from videoflix.entrypoints.worker.main import run_worker

    sys.exit(run_worker(load_settings(), concurrency=concurrency, burst=burst))


@cli.command("worker-health")
@click.option("--any-host", is_flag=True, help="Any worker counts, not only one on this machine.")
def worker_health(any_host: bool) -> None:
    """Exit 0 when a worker on this machine sent its heartbeat to Redis within the last minute, else 1.

    For container health checks and monitoring scripts.
    """
    from videoflix.bootstrap import healthy_workers

    settings = load_settings()
    try:
        count = asyncio.run(healthy_workers(settings, this_host_only=not any_host))
    except Exception as error:
        click.echo(f"unhealthy: Redis unavailable ({type(error).__name__})", err=True)
        sys.exit(FAILED)
    if not count:
        click.echo("unhealthy: no worker heartbeat" + ("" if any_host else " from this machine"), err=True)
        sys.exit(FAILED)
    click.echo(f"healthy: {count} worker{'s' if count > 1 else ''}")


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


@db.command("current")
def db_current() -> None:
    """The revision the database is at ("(head)": up to date)."""
    from videoflix.bootstrap import database_revision

    lines = database_revision(load_settings())
    click.echo("\n".join(lines) if lines else "no revision: the database is empty (run `videoflix db upgrade`)")


@db.command("history")
def db_history() -> None:
    """Every migration, newest first."""
    from videoflix.bootstrap import migration_history

    click.echo("\n".join(migration_history()))


@db.command("revision")
@click.option("-m", "--message", required=True, help="What changed, for the file name and docstring.")
def db_revision(message: str) -> None:
    """For developers: a new migration, autogenerated from the models against an up-to-date database."""
    from videoflix.bootstrap import new_migration

    new_migration(load_settings(), message)


@cli.group()
def users() -> None:
    """User accounts."""


users.add_command(list_users)


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
cli.add_command(emails)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
