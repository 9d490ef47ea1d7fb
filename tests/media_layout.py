"""Peeks into the filesystem media store's layout, for integration tests of that adapter and of the pipeline on it.

The domain never sees these paths (it talks to the ``MediaStore`` port); tests that check what landed on disk do.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from videoflix.domain.media.ports import MediaStore


def _root(store: MediaStore) -> Path:
    return store.root  # type: ignore[attr-defined,no-any-return]


def new_upload(store: MediaStore) -> Path:
    """A path in the store's upload folder, as ``incoming()`` hands them out (the caller removes it)."""
    return _root(store) / "uploads" / f"test-{uuid.uuid4().hex}.part"


def published_dir(store: MediaStore, video_id: int) -> Path | None:
    link = _root(store) / "videos" / str(video_id)
    return link if link.is_dir() else None


def source_file(store: MediaStore, video_id: int) -> Path:
    return _root(store) / "sources" / str(video_id) / "source"
