"""Screenshots of the Studio for the README: the sign-in page, the videos list and a video's page with its
preview, taken in headless chromium from a real ``videoflix serve`` on a fresh data folder with the demo videos.

    make screenshots        (or: .venv/bin/python -m tests.e2e.studio_screenshots)

Writes docs/screenshots/studio-*.png. Run it again after a visible change to the Studio.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import make_settings
from tests.e2e.server import VIDEOFLIX, Server, create_staff, process_env
from tests.e2e.studio import REPO, chromium, ensure_studio_built

OUT = REPO / "docs" / "screenshots"
STAFF, PASSWORD = "editor@videoflix.local", "studio-screenshots-1"
VIEWPORT = {"width": 1280, "height": 800}


def main() -> None:
    ensure_studio_built()
    work = Path(tempfile.mkdtemp(prefix="videoflix-screenshots-"))
    settings = make_settings(work / "data")
    env = process_env(VIDEOFLIX_DATA_DIR=str(settings.data_dir), SECRET_KEY=settings.secret_key, DEBUG="true")
    print("making the demo videos (transcoded here) ...", flush=True)
    subprocess.run([VIDEOFLIX, "demo", "--videos", "6"], env=env, check=True, capture_output=True)
    create_staff(env, STAFF, PASSWORD)
    server = Server(env, work / "server.log")
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        server.wait_ready()
        with chromium() as browser:
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            page.goto(f"{server.url}/studio/")
            page.get_by_label("Email").fill(STAFF)
            page.get_by_role("button", name="Sign in").wait_for()
            page.screenshot(path=OUT / "studio-sign-in.png")

            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator("tbody tr").first.wait_for()
            page.wait_for_load_state("networkidle")  # the thumbnails
            page.screenshot(path=OUT / "studio-videos.png")

            page.locator("tbody tr a").first.click()
            page.get_by_label("Quality").locator("option").nth(1).wait_for(state="attached")
            video = page.locator("video")
            video.evaluate("v => { v.muted = true; return v.play(); }")
            deadline = time.monotonic() + 30
            while video.evaluate("v => v.currentTime") < 1.5 and time.monotonic() < deadline:
                time.sleep(0.1)
            video.evaluate("v => v.pause()")
            page.screenshot(path=OUT / "studio-video.png", full_page=True)
    finally:
        server.stop()
    for name in ("studio-sign-in.png", "studio-videos.png", "studio-video.png"):
        print(f"wrote {(OUT / name).relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
