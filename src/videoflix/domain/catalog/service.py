"""The public catalog: published videos, newest first."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from videoflix.domain.catalog.model import CatalogSnapshot
from videoflix.domain.catalog.ports import CatalogUnitOfWorkFactory
from videoflix.domain.ports import Clock

# Every dashboard load asks for the whole list, and it changes only when staff publish, edit or delete a video.
# Each process keeps the answer this long; changes made in this process clear it at once.
CACHE_TTL = timedelta(seconds=2)


class CatalogService:
    def __init__(self, uow: CatalogUnitOfWorkFactory, clock: Clock, ttl: timedelta = CACHE_TTL) -> None:
        self._uow = uow
        self._clock = clock
        self._ttl = ttl
        self._versions = count(1)
        self._cached: tuple[datetime, CatalogSnapshot] | None = None

    async def list_ready(self) -> CatalogSnapshot:
        """The published videos; a new ``version`` each time the list is read from the database again."""
        now = self._clock.now()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        async with self._uow() as uow:
            entries = await uow.catalog.list_published()
        snapshot = CatalogSnapshot(version=next(self._versions), entries=tuple(entries))
        self._cached = (now, snapshot)
        return snapshot

    def invalidate(self) -> None:
        """Forget the cached list (called after a video is published, changed or deleted)."""
        self._cached = None
