"""Media on the local filesystem (or a shared volume), published by an atomic symlink swap.

Layout under the media root::

    uploads/<uuid>.part            uploads while they stream in, converted images (``incoming()``)
    resumable/<upload id>          the part file of a resumable (tus) upload, until it becomes a source
    sources/<id>/source            the original upload, kept for regeneration
    staging/<id>-<uuid>/           a ladder being built (same filesystem: renames are atomic)
    releases/<id>/<uuid>/          every complete ladder
    videos/<id> -> ../releases/<id>/<uuid>   the published one: swapped with one rename
    thumbnails/<id>-<hex>.jpg      a new name for every new image, so browsers may cache them for a year
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from videoflix.domain.errors import StorageFull
from videoflix.domain.media.model import TemporaryFile, TemporaryKind
from videoflix.domain.media.ports import ServedFile, UploadPart
from videoflix.domain.media.streaming import PLAYLIST, is_stream_file
from videoflix.domain.media.upload_model import UPLOAD_ID

# What publish() writes as the target of videos/<id>: ../releases/<id>/<uuid hex>
_RELEASE_LINK = re.compile(r"\.\./releases/[0-9]{1,18}/[0-9a-f]{32}")
_THUMBNAIL_NAME = re.compile(r"^[0-9]{1,18}-[0-9a-f]{12}\.jpg$")
TEMPORARY_FOLDERS = {TemporaryKind.UPLOAD: "uploads", TemporaryKind.STAGING: "staging"}
WRITEBACK_BYTES = 4 * 1024 * 1024  # how often a part file's fresh pages are handed to the disk
FOLDERS = ("uploads", "resumable", "sources", "staging", "releases", "videos", "thumbnails")


class FilesystemMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._root_prefix = str(self.root) + os.sep
        self._videos = self.root / "videos"
        self._videos_str = str(self._videos)

    # intake and sources

    @contextmanager
    def incoming(self, suffix: str = "") -> Iterator[Path]:
        path = self.root / "uploads" / f"{uuid.uuid4().hex}{suffix or '.part'}"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # a no-op once the store took the file over

    def adopt_source(self, video_id: int, upload: Path) -> None:
        source = self._source_path(video_id)
        source.parent.mkdir(parents=True, exist_ok=True)
        upload.replace(source)

    def source(self, video_id: int) -> Path | None:
        path = self._source_path(video_id)
        return path if path.is_file() else None

    def _source_path(self, video_id: int) -> Path:
        return self.root / "sources" / str(video_id) / "source"

    # building and publishing

    def new_staging(self, video_id: int) -> Path:
        # Only the worker that claimed the video builds it: any other staging folder of this video was left
        # by a worker that died mid-transcode (R3).
        for leftover in (self.root / "staging").glob(f"{video_id}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        path = self.root / "staging" / f"{video_id}-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def staged_playlist(self, staging: Path, rendition: str) -> str | None:
        return _read_text(staging / rendition / PLAYLIST)

    def staged_file_size(self, staging: Path, rendition: str, name: str) -> int | None:
        if "/" in name or name in ("", ".", ".."):  # a playlist names files beside it, nothing else
            return None
        try:
            found = os.lstat(staging / rendition / name)
        except OSError:
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    def discard_staging(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def publish(self, video_id: int, staging: Path) -> None:
        release = self.root / "releases" / str(video_id) / uuid.uuid4().hex
        release.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(release)
        link = self._videos / str(video_id)
        previous = link.resolve() if link.is_symlink() else None
        temp_link = self._videos / f".{video_id}.{uuid.uuid4().hex}"
        temp_link.symlink_to(os.path.relpath(release, self._videos))
        os.replace(temp_link, link)  # atomic: readers see the old ladder or the new one, never a gap
        # The ladder just replaced stays until the next publish: requests already on their way to it still land.
        for old in release.parent.iterdir():
            if old not in (release, previous):
                shutil.rmtree(old, ignore_errors=True)

    def is_published(self, video_id: int) -> bool:
        return (self._videos / str(video_id)).is_dir()

    def published_playlist(self, video_id: int, rendition: str) -> str | None:
        return _read_text(self._videos / str(video_id) / rendition / PLAYLIST)

    # thumbnails

    def store_thumbnail(self, video_id: int, image: Path) -> str:
        relative = f"thumbnails/{video_id}-{uuid.uuid4().hex[:12]}.jpg"
        shutil.move(str(image), self.root / relative)
        return relative

    def delete_thumbnail(self, thumbnail: str) -> None:
        served = self.thumbnail_file(thumbnail.removeprefix("thumbnails/"))
        if served is not None:
            Path(served.path).unlink(missing_ok=True)

    def delete_video(self, video_id: int, thumbnail: str | None) -> None:
        (self._videos / str(video_id)).unlink(missing_ok=True)
        shutil.rmtree(self.root / "releases" / str(video_id), ignore_errors=True)
        shutil.rmtree(self.root / "sources" / str(video_id), ignore_errors=True)
        if thumbnail:
            self.delete_thumbnail(thumbnail)

    # serving

    def thumbnail_file(self, name: str) -> ServedFile | None:
        if not _THUMBNAIL_NAME.fullmatch(name):
            return None
        path = os.path.join(self.root, "thumbnails", name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):  # a planted symlink is refused
                return None
        except OSError:
            return None
        return ServedFile(path=path)

    def stream_file(self, video_id: int, resolution: str | None, name: str) -> ServedFile | None:
        """Only whitelisted names get here, so the one component that can lead elsewhere is the ``videos/<id>``
        symlink: its target must be this video's release folder, and the file itself must be a regular file
        (``lstat``: a planted symlink is refused). Three system calls instead of ``realpath``'s dozen: this is
        the hottest path of the service."""
        if not is_stream_file(resolution, name):
            return None
        try:
            target = os.readlink(f"{self._videos_str}/{video_id}")
        except OSError:
            return None
        if not _RELEASE_LINK.fullmatch(target) or target.split("/")[2] != str(video_id):
            return None
        release = f"{self.root}/{target[3:]}"
        path = f"{release}/{resolution}/{name}" if resolution else f"{release}/{name}"
        try:
            if resolution and not stat.S_ISDIR(os.lstat(path.rpartition("/")[0]).st_mode):
                return None
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
        except OSError:
            return None
        return ServedFile(path=path)

    # resumable uploads: one part file per upload, appended to by whoever holds the upload's lease

    @contextmanager
    def open_upload_part(self, upload_id: str, offset: int) -> Iterator[UploadPart]:
        part = _PartFile(self._part_path(upload_id), offset)
        try:
            yield part
        finally:
            part.close()

    def upload_part_size(self, upload_id: str) -> int:
        try:
            return self._part_path(upload_id).lstat().st_size
        except FileNotFoundError:
            return 0

    def truncate_upload_part(self, upload_id: str, size: int) -> None:
        path = self._part_path(upload_id)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            os.ftruncate(descriptor, size)
        finally:
            os.close(descriptor)

    def upload_part_path(self, upload_id: str) -> Path:
        return self._part_path(upload_id)

    def discard_upload_part(self, upload_id: str) -> None:
        self._part_path(upload_id).unlink(missing_ok=True)

    def upload_part_ids(self) -> list[str]:
        return [entry.name for entry in os.scandir(self.root / "resumable") if UPLOAD_ID.fullmatch(entry.name)]

    def _part_path(self, upload_id: str) -> Path:
        if not UPLOAD_ID.fullmatch(upload_id):  # the name is the only part of the path that comes from outside
            raise ValueError("not an upload id")
        return self.root / "resumable" / upload_id

    def check_writable(self) -> str | None:
        if not self.root.is_dir():  # e.g. a volume that went away
            return "media folder missing"
        try:
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ready-") as handle:
                handle.write(b"ok")
                handle.flush()
        except OSError as error:
            return f"media folder not writable ({type(error).__name__})"
        return None

    # housekeeping

    def temporary_files(self) -> list[TemporaryFile]:
        found = []
        for kind, folder in TEMPORARY_FOLDERS.items():
            for entry in os.scandir(self.root / folder):
                try:
                    modified = _latest_write(entry)
                except FileNotFoundError:  # taken over or removed meanwhile
                    continue
                found.append(TemporaryFile(kind, entry.name, datetime.fromtimestamp(modified, UTC)))
        return found

    def remove_temporary_file(self, item: TemporaryFile) -> None:
        if "/" in item.name or item.name in ("", ".", ".."):  # only what temporary_files() names: direct children
            return
        path = self.root / TEMPORARY_FOLDERS[item.kind] / item.name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _latest_write(entry: os.DirEntry[str]) -> float:
    """The newest modification time of a file, or of a folder and everything in it (a build writes deep inside)."""
    latest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        for folder, _, files in os.walk(entry.path):
            for name in [".", *files]:
                try:
                    latest = max(latest, os.lstat(os.path.join(folder, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return latest


class _PartFile:
    """A part file open for appending at a given offset. Unbuffered: every ``write`` is one system call, so the
    bytes are in the operating system (and survive a killed process) when it returns."""

    def __init__(self, path: Path, offset: int) -> None:
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        created = True
        try:
            self._descriptor = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            self._descriptor = os.open(path, flags)
            created = False
        try:
            if created:
                _sync_folder(path.parent)  # the new file's name survives a crash too
            os.ftruncate(self._descriptor, offset)  # whatever lies beyond was never recorded
            os.lseek(self._descriptor, offset, os.SEEK_SET)
        except BaseException:
            os.close(self._descriptor)
            raise
        self._written_from, self._unsent = offset, 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with _no_space_is_storage_full():
            while view:
                view = view[os.write(self._descriptor, view) :]
        self._unsent += len(data)
        if self._unsent >= WRITEBACK_BYTES:
            # Have the kernel start writing these pages to the disk now rather than when it gets round to it (so
            # a power cut loses seconds, not minutes, and the final fsync finds little left to do), and let it
            # drop them from the page cache once written: nobody reads them back before the file is complete.
            os.posix_fadvise(self._descriptor, self._written_from, self._unsent, os.POSIX_FADV_DONTNEED)
            self._written_from += self._unsent
            self._unsent = 0

    def sync(self) -> None:
        with _no_space_is_storage_full():  # a file system may only find out at fsync that it has no room
            os.fsync(self._descriptor)

    def close(self) -> None:
        os.close(self._descriptor)


@contextmanager
def _no_space_is_storage_full() -> Iterator[None]:
    """A full volume is the domain's ``StorageFull`` (a 503 to retry, the bytes already written kept), not an
    unexpected OSError (a 500 with a traceback, as the soak test saw while the media volume was full)."""
    try:
        yield
    except OSError as error:
        if StorageFull.caused(error):
            raise StorageFull() from error
        raise


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
