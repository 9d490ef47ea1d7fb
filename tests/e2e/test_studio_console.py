"""The Studio's Upload, Users and Operations pages in a real browser (headless chromium) against a real ``videoflix
serve`` that sends its emails to a real SMTP server: a resumable upload that survives a dropped connection and a
reload, upload errors in words, user actions (a deactivated user's open session ends at once), and Retry of a
failed email and of a failed transcode. Every action goes through the admin API the pages call."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_ORIGIN, make_settings
from tests.e2e.server import Server, create_staff, process_env
from tests.e2e.studio import chromium, ensure_studio_built, require_chromium
from tests.integration.clips import ffmpeg, make_large_clip, make_standard_clip
from tests.smtp_server import SmtpSink

pytestmark = [pytest.mark.ffmpeg, pytest.mark.timeout(600)]

STAFF, PASSWORD = "console-staff@example.com", "quiet-lantern-orchard-73"
TIMEOUT_MS = 60_000
CHUNK = 8 * 1024 * 1024  # the Studio's tus chunk size (studio/src/uploads.js)
MAX_UPLOAD = 50_000_000
UPLOADS = re.compile(r"/api/admin/uploads/")


@dataclass
class Stack:
    server: Server
    sink: SmtpSink
    env: dict[str, str]
    data: Path
    browser: Any
    work: Path

    @property
    def url(self) -> str:
        return f"{self.server.url}/studio/"

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """A staff session over HTTP, as an operator's script would have (for setting the scene and checking)."""
        with httpx.Client(base_url=self.server.url, headers={"Origin": self.server.url}, timeout=30) as client:
            login = client.post("/api/login/", json={"email": STAFF, "password": PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
            yield client

    def register(self, email: str) -> int:
        """A visitor registers through the frontend's API (an inactive account, an activation email)."""
        answer = httpx.post(
            f"{self.server.url}/api/register/",
            json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD},
            headers={"Origin": self.server.url},
        )
        assert answer.status_code == 201, answer.text
        return int(answer.json()["user"]["id"])

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [item.message for item in self.sink.received if address in item.rcpt_tos]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_chromium()
    ensure_studio_built()
    base = tmp_path_factory.mktemp("console")
    settings = make_settings(base / "data")
    sink = SmtpSink().start()
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(settings.data_dir),
        SECRET_KEY=settings.secret_key,
        DEBUG="true",
        LOGIN_RATE_LIMIT="1000",
        EMAIL_RATE_LIMIT="1000",
        FRONTEND_URL=TEST_ORIGIN,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="false",
        MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
    )
    create_staff(env, STAFF, PASSWORD)
    server = Server(env, base / "server.log")
    try:
        server.wait_ready()
        with chromium() as browser:
            yield Stack(server, sink, env, settings.data_dir, browser, base)
    finally:
        server.stop()
        sink.stop()


@pytest.fixture
def new_page(stack: Stack) -> Iterator[Callable[[], Any]]:
    """Pages in fresh browser contexts (separate cookies: separate people); none may raise an uncaught error."""
    contexts, errors = [], []

    def make() -> Any:
        context = stack.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        return tab

    yield make
    for context in contexts:
        context.close()
    assert errors == [], errors


@pytest.fixture
def page(new_page: Callable[[], Any]) -> Any:
    return new_page()


def sign_in(page: Any, stack: Stack, email: str = STAFF, section: str = "videos") -> None:
    page.goto(f"{stack.url}#/{section}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Studio").wait_for()


def wait_for(what: Callable[[], Any], seconds: float = 60, page: Any = None) -> Any:
    """Poll ``what`` until it is truthy. With a ``page``, wait through Playwright: its route and event handlers only
    run while the test is inside a Playwright call."""
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, "timed out"
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)
    return found


def video_status(stack: Stack, video_id: int, statuses: set[str]) -> dict[str, Any]:
    with stack.api() as api:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (video := api.get(f"/api/admin/videos/{video_id}").json())["status"] in statuses and video,
            seconds=180,
        )


def activation_link(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(TEST_ORIGIN)}/pages/auth/activate\.html\?uid=([\w-]+)&token=([\w-]+)", text)
    assert found, text
    return f"/api/activate/{found[1]}/{found[2]}/"


def card(page: Any, name: str) -> Any:
    return page.locator(f'li.upload-card[data-file="{name}"]')


def field_error(scope: Any, label: str) -> Any:
    return scope.locator(".field", has=scope.page.get_by_label(label, exact=True)).locator(".field-error")


# ------------------------------------------------------------------------------------------ upload


