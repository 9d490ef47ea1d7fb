"""The Studio in a real browser (headless chromium) against a real ``videoflix serve``: sign in and out, the
staff-only page, the list with live status, search and filters, the preview with its quality switch, editing,
a frame as thumbnail, and delete. Every action goes through the admin API the page calls."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import make_settings
from tests.e2e.server import VIDEOFLIX, Server, create_staff, process_env
from tests.e2e.studio import chromium, ensure_studio_built, require_chromium
from tests.integration.clips import make_standard_clip
from tests.library import Library, build_library

pytestmark = pytest.mark.ffmpeg

STAFF, VIEWER, PASSWORD = "studio-staff@example.com", "studio-viewer@example.com", "studio-password-1"
TIMEOUT_MS = 60_000


@dataclass
class Studio:
    library: Library
    server: Server
    browser: Any
    work: Path

    @property
    def url(self) -> str:
        return f"{self.server.url}/studio/"

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """A staff session over HTTP, as an operator's script would have (for setting the scene)."""
        with httpx.Client(base_url=self.server.url, headers={"Origin": self.server.url}, timeout=30) as client:
            login = client.post("/api/login/", json={"email": STAFF, "password": PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
            yield client


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    require_chromium()
    ensure_studio_built()
    base = tmp_path_factory.mktemp("studio")
    library = build_library(make_settings(base / "data"), base)
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(library.settings.data_dir),
        SECRET_KEY=library.settings.secret_key,
        DEBUG="true",
        LOGIN_RATE_LIMIT="1000",
    )
    create_staff(env, STAFF, PASSWORD)
    viewer = subprocess.run(
        [VIDEOFLIX, "demo", "--videos", "0", "--email", VIEWER, "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert viewer.returncode == 0, viewer.stderr
    server = Server(env, base / "server.log")
    try:
        server.wait_ready()
        with chromium() as browser:
            yield Studio(library, server, browser, base)
    finally:
        server.stop()


@pytest.fixture
def page(studio: Studio) -> Iterator[Any]:
    context = studio.browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], errors  # no uncaught error in the page


def sign_in(page: Any, studio: Studio, email: str = STAFF) -> None:
    page.goto(studio.url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def wait_until_played(video: Any, seconds: float) -> None:
    """Until the element's currentTime passes ``seconds`` (polled from here: the page's CSP forbids the
    string evaluation that Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while video.evaluate("v => v.currentTime") <= seconds:
        assert time.monotonic() < deadline, video.evaluate(
            "v => [v.currentTime, v.readyState, v.error && v.error.message]"
        )
        time.sleep(0.1)


def row(page: Any, video_id: int) -> Any:
    return page.locator(f'tr[data-video-id="{video_id}"]')


def test_staff_sign_in_and_sign_out(page, studio):
    sign_in(page, studio)
    page.get_by_role("heading", name="Videos").wait_for()
    assert page.get_by_role("navigation", name="Studio").get_by_role("link", name="Videos").is_visible()
    assert page.locator(".who").inner_text() == STAFF

    # An expired access cookie: the next request answers 401, the page refreshes the session once and goes on.
    page.context.clear_cookies(name="access_token")
    page.get_by_role("link", name="Ocean Deep").click()
    page.get_by_role("heading", name="Ocean Deep").wait_for()
    assert "access_token" in {cookie["name"] for cookie in page.context.cookies()}

    page.get_by_role("button", name="Sign out").click()

    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text("You have signed out.").is_visible()
    # The session is over on the server too: the refresh token was revoked and the cookies deleted.
    status = page.evaluate("fetch('/api/admin/videos/').then(r => r.status)")
    assert status == 401
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for()


def test_a_viewer_gets_the_staff_only_page(page, studio):
    sign_in(page, studio, VIEWER)
    page.get_by_role("heading", name="Staff only").wait_for()
    assert VIEWER in page.locator("main").inner_text()
    assert page.get_by_role("heading", name="Videos").count() == 0
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()


def test_the_list_shows_status_in_words_and_searches_and_filters(page, studio):
    library = studio.library
    sign_in(page, studio)
    row(page, library.full_hd).wait_for()
    assert "Ready" in row(page, library.full_hd).locator("td[data-label=Status]").inner_text()
    assert row(page, library.full_hd).get_by_role("link", name="Ocean Deep").is_visible()
    assert "Documentary" in row(page, library.full_hd).inner_text()
    assert "0:02" in row(page, library.full_hd).inner_text()  # the duration
    assert row(page, library.hd).locator("img.thumb").count() == 1

    page.get_by_label("Search by title").fill("ocean")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert row(page, library.full_hd).is_visible()
    assert "q=ocean" in page.url  # the filters live in the address: reload and back keep them

    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Category").select_option("Drama")
    expect(row(page, library.full_hd)).to_have_count(0)
    assert row(page, library.hd).is_visible()

    page.get_by_label("Category").select_option("Documentary")
    page.get_by_label("Status").select_option("ready")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert row(page, library.full_hd).is_visible()
    page.get_by_label("Status").select_option("failed")
    page.get_by_text("No video matches these filters.").wait_for()


def test_an_upload_turns_ready_in_the_open_page_without_a_reload(page, studio):
    # Long enough (three rungs of ten seconds) that the page sees it queued or processing first.
    clip = make_standard_clip(studio.work / "live.mp4", 1920, 1080, 10)
    with studio.api() as api, clip.open("rb") as file:
        created = api.post(
            "/api/admin/videos/",
            data={"title": "Live Arrival", "description": "", "category": "News"},
            files={"file": ("live.mp4", file, "video/mp4")},
        )
    assert created.status_code == 202, created.text
    video_id = created.json()["id"]
    sign_in(page, studio)
    status = row(page, video_id).locator("[data-status]")
    status.wait_for()
    assert status.get_attribute("data-status") in ("queued", "processing"), status.inner_text()
    assert re.search(r"Queued|Processing \d+%", status.inner_text())
    page.evaluate("window.stillTheSamePage = true")

    expect(status).to_have_attribute("data-status", "ready", timeout=180_000)

    assert "Ready" in status.inner_text()
    assert page.evaluate("window.stillTheSamePage") is True  # polled, not reloaded


def test_the_preview_plays_and_the_quality_switches_to_480p(page, studio):
    sign_in(page, studio)
    page.goto(f"{studio.url}#/videos/{studio.library.full_hd}")
    quality = page.get_by_label("Quality")
    expect(quality.locator("option")).to_have_count(4)
    assert quality.locator("option").all_inner_texts() == ["Auto", "480p", "720p", "1080p"]

    video = page.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_until_played(video, 0.5)

    quality.select_option(label="480p")
    video.evaluate("v => { v.currentTime = 0; return v.play(); }")
    page.get_by_text("Now showing 480p").wait_for()
    wait_until_played(video, 0.3)


def test_edit_details_with_a_worded_error_next_to_the_field(page, studio):
    library = studio.library
    sign_in(page, studio)
    page.goto(f"{studio.url}#/videos/{library.hd}")
    title = page.get_by_label("Title", exact=True)
    title.wait_for()

    title.fill("x" * 201)
    page.get_by_role("button", name="Save").click()
    error = page.locator(".field", has=page.get_by_label("Title", exact=True)).locator(".field-error")
    error.wait_for()
    assert error.inner_text().endswith("The title can be at most 200 characters long.")
    assert title.get_attribute("aria-invalid") == "true"

    title.fill("Night Train, Restored")
    page.get_by_label("Category").fill("Classics")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert page.get_by_role("heading", name="Night Train, Restored").is_visible()
    with studio.api() as api:
        saved = api.get(f"/api/admin/videos/{library.hd}").json()
    assert (saved["title"], saved["category"]) == ("Night Train, Restored", "Classics")


def test_a_frame_of_the_video_becomes_the_thumbnail(page, studio):
    video_id = studio.library.hd
    sign_in(page, studio)
    page.goto(f"{studio.url}#/videos/{video_id}")
    poster = page.get_by_role("img", name=re.compile("Current thumbnail"))
    before = poster.get_attribute("src")

    page.get_by_label("Frame at (seconds)").fill("2.5")
    page.get_by_role("button", name="Use this frame").click()

    page.get_by_text("The frame at 2.5 s is the thumbnail now.").wait_for()
    assert poster.get_attribute("src") != before
    with studio.api() as api:
        assert api.get(f"/api/admin/videos/{video_id}").json()["thumbnail_url"] == poster.get_attribute("src")
        assert api.get(poster.get_attribute("src")).status_code == 200

    page.get_by_label("Frame at (seconds)").fill("99")
    page.get_by_role("button", name="Use this frame").click()
    error = page.locator(".field", has=page.get_by_label("Frame at (seconds)")).locator(".field-error")
    error.wait_for()
    assert "seconds" in error.inner_text()


def test_delete_asks_first_then_removes_the_video(page, studio):
    video_id = studio.library.queued
    sign_in(page, studio)
    page.goto(f"{studio.url}#/videos/{video_id}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()  # closing is a re-render: wait for it, do not sample the instant after the click

    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()

    page.get_by_role("heading", name="Videos").wait_for()
    page.get_by_text("was deleted.").wait_for()
    assert row(page, video_id).count() == 0
    with studio.api() as api:
        assert api.get(f"/api/admin/videos/{video_id}").status_code == 404
