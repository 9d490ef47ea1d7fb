"""SQL implementation of the upload sessions. The lease is taken and kept by conditional UPDATEs: of two processes
asking at once, one sees a changed row, the other none (as the outbox claims an email)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from videoflix.adapters.db.engine import affected_rows
from videoflix.adapters.db.models import UploadModel
from videoflix.domain.media.upload_model import UploadSession


def _session(row: UploadModel) -> UploadSession:
    return UploadSession(
        id=row.id,
        owner_id=row.owner_id,
        length=row.length,
        offset=row.offset,
        metadata={str(key): str(value) for key, value in (row.upload_metadata or {}).items()},
        created_at=row.created_at,
        expires_at=row.expires_at,
        lease_token=row.lease_token,
        lease_until=row.lease_until,
        video_id=row.video_id,
    )


def _free(now: datetime) -> ColumnElement[bool]:
    """Nobody holds the lease (never taken, released, or run out)."""
    return or_(UploadModel.lease_until.is_(None), UploadModel.lease_until <= now)


class SqlUploadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, upload: UploadSession) -> None:
        self._session.add(
            UploadModel(
                id=upload.id,
                owner_id=upload.owner_id,
                length=upload.length,
                offset=upload.offset,
                upload_metadata=dict(upload.metadata),
                created_at=upload.created_at,
                expires_at=upload.expires_at,
                lease_token=upload.lease_token,
                lease_until=upload.lease_until,
                video_id=upload.video_id,
            )
        )
        await self._session.flush()

    async def get(self, upload_id: str) -> UploadSession | None:
        row = await self._session.get(UploadModel, upload_id, populate_existing=True)
        return _session(row) if row is not None else None

    async def unfinished_of(self, owner_id: int, now: datetime) -> list[UploadSession]:
        rows = await self._session.scalars(
            select(UploadModel).where(
                UploadModel.owner_id == owner_id, UploadModel.video_id.is_(None), UploadModel.expires_at > now
            )
        )
        return [_session(row) for row in rows]

    async def claim(
        self, upload_id: str, owner_id: int | None, token: str, now: datetime, until: datetime
    ) -> UploadSession | None:
        conditions = [
            UploadModel.id == upload_id,
            UploadModel.video_id.is_(None),
            UploadModel.expires_at > now,
            _free(now),
        ]
        if owner_id is not None:
            conditions.append(UploadModel.owner_id == owner_id)
        row = await self._session.scalar(  # one statement: the claim and the row it claimed
            update(UploadModel)
            .where(*conditions)
            .values(lease_token=token, lease_until=until)
            .returning(UploadModel)
            .execution_options(populate_existing=True)
        )
        return _session(row) if row is not None else None

    async def renew(self, upload_id: str, token: str, until: datetime) -> bool:
        result = await self._session.execute(
            update(UploadModel)
            .where(UploadModel.id == upload_id, UploadModel.lease_token == token)
            .values(lease_until=until)
        )
        return affected_rows(result) == 1

    async def record_offset(
        self, upload_id: str, token: str, offset: int, lease_until: datetime | None, expires_at: datetime
    ) -> bool:
        lease = {"lease_until": lease_until} if lease_until else {"lease_token": None, "lease_until": None}
        result = await self._session.execute(
            update(UploadModel)
            .where(UploadModel.id == upload_id, UploadModel.lease_token == token)
            .values(offset=offset, expires_at=expires_at, **lease)
        )
        return affected_rows(result) == 1

    async def release(self, upload_id: str, token: str) -> None:
        await self._session.execute(
            update(UploadModel)
            .where(UploadModel.id == upload_id, UploadModel.lease_token == token)
            .values(lease_token=None, lease_until=None)
        )

    async def complete(self, upload_id: str, token: str, video_id: int, expires_at: datetime) -> bool:
        result = await self._session.execute(
            update(UploadModel)
            .where(UploadModel.id == upload_id, UploadModel.lease_token == token)
            .values(
                video_id=video_id, offset=UploadModel.length, expires_at=expires_at, lease_token=None, lease_until=None
            )
        )
        return affected_rows(result) == 1

    async def delete(self, upload_id: str) -> None:
        await self._session.execute(delete(UploadModel).where(UploadModel.id == upload_id))

    async def delete_expired(self, upload_id: str, now: datetime) -> bool:
        result = await self._session.execute(
            delete(UploadModel).where(UploadModel.id == upload_id, UploadModel.expires_at <= now, _free(now))
        )
        return affected_rows(result) == 1

    async def expired_ids(self, now: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(UploadModel.id).where(UploadModel.expires_at <= now, _free(now)).order_by(UploadModel.expires_at)
        )
        return list(rows)

    async def stranded_ids(self, now: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(UploadModel.id).where(
                UploadModel.video_id.is_(None),
                UploadModel.offset >= UploadModel.length,
                UploadModel.expires_at > now,
                _free(now),
            )
        )
        return list(rows)

    async def existing_ids(self, upload_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        ids = list(upload_ids)
        for start in range(0, len(ids), 500):  # bounded IN lists
            rows = await self._session.scalars(
                select(UploadModel.id).where(UploadModel.id.in_(ids[start : start + 500]))
            )
            found.update(rows)
        return found
