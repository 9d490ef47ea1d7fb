"""What the catalog reads: the published videos, in one query."""

from __future__ import annotations

from typing import Protocol

from videoflix.domain.catalog.model import CatalogEntry
from videoflix.domain.ports import UnitOfWorkBase


class CatalogReader(Protocol):
    async def list_published(self) -> list[CatalogEntry]:
        """Published videos (playable now), newest first, in one query."""
        ...


class CatalogUnitOfWork(UnitOfWorkBase, Protocol):
    catalog: CatalogReader


class CatalogUnitOfWorkFactory(Protocol):
    def __call__(self) -> CatalogUnitOfWork: ...
