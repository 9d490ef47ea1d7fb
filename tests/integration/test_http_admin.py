"""The staff video API through the real app: real ffmpeg, SQLite, the in-process queue transcoding in the
app's event loop. Upload -> queued -> processing -> ready -> listed and streamable; metadata, delete,
transcode again; bad uploads refused with a clear 4xx JSON answer and nothing left on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.integration.clips import ffmpeg, make_clip, make_standard_clip
from tests.integration.test_http_accounts import login, register_and_activate
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.entrypoints.http.app import create_app

pytestmark = pytest.mark.ffmpeg

STAFF = "staff@example.com"
PASSWORD = "correct-horse-battery"
ADMIN = "/api/admin/videos/"
FORM = {"title": "Big Buck Bunny", "description": "A rabbit's revenge.", "category": "Animation"}


# --- helpers --------------------------------------------------------------------------------------------


async def login_staff(client: AsyncTestClient, container: Container) -> dict[str, str]:
    """Log a staff user in; the headers an unsafe multipart request needs."""
    await container.accounts.create_admin(STAFF, PASSWORD)
    response = await login(client, STAFF, PASSWORD)
    assert response.status_code == 200, response.text
    return csrf_headers(client)


def csrf_headers(client: AsyncTestClient) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


async def upload(
    client: AsyncTestClient,
    video: Path | bytes,
    *,
    form: dict[str, str] | None = None,
    thumbnail: tuple[str, bytes, str] | None = None,
) -> Any:
    content = video if isinstance(video, bytes) else video.read_bytes()
    files: dict[str, tuple[str, bytes, str]] = {"file": ("clip.mp4", content, "video/mp4")}
    if thumbnail is not None:
        files["thumbnail"] = thumbnail
    return await client.post(ADMIN, data=form or FORM, files=files, headers=csrf_headers(client))


async def wait_for(client: AsyncTestClient, video_id: int, *, seconds: float = 240) -> list[dict[str, Any]]:
    """Poll the staff view until the video is ready or failed; every answer seen, the last one last."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        response = await client.get(f"{ADMIN}{video_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in ("ready", "failed"):
            return seen
        await asyncio.sleep(0.2)
    raise AssertionError(f"video {video_id} still {seen[-1]['status']} after {seconds} s")


async def catalog_ids(client: AsyncTestClient) -> set[int]:
    response = await client.get("/api/video/")
    assert response.status_code == 200, response.text
    return {entry["id"] for entry in response.json()}


def files_under(root: Path, *folders: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for folder in folders for p in (root / folder).rglob("*") if p.is_file())


def path_of(url: str) -> str:
    assert url.startswith(API_BASE), url
    return url[len(API_BASE) :]


def png(dest: Path) -> bytes:
    path = dest / "poster.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x3050a0:size=320x180", "-frames:v", "1", str(path))
    return path.read_bytes()


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"]
    return body


# --- who may use the admin API ----------------------------------------------------------------------------

ROUTES = [
    ("GET", ADMIN),
    ("POST", ADMIN),
    ("GET", f"{ADMIN}1"),
    ("PATCH", f"{ADMIN}1"),
    ("DELETE", f"{ADMIN}1"),
    ("POST", f"{ADMIN}1/transcode"),
    ("PUT", f"{ADMIN}1/thumbnail"),
    ("POST", f"{ADMIN}1/thumbnail/frame"),
    ("GET", "/api/admin/categories/"),
]


async def call(client: AsyncTestClient, method: str, path: str, csrf: str) -> Any:
    headers = {"X-CSRFToken": csrf}
    if method == "POST" and path == ADMIN:
        files = {"file": ("clip.mp4", b"\x00" * 1000, "video/mp4")}
        return await client.post(path, data=FORM, files=files, headers=headers)
    if method == "PATCH":
        return await client.patch(path, json={"title": "x"}, headers=headers)
    if method == "PUT":
        files = {"thumbnail": ("poster.png", b"\x89PNG" * 100, "image/png")}
        return await client.put(path, files=files, headers=headers)
    if path.endswith("/frame"):
        return await client.post(path, json={"seconds": 1.0}, headers=headers)
    return await client.request(method, path, headers=headers)


async def test_anonymous_gets_401_json_on_every_admin_route(client):
    # A made-up csrftoken cookie and header pass the double-submit check: authentication is what refuses.
    client.cookies.set("csrftoken", "anonymous-made-up-token")
    for method, path in ROUTES:
        body = assert_json_error(await call(client, method, path, "anonymous-made-up-token"), 401)
        assert "Authentication" in body["detail"], (method, path)


