"""SQL implementation of the video repository."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload

from videoflix.adapters.db.engine import affected_rows
from videoflix.adapters.db.models import CategoryModel, VideoModel
from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.media.model import CategoryCount, Rendition, Video, VideoPage, VideoQuery, VideoStatus

MAX_ID = 2**63 - 1  # the largest id a row can have (BIGINT); a larger one would overflow the database driver


def _video(row: VideoModel) -> Video:
    return Video(
        id=row.id,
        title=row.title,
        description=row.description,
        category=row.category.name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=VideoStatus(row.status),
        progress=row.progress,
        failure_reason=row.failure_reason,
        duration=row.duration,
        source_size=row.source_size,
        source_name=row.source_name,
        thumbnail=row.thumbnail,
        custom_thumbnail=row.custom_thumbnail,
        renditions=[Rendition(**item) for item in row.renditions or []],
        published=row.published,
        attempts=row.attempts,
        processing_started_at=row.processing_started_at,
    )


class SqlVideoRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _category_id(self, name: str) -> int:
        existing = await self._session.scalar(select(CategoryModel.id).where(CategoryModel.name == name))
        if existing is not None:
            return existing
        row = CategoryModel(name=name)
        self._session.add(row)
        await self._session.flush()
        return row.id

    def _select(self) -> Select[tuple[VideoModel]]:
        return select(VideoModel).options(joinedload(VideoModel.category))

    async def add(self, video: Video) -> Video:
        row = VideoModel(category_id=await self._category_id(video.category), **self._columns(video))
        self._session.add(row)
        await self._session.flush()
        video.id = row.id
        return video

    async def get(self, video_id: int) -> Video | None:
        if not 0 < video_id <= MAX_ID:  # e.g. /api/admin/videos/99999999999999999999: no such video, not a 500
            return None
        row = await self._session.scalar(self._select().where(VideoModel.id == video_id))
        return _video(row) if row else None

    async def list_all(self) -> list[Video]:
        rows = await self._session.scalars(self._select().order_by(VideoModel.created_at.desc(), VideoModel.id.desc()))
        return [_video(row) for row in rows]

    async def search(self, query: VideoQuery) -> VideoPage:
        conditions: list[ColumnElement[bool]] = []
        if query.text:
            conditions.append(VideoModel.title.icontains(query.text, autoescape=True))
        if query.status is not None:
            conditions.append(VideoModel.status == query.status.value)
        if query.category is not None:
            conditions.append(func.lower(CategoryModel.name) == query.category.lower())
        # The total rides along as a window function: one query for the page and the count.
        total = func.count().over().label("total")
        result = await self._session.execute(
            select(VideoModel, total)
            .join(VideoModel.category)
            .options(contains_eager(VideoModel.category))
            .where(*conditions)
            .order_by(VideoModel.created_at.desc(), VideoModel.id.desc())
            .limit(query.page_size)
            .offset(query.offset)
        )
        rows = result.all()
        if rows:
            return VideoPage([_video(row[0]) for row in rows], rows[0][1])
        if not query.offset:
            return VideoPage([], 0)
        # Past the last page: the page is empty, so the window had no row to carry the total.
        count = await self._session.scalar(
            select(func.count()).select_from(VideoModel).join(VideoModel.category).where(*conditions)
        )
        return VideoPage([], count or 0)

    async def categories(self) -> list[CategoryCount]:
        result = await self._session.execute(
            select(CategoryModel.name, func.count(VideoModel.id))
            .join(VideoModel, VideoModel.category_id == CategoryModel.id)
            .group_by(CategoryModel.id, CategoryModel.name)
            .order_by(CategoryModel.name)
        )
        return [CategoryCount(name, count) for name, count in result.all()]

    async def save(self, video: Video) -> None:
        assert video.id is not None
        values = self._columns(video)
        values["category_id"] = await self._category_id(video.category)
        await self._session.execute(update(VideoModel).where(VideoModel.id == video.id).values(**values))

    async def save_metadata(self, video: Video) -> None:
        assert video.id is not None
        await self._session.execute(
            update(VideoModel)
            .where(VideoModel.id == video.id)
            .values(
                title=video.title,
                description=video.description,
                category_id=await self._category_id(video.category),
                thumbnail=video.thumbnail,
                custom_thumbnail=video.custom_thumbnail,
                updated_at=video.updated_at,
            )
        )

    async def set_progress(self, video_id: int, progress: float, now: datetime) -> bool:
        result = await self._session.execute(
            update(VideoModel).where(VideoModel.id == video_id).values(progress=progress, updated_at=now)
        )
        return affected_rows(result) == 1

    async def claim_for_processing(self, video_id: int, now: datetime, stale_before: datetime) -> Video | None:
        # Conditional UPDATE: a second worker (or a sweep) cannot take a video another worker is still on.
        result = await self._session.execute(
            update(VideoModel)
            .where(
                VideoModel.id == video_id,
                or_(
                    VideoModel.status == VideoStatus.QUEUED.value,
                    (VideoModel.status == VideoStatus.PROCESSING.value) & (VideoModel.updated_at < stale_before),
                ),
            )
            .values(
                status=VideoStatus.PROCESSING.value,
                progress=0.0,
                attempts=VideoModel.attempts + 1,
                processing_started_at=now,
                updated_at=now,
            )
        )
        if affected_rows(result) != 1:
            return None
        return await self.get(video_id)

    async def delete(self, video_id: int) -> None:
        await self._session.execute(delete(VideoModel).where(VideoModel.id == video_id))

    async def ids_needing_work(self, stale_before: datetime) -> list[int]:
        rows = await self._session.scalars(
            select(VideoModel.id).where(
                or_(
                    VideoModel.status == VideoStatus.QUEUED.value,
                    (VideoModel.status == VideoStatus.PROCESSING.value) & (VideoModel.updated_at < stale_before),
                )
            )
        )
        return list(rows)

    @staticmethod
    def _columns(video: Video) -> dict:  # type: ignore[type-arg]
        return {
            "title": video.title,
            "description": video.description,
            "created_at": video.created_at,
            "updated_at": video.updated_at,
            "status": video.status.value,
            "progress": video.progress,
            "failure_reason": video.failure_reason,
            "duration": video.duration,
            "source_size": video.source_size,
            "source_name": video.source_name,
            "thumbnail": video.thumbnail,
            "custom_thumbnail": video.custom_thumbnail,
            "renditions": [asdict(r) for r in video.renditions],
            "published": video.published,
            "attempts": video.attempts,
            "processing_started_at": video.processing_started_at,
        }


class SqlCatalogReader:
    """The public list in one query: no N+1 whatever the number of videos."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list_published(self) -> list[CatalogEntry]:
        result = await self._session.execute(
            select(
                VideoModel.id,
                VideoModel.created_at,
                VideoModel.title,
                VideoModel.description,
                CategoryModel.name,
                VideoModel.thumbnail,
            )
            .join(CategoryModel, VideoModel.category_id == CategoryModel.id)
            .where(VideoModel.published.is_(True))
            .order_by(VideoModel.created_at.desc(), VideoModel.id.desc())
        )
        return [CatalogEntry(*row) for row in result.all()]
