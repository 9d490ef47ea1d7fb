"""Alembic migrations against real databases: every revision goes up and down cleanly, and the models match.

A schema that only upgrades cannot be rolled back in an incident; models that drift from the migrations make
production (migrated) behave differently from tests that create tables from the models.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, inspect
from sqlalchemy.engine import Connection

from tests.conftest import make_settings
from videoflix.adapters.db.engine import create_engine
from videoflix.adapters.db.migrate import alembic_config, downgrade, upgrade
from videoflix.adapters.db.models import metadata

APP_TABLES = {"users", "one_time_tokens", "refresh_tokens", "outbox_emails", "categories", "videos", "uploads"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with no schema yet (Postgres: the fixture's database, downgraded to base)."""
    if request.param == "sqlite":
        return make_settings(tmp_path).database_url
    url: str = request.getfixturevalue("pg_database")
    downgrade(url, "base")
    return url


def _inspect(url: str, fn: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    return set(_inspect(url, lambda connection: inspect(connection).get_table_names()))


def _current_revision(url: str) -> str | None:
    return _inspect(url, lambda connection: MigrationContext.configure(connection).get_current_revision())


def _revisions_oldest_first(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [revision.revision for revision in reversed(list(script.walk_revisions("base", "heads")))]


def test_stairway_every_revision_goes_up_down_and_up_again_and_head_base_head_works(
    empty_database_url: str,
) -> None:
    """Each step: up to revision N, down to N-1, up to N again. Catches downgrades that leave tables, indexes or
    constraints behind (the second upgrade would then fail with "already exists"). Then the whole way: head ->
    base (nothing of ours left) -> head (everything back)."""
    url = empty_database_url
    assert _tables(url) & APP_TABLES == set()
    revisions = _revisions_oldest_first(url)
    assert revisions, "no migrations found"
    previous = "base"
    for revision in revisions:
        upgrade(url, revision)
        assert _current_revision(url) == revision
        downgrade(url, previous)
        assert _current_revision(url) == (None if previous == "base" else previous)
        upgrade(url, revision)
        assert _current_revision(url) == revision
        previous = revision

    upgrade(url, "head")
    assert _tables(url) >= APP_TABLES
    downgrade(url, "base")
    assert _tables(url) & APP_TABLES == set()
    assert _current_revision(url) is None
    upgrade(url, "head")
    assert _tables(url) >= APP_TABLES
    assert _current_revision(url) == revisions[-1]


def _schema_diff(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "render_as_batch": connection.dialect.name == "sqlite",
            },
        )
        return list(compare_metadata(context, metadata))

    return _inspect(url, compare)


def test_models_match_the_migrations(empty_database_url: str) -> None:
    """``alembic revision --autogenerate`` on a migrated database would produce an empty migration.

    Nothing is ignored: SQLAlchemy's type comparison already treats the dialect variants the models use
    (BigInteger rendered as INTEGER on SQLite for rowid aliasing, JSONB on Postgres) as equal to what the
    migration created, and the naming convention of advanced-alchemy gives constraints stable names.
    """
    url = empty_database_url
    upgrade(url, "head")
    diff = _schema_diff(url)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_the_comparison_notices_drift(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously: a column the migrations lack and a changed type show up."""
    url = make_settings(tmp_path).database_url
    upgrade(url, "head")
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(Column("nickname", String(50), nullable=True))
    drifted.tables["videos"].c.title.type = String(100)

    def compare(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), drifted))

    diff = _inspect(url, compare)
    kinds = {entry[0][0] if isinstance(entry, list) else entry[0] for entry in diff}
    assert kinds == {"add_column", "modify_type"}, diff
