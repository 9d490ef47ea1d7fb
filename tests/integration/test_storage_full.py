"""A full media volume is a 503 to send again later (with Retry-After), not a 500 with a traceback nor a 400 that
blames the request: the soak test (bench/soak.py) filled the media volume while staff uploaded and saw both. A
resumable upload keeps the bytes it had stored and goes on once there is room."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clips import make_standard_clip
from tests.integration.test_http_admin import files_under, login_staff, upload
from tests.integration.test_http_tus import create, offset_of, send
from videoflix.adapters.storage import filesystem

pytestmark = pytest.mark.ffmpeg

FULL = "The media storage is full right now. Please try again later."


class FullVolume:
    """``os`` as the media store sees it on a full volume: every write answers ENOSPC, everything else is real."""

    def __init__(self) -> None:
        self._real = os

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @staticmethod
    def write(descriptor: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextmanager
def onto_dev_full(suffix: str = "") -> Iterator[Path]:
    """An intake path on /dev/full, the kernel's device whose every write fails with ENOSPC."""
    yield Path("/dev/full")


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    return make_standard_clip(tmp_path / "clip.mp4", 640, 360, 2).read_bytes()


def assert_storage_full(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == FULL


async def test_a_multipart_upload_onto_a_full_volume_is_a_503_and_works_once_there_is_room(
    client, container, clip, monkeypatch
):
    await login_staff(client, container)
    with monkeypatch.context() as patch:
        patch.setattr(container.store, "incoming", onto_dev_full)
        assert_storage_full(await upload(client, clip))
    assert files_under(container.store.root, "uploads", "sources") == []
    accepted = await upload(client, clip)  # room again: the same request is accepted
    assert accepted.status_code == 202, accepted.text


async def test_a_tus_patch_onto_a_full_volume_is_a_503_keeping_the_offset_then_goes_on(
    client, container, clip, monkeypatch
):
    await login_staff(client, container)
    created = await create(client, len(clip))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    half = len(clip) // 2
    first = await send(client, location, 0, clip[:half])
    assert first.status_code == 204, first.text
    with monkeypatch.context() as patch:
        patch.setattr(filesystem, "os", FullVolume())
        assert_storage_full(await send(client, location, half, clip[half:]))
    assert await offset_of(client, location) == half  # what was stored before the volume filled up counts
    rest = await send(client, location, half, clip[half:])
    assert rest.status_code == 204, rest.text
    assert rest.headers["video-id"]