async def test_non_staff_gets_403_json_on_every_admin_route(client, container):
    await register_and_activate(client, container, "viewer@example.com")
    assert (await login(client, "viewer@example.com")).status_code == 200
    for method, path in ROUTES:
        assert_json_error(await call(client, method, path, client.cookies["csrftoken"]), 403)
    assert await container.media.list_all() == []
    assert files_under(container.store.root, "uploads", "sources") == []


# --- the whole life of a video ------------------------------------------------------------------------------


async def test_upload_transcode_stream_edit_retranscode_delete(client, container, tmp_path):
    await login_staff(client, container)
    root = container.store.root

    response = await upload(client, make_clip("standard", tmp_path))
    assert response.status_code == 202, response.text
    created = response.json()
    video_id = created["id"]
    assert created["status"] == "queued" and created["title"] == FORM["title"]
    assert created["category"] == "Animation" and created["renditions"] == []

    seen = await wait_for(client, video_id)
    ready = seen[-1]
    assert ready["status"] == "ready", ready["failure_reason"]
    assert ready["progress"] == 100 and ready["failure_reason"] is None
    assert all(0 <= s["progress"] <= 100 for s in seen)
    assert {s["status"] for s in seen} <= {"queued", "processing", "ready"}
    assert [(r["name"], r["width"], r["height"]) for r in ready["renditions"]] == [
        ("480p", 854, 480),
        ("720p", 1280, 720),
    ]
    assert all(r["bandwidth"] > 0 for r in ready["renditions"])
    assert abs(ready["duration"] - 3.0) < 0.2 and ready["source_size"] > 0
    thumbnail = await client.get(path_of(ready["thumbnail_url"]))
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content[:2] == b"\xff\xd8"

    listed = await client.get(f"{ADMIN}")
    assert [v["id"] for v in listed.json()] == [video_id]

    # the viewer's side: listed, and every playlist and a segment stream through /api/video/
    assert video_id in await catalog_ids(client)
    master = await client.get(f"/api/video/{video_id}/index.m3u8")
    assert master.status_code == 200 and master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "480p/index.m3u8" in master.text and "720p/index.m3u8" in master.text
    for rung in ("480p", "720p"):
        playlist = await client.get(f"/api/video/{video_id}/{rung}/index.m3u8")
        assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
        segment = await client.get(f"/api/video/{video_id}/{rung}/000.ts")
        assert segment.status_code == 200 and segment.headers["content-type"].startswith("video/MP2T")
        assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
    assert (await client.get(f"/api/video/{video_id}/1080p/index.m3u8")).status_code == 404

    # metadata
    edit = csrf_headers(client)
    patched = await client.patch(
        f"{ADMIN}{video_id}", json={"title": "  Bunny, Again ", "category": "Comedy"}, headers=edit
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["category"]) == ("Bunny, Again", "Comedy")
    assert patched.json()["description"] == FORM["description"]
    assert_json_error(await client.patch(f"{ADMIN}{video_id}", json={"title": ""}, headers=edit), 400)
    assert_json_error(await client.patch(f"{ADMIN}{video_id}", json={"title": "   "}, headers=edit), 400)
    too_long = assert_json_error(await client.patch(f"{ADMIN}{video_id}", json={"title": "x" * 201}, headers=edit), 400)
    assert too_long["field"] == "title" and "200 characters" in too_long["detail"]  # in words, next to the field
    unknown = await client.patch(f"{ADMIN}{video_id}", json={"status": "ready", "title": "x"}, headers=edit)
    assert 400 <= unknown.status_code < 500 and unknown.headers["content-type"].startswith("application/json")
    assert (await client.get(f"{ADMIN}{video_id}")).json()["title"] == "Bunny, Again"
    assert_json_error(await client.patch(f"{ADMIN}999", json={"title": "x"}, headers=edit), 404)

    # transcode again: the video stays listed (old ladder served) until the new one replaces it
    release = root / "releases" / str(video_id)
    (old_release,) = release.iterdir()
    again = await client.post(f"{ADMIN}{video_id}/transcode", headers=csrf_headers(client))
    assert again.status_code == 202, again.text
    assert again.json()["status"] in ("queued", "processing")
    deadline = asyncio.get_running_loop().time() + 240
    while True:
        assert video_id in await catalog_ids(client)
        assert (await client.get(f"/api/video/{video_id}/480p/000.ts")).status_code == 200
        current = (await client.get(f"{ADMIN}{video_id}")).json()
        if current["status"] in ("ready", "failed"):
            break
        assert asyncio.get_running_loop().time() < deadline, current
        await asyncio.sleep(0.2)
    assert current["status"] == "ready" and current["failure_reason"] is None, current
    new_release = (root / "videos" / str(video_id)).resolve()
    assert new_release.parent == release and new_release != old_release
    assert set(release.iterdir()) <= {old_release, new_release}  # at most the one it replaced lingers
    assert files_under(root, "uploads", "staging") == []
    assert_json_error(await client.post(f"{ADMIN}999/transcode", headers=csrf_headers(client)), 404)

    # delete: row and files gone
    thumbnail_file = root / current["thumbnail_url"].split("/media/", 1)[1]
    assert thumbnail_file.is_file()
    deleted = await client.delete(f"{ADMIN}{video_id}", headers=csrf_headers(client))
    assert deleted.status_code == 200, deleted.text
    assert_json_error(await client.get(f"{ADMIN}{video_id}"), 404)
    assert_json_error(await client.delete(f"{ADMIN}{video_id}", headers=csrf_headers(client)), 404)
    assert video_id not in await catalog_ids(client)
    assert (await client.get(f"/api/video/{video_id}/index.m3u8")).status_code == 404
    assert not thumbnail_file.exists()
    assert not (root / "sources" / str(video_id)).exists()
    assert not release.exists()
    assert not (root / "videos" / str(video_id)).is_symlink()
    assert files_under(root, "uploads", "sources", "staging", "releases", "videos", "thumbnails") == []