def test_an_upload_survives_a_dropped_connection_and_a_reload_and_turns_ready_live(page, stack):
    clip = make_large_clip(stack.work / "long-take.mp4", 17)
    size = clip.stat().st_size
    assert size > 2 * CHUNK  # at least three PATCH requests of 8 MiB (the last one shorter)
    rest = list(range(2 * CHUNK, size, CHUNK))  # the offsets of the PATCHes from the third on
    patches: list[tuple[int, str]] = []  # (Upload-Offset, what the network did) of every PATCH the page sent
    network = {"patches": 0, "blocked": True}
    created: list[str] = []

    def flaky_network(route: Any) -> None:
        request = route.request
        if request.method != "PATCH":
            route.continue_()
            return
        offset = int(request.headers["upload-offset"])
        network["patches"] += 1
        # The second request's connection drops once; from the third chunk on the network is gone until a reload.
        if network["patches"] == 2 or (network["blocked"] and offset >= 2 * CHUNK):
            patches.append((offset, "dropped"))
            route.abort("connectionreset")
        else:
            patches.append((offset, "sent"))
            route.continue_()

    page.route(UPLOADS, flaky_network)
    page.on(
        "response",
        lambda r: (
            created.append(r.headers["location"])
            if r.request.method == "POST" and r.status == 201 and UPLOADS.search(r.url)
            else None
        ),
    )
    sign_in(page, stack, section="upload")
    page.get_by_label("Video file").set_input_files(clip)
    upload = card(page, clip.name)
    upload.get_by_label("Title").fill("Long Take")
    upload.get_by_label("Category").fill("Drama")
    upload.get_by_role("button", name="Upload", exact=True).click()

    expect(upload.get_by_role("status")).to_contain_text(re.compile(rf"MB of {size / 1e6:.1f} MB \(\d+%\)"))
    wait_for(lambda: (2 * CHUNK, "dropped") in patches, page=page)
    # The dropped second request was sent again from where the server stood, not from the start.
    assert patches[:3] == [(0, "sent"), (CHUNK, "dropped"), (CHUNK, "sent")]
    [location] = created
    with stack.api() as api:
        head = api.head(location, headers={"Tus-Resumable": "1.0.0"})
    assert int(head.headers["Upload-Offset"]) == 2 * CHUNK

    page.reload()  # the tab is reloaded mid-upload: the page's state is gone, the upload's URL is stored
    network["blocked"] = False
    before_reload = len(patches)
    unfinished = page.get_by_role("region", name="Unfinished uploads")
    expect(unfinished).to_contain_text("Long Take")
    expect(unfinished).to_contain_text(f"16.8 MB of {size / 1e6:.1f} MB on the server ({200 * CHUNK // size}%)")
    with page.expect_file_chooser() as chooser:
        unfinished.get_by_role("button", name=f"Choose {clip.name} to continue").click()
    chooser.value.set_files(clip)

    upload = card(page, clip.name)
    expect(upload).to_contain_text("Continued from 16.8 MB: only the rest is sent.")
    upload.get_by_role("link", name="Open the video page").click()
    # Only the rest was sent after the reload: every byte crossed the network once.
    assert patches[before_reload:] == [(offset, "sent") for offset in rest]
    assert [offset for offset, what in patches if what == "sent"] == [0, CHUNK, *rest]
    page.get_by_role("heading", name="Long Take").wait_for()
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "ready", timeout=180_000)
    assert page.evaluate("window.stillTheSamePage") is True  # polled, not reloaded
    video_id = int(page.url.rsplit("/", 1)[1])
    assert video_status(stack, video_id, {"ready"})["source_size"] == size
    expect(page.get_by_role("region", name="Unfinished uploads")).to_have_count(0)


