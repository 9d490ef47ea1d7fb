"""The public catalog: published videos, newest first."""

from __future__ import annotations

import asyncio
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
        self._last: CatalogSnapshot | None = None
        # One reload at a time: when the cached list expires under load, every request in flight would otherwise
        # read the database and build the same list at once (a latency spike every TTL, measured in
        # bench/streaming.py). The others await the same reload and get its answer, or its error.
        self._reload: asyncio.Future[CatalogSnapshot] | None = None
        self._invalidations = 0  # a reload that began before a change in this process must not be kept as fresh

    async def list_ready(self) -> CatalogSnapshot:
        """The published videos; a new ``version`` whenever the list read from the database differs."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        reload = self._reload
        if reload is None or reload.done() or reload.get_loop() is not asyncio.get_running_loop():
            reload = self._reload = asyncio.ensure_future(self._read())
        # Shielded: a caller that gives up (a closed connection) does not cancel the others' answer.
        return await asyncio.shield(reload)

    async def _read(self) -> CatalogSnapshot:
        now, invalidations = self._clock.now(), self._invalidations
        async with self._uow() as uow:
            entries = tuple(await uow.catalog.list_published())
        snapshot = self._last
        if snapshot is None or snapshot.entries != entries:  # unchanged: the same version, nothing re-encoded
            snapshot = CatalogSnapshot(version=next(self._versions), entries=entries)
        if invalidations == self._invalidations:
            self._cached = (now, snapshot)
        self._last = snapshot
        return snapshot

    def _fresh(self) -> CatalogSnapshot | None:
        if self._cached is not None and self._clock.now() - self._cached[0] < self._ttl:
            return self._cached[1]
        return None

    def invalidate(self) -> None:
        """Forget the cached list (called after a video is published, changed or deleted)."""
        self._cached = None
        self._reload = None  # a read already on its way may predate the change: later callers start their own
        self._invalidations += 1
