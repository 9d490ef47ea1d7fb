"""Screenshots of the Studio for the README: the sign-in page, the videos list, a video's page with its preview, the
Upload page (an unfinished upload to continue, a finished one and one to fill in), the Users page and the Operations
page (a failed transcode and a failed email), taken in headless chromium from a real ``videoflix serve`` on a fresh
data folder with the demo videos, sending its emails to a local SMTP server.

    make screenshots        (or: .venv/bin/python -m tests.e2e.studio_screenshots)

Writes docs/screenshots/studio-*.png. Run it again after a visible change to the Studio.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import make_settings
from tests.e2e.server import VIDEOFLIX, Server, create_staff, process_env
from tests.e2e.studio import REPO, chromium, ensure_studio_built
from tests.integration.clips import make_large_clip, make_standard_clip
from tests.smtp_server import SmtpSink

OUT = REPO / "docs" / "screenshots"
STAFF, PASSWORD = "editor@videoflix.example", "studio-screenshots-1"
VIEWPORT = {"width": 1280, "height": 800}
CHUNK = 8 * 1024 * 1024  # the Studio's tus chunk size (studio/src/uploads.js)
NAMES = ("sign-in", "videos", "video", "upload", "users", "operations")


def main() -> None:
    ensure_studio_built()
    work = Path(tempfile.mkdtemp(prefix="videoflix-screenshots-"))
    settings = make_settings(work / "data")
    sink = SmtpSink().start()
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(settings.data_dir),
        SECRET_KEY=settings.secret_key,
        DEBUG="true",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="false",
    )
    print("making the demo videos (transcoded here) ...", flush=True)
    subprocess.run([VIDEOFLIX, "demo", "--videos", "6"], env=env, check=True, capture_output=True)
    create_staff(env, STAFF, PASSWORD)
    server = Server(env, work / "server.log")
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        server.wait_ready()
        set_the_scene(server.url, sink, work)
        with chromium() as browser:
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            page.goto(f"{server.url}/studio/")
            page.get_by_label("Email").fill(STAFF)
            page.get_by_role("button", name="Sign in").wait_for()
            shot(page, "sign-in", full_page=False)

            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator("tbody tr").first.wait_for()
            page.wait_for_load_state("networkidle")  # the thumbnails
            shot(page, "videos", full_page=False)

            video_page(page)
            upload_page(page, work)
            users_page(page)
            operations_page(page)
    finally:
        server.stop()
        sink.stop()
    for name in NAMES:
        print(f"wrote {(OUT / f'studio-{name}.png').relative_to(REPO)}")


def shot(page: Any, name: str, full_page: bool = True) -> None:
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")  # the sticky bar at the top, no focus ring
    page.screenshot(path=OUT / f"studio-{name}.png", full_page=full_page)


def set_the_scene(url: str, sink: SmtpSink, work: Path) -> None:
    """Accounts that wait for their activation, one whose email the SMTP server refused, and a video whose source
    is cut short (its transcode fails)."""
    origin = {"Origin": url}

    def register(email: str) -> None:
        body = {"email": email, "password": "watching-films-42", "confirmed_password": "watching-films-42"}
        assert httpx.post(f"{url}/api/register/", json=body, headers=origin).status_code == 201

    register("new.viewer@example.com")
    register("late.viewer@example.com")
    sink.wait_for(2, timeout=30)
    sink.fail_next(550, stage="rcpt", text="5.1.1 Mailbox unavailable")
    register("refused@example.com")
    whole = make_standard_clip(work / "reel.mp4", 320, 180, 4)
    with httpx.Client(base_url=url, headers=origin, timeout=30) as api:
        api.post("/api/login/", json={"email": STAFF, "password": PASSWORD})
        api.headers["X-CSRFToken"] = api.cookies["csrftoken"]
        api.post(
            "/api/admin/videos/",
            data={"title": "Harbour at Dusk (cut short)", "description": "", "category": "Nature"},
            files={"file": ("reel.mp4", whole.read_bytes()[: whole.stat().st_size // 2], "video/mp4")},
        )
        deadline = time.monotonic() + 60
        while not api.get("/api/admin/videos/", params={"status": "failed"}).json() and time.monotonic() < deadline:
            time.sleep(0.5)


def video_page(page: Any) -> None:
    page.locator("tbody tr a", has_text=re.compile("^(?!Harbour)")).first.click()
    page.get_by_label("Quality").locator("option").nth(1).wait_for(state="attached")
    video = page.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    deadline = time.monotonic() + 30
    while video.evaluate("v => v.currentTime") < 1.5 and time.monotonic() < deadline:
        time.sleep(0.1)
    video.evaluate("v => v.pause()")
    shot(page, "video")


def upload_page(page: Any, work: Path) -> None:
    """An upload cut off after its first chunk and the page reloaded (so it is listed as unfinished), a finished one,
    and one with its details filled in."""
    big = make_large_clip(work / "the-long-walk.mp4", 17)
    cut: list[int] = []

    def cut_off(route: Any) -> None:
        if route.request.method == "PATCH" and int(route.request.headers["upload-offset"]) >= CHUNK:
            cut.append(1)
            route.abort()
        else:
            route.continue_()

    page.route(re.compile("/api/admin/uploads/"), cut_off)
    page.get_by_role("link", name="Upload").click()
    page.get_by_label("Video file").set_input_files(big)
    page.get_by_label("Title").fill("The Long Walk")
    page.get_by_label("Category").fill("Drama")
    page.get_by_role("button", name="Upload", exact=True).click()
    while not cut:
        page.wait_for_timeout(100)  # route handlers run while Playwright is called
    page.reload()
    page.unroute_all()
    page.get_by_role("region", name="Unfinished uploads").wait_for()

    first = make_standard_clip(work / "morning-tide.mp4", 1280, 720, 3)
    second = make_standard_clip(work / "harbour-lights.mp4", 1280, 720, 3)
    page.get_by_label("Video file").set_input_files([first, second])
    done = page.locator('li[data-file="morning-tide.mp4"]')
    done.get_by_label("Title").fill("Morning Tide")
    done.get_by_label("Category").fill("Nature")
    done.get_by_role("button", name="Upload", exact=True).click()
    done.get_by_role("link", name="Open the video page").wait_for()
    waiting = page.locator('li[data-file="harbour-lights.mp4"]')
    waiting.get_by_label("Title").fill("Harbour Lights")
    waiting.get_by_label("Category").fill("Nature")
    waiting.get_by_label("Description").fill("Boats coming home after dark.")
    page.wait_for_timeout(2500)  # the finished one's status moves on
    shot(page, "upload")


def users_page(page: Any) -> None:
    page.get_by_role("link", name="Users").click()
    row = page.locator('tr[data-email="late.viewer@example.com"]')
    row.get_by_role("button", name="Resend activation email").click()
    row.get_by_role("status").wait_for()
    shot(page, "users")


def operations_page(page: Any) -> None:
    page.get_by_role("link", name="Operations").click()
    page.get_by_role("region", name="Failed emails").locator("li").first.wait_for()
    page.get_by_role("region", name="Failed transcodes").locator("li").first.wait_for()
    shot(page, "operations")


if __name__ == "__main__":
    sys.exit(main())
