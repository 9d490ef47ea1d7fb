"""Alembic, driven from Python: ``videoflix db upgrade`` and the embedded default's self-migration."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, stdout: io.StringIO | None = None) -> Config:
    config = Config(stdout=stdout) if stdout is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Runs its own event loop: call it from synchronous code."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:" and "://" not in path:
            create_private_sqlite_file(Path(path))
    command.upgrade(alembic_config(database_url), revision)


def create_private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file, empty, readable by its owner only (0600), and its folder (0700) before the
    first connection would create them with the umask's modes. SQLite gives its -wal, -shm and -journal files the
    mode of the database file. An existing database readable by others is made private too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
            try:
                mode = stat.S_IMODE(file.stat().st_mode)
                if mode & 0o077 and file.stat().st_uid == os.geteuid():
                    file.chmod(mode & 0o700)
            except FileNotFoundError:
                continue


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def make_revision(database_url: str, message: str) -> None:
    """For developers: autogenerate a new revision against an up-to-date database."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def current(database_url: str) -> list[str]:
    """The revisions the database is at (``0004 (head)``), as Alembic reports them; empty for a fresh database."""
    out = io.StringIO()
    command.current(alembic_config(database_url, out))
    return [line for line in out.getvalue().splitlines() if line.strip()]


def history() -> list[str]:
    """Every revision, newest first: ``<down> -> <revision> (head), <message>``. Reads no database."""
    script = ScriptDirectory.from_config(alembic_config(""))
    heads = set(script.get_heads())
    lines = []
    for revision in script.walk_revisions():
        down = revision.down_revision or "<base>"
        head = " (head)" if revision.revision in heads else ""
        message = (revision.doc or "").splitlines()[0] if revision.doc else ""
        lines.append(f"{down} -> {revision.revision}{head}, {message}")
    return lines