def test_files_dropped_or_chosen_get_their_errors_in_words_and_a_thumbnail_is_applied(new_page, stack):
    uploader = "console-uploader@example.com"
    create_staff(stack.env, uploader, PASSWORD)
    good = make_standard_clip(stack.work / "small-wonder.mp4", 640, 360, 2)
    huge = stack.work / "huge.mp4"
    with huge.open("wb") as file:
        file.truncate(MAX_UPLOAD + 1)  # over MAX_UPLOAD_BYTES: refused before a byte is sent
    thumbnail = stack.work / "poster.png"
    ffmpeg("-f", "lavfi", "-i", "color=red:size=640x480", "-frames:v", "1", str(thumbnail))
    page = new_page()
    sign_in(page, stack, uploader, section="upload")
    dropped = page.evaluate_handle(
        "() => { const d = new DataTransfer(); d.items.add(new File(['just some notes'], 'notes.mp4')); return d; }"
    )
    page.locator(".dropzone").dispatch_event("drop", {"dataTransfer": dropped})  # dragged onto the page
    page.get_by_label("Video file").set_input_files([good, huge])  # and chosen with the picker

    broken = card(page, "notes.mp4")
    broken.get_by_label("Title").fill("")
    broken.get_by_role("button", name="Upload", exact=True).click()
    expect(field_error(broken, "Title")).to_have_text(re.compile("A video needs a title."))
    broken.get_by_label("Title").fill("Noise")
    broken.get_by_label("Category").fill("Drama")
    broken.get_by_role("button", name="Upload", exact=True).click()
    expect(broken.get_by_role("alert")).to_contain_text("The file is not a usable video")

    too_big = card(page, huge.name)
    too_big.get_by_label("Category").fill("Drama")
    too_big.get_by_role("button", name="Upload", exact=True).click()
    expect(too_big.get_by_role("alert")).to_contain_text("The file is larger than the")

    wonder = card(page, good.name)
    wonder.get_by_label("Title").fill("Small Wonder")
    wonder.get_by_label("Category").fill("Shorts")
    wonder.get_by_label("Thumbnail").set_input_files(thumbnail)
    with page.expect_response(lambda r: r.request.method == "PUT" and "/thumbnail" in r.url) as applied:
        wonder.get_by_role("button", name="Upload", exact=True).click()
    assert applied.value.status == 200
    thumbnail_url = applied.value.json()["thumbnail_url"]
    link = wonder.get_by_role("link", name="Open the video page")
    video_id = int(link.get_attribute("href").rsplit("/", 1)[1])
    assert video_status(stack, video_id, {"ready"})["thumbnail_url"] == thumbnail_url  # the transcode kept it

    with stack.api() as api:  # the uploader is no longer staff, while the page is open
        [account] = api.get("/api/admin/users/", params={"q": uploader}).json()["results"]
        assert api.post(f"/api/admin/users/{account['id']}/staff", json={"is_staff": False}).status_code == 200
    page.get_by_label("Video file").set_input_files(good)
    again = card(page, good.name).last
    again.get_by_label("Category").fill("Shorts")
    again.get_by_role("button", name="Upload", exact=True).click()
    expect(again.get_by_role("alert")).to_contain_text("Staff only.")


# ------------------------------------------------------------------------------------------ users


def test_s27_deactivating_a_user_ends_their_open_studio_session_at_once(new_page, stack):
    colleague = "console-colleague@example.com"
    create_staff(stack.env, colleague, PASSWORD)
    theirs = new_page()
    sign_in(theirs, stack, colleague)
    theirs.get_by_role("heading", name="Videos").wait_for()
    answers: list[tuple[str, int]] = []
    theirs.on("response", lambda r: answers.append((r.url, r.status)) if "/api/" in r.url else None)
    mine = new_page()
    sign_in(mine, stack, section="users")

    mine.get_by_label("Search by email").fill("colleague")
    row = mine.locator(f'tr[data-email="{colleague}"]')
    row.get_by_role("button", name="Deactivate").click()
    expect(row).to_contain_text("Not active")
    expect(row.get_by_role("status")).to_have_text("Deactivated: every session of the account has ended.")

    before = len(answers)
    nav = theirs.get_by_role("link", name="Operations")
    if nav.is_visible():  # unless their page's own refresh (every 15 s) was their next request
        nav.click()

    theirs.get_by_role("button", name="Sign in").wait_for()
    assert theirs.get_by_text("Your session has ended. Sign in again.").is_visible()
    after = answers[before:]
    assert after[0][1] == 401 and "/api/admin/" in after[0][0], after  # their very next request was refused
    refreshes = {status for url, status in after if "/api/token/refresh" in url}
    assert refreshes == {401}  # the page tried to renew the session, and was refused


def test_users_page_staff_rights_resend_activation_self_refusal_and_delete(page, stack):
    newcomer = "console-newcomer@example.com"
    stack.register(newcomer)
    [first] = wait_for(lambda: stack.mails_to(newcomer))
    sign_in(page, stack, section="users")
    page.get_by_label("Search by email").fill("newcomer")
    row = page.locator(f'tr[data-email="{newcomer}"]')
    expect(row).to_contain_text("Not active")
    expect(row.locator("td[data-label=Role]")).to_have_text("Viewer")

    row.get_by_role("button", name="Make staff").click()
    expect(row.locator("td[data-label=Role]")).to_have_text("Staff")
    row.get_by_role("button", name="Remove staff").click()
    expect(row.locator("td[data-label=Role]")).to_have_text("Viewer")
    with stack.api() as api:
        [account] = api.get("/api/admin/users/", params={"q": newcomer}).json()["results"]
    assert account["is_staff"] is False

    row.get_by_role("button", name="Resend activation email").click()
    expect(row.get_by_role("status")).to_have_text("An activation email with a fresh link is on its way.")
    [_, fresh] = wait_for(lambda: len(stack.mails_to(newcomer)) == 2 and stack.mails_to(newcomer))
    with httpx.Client(base_url=stack.server.url) as visitor:
        assert visitor.get(activation_link(first)).status_code == 400  # the first link ended
        assert visitor.get(activation_link(fresh)).status_code == 200
    page.reload()
    expect(row.locator("td[data-label=Status]")).to_have_text("Active")

    page.get_by_label("Search by email").fill(STAFF)
    own = page.locator(f'tr[data-email="{STAFF}"]')
    expect(own).to_contain_text("(you)")
    own.get_by_role("button", name="Deactivate").click()
    expect(own.get_by_role("alert")).to_have_text("You cannot deactivate your own account.")

    page.get_by_label("Search by email").fill("newcomer")
    row.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete {newcomer}?")
    dialog.get_by_role("button", name="Delete").click()
    page.get_by_text(f"{newcomer} was deleted.").wait_for()
    expect(row).to_have_count(0)
    with stack.api() as api:
        assert api.get("/api/admin/users/", params={"q": newcomer}).json()["count"] == 0


