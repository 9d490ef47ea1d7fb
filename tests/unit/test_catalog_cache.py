"""The catalog answers from a short per-process cache that publishing, editing and deleting clear at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.fakes import (
    FakeCatalogReader,
    FakeClock,
    FakeJobQueue,
    FakeMediaStore,
    FakeTranscoder,
    FakeUnitOfWorkFactory,
)
from videoflix.domain.catalog.service import CACHE_TTL, CatalogService
from videoflix.domain.media.service import MediaService, VideoDraft


async def build(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    catalog = CatalogService(uow, clock)
    store = FakeMediaStore(tmp_path / "media")
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
    assert (await catalog.list_ready()).entries == ()
    first = await publish(media, tmp_path, "first")
    assert [e.id for e in (await catalog.list_ready()).entries] == [first]
    await media.update(first, title="renamed")
    assert [e.title for e in (await catalog.list_ready()).entries] == ["renamed"]
    await media.delete(first)
    assert (await catalog.list_ready()).entries == ()


async def test_changes_from_other_processes_show_after_the_ttl(tmp_path):
    clock, uow, catalog, _ = await build(tmp_path)
    other_process = MediaService(uow, FakeMediaStore(tmp_path / "media"), FakeTranscoder(), FakeJobQueue(), clock)
    assert (await catalog.list_ready()).entries == ()
    video_id = await publish(other_process, tmp_path, "elsewhere")
    assert (await catalog.list_ready()).entries == ()  # still the cached answer
    clock.advance(CACHE_TTL + timedelta(milliseconds=1))
    assert [e.id for e in (await catalog.list_ready()).entries] == [video_id]


async def test_the_cache_saves_the_query(tmp_path):
    _, uow, catalog, _ = await build(tmp_path)
    await catalog.list_ready()
    opened = uow.opened
    for _ in range(10):
        await catalog.list_ready()
    assert uow.opened == opened


async def test_the_version_changes_exactly_when_the_list_is_read_again(tmp_path):
    """The HTTP layer caches the encoded body by version: a new version whenever the entries may have changed."""
    clock, uow, catalog, media = await build(tmp_path)
    first = await catalog.list_ready()
    assert (await catalog.list_ready()).version == first.version  # the cached answer
    video_id = await publish(media, tmp_path, "news")
    published = await catalog.list_ready()
    assert published.version != first.version and [e.id for e in published.entries] == [video_id]
    clock.advance(CACHE_TTL + timedelta(milliseconds=1))
    assert (await catalog.list_ready()).version == published.version  # read again, unchanged: nothing to re-encode
    other_process = MediaService(uow, FakeMediaStore(tmp_path / "media"), FakeTranscoder(), FakeJobQueue(), clock)
    await publish(other_process, tmp_path, "elsewhere")
    clock.advance(CACHE_TTL + timedelta(milliseconds=1))
    assert (await catalog.list_ready()).version not in (first.version, published.version)


async def test_requests_arriving_as_the_cache_expires_share_one_read(tmp_path, monkeypatch):
    """Under load every request in flight finds the list expired at once: one reads the database, the others wait
    for its answer (without this, a burst of identical queries and encodings every TTL: the catalog's p99)."""
    clock, _, catalog, media = await build(tmp_path)
    await publish(media, tmp_path, "news")
    reads = 0
    original = FakeCatalogReader.list_published

    async def slow_read(self):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)  # the database takes a moment, as a real one does
        return await original(self)

    monkeypatch.setattr(FakeCatalogReader, "list_published", slow_read)
    clock.advance(CACHE_TTL + timedelta(milliseconds=1))
    answers = await asyncio.gather(*(catalog.list_ready() for _ in range(16)))
    assert reads == 1
    assert len({answer.version for answer in answers}) == 1 and [e.title for e in answers[0].entries] == ["news"]


async def test_a_change_made_while_the_list_is_being_read_is_shown_at_once(tmp_path, monkeypatch):
    """A reload that began before a publish in this process returns what it read, but does not keep it as fresh."""
    _, _, catalog, media = await build(tmp_path)
    original = FakeCatalogReader.list_published
    read_started = asyncio.Event()
    go_on = asyncio.Event()

    async def held_read(self):  # type: ignore[no-untyped-def]
        entries = await original(self)  # the list as it is now, before the publish below
        read_started.set()
        await go_on.wait()
        return entries

    monkeypatch.setattr(FakeCatalogReader, "list_published", held_read)
    reading = asyncio.create_task(catalog.list_ready())
    await read_started.wait()
    monkeypatch.setattr(FakeCatalogReader, "list_published", original)
    video_id = await publish(media, tmp_path, "fresh")  # invalidates the cache while the read is in flight
    after = await catalog.list_ready()  # asked while the earlier read is still on its way
    go_on.set()
    assert (await reading).entries == ()
    assert [e.id for e in after.entries] == [video_id]
    assert [e.id for e in (await catalog.list_ready()).entries] == [video_id]