async def test_uploaded_png_thumbnail_is_used_as_a_jpeg(client, container, tmp_path):
    await login_staff(client, container)
    clip = make_standard_clip(tmp_path / "tiny.mp4", 320, 180, 1)
    response = await upload(client, clip, thumbnail=("poster.png", png(tmp_path), "image/png"))
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["thumbnail_url"] and created["thumbnail_url"].endswith(".jpg")
    ready = (await wait_for(client, created["id"]))[-1]
    assert ready["status"] == "ready", ready["failure_reason"]
    assert ready["thumbnail_url"] == created["thumbnail_url"]  # staff's poster wins over a frame of the video
    served = await client.get(path_of(ready["thumbnail_url"]))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.content[:2] == b"\xff\xd8"
    assert len(list((container.store.root / "thumbnails").iterdir())) == 1
    assert files_under(container.store.root, "uploads") == []


# --- bad uploads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "reason"), [("garbage", "not a usable video"), ("empty", "empty")])
async def test_garbage_or_empty_upload_gets_400_with_a_reason_and_leaves_nothing(
    client, container, tmp_path, kind, reason
):
    await login_staff(client, container)
    response = await upload(client, make_clip(kind, tmp_path))
    body = assert_json_error(response, 400)
    assert reason in body["detail"].lower(), body
    assert await container.media.list_all() == []
    assert files_under(container.store.root, "uploads", "sources", "staging", "thumbnails") == []


async def test_thumbnail_that_is_not_an_image_gets_400_and_leaves_nothing(client, container, tmp_path):
    await login_staff(client, container)
    clip = make_standard_clip(tmp_path / "tiny.mp4", 320, 180, 1)
    response = await upload(client, clip, thumbnail=("poster.png", b"this is not a picture" * 50, "image/png"))
    body = assert_json_error(response, 400)
    assert "thumbnail" in body["detail"].lower(), body
    assert await container.media.list_all() == []
    assert files_under(container.store.root, "uploads", "sources", "staging", "thumbnails") == []


async def test_upload_without_title_or_file_gets_400(client, container, tmp_path):
    await login_staff(client, container)
    clip = make_standard_clip(tmp_path / "tiny.mp4", 320, 180, 1)
    assert_json_error(await upload(client, clip, form={**FORM, "title": " "}), 400)
    no_file = await client.post(
        ADMIN, data=FORM, files={"other": ("x.bin", b"x", "application/octet-stream")}, headers=csrf_headers(client)
    )
    assert_json_error(no_file, 400)
    assert await container.media.list_all() == []
    assert files_under(container.store.root, "uploads", "sources") == []


@pytest.fixture
async def small_limit_client(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient, Container]]:
    settings = make_settings(tmp_path / "limited", MAX_UPLOAD_BYTES="200000")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            yield client, container
    finally:
        await container.close()


@pytest.mark.parametrize("size", [600_000, 3_000_000])  # caught while streaming / by the declared length
async def test_upload_over_the_limit_gets_413_json_and_leaves_no_partial_file(small_limit_client, size):
    client, container = small_limit_client
    await login_staff(client, container)
    response = await upload(client, b"\x00" * size)
    assert_json_error(response, 413)
    assert await container.media.list_all() == []
    assert files_under(container.store.root, "uploads", "sources") == []


# --- the Studio's list: search, filters, pages, categories ----------------------------------------------------


