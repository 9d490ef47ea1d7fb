"""The API docs page (/api/docs, Swagger UI) can do what the API does, unsafe operations included: after "Try it
out" on login, its requests carry the cookies, and the page adds the csrftoken cookie's value as X-CSRFToken to
every unsafe request, as the frontend does. Driven in a real browser against a real ``videoflix serve``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from tests.e2e.server import Server, create_staff, process_env
from tests.e2e.studio import chromium, require_chromium
from tests.library import Library, build_library

pytestmark = pytest.mark.ffmpeg

STAFF, PASSWORD = "docs-staff@example.com", "docs-page-password-1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Library]]:
    require_chromium()
    base = tmp_path_factory.mktemp("docs-page")
    library = build_library(make_settings(base / "data"), base)
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(library.settings.data_dir), SECRET_KEY=library.settings.secret_key, DEBUG="true"
    )
    create_staff(env, STAFF, PASSWORD)
    server = Server(env, base / "server.log")
    try:
        server.wait_ready()
        yield server, library
    finally:
        server.stop()


def execute(page, operation_id: str, body: str, path_parameters: dict[str, object] | None = None) -> int:  # type: ignore[no-untyped-def]
    """What a reader of the page does: open the operation, "Try it out", fill in, "Execute"; the status shown."""
    block = page.locator(f"[id$='-{operation_id}']").first
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    for name, value in (path_parameters or {}).items():
        block.locator(f"input[placeholder='{name}']").fill(str(value))
    block.locator("textarea.body-param__text").fill(body)
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=30_000)
    return int(status.inner_text().strip().split()[0])


def test_login_then_an_unsafe_staff_operation_from_the_docs_page(served: tuple[Server, Library]) -> None:
    server, library = served
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{server.url}/api/docs")
        page.wait_for_function("window.ui && window.ui.specSelectors.specJson().size > 0", timeout=30_000)
        spec_ops = page.evaluate(
            """() => Object.values(window.ui.specSelectors.specJson().toJS().paths)
                .flatMap((item) => Object.values(item).map((op) => op.operationId))"""
        )
        login_op = next(op for op in spec_ops if "Login" in op)
        update_op = next(op for op in spec_ops if op.startswith("ApiAdminVideosVideoId") and "Update" in op)

        assert execute(page, login_op, f'{{"email": "{STAFF}", "password": "{PASSWORD}"}}') == 200
        assert "csrftoken=" in page.evaluate("document.cookie")

        title = "Renamed from the docs page"
        assert execute(page, update_op, f'{{"title": "{title}"}}', {"video_id": library.hd}) == 200
        titles = page.evaluate(
            "async (id) => (await (await fetch(`/api/admin/videos/${id}`)).json()).title", library.hd
        )
        assert titles == title

        # Without the page's interceptor (no X-CSRFToken), the same request is refused: the header is what made it.
        refused = page.evaluate(
            """async (id) => (await fetch(`/api/admin/videos/${id}`, {method: 'PATCH', credentials: 'include',
                headers: {'Content-Type': 'application/json'}, body: JSON.stringify({title: 'x'})})).status""",
            library.hd,
        )
        assert refused == 403
