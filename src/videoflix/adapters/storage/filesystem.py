"""Media on the local filesystem (or a shared volume), published by an atomic symlink swap.

Layout under the media root::

    uploads/<uuid>.part            uploads while they stream in
    sources/<id>/source<.ext>      the original upload, kept for regeneration
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
import uuid
from pathlib import Path

from videoflix.domain.catalog.streaming import is_stream_file

# What publish() writes as the target of videos/<id>: ../releases/<id>/<uuid hex>
_RELEASE_LINK = re.compile(r"\.\./releases/[0-9]{1,18}/[0-9a-f]{32}")


class FilesystemMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        for folder in ("uploads", "sources", "staging", "releases", "videos", "thumbnails"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._root_prefix = str(self.root) + os.sep
        self._videos = self.root / "videos"

    # uploads and sources

    def new_upload_path(self) -> Path:
        return self.root / "uploads" / f"{uuid.uuid4().hex}.part"

    def source_path(self, video_id: int) -> Path:
        return self.root / "sources" / str(video_id) / "source"

    def adopt_source(self, video_id: int, upload: Path) -> None:
        source = self.source_path(video_id)
        source.parent.mkdir(parents=True, exist_ok=True)
        upload.replace(source)

    def exists(self, path: Path) -> bool:
        return path.is_file()

    # building and publishing

    def new_staging_dir(self, video_id: int) -> Path:
        # Only the worker that claimed the video builds it: any other staging folder of this video was left
        # by a worker that died mid-transcode (R3).
        for leftover in (self.root / "staging").glob(f"{video_id}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        path = self.root / "staging" / f"{video_id}-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def discard(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def discard_file(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def publish(self, video_id: int, staging_dir: Path) -> None:
        release = self.root / "releases" / str(video_id) / uuid.uuid4().hex
        release.parent.mkdir(parents=True, exist_ok=True)
        staging_dir.rename(release)
        link = self._videos / str(video_id)
        previous = link.resolve() if link.is_symlink() else None
        temp_link = self._videos / f".{video_id}.{uuid.uuid4().hex}"
        temp_link.symlink_to(os.path.relpath(release, self._videos))
        os.replace(temp_link, link)  # atomic: readers see the old ladder or the new one, never a gap
        # The ladder just replaced stays until the next publish: requests already on their way to it still land.
        for old in release.parent.iterdir():
            if old not in (release, previous):
                shutil.rmtree(old, ignore_errors=True)

    def published_dir(self, video_id: int) -> Path | None:
        link = self._videos / str(video_id)
        return link if link.is_dir() else None

    def read_text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    # thumbnails

    def store_thumbnail(self, video_id: int, image: Path) -> str:
        relative = f"thumbnails/{video_id}-{uuid.uuid4().hex[:12]}.jpg"
        shutil.move(str(image), self.root / relative)
        return relative

    def delete_thumbnail(self, thumbnail: str) -> None:
        path = self.resolve_under_root(thumbnail)
        if path is not None:
            path.unlink(missing_ok=True)

    def delete_video(self, video_id: int, thumbnail: str | None) -> None:
        (self._videos / str(video_id)).unlink(missing_ok=True)
        shutil.rmtree(self.root / "releases" / str(video_id), ignore_errors=True)
        shutil.rmtree(self.root / "sources" / str(video_id), ignore_errors=True)
        if thumbnail:
            self.delete_thumbnail(thumbnail)

    # serving

    def resolve_under_root(self, relative: str) -> Path | None:
        """The real path of ``relative`` if it is a file inside the media root (symlinks resolved), else None."""
        real = os.path.realpath(os.path.join(self.root, relative))
        if not real.startswith(self._root_prefix) or not os.path.isfile(real):
            return None
        return Path(real)

    def stream_file(self, video_id: int, resolution: str | None, name: str) -> str | None:
        """The file behind a playlist or segment URL, or None (S19).

        Only whitelisted names get here, so the one component that can lead elsewhere is the ``videos/<id>``
        symlink: its target must be this video's release folder, and the file itself must be a regular file
        (``lstat``: a planted symlink is refused). Three system calls instead of ``realpath``'s dozen.
        """
        if not is_stream_file(resolution, name):
            return None
        try:
            target = os.readlink(os.path.join(self._videos, str(video_id)))
        except OSError:
            return None
        if not _RELEASE_LINK.fullmatch(target) or target.split("/")[2] != str(video_id):
            return None
        release = os.path.join(self._videos, target)
        folder = os.path.join(release, resolution) if resolution else release
        path = os.path.join(folder, name)
        try:
            if resolution and not stat.S_ISDIR(os.lstat(folder).st_mode):
                return None
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
        except OSError:
            return None
        return path
