"""The catalog answers from a short per-process cache that publishing, editing and deleting clear at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.fakes import FakeClock, FakeJobQueue, FakeTranscoder, FakeUnitOfWorkFactory
from videoflix.adapters.storage.filesystem import FilesystemMediaStore
from videoflix.domain.catalog.service import CACHE_TTL, CatalogService
from videoflix.domain.media.service import MediaService, VideoDraft


async def build(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    catalog = CatalogService(uow, clock)
    store = FilesystemMediaStore(tmp_path / "media")
    media = MediaService(uow, store, FakeTranscoder(), FakeJobQueue(), clock, on_catalog_change=catalog.invalidate)
    return clock, uow, catalog, media


async def publish(media: MediaService, tmp_path: Path, title: str) -> int:
    upload = tmp_path / f"{title}.mp4"
    upload.write_bytes(b"video bytes")
    video = await media.ingest(upload, upload.name, VideoDraft(title, "", "Drama"))
    assert video.id is not None
    assert await media.transcode(video.id) == "ready"
    return video.id


async def test_publishing_in_this_process_shows_at_once(tmp_path):
    _, _, catalog, media = await build(tmp_path)
    assert await catalog.list_ready() == []
    first = await publish(media, tmp_path, "first")
    assert [e.id for e in await catalog.list_ready()] == [first]
    await media.update(first, title="renamed")
    assert [e.title for e in await catalog.list_ready()] == ["renamed"]
    await media.delete(first)
    assert await catalog.list_ready() == []


async def test_changes_from_other_processes_show_after_the_ttl(tmp_path):
    clock, uow, catalog, _ = await build(tmp_path)
    other_process = MediaService(uow, FilesystemMediaStore(tmp_path / "media"), FakeTranscoder(), FakeJobQueue(), clock)
    assert await catalog.list_ready() == []
    video_id = await publish(other_process, tmp_path, "elsewhere")
    assert await catalog.list_ready() == []  # still the cached answer
    clock.advance(CACHE_TTL + timedelta(milliseconds=1))
    assert [e.id for e in await catalog.list_ready()] == [video_id]


async def test_the_cache_saves_the_query(tmp_path):
    _, uow, catalog, _ = await build(tmp_path)
    await catalog.list_ready()
    opened = uow.opened
    for _ in range(10):
        await catalog.list_ready()
    assert uow.opened == opened
