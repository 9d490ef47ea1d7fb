"""The tus endpoint through the real app: SQLite, the filesystem media store, real ffmpeg and the in-process queue.
A staff upload in pieces becomes a video exactly as a multipart upload does; every protocol error has its status
and a JSON body; nothing is left on disk when an upload ends without a video."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.fakes import FakeClock
from tests.integration.clips import make_clip, make_standard_clip
from tests.integration.test_http_accounts import login, register_and_activate
from tests.integration.test_http_admin import (
    assert_json_error,
    csrf_headers,
    files_under,
    login_staff,
    wait_for,
)
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.entrypoints.http.app import create_app

pytestmark = pytest.mark.ffmpeg

UPLOADS = "/api/admin/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = "application/offset+octet-stream"
FIELDS = {"title": "Big Buck Bunny", "category": "Animation", "description": "A rabbit's revenge.", "filename": "b.mp4"}


def encode_metadata(fields: dict[str, str]) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in fields.items())


async def create(
    client: httpx.AsyncClient,
    length: int,
    *,
    fields: dict[str, str] | None = None,
    content: bytes | None = None,
    **headers: str,
) -> Any:
    sent = {**TUS, **csrf_headers(client), "Upload-Length": str(length)}
    sent["Upload-Metadata"] = encode_metadata(FIELDS if fields is None else fields)
    if content is not None:
        sent["Content-Type"] = CHUNK
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return await client.post(UPLOADS, headers=sent, content=content)


async def send(client: httpx.AsyncClient, location: str, offset: int, data: bytes, **headers: str) -> Any:
    sent = {**TUS, **csrf_headers(client), "Upload-Offset": str(offset), "Content-Type": CHUNK}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return await client.patch(location, content=data, headers=sent)


async def offset_of(client: httpx.AsyncClient, location: str) -> int:
    response = await client.head(location, headers=TUS)
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"])


def leftovers(container: Container) -> list[str]:
    return files_under(container.store.root, "resumable", "uploads", "sources")


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    return make_standard_clip(tmp_path / "clip.mp4", 640, 360, 2).read_bytes()


# --- the whole way ------------------------------------------------------------------------------------------------


async def test_an_upload_in_pieces_becomes_a_ready_video(client, container, clip):
    await login_staff(client, container)
    created = await create(client, len(clip))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith(UPLOADS) and len(location.rsplit("/", 1)[1]) == 32
    assert created.headers["tus-resumable"] == "1.0.0"
    assert created.headers["upload-offset"] == "0"
    expires = datetime.strptime(created.headers["upload-expires"], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    head = await client.head(location, headers=TUS)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("0", str(len(clip)))
    assert head.headers["cache-control"] == "no-store"
    assert "title " + base64.b64encode(b"Big Buck Bunny").decode() in head.headers["upload-metadata"]

    offset, piece = 0, len(clip) // 3 + 1
    while offset < len(clip):
        data = clip[offset : offset + piece]
        checksum = "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()
        answer = await send(client, location, offset, data, Upload_Checksum=checksum)
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["upload-offset"])
        assert await offset_of(client, location) == offset
    assert offset == len(clip)
    video_id = int(answer.headers["video-id"])
    assert "upload-expires" not in answer.headers

    listed = {v["id"]: v for v in (await client.get("/api/admin/videos/")).json()}
    assert listed[video_id]["title"] == "Big Buck Bunny" and listed[video_id]["status"] in ("queued", "processing")
    assert listed[video_id]["source_size"] == len(clip)
    ready = (await wait_for(client, video_id))[-1]
    assert ready["status"] == "ready", ready["failure_reason"]
    assert (container.store.root / "sources" / str(video_id) / "source").read_bytes() == clip

    done = await client.head(location, headers=TUS)  # a client that lost the last answer learns it here
    assert done.headers["upload-offset"] == str(len(clip)) and done.headers["video-id"] == str(video_id)
    assert files_under(container.store.root, "resumable", "uploads") == []


async def test_creation_with_upload_sends_the_first_bytes_with_the_creation(client, container, clip):
    await login_staff(client, container)
    partial = await create(client, len(clip), content=clip[:1000])
    assert partial.status_code == 201, partial.text
    assert partial.headers["upload-offset"] == "1000"
    assert (await send(client, partial.headers["location"], 1000, clip[1000:])).status_code == 204

    whole = await client.post(  # the creation URL without its trailing slash, the whole file at once
        UPLOADS.rstrip("/"),
        content=clip,
        headers={
            **TUS,
            **csrf_headers(client),
            "Upload-Length": str(len(clip)),
            "Upload-Metadata": encode_metadata(FIELDS),
            "Content-Type": CHUNK,
        },
    )
    assert whole.status_code == 201, whole.text
    assert whole.headers["upload-offset"] == str(len(clip)) and int(whole.headers["video-id"]) > 0
    assert len(await container.media.list_all()) == 2


async def test_discovery_answers_with_and_without_an_origin(client, container):
    """Plain OPTIONS (a tus client's discovery, no login needed) and a browser's CORS preflight both get the tus
    headers; the preflight also allows the tus request headers for the frontend's origin."""
    del client.headers["Origin"]
    plain = await client.options(UPLOADS)
    assert plain.status_code == 204
    assert plain.headers["tus-version"] == "1.0.0"
    assert plain.headers["tus-max-size"] == str(container.settings.max_upload_bytes)
    assert set(plain.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert "sha1" in plain.headers["tus-checksum-algorithm"].split(",")
    assert (await client.options(f"{UPLOADS}{'0' * 32}")).headers["tus-version"] == "1.0.0"

    requested = "content-type,tus-resumable,upload-offset,upload-length,upload-metadata,upload-checksum,x-csrftoken"
    preflight = await client.options(
        f"{UPLOADS}{'0' * 32}",
        headers={
            "Origin": TEST_ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": requested,
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert set(requested.split(",")) <= set(preflight.headers["access-control-allow-headers"].lower().split(", "))
    assert preflight.headers["tus-version"] == "1.0.0"


async def test_a_browser_on_the_frontend_origin_may_read_the_tus_headers(client, container, clip):
    await login_staff(client, container)
    created = await create(client, len(clip))
    exposed = set(created.headers["access-control-expose-headers"].lower().split(", "))
    assert {"location", "upload-offset", "upload-length", "tus-resumable", "upload-expires", "video-id"} <= exposed
    assert created.headers["access-control-allow-origin"] == TEST_ORIGIN


# --- refused before any byte ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**FIELDS, "title": ""}, "A video needs a title"),
        ({"title": "No category"}, "A video needs a category"),
        ({**FIELDS, "category": "x" * 101}, "The category can be at most 100 characters long"),
    ],
)
async def test_bad_metadata_is_refused_at_creation_with_a_clear_message(client, container, fields, message):
    await login_staff(client, container)
    body = assert_json_error(await create(client, 1000, fields=fields), 400)
    assert body["detail"].startswith(message)
    async with container.uow() as uow:
        assert await uow.uploads.unfinished_of(1, datetime.now(UTC)) == []


@pytest.mark.parametrize(
    "header",
    ["title", "title QmlnIEJ1Y2sgQnVubnk=,title QQ==", "title not*base64", "title /w==", "title a b"],
)
async def test_malformed_upload_metadata_is_400(client, container, header):
    await login_staff(client, container)
    response = await client.post(
        UPLOADS, headers={**TUS, **csrf_headers(client), "Upload-Length": "10", "Upload-Metadata": header}
    )
    body = assert_json_error(response, 400)
    assert "Upload-Metadata" in body["detail"] or "title" in body["detail"]


async def test_creation_needs_a_length_within_the_limit(client, container):
    await login_staff(client, container)
    no_length = await client.post(UPLOADS, headers={**TUS, **csrf_headers(client), "Upload-Metadata": ""})
    assert "Upload-Length" in assert_json_error(no_length, 400)["detail"]
    assert_json_error(await create(client, 0), 400)
    assert_json_error(await create(client, -5), 400)
    assert_json_error(await create(client, container.settings.max_upload_bytes + 1), 413)
    concat = await create(client, 10, Upload_Concat="partial")
    assert "not supported" in assert_json_error(concat, 400)["detail"]


# --- protocol errors ----------------------------------------------------------------------------------------------


async def test_every_protocol_error_has_its_status_and_a_json_body(client, container, clip):
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    assert (await send(client, location, 0, clip[:500])).status_code == 204

    for version in (None, "0.2.2"):  # 412: wrong or missing Tus-Resumable, with the version this server speaks
        headers = {**csrf_headers(client), "Upload-Offset": "500", "Content-Type": CHUNK}
        if version:
            headers["Tus-Resumable"] = version
        refused = await client.patch(location, content=clip[500:600], headers=headers)
        assert "Tus-Resumable" in assert_json_error(refused, 412)["detail"]
        assert refused.headers["tus-version"] == "1.0.0"
        assert (await client.head(location)).status_code == 412

    assert "at byte 500" in assert_json_error(await send(client, location, 400, clip[400:600]), 409)["detail"]
    assert_json_error(await send(client, location, 500, clip[500:600], Content_Type="application/json"), 415)
    no_type = await client.patch(
        location, content=clip[500:600], headers={**TUS, **csrf_headers(client), "Upload-Offset": "500"}
    )
    assert_json_error(no_type, 415)
    assert_json_error(await send(client, location, 500, clip[500:] + b"one byte too many"), 413)
    no_offset = await client.patch(
        location, content=b"x", headers={**TUS, **csrf_headers(client), "Content-Type": CHUNK}
    )
    assert "Upload-Offset" in assert_json_error(no_offset, 400)["detail"]
    assert_json_error(await send(client, location, 500, clip[500:600], Upload_Checksum="crc32 AAAA"), 400)
    assert await offset_of(client, location) == 500  # none of it counted

    assert_json_error(await send(client, f"{UPLOADS}{'0' * 32}", 0, b"x"), 404)
    assert_json_error(await send(client, f"{UPLOADS}not-an-id", 0, b"x"), 404)
    assert (await client.head(f"{UPLOADS}{'0' * 32}", headers=TUS)).status_code == 404


async def test_a_checksum_mismatch_is_460_and_keeps_the_offset(client, container, clip):
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    assert (await send(client, location, 0, clip[:1000])).status_code == 204
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other bytes").digest()).decode()
    mismatch = await send(client, location, 1000, clip[1000:3000], Upload_Checksum=wrong)
    assert "checksum" in assert_json_error(mismatch, 460)["detail"]
    assert await offset_of(client, location) == 1000
    right = "sha1 " + base64.b64encode(hashlib.sha1(clip[1000:3000]).digest()).decode()
    assert (await send(client, location, 1000, clip[1000:3000], Upload_Checksum=right)).status_code == 204
    assert await offset_of(client, location) == 3000


async def test_s13_every_unsafe_upload_request_needs_the_csrf_header(client, container, clip):
    """S13: creation (with or without a body), PATCH and DELETE are refused without X-CSRFToken, even from the
    trusted origin."""
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    metadata = encode_metadata(FIELDS)
    plain_create = await client.post(UPLOADS, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata})
    assert_json_error(plain_create, 403)
    with_body = await client.post(
        UPLOADS,
        content=clip[:10],
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata, "Content-Type": CHUNK},
    )
    assert_json_error(with_body, 403)
    chunk = await client.patch(
        location, content=clip[:10], headers={**TUS, "Upload-Offset": "0", "Content-Type": CHUNK}
    )
    assert_json_error(chunk, 403)
    wrong_token = await send(client, location, 0, clip[:10], X_CSRFToken="not-the-cookie")
    assert_json_error(wrong_token, 403)
    assert_json_error(await client.delete(location, headers=TUS), 403)
    assert await offset_of(client, location) == 0


