"""SQL implementation of the operations port: counts by status, and deletion of what has expired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from videoflix.adapters.db.accounts import user_from_row
from videoflix.adapters.db.engine import affected_rows
from videoflix.adapters.db.models import (
    OneTimeTokenModel,
    OutboxEmailModel,
    RefreshTokenModel,
    UserModel,
    VideoModel,
)
from videoflix.domain.accounts.model import User


class SqlOperationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _counts(self, column: Any) -> dict[str, int]:
        rows = await self._session.execute(select(column, func.count()).group_by(column))
        return {str(status): int(count) for status, count in rows.tuples()}

    async def email_counts(self) -> dict[str, int]:
        return await self._counts(OutboxEmailModel.status)

    async def video_counts(self) -> dict[str, int]:
        return await self._counts(VideoModel.status)

    async def users(self, limit: int) -> list[User]:
        rows = await self._session.scalars(select(UserModel).order_by(UserModel.id).limit(limit))
        return [user_from_row(row) for row in rows]

    async def delete_sent_emails(self, sent_before: datetime) -> int:
        result = await self._session.execute(
            delete(OutboxEmailModel).where(OutboxEmailModel.status == "sent", OutboxEmailModel.sent_at < sent_before)
        )
        return affected_rows(result)

    async def delete_expired_one_time_tokens(self, expired_before: datetime) -> int:
        result = await self._session.execute(
            delete(OneTimeTokenModel).where(OneTimeTokenModel.expires_at < expired_before)
        )
        return affected_rows(result)

    async def delete_expired_refresh_tokens(self, expired_before: datetime) -> int:
        result = await self._session.execute(
            delete(RefreshTokenModel).where(RefreshTokenModel.expires_at < expired_before)
        )
        return affected_rows(result)