# ------------------------------------------------------------------------------------------ operations


def test_a_failed_email_is_sent_again_from_the_operations_page_once_smtp_accepts(page, stack):
    lost = "console-lost@example.com"
    stack.sink.fail_next(550, stage="rcpt", text="5.1.1 Mailbox unavailable for a while")
    stack.register(lost)
    with stack.api() as api:
        [failed] = wait_for(
            lambda: [
                e for e in api.get("/api/admin/emails/", params={"status": "failed"}).json() if e["recipient"] == lost
            ]
        )
    assert stack.mails_to(lost) == []  # the SMTP server refused it for good; it accepts again from now on

    sign_in(page, stack, section="operations")
    row = page.locator(f'li[data-email-id="{failed["id"]}"]')
    expect(row).to_contain_text("Mailbox unavailable for a while")
    expect(row).to_contain_text("Activation")
    row.get_by_role("button", name="Retry").click()

    page.get_by_text("Sent again (a fresh link where it had one).").wait_for()
    [delivered] = wait_for(lambda: stack.mails_to(lost))
    with httpx.Client(base_url=stack.server.url) as visitor:
        assert visitor.get(activation_link(delivered)).status_code == 200
    expect(row).to_have_count(0)  # no longer failed: the page refreshed


def test_a_failed_transcode_is_retried_from_the_operations_page(page, stack):
    whole = make_standard_clip(stack.work / "reel.mp4", 320, 180, 4)
    truncated = stack.work / "reel-truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # every header says 4 s, half is there
    with stack.api() as api, truncated.open("rb") as file:
        created = api.post(
            "/api/admin/videos/",
            data={"title": "Broken Reel", "description": "", "category": "Drama"},
            files={"file": ("reel.mp4", file, "video/mp4")},
        )
    assert created.status_code == 202, created.text
    video_id = created.json()["id"]
    failed = video_status(stack, video_id, {"failed", "ready"})
    assert failed["status"] == "failed", failed

    sign_in(page, stack, section="operations")
    row = page.locator(f'li[data-video-id="{video_id}"]')
    expect(row).to_contain_text("Broken Reel")
    expect(row.locator(".failure-reason")).to_have_text(failed["failure_reason"])
    expect(page.get_by_role("region", name="Videos")).to_contain_text("Failed")
    # The cause fixed (here: the whole source file restored where the media store keeps it), then Retry.
    source = stack.data / "media" / "sources" / str(video_id) / "source"  # see tests/media_layout.py
    source.write_bytes(whole.read_bytes())
    row.get_by_role("button", name="Retry").click()

    page.get_by_text("“Broken Reel” is queued again.").wait_for()
    assert video_status(stack, video_id, {"ready", "failed"})["status"] == "ready"
    expect(row).to_have_count(0)


def test_the_operations_page_shows_readiness_queue_and_outbox_and_refreshes_itself(page, stack):
    sign_in(page, stack, section="operations")
    readiness = page.get_by_role("region", name="Readiness")
    expect(readiness).to_contain_text("Ready")
    for check in ("database", "media", "ffmpeg"):
        expect(readiness.locator(f'[data-check="{check}"]')).to_contain_text("ok")
    queue = page.get_by_role("region", name="Job queue")
    expect(queue.locator('tr[data-job="transcode_video"]')).to_contain_text("Transcodes")
    outbox = page.get_by_role("region", name="Email outbox")
    expect(outbox).to_contain_text("Backlog: 0 waiting to be sent")
    sent = outbox.locator('[data-count="sent"] dd')
    before = int(sent.inner_text())

    stack.register("console-later@example.com")  # an email goes out while the page is open

    expect(sent).to_have_text(str(before + 1), timeout=30_000)
