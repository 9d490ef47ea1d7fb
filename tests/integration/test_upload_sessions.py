"""Resumable uploads on the real adapters, on SQLite (the embedded default) and on Postgres: two containers stand
for two server processes (each its own engine and connection pool) sharing one database and one media folder.
Any of them continues an upload another started; the lease keeps two writers apart; the part file on disk."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes import FakeJobQueue, FakeTranscoder
from videoflix.adapters.storage.filesystem import FilesystemMediaStore
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.jobs import Job
from videoflix.domain.media.upload_model import UploadBusy, UploadSession
from videoflix.settings import Settings

META = {"title": "Two processes", "category": "Tests", "filename": "clip.mp4"}
DATA = bytes(range(256)) * 64  # 16 KiB


async def body(data: bytes, pause: asyncio.Event | None = None, started: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    """``data`` in two halves; between them, signal ``started`` and wait for ``pause`` (a slow connection)."""
    half = len(data) // 2
    yield data[:half]
    if started is not None:
        started.set()
    if pause is not None:
        await pause.wait()
    yield data[half:]


@pytest.fixture
async def processes(any_db_settings: Settings) -> AsyncIterator[tuple[Container, Container, FakeJobQueue]]:
    queue = FakeJobQueue()
    first = await bootstrap(any_db_settings, transcoder=FakeTranscoder(), queue=queue, run_periodic_sweeps=False)
    second = await bootstrap(any_db_settings, transcoder=FakeTranscoder(), queue=queue, run_periodic_sweeps=False)
    try:
        yield first, second, queue
    finally:
        await first.close()
        await second.close()


async def staff_id(container: Container) -> int:
    user = await container.accounts.create_admin("staff@example.com", "correct-horse-battery")
    assert user.id is not None
    return user.id


async def test_any_process_continues_an_upload_another_started(processes) -> None:
    first, second, queue = processes
    owner = await staff_id(first)
    session = await first.uploads.create(owner, len(DATA), META)
    session = await first.uploads.append(owner, session.id, 0, body(DATA[:4096]))
    assert (await second.uploads.status(owner, session.id)).offset == 4096
    session = await second.uploads.append(owner, session.id, 4096, body(DATA[4096:8192]))
    assert (await first.uploads.status(owner, session.id)).offset == 8192

    done = await first.uploads.append(owner, session.id, 8192, body(DATA[8192:]))
    assert done.video_id is not None
    video = await second.media.get(done.video_id)
    assert (video.title, video.status.value, video.source_size) == ("Two processes", "queued", 123_456)
    assert [ring.kwargs for ring in queue.delivered(Job.TRANSCODE_VIDEO)] == [{"video_id": done.video_id}]
    source = second.store.source(done.video_id)
    assert source is not None and source.read_bytes() == DATA
    assert second.store.upload_part_ids() == []


async def test_one_writer_at_a_time_across_processes(processes) -> None:
    """A request that is still sending keeps the lease; another process's request for the same upload is refused
    (409) and reads the offset recorded so far. Once the first is done, the second goes on from there."""
    first, second, _ = processes
    owner = await staff_id(first)
    session = await first.uploads.create(owner, len(DATA), META)
    pause, started = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(first.uploads.append(owner, session.id, 0, body(DATA[:8192], pause, started)))
    await started.wait()
    with pytest.raises(UploadBusy):
        await second.uploads.append(owner, session.id, 0, body(DATA[:8192]))
    assert (await second.uploads.status(owner, session.id)).offset == 0  # nothing recorded yet: no checkpoint due
    pause.set()
    assert (await slow).offset == 8192
    assert (await second.uploads.append(owner, session.id, 8192, body(DATA[8192:]))).video_id is not None


async def test_the_claim_is_one_conditional_update_whoever_asks_at_once(processes) -> None:
    first, second, _ = processes
    owner = await staff_id(first)
    session = await first.uploads.create(owner, len(DATA), META)
    now = datetime.now(UTC)

    async def claim(container: Container, token: str) -> UploadSession | None:
        async with container.uow() as uow:
            claimed = await uow.uploads.claim(session.id, owner, token, now, now + timedelta(seconds=15))
            await uow.commit()
            return claimed  # type: ignore[no-any-return]

    results = await asyncio.gather(*(claim((first, second)[i % 2], f"{i:032d}") for i in range(10)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    async with second.uow() as uow:
        row = await uow.uploads.get(session.id)
    assert row is not None and row.lease_token == winners[0].lease_token


async def test_the_sweep_queries_skip_uploads_someone_is_working_on(processes) -> None:
    first, _, _ = processes
    owner = await staff_id(first)
    now = datetime.now(UTC)
    idle, leased, complete = [await first.uploads.create(owner, 10, META) for _ in range(3)]
    async with first.uow() as uow:
        await uow.uploads.claim(leased.id, owner, "l" * 32, now, now + timedelta(days=2))
        await uow.uploads.claim(complete.id, owner, "c" * 32, now, now + timedelta(seconds=1))
        await uow.uploads.record_offset(complete.id, "c" * 32, 10, now, now + timedelta(days=2))
        await uow.commit()
    later = now + timedelta(days=1, seconds=1)
    async with first.uow() as uow:
        assert set(await uow.uploads.expired_ids(later)) == {idle.id}
        assert await uow.uploads.stranded_ids(now + timedelta(seconds=2)) == [complete.id]
        assert await uow.uploads.existing_ids([idle.id, "f" * 32]) == {idle.id}
        assert {u.id for u in await uow.uploads.unfinished_of(owner, now)} == {idle.id, leased.id, complete.id}
        assert not await uow.uploads.delete_expired(leased.id, later)
        assert await uow.uploads.delete_expired(idle.id, later)
        await uow.commit()


# --- the filesystem media store's part files ---------------------------------------------------------------------


def test_part_files_are_written_at_an_offset_cut_and_discarded(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    upload_id = "a" * 32
    assert store.upload_part_size(upload_id) == 0
    with store.open_upload_part(upload_id, 0) as part:
        part.write(b"hello world")
        part.sync()
    with store.open_upload_part(upload_id, 5) as part:  # whatever lay beyond the offset goes
        part.write(b", tus")
    assert store.upload_part_path(upload_id).read_bytes() == b"hello, tus"
    store.truncate_upload_part(upload_id, 5)
    assert store.upload_part_size(upload_id) == 5
    assert store.upload_part_ids() == [upload_id]
    store.discard_upload_part(upload_id)
    assert store.upload_part_ids() == [] and store.upload_part_size(upload_id) == 0
    store.discard_upload_part(upload_id)  # twice is fine


def test_part_files_are_named_only_by_upload_ids_and_never_follow_a_planted_symlink(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    for bad in ("../../etc/passwd", "A" * 32, "a" * 31, ""):
        with pytest.raises(ValueError, match="not an upload id"):
            store.upload_part_path(bad)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not yours")
    (store.root / "resumable" / ("b" * 32)).symlink_to(target)
    with pytest.raises(OSError) as refused, store.open_upload_part("b" * 32, 0):
        pass
    assert refused.value.errno == errno.ELOOP
    assert target.read_bytes() == b"not yours"
