"""The SQL unit of work: one session, one transaction, every repository on it."""

from __future__ import annotations

from typing import Self

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoflix.adapters.db.accounts import (
    SqlOneTimeTokenRepository,
    SqlOutbox,
    SqlRefreshTokenStore,
    SqlSessionRevocationLog,
    SqlUserRepository,
)
from videoflix.adapters.db.operations import SqlOperationsRepository
from videoflix.adapters.db.uploads import SqlUploadRepository
from videoflix.adapters.db.videos import SqlCatalogReader, SqlVideoRepository
from videoflix.domain.accounts.ports import (
    OneTimeTokenRepository,
    Outbox,
    RefreshTokenStore,
    SessionRevocationLog,
    UserRepository,
)
from videoflix.domain.catalog.ports import CatalogReader
from videoflix.domain.errors import Unavailable
from videoflix.domain.media.ports import UploadRepository, VideoRepository
from videoflix.domain.operations.ports import OperationsRepository

# SQLSTATEs that say the server takes no work right now, whatever the statement: class 08 (connection exception)
# and 57P01-57P03 (an administrator or a crash shut it down; it is starting up or shutting down). asyncpg raises
# "57P03 cannot connect now" from connect() as it is, not wrapped by SQLAlchemy, while Postgres restarts.
UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raw (asyncpg's ``sqlstate``) or wrapped by SQLAlchemy (its ``orig``)."""
    for candidate in (error, getattr(error, "orig", None)):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached (rather than that a statement was wrong)."""
    if isinstance(error, (OperationalError, InterfaceError, SqlTimeoutError, OSError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    code = sqlstate(error)
    return code is not None and code.startswith(UNREACHABLE_SQLSTATES)


class SqlUnitOfWork:
    """``async with uow: ...; await uow.commit()``; leaving without commit rolls back.

    One class for every context's unit of work: its attributes are typed as the ports, so the type checker holds
    the repositories to the domain's Protocols."""

    session: AsyncSession
    users: UserRepository
    one_time_tokens: OneTimeTokenRepository
    refresh_tokens: RefreshTokenStore
    session_revocations: SessionRevocationLog
    outbox: Outbox
    videos: VideoRepository
    uploads: UploadRepository
    catalog: CatalogReader
    operations: OperationsRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self.users = SqlUserRepository(self.session)
        self.one_time_tokens = SqlOneTimeTokenRepository(self.session)
        self.refresh_tokens = SqlRefreshTokenStore(self.session)
        self.session_revocations = SqlSessionRevocationLog(self.session)
        self.outbox = SqlOutbox(self.session)
        self.videos = SqlVideoRepository(self.session)
        self.uploads = SqlUploadRepository(self.session)
        self.catalog = SqlCatalogReader(self.session)
        self.operations = SqlOperationsRepository(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        error = exc[1] if len(exc) > 1 and isinstance(exc[1], BaseException) else None
        try:
            await self.session.rollback()
            await self.session.close()
        except Exception as cleanup_error:
            if error is None:  # the connection died after the work: what the caller should hear about
                if unreachable(cleanup_error):
                    raise Unavailable() from cleanup_error
                raise
            # the work's own error says more than a failed rollback on the same dead connection
        if error is not None and unreachable(error):
            # Postgres restarting, a dropped connection, an exhausted pool: a 503 to retry, not an unexpected error
            raise Unavailable() from error

    async def commit(self) -> None:
        await self.session.commit()
