"""The public catalog: what a viewer sees of a video."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CatalogEntry:
    """A row of the public video list: every published video, also while it is being transcoded again."""

    id: int
    created_at: datetime
    title: str
    description: str
    category: str
    thumbnail: str | None


@dataclass(frozen=True)
class CatalogSnapshot:
    """The list as of one read. ``version`` changes whenever the entries may have: callers cache by it."""

    version: int
    entries: tuple[CatalogEntry, ...]
