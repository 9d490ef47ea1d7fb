"""The filesystem media store: what its layout promises beyond the port (atomic swaps, leftovers, intake)."""

from __future__ import annotations

from pathlib import Path

from videoflix.adapters.storage.filesystem import FilesystemMediaStore


def ladder(store: FilesystemMediaStore, video_id: int, marker: str) -> Path:
    staging = store.new_staging(video_id)
    (staging / "480p").mkdir()
    (staging / "480p" / "index.m3u8").write_text(f"#EXTM3U\n# {marker}\n#EXT-X-ENDLIST\n")
    (staging / "480p" / "000.ts").write_bytes(marker.encode())
    (staging / "index.m3u8").write_text("#EXTM3U\n480p/index.m3u8\n")
    return staging


def releases(store: FilesystemMediaStore, video_id: int) -> set[Path]:
    return set((store.root / "releases" / str(video_id)).iterdir())


def test_publish_swaps_atomically_and_keeps_the_replaced_ladder_until_the_next_publish(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    store.publish(7, ladder(store, 7, "first"))
    first = releases(store, 7)
    store.publish(7, ladder(store, 7, "second"))
    assert "second" in (store.published_playlist(7, "480p") or "")
    both = releases(store, 7)
    assert len(both) == 2 and first <= both  # requests already on their way to the old ladder still land
    store.publish(7, ladder(store, 7, "third"))
    remaining = releases(store, 7)
    assert len(remaining) == 2 and not first & remaining  # ... until the next publish removes it
    served = store.stream_file(7, "480p", "000.ts")
    assert served is not None and Path(served.path).read_bytes() == b"third"
    assert "/releases/7/" in served.path and served.path.endswith("/480p/000.ts")


def test_a_new_staging_folder_removes_what_a_dead_worker_left(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    leftover = ladder(store, 3, "killed mid-way")
    fresh = store.new_staging(3)
    assert not leftover.exists() and fresh.is_dir() and list(fresh.iterdir()) == []


def test_incoming_files_not_taken_over_are_removed(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    with store.incoming() as kept, store.incoming(".jpg") as dropped:
        kept.write_bytes(b"video")
        dropped.write_bytes(b"image")
        store.adopt_source(5, kept)
    assert not dropped.exists() and not kept.exists()
    source = store.source(5)
    assert source is not None and source.read_bytes() == b"video"
    assert list((store.root / "uploads").iterdir()) == []


def test_thumbnails_are_served_by_strict_name_only(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    with store.incoming(".jpg") as image:
        image.write_bytes(b"\xff\xd8jpeg")
        name = store.store_thumbnail(4, image)
    served = store.thumbnail_file(name.removeprefix("thumbnails/"))
    assert served is not None and Path(served.path).read_bytes() == b"\xff\xd8jpeg"
    (store.root / "thumbnails" / "4-aaaaaaaaaaaa.jpg").symlink_to("/etc/passwd")
    for hostile in ("4-aaaaaaaaaaaa.jpg", "../sources/4/source", "x.jpg", ""):
        assert store.thumbnail_file(hostile) is None, hostile
    store.delete_thumbnail(name)
    assert store.thumbnail_file(name.removeprefix("thumbnails/")) is None


def test_temporary_files_are_listed_with_their_latest_write_and_removed_one_by_one(tmp_path: Path) -> None:
    import os
    from datetime import UTC, datetime

    from videoflix.domain.media.model import TemporaryKind

    store = FilesystemMediaStore(tmp_path / "media")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    with store.incoming() as upload:
        upload.write_bytes(b"half an upload")
        os.utime(upload, (long_ago, long_ago))
        staging = ladder(store, 3, "building")
        for path in [staging, *staging.rglob("*")]:
            os.utime(path, (long_ago, long_ago))
        (staging / "480p" / "001.ts").write_bytes(b"just written")  # deep inside: the folder is in use
        found = {item.kind: item for item in store.temporary_files()}
        assert found[TemporaryKind.UPLOAD].name == upload.name
        assert found[TemporaryKind.UPLOAD].modified_at == datetime.fromtimestamp(long_ago, UTC)
        assert found[TemporaryKind.STAGING].name == staging.name
        assert found[TemporaryKind.STAGING].modified_at.year > 2020
        for item in found.values():
            store.remove_temporary_file(item)
        assert not upload.exists() and not staging.exists()
    assert store.temporary_files() == []
    store.publish(4, ladder(store, 4, "published"))
    assert store.temporary_files() == [] and store.is_published(4)  # published ladders are no temporary files


def test_staged_file_sizes_tell_a_stored_segment_from_an_empty_or_missing_one(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    staging = ladder(store, 5, "bytes")
    (staging / "480p" / "001.ts").write_bytes(b"")  # what ffmpeg left on a full volume
    (staging / "480p" / "002.ts").symlink_to(staging / "480p" / "000.ts")
    assert store.staged_file_size(staging, "480p", "000.ts") == len(b"bytes")
    assert store.staged_file_size(staging, "480p", "001.ts") == 0
    assert store.staged_file_size(staging, "480p", "003.ts") is None
    assert store.staged_file_size(staging, "480p", "002.ts") is None  # a link is not a file the ladder wrote
    assert store.staged_file_size(staging, "480p", "../480p/000.ts") is None