async def test_uploads_need_a_staff_login_and_are_private_to_their_owner(client, container, clip):
    client.cookies.set("csrftoken", "anonymous-made-up-token")
    anonymous = {"X-CSRFToken": "anonymous-made-up-token"}
    assert_json_error(await client.post(UPLOADS, headers={**TUS, **anonymous, "Upload-Length": "10"}), 401)
    assert (await client.head(f"{UPLOADS}{'0' * 32}", headers=TUS)).status_code == 401

    client.cookies.clear()
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    await container.accounts.create_admin("other-staff@example.com", "another-long-password")
    assert (await login(client, "other-staff@example.com", "another-long-password")).status_code == 200
    assert (await client.head(location, headers=TUS)).status_code == 404
    assert_json_error(await send(client, location, 0, clip), 404)
    assert_json_error(await client.delete(location, headers={**TUS, **csrf_headers(client)}), 404)

    await register_and_activate(client, container, "viewer@example.com")
    assert (await login(client, "viewer@example.com")).status_code == 200
    assert_json_error(await create(client, 10), 403)
    assert (await client.head(location, headers=TUS)).status_code == 403


# --- endings without a video --------------------------------------------------------------------------------------


async def test_a_file_that_is_not_a_video_ends_the_upload_with_the_multipart_reason(client, container, tmp_path):
    await login_staff(client, container)
    garbage = make_clip("garbage", tmp_path).read_bytes()
    location = (await create(client, len(garbage))).headers["location"]
    assert (await send(client, location, 0, garbage[:100])).status_code == 204
    body = assert_json_error(await send(client, location, 100, garbage[100:]), 400)
    assert body["detail"].startswith("The file is not a usable video:")
    assert (await client.head(location, headers=TUS)).status_code == 404
    assert await container.media.list_all() == []
    assert leftovers(container) == []


