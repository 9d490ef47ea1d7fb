"""The SQL unit of work: one session, one transaction, every repository on it."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoflix.adapters.db.accounts import (
    SqlOneTimeTokenRepository,
    SqlOutbox,
    SqlRefreshTokenStore,
    SqlUserRepository,
)
from videoflix.adapters.db.videos import SqlCatalogReader, SqlVideoRepository


class SqlUnitOfWork:
    """``async with uow: ...; await uow.commit()``; leaving without commit rolls back."""

    session: AsyncSession

    def __init__(self, session_factory: async_sessionmaker) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self.users = SqlUserRepository(self.session)
        self.one_time_tokens = SqlOneTimeTokenRepository(self.session)
        self.refresh_tokens = SqlRefreshTokenStore(self.session)
        self.outbox = SqlOutbox(self.session)
        self.videos = SqlVideoRepository(self.session)
        self.catalog = SqlCatalogReader(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
