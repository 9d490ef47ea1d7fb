"""Resumable uploads, the rules behind the tus endpoint: create, offset, append, finish, terminate, expire.

A video arrives in pieces. Each piece is written by whichever server process the request reaches, so everything is
in the database (the session and its lease) and in the media store (the part file):

- **One writer at a time.** A request writes only while it holds the upload's lease, taken by a conditional UPDATE
  (as the outbox claims an email) and renewed before it writes when little of it is left. A second request finds
  it taken (409). A writer whose process died leaves a lease that simply runs out.
- **The offset never claims more than is on disk.** Bytes are written to the part file as they arrive, unbuffered,
  and counted in the database only once written (a killed process loses none that reached the operating system),
  every few seconds while a long request streams and at its end. Whatever lies beyond the recorded offset is cut
  off before the next write; a part file shorter than the offset (a machine that lost power before its disk had
  the bytes) lowers the offset to what is there. The operating system is asked to write the pages to the disk as
  they arrive, and the complete file is fsync'd before it becomes a video.
- **The last byte makes a video.** The complete file goes to ``MediaService.ingest`` exactly as a multipart upload
  does, and in the same transaction the session records its video, so a termination racing with it either wins
  (no video) or comes too late (the video stays), never half of each.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterable, Callable, Mapping
from datetime import datetime, timedelta

from videoflix.domain.errors import InvalidInput, NotFound
from videoflix.domain.media.model import Video
from videoflix.domain.media.ports import MediaStore, MediaUnitOfWork, MediaUnitOfWorkFactory
from videoflix.domain.media.service import MediaService, VideoDraft, safe_file_name
from videoflix.domain.media.upload_model import (
    Checksum,
    ChecksumMismatch,
    LeaseLost,
    OffsetMismatch,
    UploadBusy,
    UploadGone,
    UploadPolicy,
    UploadQuotaExceeded,
    UploadSession,
    UploadTooLarge,
)
from videoflix.domain.ports import Clock

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)  # how long a writer that stopped renewing (a killed process) blocks the next one
# A writer renews before it writes when less than this is left, so its writes end well before anyone else may take
# the lease over, even with clocks of two machines that differ by a few seconds.
RENEW_WHEN_LEFT = timedelta(seconds=8)
FINISH_LEASE = timedelta(minutes=10)  # probing the complete file and adopting it as the video's source
CHECKPOINT_BYTES = 32 * 1024 * 1024  # record the offset of a long request at least this often ...
CHECKPOINT_INTERVAL = timedelta(seconds=2)  # ... or this often, whichever comes first
NO_SUCH_UPLOAD = "No such upload."


def readable_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def new_upload_id() -> str:
    return secrets.token_hex(16)  # 128 random bits: the upload's URL cannot be guessed


class UploadService:
    def __init__(
        self,
        uow: MediaUnitOfWorkFactory,
        store: MediaStore,
        media: MediaService,
        clock: Clock,
        policy: UploadPolicy,
        new_id: Callable[[], str] = new_upload_id,
    ) -> None:
        self._uow = uow
        self._store = store
        self._media = media
        self._clock = clock
        self.policy = policy
        self._new_id = new_id

    # --- create ---------------------------------------------------------------------------------------------

    async def create(self, owner_id: int, length: int, metadata: Mapping[str, str]) -> UploadSession:
        """A new, empty upload of ``length`` bytes. The metadata is checked as a multipart upload's form is, so a
        bad title is refused before any byte is sent."""
        draft = VideoDraft(
            title=metadata.get("title", ""),
            description=metadata.get("description", ""),
            category=metadata.get("category", ""),
        ).validated()
        if length > self.policy.max_bytes:
            raise UploadTooLarge(f"The file is larger than the {readable_size(self.policy.max_bytes)} accepted.")
        if length <= 0:
            raise InvalidInput("The file is not a usable video: it is empty.")
        now = self._clock.now()
        async with self._uow() as uow:
            unfinished = await uow.uploads.unfinished_of(owner_id, now)
            if len(unfinished) >= self.policy.max_per_user:
                raise UploadQuotaExceeded(
                    f"You have {len(unfinished)} unfinished uploads, the most allowed: finish or delete one first."
                )
            if sum(upload.length for upload in unfinished) + length > self.policy.max_bytes_per_user:
                raise UploadQuotaExceeded(
                    f"Your unfinished uploads would exceed {readable_size(self.policy.max_bytes_per_user)} in "
                    "total: finish or delete one first."
                )
            session = UploadSession(
                id=self._new_id(),
                owner_id=owner_id,
                length=length,
                offset=0,
                metadata={
                    "filename": safe_file_name(metadata.get("filename", "")),
                    "title": draft.title,
                    "description": draft.description,
                    "category": draft.category,
                },
                created_at=now,
                expires_at=now + self.policy.expiry,
            )
            await uow.uploads.add(session)
            await uow.commit()
        return session

    # --- offset ---------------------------------------------------------------------------------------------

    async def status(self, owner_id: int, upload_id: str) -> UploadSession:
        """The upload and the bytes safely stored: the smaller of the recorded offset and the part file, which is
        cut to it (bytes of a writer killed before it recorded them)."""
        session = await self._visible(owner_id, upload_id)
        now = self._clock.now()
        if session.completed or session.leased(now) or self._store.upload_part_size(upload_id) == session.offset:
            return session  # nothing to repair, or a writer is at work: its recorded offset is what counts
        token = secrets.token_hex(16)
        async with self._uow() as uow:
            claimed = await uow.uploads.claim(upload_id, owner_id, token, now, now + LEASE)
            await uow.commit()
        if claimed is None:
            return session  # a writer took it just now
        try:
            return await self._reconcile(claimed, token)
        finally:
            await self._release(upload_id, token)

    async def _visible(self, owner_id: int, upload_id: str) -> UploadSession:
        async with self._uow() as uow:
            session = await uow.uploads.get(upload_id)
        if session is None or session.owner_id != owner_id:  # someone else's upload does not exist for you
            raise NotFound(NO_SUCH_UPLOAD)
        if session.expired(self._clock.now()):
            raise UploadGone()
        return session

    async def _reconcile(self, session: UploadSession, token: str) -> UploadSession:
        """Under the lease: make the part file and the recorded offset agree on the smaller of the two."""
        size = self._store.upload_part_size(session.id)
        if size > session.offset:
            self._store.truncate_upload_part(session.id, session.offset)
        elif size < session.offset:
            log.warning(
                "upload %s: %d bytes recorded but %d on disk; asking for them again", session.id, session.offset, size
            )
            await self._record(session.id, token, size)
            session.offset = size
        return session

    # --- append and finish ----------------------------------------------------------------------------------

    async def append(
        self,
        owner_id: int,
        upload_id: str,
        offset: int,
        body: AsyncIterable[bytes],
        *,
        declared_length: int | None = None,
        checksum: Checksum | None = None,
    ) -> UploadSession:
        """Write ``body`` at ``offset`` (which must be where the upload is). With a ``checksum`` the bytes count
        only when they match it; without one, whatever arrived before the body broke off counts. The last byte
        hands the file to the media service; the returned session then has its ``video_id``."""
        token = secrets.token_hex(16)
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.uploads.claim(upload_id, owner_id, token, now, now + LEASE)
            await uow.commit()
        if session is None:
            return await self._not_claimed(owner_id, upload_id, offset, declared_length)
        token_given_back = False
        try:
            session = await self._reconcile(session, token)
            if offset != session.offset:
                raise OffsetMismatch(
                    f"The upload is at byte {session.offset}, not {offset}: ask for its offset and go on from there."
                )
            if declared_length is not None and offset + declared_length > session.length:
                raise UploadTooLarge(f"The chunk ends past the upload's length ({session.length} bytes).")
            transfer = _Transfer(self, session, token, checksum)
            session.offset = await transfer.run(body)
            if session.offset == session.length:
                return await self._finish(session, token)
            token_given_back = transfer.released
            return session
        except LeaseLost:
            async with self._uow() as uow:
                still_there = await uow.uploads.get(upload_id) is not None
            if still_there:
                raise UploadBusy() from None
            self._store.discard_upload_part(upload_id)  # terminated meanwhile: its bytes go too
            raise UploadGone() from None
        finally:
            if not token_given_back:
                await self._release(upload_id, token)

    async def _not_claimed(
        self, owner_id: int, upload_id: str, offset: int, declared_length: int | None
    ) -> UploadSession:
        session = await self._visible(owner_id, upload_id)
        if session.completed:
            if offset == session.length and not declared_length:
                return session  # the last request again (its answer was lost): the same answer
            raise OffsetMismatch(f"The upload is complete ({session.length} bytes).")
        raise UploadBusy()

    async def _finish(self, session: UploadSession, token: str) -> UploadSession:
        """Every byte is in: probe the file and hand it over exactly as a multipart upload is. A file that is not a
        video ends the upload (400), and nothing of it is kept."""
        now = self._clock.now()
        async with self._uow() as uow:
            held = await uow.uploads.renew(session.id, token, now + FINISH_LEASE)
            await uow.commit()
        if not held:
            raise LeaseLost()

        async def record_video(uow: MediaUnitOfWork, video: Video) -> None:
            assert video.id is not None
            expires_at = self._clock.now() + self.policy.expiry  # the session answers "complete" until then
            if not await uow.uploads.complete(session.id, token, video.id, expires_at):
                raise UploadGone()  # terminated while it was probed: no video after all

        draft = VideoDraft(
            title=session.metadata.get("title", ""),
            description=session.metadata.get("description", ""),
            category=session.metadata.get("category", ""),
        )
        try:
            video = await self._media.ingest(
                self._store.upload_part_path(session.id),
                session.metadata.get("filename", ""),
                draft,
                on_created=record_video,
            )
        except Exception as error:
            async with self._uow() as uow:
                terminated = await uow.uploads.get(session.id) is None
            if terminated or isinstance(error, UploadGone):  # its file went with it, mid-probe or mid-adoption
                self._store.discard_upload_part(session.id)
                raise UploadGone() from error
            if isinstance(error, InvalidInput):  # not a video: nothing of it is kept
                await self._forget(session.id)
            raise
        session.video_id = video.id
        session.lease_token = session.lease_until = None
        return session

    # --- terminate and expire -------------------------------------------------------------------------------

    async def terminate(self, owner_id: int, upload_id: str) -> None:
        """Delete the upload and its bytes. A request writing to it stops at its next lease renewal; one that is
        finishing it makes no video. A completed upload is only forgotten: its video stays."""
        async with self._uow() as uow:
            session = await uow.uploads.get(upload_id)
            if session is None or session.owner_id != owner_id:
                raise NotFound(NO_SUCH_UPLOAD)
            await uow.uploads.delete(upload_id)
            await uow.commit()
        if not session.completed:
            self._store.discard_upload_part(upload_id)

    async def sweep(self) -> int:
        """The periodic clean-up: remove expired uploads and part files without an upload, and finish uploads
        whose last request was cut off after the last byte. Returns how many uploads it dealt with."""
        now = self._clock.now()
        async with self._uow() as uow:
            expired = await uow.uploads.expired_ids(now)
            stranded = await uow.uploads.stranded_ids(now)
        done = 0
        for upload_id in expired:
            async with self._uow() as uow:
                removed = await uow.uploads.delete_expired(upload_id, now)
                await uow.commit()
            if removed:
                self._store.discard_upload_part(upload_id)
                done += 1
        for upload_id in stranded:
            done += await self._finish_stranded(upload_id)
        # A part file is only created by the holder of an existing upload's lease, so one without an upload is
        # what a termination or expiry left behind (a crash between deleting the row and the file).
        on_disk = self._store.upload_part_ids()
        if on_disk:
            async with self._uow() as uow:
                known = await uow.uploads.existing_ids(on_disk)
            for upload_id in set(on_disk) - known:
                self._store.discard_upload_part(upload_id)
                done += 1
        return done

    async def _finish_stranded(self, upload_id: str) -> int:
        token = secrets.token_hex(16)
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.uploads.claim(upload_id, None, token, now, now + LEASE)
            await uow.commit()
        if session is None:
            return 0
        try:
            session = await self._reconcile(session, token)
            if session.offset < session.length:
                return 0
            await self._finish(session, token)
            return 1
        except (InvalidInput, UploadGone, LeaseLost):
            return 1  # not a video (forgotten), or terminated meanwhile
        except Exception:
            log.exception("upload %s: finishing it failed; the next sweep tries again", upload_id)
            return 0
        finally:
            await self._release(upload_id, token)

    # --- helpers --------------------------------------------------------------------------------------------

    async def _record(self, upload_id: str, token: str, offset: int, *, release: bool = False) -> datetime:
        """Record ``offset`` while holding the lease, which is renewed with it (or, with ``release``, given back in
        the same statement); returns the lease's new end."""
        now = self._clock.now()
        lease_until = None if release else now + LEASE
        async with self._uow() as uow:
            held = await uow.uploads.record_offset(upload_id, token, offset, lease_until, now + self.policy.expiry)
            await uow.commit()
        if not held:
            raise LeaseLost()
        return now + LEASE

    async def _release(self, upload_id: str, token: str) -> None:
        try:
            async with self._uow() as uow:
                await uow.uploads.release(upload_id, token)
                await uow.commit()
        except Exception:  # the lease runs out by itself
            log.warning("upload %s: could not release its lease", upload_id, exc_info=True)

    async def _forget(self, upload_id: str) -> None:
        async with self._uow() as uow:
            await uow.uploads.delete(upload_id)
            await uow.commit()
        self._store.discard_upload_part(upload_id)


