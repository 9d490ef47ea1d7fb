"""What operations need: counts, and deletion of what has expired (one repository over every table)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from videoflix.domain.accounts.model import User
from videoflix.domain.ports import UnitOfWorkBase


class OperationsRepository(Protocol):
    async def email_counts(self) -> dict[str, int]:
        """Outbox emails by status."""
        ...

    async def video_counts(self) -> dict[str, int]:
        """Videos by status."""
        ...

    async def users(self, limit: int) -> list[User]:
        """Accounts, oldest first."""
        ...

    async def delete_sent_emails(self, sent_before: datetime) -> int: ...

    async def delete_expired_one_time_tokens(self, expired_before: datetime) -> int: ...

    async def delete_expired_refresh_tokens(self, expired_before: datetime) -> int: ...


class OperationsUnitOfWork(UnitOfWorkBase, Protocol):
    operations: OperationsRepository


class OperationsUnitOfWorkFactory(Protocol):
    def __call__(self) -> OperationsUnitOfWork: ...
