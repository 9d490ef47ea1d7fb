"""The public catalog: ready videos, newest first."""

from __future__ import annotations

from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.media.ports import MediaUnitOfWorkFactory


class CatalogService:
    def __init__(self, uow: MediaUnitOfWorkFactory) -> None:
        self._uow = uow

    async def list_ready(self) -> list[CatalogEntry]:
        async with self._uow() as uow:
            return await uow.videos.list_catalog()
