"""Driving the Studio in Debian's headless chromium with Playwright (no browser download: `playwright install`
cannot fetch one here), against a real ``videoflix serve`` whose package carries the Studio's build."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STUDIO_PAGE = REPO / "src" / "videoflix" / "entrypoints" / "http" / "studio" / "index.html"


def require_chromium() -> None:
    """Skipped locally without chromium (apt-get install chromium); in CI a missing browser fails the tests."""
    if not Path(CHROMIUM).exists():
        message = f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def ensure_studio_built() -> None:
    """``make studio`` (npm ci + esbuild) when the build is missing, as `make test` does before the tests."""
    if not STUDIO_PAGE.is_file():
        done = subprocess.run(["make", "studio", f"VENV={sys.prefix}"], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0 and STUDIO_PAGE.is_file(), done.stdout + done.stderr


@contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