class _Transfer:
    """One request's bytes on their way into the part file: renew the lease before writing when it runs low,
    record the offset every ``CHECKPOINT_INTERVAL`` or ``CHECKPOINT_BYTES`` while a long request streams and at its
    end, and make the file durable (fsync) once it is complete."""

    def __init__(self, service: UploadService, session: UploadSession, token: str, checksum: Checksum | None) -> None:
        self._service = service
        self._clock = service._clock
        self._session = session
        self._token = token
        self._checksum = checksum
        assert session.lease_until is not None
        self._lease_until = session.lease_until
        self._position = self._recorded = session.offset
        self._last_checkpoint = self._clock.now()
        self.released = False  # the lease went back with the last offset (the request ended short of the end)

    async def run(self, body: AsyncIterable[bytes]) -> int:
        """Write the body; the offset recorded at the end."""
        start = self._position
        length = self._session.length
        hasher = self._checksum.hasher() if self._checksum is not None else None
        store = self._service._store
        with store.open_upload_part(self._session.id, start) as part:
            try:
                async for chunk in body:
                    if not chunk:
                        continue
                    if self._position + len(chunk) > length:
                        raise UploadTooLarge(f"The upload has only {length} bytes.")
                    await self._keep_lease()
                    part.write(chunk)
                    self._position += len(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    elif self._checkpoint_due():
                        await self._record()
                if hasher is not None and self._checksum is not None and hasher.digest() != self._checksum.digest:
                    raise ChecksumMismatch()
                if self._position == length:  # complete: on the disk before it becomes a video's source
                    await asyncio.to_thread(part.sync)
                # One statement records the offset and gives the lease back, unless the last byte is in (then
                # the lease is kept for making the video).
                await self._record(release=self._position < length)
            except LeaseLost:
                raise
            except BaseException:
                if hasher is not None:  # all or nothing: the bytes of this request never count
                    store.truncate_upload_part(self._session.id, start)
                else:  # the body broke off (or went past the end): keep what arrived
                    await self._keep_what_arrived()
                raise
        return self._recorded

    def _checkpoint_due(self) -> bool:
        return (
            self._position - self._recorded >= CHECKPOINT_BYTES
            or self._clock.now() - self._last_checkpoint >= CHECKPOINT_INTERVAL
        )

    async def _keep_lease(self) -> None:
        now = self._clock.now()
        if now < self._lease_until - RENEW_WHEN_LEFT:
            return
        until = now + LEASE
        async with self._service._uow() as uow:
            held = await uow.uploads.renew(self._session.id, self._token, until)
            await uow.commit()
        if not held:
            raise LeaseLost()
        self._lease_until = until

    async def _record(self, *, release: bool = False) -> None:
        """Count every byte written so far: they are in the file (the operating system has them)."""
        self._last_checkpoint = self._clock.now()
        upto = self._position
        lease_until = await self._service._record(self._session.id, self._token, upto, release=release)
        self._recorded = upto
        self._lease_until = max(self._lease_until, lease_until)
        self.released = release

    async def _keep_what_arrived(self) -> None:
        if self._position == self._recorded:
            return
        try:
            await self._record()
        except BaseException:  # recorded up to the last checkpoint; the rest is cut off before the next write
            log.warning(
                "upload %s: could not record the bytes of an interrupted request", self._session.id, exc_info=True
            )
