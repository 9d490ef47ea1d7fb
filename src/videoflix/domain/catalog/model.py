"""Videos as the catalog knows them: metadata, processing status and the renditions that exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

RESOLUTIONS = ("480p", "720p", "1080p")


class VideoStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Rendition:
    """One published rung of the HLS ladder."""

    name: str  # "480p", "720p" or "1080p"
    width: int
    height: int
    bandwidth: int  # peak bits per second, as the master playlist announces it
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"


@dataclass
class Video:
    title: str
    description: str
    category: str
    created_at: datetime
    updated_at: datetime
    status: VideoStatus = VideoStatus.QUEUED
    id: int | None = None
    progress: float = 0.0
    failure_reason: str | None = None
    duration: float | None = None
    source_size: int | None = None
    source_name: str | None = None
    thumbnail: str | None = None  # path relative to the media root, e.g. "thumbnails/3-1a2b.jpg"
    custom_thumbnail: bool = False  # uploaded by staff: regeneration keeps it
    renditions: list[Rendition] = field(default_factory=list)
    published: bool = False  # a complete ladder is being served; stays true while a new one is built
    attempts: int = 0
    processing_started_at: datetime | None = None


@dataclass(frozen=True)
class CatalogEntry:
    """A row of the public video list: every published video, also while it is being transcoded again."""

    id: int
    created_at: datetime
    title: str
    description: str
    category: str
    thumbnail: str | None