async def test_the_list_searches_filters_and_pages_with_the_total_in_a_header(client, container):
    await login_staff(client, container)
    now = datetime.now(UTC)
    rows = [
        ("Deep Ocean", "Documentary", VideoStatus.READY),
        ("Night Train", "Drama", VideoStatus.QUEUED),
        ("Deep Night", "Drama", VideoStatus.FAILED),
        *((f"Filler {i}", "Comedy", VideoStatus.READY) for i in range(5)),
    ]
    async with container.uow() as uow:
        for age, (title, category, status) in enumerate(rows):
            created = now - timedelta(minutes=age)
            await uow.videos.add(Video(title, "", category, created, created, status=status))
        await uow.commit()

    async def titles(**params: Any) -> tuple[list[str], str]:
        response = await client.get(ADMIN, params=params)
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)  # still a plain array: the total travels in a header
        return [video["title"] for video in response.json()], response.headers["x-total-count"]

    assert await titles() == ([title for title, _, _ in rows], "8")
    assert await titles(q="deep") == (["Deep Ocean", "Deep Night"], "2")
    assert await titles(status="failed") == (["Deep Night"], "1")
    assert await titles(category="drama", q="night") == (["Night Train", "Deep Night"], "2")
    assert await titles(category="Comedy", page=2, page_size=2) == (["Filler 2", "Filler 3"], "5")
    assert await titles(category="Comedy", page=9, page_size=2) == ([], "5")

    for params, field in (({"status": "done"}, "status"), ({"page_size": 201}, "page_size"), ({"page": 0}, "page")):
        refused = assert_json_error(await client.get(ADMIN, params=params), 400)
        assert refused["field"] == field, refused
    assert_json_error(await client.get(ADMIN, params={"page": "two"}), 400)

    categories = await client.get("/api/admin/categories/")
    assert categories.status_code == 200, categories.text
    assert categories.json() == [
        {"name": "Comedy", "videos": 5},
        {"name": "Documentary", "videos": 1},
        {"name": "Drama", "videos": 2},
    ]


# --- thumbnails: an uploaded image, or a frame of the video ------------------------------------------------------


async def test_the_thumbnail_is_replaced_by_an_image_or_by_a_frame_at_a_chosen_time(client, container, tmp_path):
    headers = await login_staff(client, container)
    response = await upload(client, make_standard_clip(tmp_path / "tiny.mp4", 320, 180, 2))
    assert response.status_code == 202, response.text
    video_id = response.json()["id"]
    ready = (await wait_for(client, video_id))[-1]
    assert ready["status"] == "ready", ready["failure_reason"]
    thumbnails = container.store.root / "thumbnails"

    replaced = await client.put(
        f"{ADMIN}{video_id}/thumbnail", files={"thumbnail": ("poster.png", png(tmp_path), "image/png")}, headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    poster_url = replaced.json()["thumbnail_url"]
    assert poster_url != ready["thumbnail_url"] and poster_url.endswith(".jpg")
    served = await client.get(path_of(poster_url))
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    assert [p.name for p in thumbnails.iterdir()] == [poster_url.rsplit("/", 1)[1]]  # the old one is gone

    framed = await client.post(f"{ADMIN}{video_id}/thumbnail/frame", json={"seconds": 1.5}, headers=headers)
    assert framed.status_code == 200, framed.text
    frame_url = framed.json()["thumbnail_url"]
    assert frame_url not in (poster_url, ready["thumbnail_url"])
    assert (await client.get(path_of(frame_url))).content[:2] == b"\xff\xd8"
    assert [p.name for p in thumbnails.iterdir()] == [frame_url.rsplit("/", 1)[1]]

    outside = assert_json_error(
        await client.post(f"{ADMIN}{video_id}/thumbnail/frame", json={"seconds": 60}, headers=headers), 400
    )
    assert outside["field"] == "seconds" and "seconds" in outside["detail"]
    not_an_image = assert_json_error(
        await client.put(
            f"{ADMIN}{video_id}/thumbnail",
            files={"thumbnail": ("poster.png", b"not a picture" * 50, "image/png")},
            headers=headers,
        ),
        400,
    )
    assert "thumbnail" in not_an_image["detail"].lower()
    missing = await client.put(
        f"{ADMIN}{video_id}/thumbnail", files={"other": ("x.png", b"x", "image/png")}, headers=headers
    )
    assert assert_json_error(missing, 400)["field"] == "thumbnail"
    assert_json_error(await client.post(f"{ADMIN}999/thumbnail/frame", json={"seconds": 1}, headers=headers), 404)
    assert (await client.get(f"{ADMIN}{video_id}")).json()["thumbnail_url"] == frame_url
    assert files_under(container.store.root, "uploads") == []