async def test_termination_removes_the_bytes(client, container, clip):
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    assert (await send(client, location, 0, clip[:1000])).status_code == 204
    assert leftovers(container) != []
    deleted = await client.delete(location, headers={**TUS, **csrf_headers(client)})
    assert deleted.status_code == 204 and deleted.headers["tus-resumable"] == "1.0.0"
    assert (await client.head(location, headers=TUS)).status_code == 404
    assert_json_error(await send(client, location, 1000, clip[1000:]), 404)
    assert leftovers(container) == []


async def test_per_user_caps_refuse_more_unfinished_uploads(tmp_path):
    settings = make_settings(tmp_path, UPLOAD_MAX_PER_USER="2", UPLOAD_MAX_BYTES_PER_USER="5000")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            await login_staff(client, container)
            assert (await create(client, 3000)).status_code == 201
            assert "4.9 KiB in total" in assert_json_error(await create(client, 2001), 403)["detail"]
            assert (await create(client, 2000)).status_code == 201
            assert "2 unfinished uploads" in assert_json_error(await create(client, 10), 403)["detail"]
    finally:
        await container.close()


# --- expiry ----------------------------------------------------------------------------------------------------


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient, Container, FakeClock]]:
    """The app on a clock the test moves (starting now, so the JWTs it issues are valid)."""
    settings = make_settings(tmp_path / "clocked")
    await asyncio.to_thread(upgrade, settings.database_url)
    clock = FakeClock(datetime.now(UTC))
    container = await bootstrap(settings, clock=clock, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            yield client, container, clock
    finally:
        await container.close()


async def test_an_abandoned_upload_expires_answers_410_and_the_sweep_removes_it(clocked, clip):
    client, container, clock = clocked
    await login_staff(client, container)
    location = (await create(client, len(clip))).headers["location"]
    assert (await send(client, location, 0, clip[:1000])).status_code == 204
    clock.advance(hours=24, seconds=1)
    assert (await client.head(location, headers=TUS)).status_code == 410
    assert_json_error(await send(client, location, 1000, clip[1000:]), 410)
    assert (await container.sweep())["uploads"] == 1
    assert (await client.head(location, headers=TUS)).status_code == 404
    assert leftovers(container) == []


# --- termination racing with the last byte -------------------------------------------------------------------------


class HeldProbe:
    """The real transcoder, except that the first probe waits until the test lets it go."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.probing = asyncio.Event()
        self.release = asyncio.Event()
        self._held = False

    async def probe(self, source: Path) -> Any:
        if not self._held:
            self._held = True
            self.probing.set()
            await self.release.wait()
        return await self.inner.probe(source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_termination_while_the_last_byte_is_being_probed_makes_no_video_and_no_transcode(tmp_path, clip):
    """Staff cancel as the upload completes: the file is being probed (the transcode would start next) when the
    DELETE arrives. The termination wins: the last PATCH answers 410, no video appears, no transcode runs, and
    nothing stays on disk. (httpx's ASGI transport runs the app in this event loop, so the two requests overlap;
    Litestar's test client would run them one after the other.)"""
    from videoflix.bootstrap import build_transcoder

    settings = make_settings(tmp_path / "held")
    await asyncio.to_thread(upgrade, settings.database_url)
    transcoder = HeldProbe(build_transcoder(settings))
    container = await bootstrap(settings, transcoder=transcoder, run_periodic_sweeps=False)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            await login_staff(client, container)
            location = (await create(client, len(clip))).headers["location"]
            last = asyncio.create_task(send(client, location, 0, clip))
            await transcoder.probing.wait()
            deleted = await client.delete(location, headers={**TUS, **csrf_headers(client)})
            assert deleted.status_code == 204
            transcoder.release.set()
            assert_json_error(await last, 410)
            await asyncio.sleep(0.5)  # a transcode, had one been queued, would have started by now
            assert await container.media.list_all() == []
            assert (await client.get("/api/admin/videos/")).json() == []
            assert leftovers(container) == []
            assert files_under(container.store.root, "staging", "releases") == []
    finally:
        await container.close()
