"""Engine and session factory for Postgres (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# An execution option for transactions that only read: on SQLite they begin without taking the write lock.
READ_ONLY = "videoflix_read_only"


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine that survives dropped connections (pre-ping) and, on SQLite, concurrent writers."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        pool_pre_ping=True,  # R4: a connection killed by pg_terminate_backend or a restart is replaced
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    # WAL lets readers run beside a writer; BEGIN IMMEDIATE takes the write lock up front, so two
    # read-then-write transactions wait for each other (busy timeout) instead of failing with "locked".
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reader marked READ_ONLY (the session-revocation poller, twice a second in every process) waits for
        # no writer and holds none up.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (the readiness probe); raises when it cannot be reached."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (SQLAlchemy types ``execute`` results generically)."""
    return cast("CursorResult[Any]", result).rowcount
