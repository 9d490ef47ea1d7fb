"""The public catalog: published videos, newest first."""

from __future__ import annotations

from datetime import datetime, timedelta

from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.media.ports import MediaUnitOfWorkFactory
from videoflix.domain.ports import Clock

# Every dashboard load asks for the whole list, and it changes only when staff publish, edit or delete a video.
# Each process keeps the answer this long; changes made in this process clear it at once.
CACHE_TTL = timedelta(seconds=2)


class CatalogService:
    def __init__(self, uow: MediaUnitOfWorkFactory, clock: Clock, ttl: timedelta = CACHE_TTL) -> None:
        self._uow = uow
        self._clock = clock
        self._ttl = ttl
        self._cached: tuple[datetime, list[CatalogEntry]] | None = None

    async def list_ready(self) -> list[CatalogEntry]:
        now = self._clock.now()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        async with self._uow() as uow:
            entries = await uow.videos.list_catalog()
        self._cached = (now, entries)
        return entries

    def invalidate(self) -> None:
        """Forget the cached list (called after a video is published, changed or deleted)."""
        self._cached = None
