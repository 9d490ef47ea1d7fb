"""Resumable uploads (the rules behind the tus endpoint) against fakes: sessions, leases, offsets that never claim
more than is on disk, checksums, the hand-over to the media pipeline, termination and expiry."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes import FakeClock, FakeJobQueue, FakeMediaStore, FakeTranscoder, FakeUnitOfWorkFactory
from videoflix.domain.errors import InvalidInput, NotFound
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import MediaError, VideoStatus
from videoflix.domain.media.service import MediaService
from videoflix.domain.media.upload_model import (
    Checksum,
    ChecksumMismatch,
    OffsetMismatch,
    UnsupportedChecksum,
    UploadBusy,
    UploadGone,
    UploadPolicy,
    UploadQuotaExceeded,
    UploadSession,
    UploadTooLarge,
)
from videoflix.domain.media.uploads import CHECKPOINT_INTERVAL, LEASE, UploadService

OWNER, OTHER = 1, 2
META = {"title": "Big Buck Bunny", "category": "Animation", "description": "A rabbit.", "filename": "bunny.mp4"}
VIDEO = bytes(range(256)) * 40  # 10 KiB of "video" (the fake transcoder probes any file)
POLICY = UploadPolicy(max_bytes=1_000_000, expiry=timedelta(hours=24), max_per_user=3, max_bytes_per_user=2_500_000)


@dataclass
class Uploads:
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    store: FakeMediaStore
    transcoder: FakeTranscoder
    queue: FakeJobQueue
    service: UploadService

    async def create(self, length: int = len(VIDEO), owner: int = OWNER, **metadata: str) -> UploadSession:
        return await self.service.create(owner, length, {**META, **metadata})

    async def send(
        self, session: UploadSession, data: bytes, *, offset: int | None = None, owner: int = OWNER, **kwargs: object
    ) -> UploadSession:
        return await self.service.append(
            owner,
            session.id,
            session.offset if offset is None else offset,
            body(data),
            **kwargs,  # type: ignore[arg-type]
        )

    def row(self, session: UploadSession) -> UploadSession | None:
        return self.uow.state.uploads.get(session.id)

    def part(self, session: UploadSession) -> bytes:
        path = self.store.upload_part_path(session.id)
        return path.read_bytes() if path.is_file() else b""


async def body(data: bytes, piece: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def body_then(data: bytes, then: Callable[[], Awaitable[None]], piece: int = 1000) -> AsyncIterator[bytes]:
    """``data`` in pieces, with ``then`` awaited after the first piece."""
    for index, start in enumerate(range(0, len(data), piece)):
        yield data[start : start + piece]
        if index == 0:
            await then()


@pytest.fixture
def uploads(tmp_path: Path) -> Uploads:
    clock, uow, queue, transcoder = FakeClock(), FakeUnitOfWorkFactory(), FakeJobQueue(), FakeTranscoder()
    store = FakeMediaStore(tmp_path / "media")
    media = MediaService(uow, store, transcoder, queue, clock)
    return Uploads(clock, uow, store, transcoder, queue, UploadService(uow, store, media, clock, POLICY))


# --- creation -----------------------------------------------------------------------------------------------------


async def test_a_new_upload_is_empty_and_expires_after_the_configured_time(uploads: Uploads) -> None:
    session = await uploads.create()
    assert (session.offset, session.length, session.video_id) == (0, len(VIDEO), None)
    assert session.expires_at == uploads.clock.now() + POLICY.expiry
    assert session.metadata == META
    assert len(session.id) == 32 and session.id != (await uploads.create()).id  # unguessable, unique


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"title": ""}, "A video needs a title"),
        ({"title": "x" * 201}, "at most 200 characters"),
        ({"category": "  "}, "A video needs a category"),
        ({"title": "bell\x07"}, "control characters"),
    ],
)
async def test_bad_metadata_is_refused_at_creation_like_the_multipart_form(
    uploads: Uploads, metadata: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await uploads.create(**metadata)
    assert uploads.uow.state.uploads == {}


async def test_an_empty_or_oversized_file_is_refused_at_creation(uploads: Uploads) -> None:
    with pytest.raises(InvalidInput, match="not a usable video: it is empty"):
        await uploads.create(length=0)
    with pytest.raises(UploadTooLarge, match=r"976\.6 KiB"):
        await uploads.create(length=POLICY.max_bytes + 1)
    assert uploads.uow.state.uploads == {}


async def test_each_account_has_a_cap_on_unfinished_uploads_and_their_bytes(uploads: Uploads) -> None:
    for _ in range(3):
        await uploads.create(length=100)
    with pytest.raises(UploadQuotaExceeded, match="3 unfinished uploads"):
        await uploads.create(length=100)
    await uploads.create(length=100, owner=OTHER)  # someone else's count is their own

    uploads.clock.advance(POLICY.expiry)  # expired ones no longer count
    big = await uploads.create(length=POLICY.max_bytes)
    await uploads.create(length=POLICY.max_bytes)
    with pytest.raises(UploadQuotaExceeded, match=r"2\.4 MiB in total"):
        await uploads.create(length=POLICY.max_bytes)
    await uploads.send(big, b"\x00" * POLICY.max_bytes)  # a completed upload no longer counts
    await uploads.create(length=POLICY.max_bytes)


# --- sending bytes ------------------------------------------------------------------------------------------------


async def test_chunks_arrive_in_order_and_the_last_byte_hands_the_file_to_the_media_pipeline(uploads: Uploads) -> None:
    session = await uploads.create()
    first = await uploads.send(session, VIDEO[:4000])
    assert first.offset == 4000 and first.video_id is None
    assert uploads.row(session).offset == 4000  # type: ignore[union-attr]
    assert uploads.queue.delivered(Job.TRANSCODE_VIDEO) == []

    done = await uploads.send(first, VIDEO[4000:])
    assert done.offset == len(VIDEO) and done.video_id is not None
    video = uploads.uow.state.videos[done.video_id]
    assert (video.status, video.title, video.category, video.source_name) == (
        VideoStatus.QUEUED,
        "Big Buck Bunny",
        "Animation",
        "bunny.mp4",
    )
    assert [ring.kwargs for ring in uploads.queue.delivered(Job.TRANSCODE_VIDEO)] == [{"video_id": done.video_id}]
    assert uploads.store.sources[done.video_id].read_bytes() == VIDEO  # the part file became the source
    assert uploads.store.upload_part_files() == []
    row = uploads.row(session)
    assert row is not None and row.video_id == done.video_id and row.lease_token is None


async def test_the_last_request_again_gets_the_same_answer(uploads: Uploads) -> None:
    """Its answer was lost on the way: asking again does not make a second video."""
    done = await uploads.send(await uploads.create(), VIDEO)
    again = await uploads.send(done, b"", offset=len(VIDEO))
    assert again.video_id == done.video_id
    assert len(uploads.uow.state.videos) == 1
    with pytest.raises(OffsetMismatch, match="complete"):
        await uploads.send(done, b"more", offset=len(VIDEO), declared_length=4)


async def test_bytes_for_another_offset_are_refused_and_change_nothing(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:3000])
    with pytest.raises(OffsetMismatch, match="at byte 3000, not 2000"):
        await uploads.send(session, VIDEO[2000:5000], offset=2000)
    assert uploads.row(session).offset == 3000  # type: ignore[union-attr]
    assert uploads.part(session) == VIDEO[:3000]


async def test_bytes_past_the_declared_length_are_refused(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:3000])
    with pytest.raises(UploadTooLarge, match="past the upload's length"):
        await uploads.send(session, b"x", declared_length=len(VIDEO))  # told up front: nothing is read
    assert uploads.part(session) == VIDEO[:3000]
    with pytest.raises(UploadTooLarge, match="only 10240 bytes"):
        await uploads.send(session, VIDEO[3000:] + b"extra")  # found while streaming: what fitted is kept
    assert uploads.row(session).offset == 10_000  # type: ignore[union-attr]  # the pieces before the last
    assert uploads.row(session).video_id is None  # type: ignore[union-attr]


async def test_a_checksum_mismatch_keeps_the_previous_offset_and_none_of_the_bytes(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:2000])
    wrong = Checksum("sha1", hashlib.sha1(b"something else").digest())
    with pytest.raises(ChecksumMismatch):
        await uploads.send(session, VIDEO[2000:6000], checksum=wrong)
    assert uploads.row(session).offset == 2000  # type: ignore[union-attr]
    assert uploads.part(session) == VIDEO[:2000]

    right = Checksum("sha256", hashlib.sha256(VIDEO[2000:6000]).digest())
    assert (await uploads.send(session, VIDEO[2000:6000], checksum=right)).offset == 6000


def test_unknown_checksum_algorithms_and_wrong_digest_lengths_are_refused() -> None:
    with pytest.raises(UnsupportedChecksum, match="use one of sha1"):
        Checksum("crc32", b"1234")
    with pytest.raises(UnsupportedChecksum, match="different length"):
        Checksum("sha1", b"short")


async def test_an_interrupted_body_keeps_what_arrived(uploads: Uploads) -> None:
    """Without a checksum, the bytes before the connection broke count (tus: accept as many as possible)."""
    session = await uploads.create()

    async def broken() -> AsyncIterator[bytes]:
        yield VIDEO[:1500]
        yield VIDEO[1500:2500]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await uploads.service.append(OWNER, session.id, 0, broken())
    assert uploads.row(session).offset == 2500  # type: ignore[union-attr]
    assert uploads.row(session).lease_token is None  # type: ignore[union-attr]  # the next request goes on at once
    assert (await uploads.send(await uploads.service.status(OWNER, session.id), VIDEO[2500:])).video_id is not None


async def test_a_long_request_records_its_progress_while_it_streams_never_past_the_file(uploads: Uploads) -> None:
    """A server killed mid-request loses at most the bytes since the last checkpoint, and the recorded offset never
    counts a byte that is not in the part file."""
    session = await uploads.create()
    seen: list[tuple[int, int]] = []  # (recorded offset, bytes in the part file) after each piece

    async def slow() -> AsyncIterator[bytes]:
        for start in range(0, 8000, 1000):
            yield VIDEO[start : start + 1000]
            uploads.clock.advance(CHECKPOINT_INTERVAL)
            row = uploads.row(session)
            assert row is not None
            seen.append((row.offset, uploads.store.upload_part_size(session.id)))

    await uploads.service.append(OWNER, session.id, 0, slow())
    recorded = [offset for offset, _ in seen]
    assert recorded[:4] == [0, 2000, 3000, 4000]  # counted while the request still streams
    assert all(offset <= size for offset, size in seen)
    assert uploads.row(session).offset == 8000  # type: ignore[union-attr]
    assert uploads.store.syncs == 0  # durable on the disk only once complete ...
    await uploads.send(uploads.row(session), VIDEO[8000:])  # type: ignore[arg-type]
    assert uploads.store.syncs == 1  # ... before it becomes a video's source


# --- one writer at a time, across processes ---------------------------------------------------------------------


async def test_a_second_request_to_the_same_upload_is_refused_while_the_first_writes(uploads: Uploads) -> None:
    session = await uploads.create()
    second: list[BaseException] = []

    async def meanwhile() -> None:
        try:
            await uploads.send(session, VIDEO[1000:2000], offset=1000)
        except UploadBusy as error:
            second.append(error)

    await uploads.service.append(OWNER, session.id, 0, body_then(VIDEO[:5000], meanwhile))
    assert len(second) == 1  # 409, never interleaved
    assert uploads.part(session) == VIDEO[:5000]


async def test_a_lease_left_by_a_killed_process_runs_out(uploads: Uploads) -> None:
    session = await uploads.create()
    async with uploads.uow() as uow:  # a process took the lease and died
        await uow.uploads.claim(session.id, OWNER, "dead" * 8, uploads.clock.now(), uploads.clock.now() + LEASE)
        await uow.commit()
    with pytest.raises(UploadBusy):
        await uploads.send(session, VIDEO[:1000])
    uploads.clock.advance(LEASE)
    assert (await uploads.send(session, VIDEO[:1000])).offset == 1000


async def test_a_writer_whose_lease_was_taken_over_stops_writing(uploads: Uploads) -> None:
    """If its lease ran out (a stalled connection) and another request took over, the first one writes no
    further byte into the file."""
    session = await uploads.create()

    async def stall_and_lose_the_lease() -> None:
        uploads.clock.advance(LEASE)
        async with uploads.uow() as uow:
            await uow.uploads.claim(session.id, OWNER, "next" * 8, uploads.clock.now(), uploads.clock.now() + LEASE)
            await uow.commit()

    with pytest.raises(UploadBusy):
        await uploads.service.append(OWNER, session.id, 0, body_then(VIDEO[:5000], stall_and_lose_the_lease))
    assert uploads.store.upload_part_size(session.id) == 1000  # the first piece only
    assert uploads.row(session).lease_token == "next" * 8  # type: ignore[union-attr]


async def test_a_writer_renews_its_lease_before_it_runs_low(uploads: Uploads) -> None:
    session = await uploads.create()

    async def take_a_while() -> None:
        uploads.clock.advance(LEASE - timedelta(seconds=1))

    await uploads.service.append(OWNER, session.id, 0, body_then(VIDEO[:5000], take_a_while))
    assert uploads.row(session).offset == 5000  # type: ignore[union-attr]


# --- the offset a client is told --------------------------------------------------------------------------------


async def test_the_offset_is_the_smaller_of_the_recorded_one_and_the_part_file(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:3000])
    part = uploads.store.upload_part_path(session.id)
    with part.open("ab") as handle:  # a writer killed after writing, before recording
        handle.write(VIDEO[3000:3500])
    assert (await uploads.service.status(OWNER, session.id)).offset == 3000
    assert part.read_bytes() == VIDEO[:3000]  # cut to what counts

    with part.open("r+b") as handle:  # a disk that lost the last bytes
        handle.truncate(2500)
    assert (await uploads.service.status(OWNER, session.id)).offset == 2500
    assert uploads.row(session).offset == 2500  # type: ignore[union-attr]
    assert (await uploads.send(session, VIDEO[2500:], offset=2500)).video_id is not None
    assert uploads.store.sources[1].read_bytes() == VIDEO


async def test_someone_elses_upload_does_not_exist(uploads: Uploads) -> None:
    session = await uploads.create()
    with pytest.raises(NotFound):
        await uploads.service.status(OTHER, session.id)
    with pytest.raises(NotFound):
        await uploads.send(session, VIDEO[:10], owner=OTHER)
    with pytest.raises(NotFound):
        await uploads.service.terminate(OTHER, session.id)
    with pytest.raises(NotFound):
        await uploads.service.status(OWNER, "0" * 32)
    assert uploads.row(session) is not None


# --- not a video, termination, expiry ---------------------------------------------------------------------------


async def test_a_file_that_is_not_a_video_ends_the_upload_and_leaves_nothing(uploads: Uploads) -> None:
    uploads.transcoder.probe_error = MediaError("no video stream")
    session = await uploads.create()
    with pytest.raises(InvalidInput, match=r"^The file is not a usable video: no video stream$"):
        await uploads.send(session, VIDEO)
    assert uploads.row(session) is None
    assert uploads.store.upload_part_files() == []
    assert uploads.uow.state.videos == {}


async def test_termination_removes_the_upload_and_its_bytes(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:3000])
    await uploads.service.terminate(OWNER, session.id)
    assert uploads.row(session) is None and uploads.store.upload_part_files() == []
    with pytest.raises(NotFound):
        await uploads.service.status(OWNER, session.id)


async def test_termination_while_the_finished_file_is_probed_makes_no_video(uploads: Uploads) -> None:
    """The last byte arrived and the file is being probed when staff terminate the upload: the termination wins,
    no video appears, no transcode starts, nothing stays on disk."""
    session = await uploads.create()

    async def terminate() -> None:
        uploads.transcoder.during_probe = None
        await uploads.service.terminate(OWNER, session.id)

    uploads.transcoder.during_probe = terminate
    with pytest.raises(UploadGone):
        await uploads.send(session, VIDEO)
    assert uploads.uow.state.videos == {} and uploads.uow.state.uploads == {}
    assert uploads.queue.delivered(Job.TRANSCODE_VIDEO) == []
    assert uploads.store.upload_part_files() == [] and uploads.store.sources == {}


async def test_termination_in_the_middle_of_a_request_stops_it_and_removes_its_bytes(uploads: Uploads) -> None:
    session = await uploads.create()

    async def terminate_and_stall() -> None:
        await uploads.service.terminate(OWNER, session.id)
        uploads.clock.advance(LEASE)  # the writer must renew before its next write: it finds the upload gone

    with pytest.raises(UploadGone):
        await uploads.service.append(OWNER, session.id, 0, body_then(VIDEO[:5000], terminate_and_stall))
    assert uploads.store.upload_part_files() == [] and uploads.uow.state.uploads == {}


async def test_terminating_a_completed_upload_keeps_its_video(uploads: Uploads) -> None:
    done = await uploads.send(await uploads.create(), VIDEO)
    await uploads.service.terminate(OWNER, done.id)
    assert done.video_id in uploads.uow.state.videos


async def test_expired_uploads_answer_gone_and_the_sweep_removes_them(uploads: Uploads) -> None:
    session = await uploads.send(await uploads.create(), VIDEO[:3000])
    uploads.clock.advance(POLICY.expiry - timedelta(seconds=1))
    session = await uploads.send(session, VIDEO[3000:4000])  # each byte that arrives pushes the expiry back
    uploads.clock.advance(POLICY.expiry)
    with pytest.raises(UploadGone):
        await uploads.service.status(OWNER, session.id)
    with pytest.raises(UploadGone):
        await uploads.send(session, VIDEO[4000:5000])
    assert await uploads.service.sweep() == 1
    assert uploads.row(session) is None and uploads.store.upload_part_files() == []
    with pytest.raises(NotFound):
        await uploads.service.status(OWNER, session.id)


async def test_the_sweep_leaves_active_uploads_alone_and_removes_orphaned_part_files(uploads: Uploads) -> None:
    active = await uploads.send(await uploads.create(), VIDEO[:1000])
    orphan = "ab" * 16
    with uploads.store.open_upload_part(orphan, 0) as part:  # a crash between deleting a row and its file
        part.write(b"leftover")
    assert await uploads.service.sweep() == 1
    assert uploads.store.upload_part_ids() == [active.id]
    assert uploads.row(active) is not None


async def test_the_sweep_finishes_an_upload_whose_last_request_was_cut_off(uploads: Uploads) -> None:
    """Every byte was recorded, then the process died before the video was created: a client asking for the
    offset is told the upload is complete, so the sweep must make the video."""
    session = await uploads.create()
    async with uploads.uow() as uow:
        await uow.uploads.claim(session.id, OWNER, "dead" * 8, uploads.clock.now(), uploads.clock.now() + LEASE)
        await uow.commit()
    with uploads.store.open_upload_part(session.id, 0) as part:
        part.write(VIDEO)
    async with uploads.uow() as uow:
        now = uploads.clock.now()
        await uow.uploads.record_offset(session.id, "dead" * 8, len(VIDEO), now + LEASE, now + POLICY.expiry)
        await uow.commit()
    assert await uploads.service.sweep() == 0  # its lease has not run out yet
    uploads.clock.advance(LEASE)
    assert await uploads.service.sweep() == 1
    row = uploads.row(session)
    assert row is not None and row.video_id in uploads.uow.state.videos
    assert len(uploads.queue.delivered(Job.TRANSCODE_VIDEO)) == 1
