"""R6: property-based fuzzing of the OpenAPI schema with schemathesis. No answer is a 5xx, and every status code
an operation answers is one its schema documents.

The app runs in-process (schemathesis' ASGI transport) on the embedded default: SQLite in a temporary folder, the
in-process job queue and the file outbox. Every request carries the access cookie of a staff account, so the fuzzer
gets past the login check into the handlers (the 401 answers without a cookie are trivial and tested elsewhere), and
the catalog holds one ready video, so the id-based operations reach real rows as well as missing ones.

The upload is fuzzed too: its multipart body is documented, and the CSRF check refuses a multipart request without
X-CSRFToken (403, documented) before any byte is written, so it costs no more than the others. So are the resumable
(tus) uploads, whose chunks are raw bytes (``application/offset+octet-stream``, sent as octet streams are). Bounded: the explicit
examples, the coverage phase's boundary values and ``MAX_EXAMPLES`` fuzzed cases per operation, no deadline.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.python import asgi

from tests.conftest import make_settings
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import bootstrap
from videoflix.domain.media.model import Video, VideoStatus
from videoflix.entrypoints.http.app import create_app
from videoflix.settings import Settings

MAX_EXAMPLES = 25
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")  # tus chunks
STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "tangerine-rocket-harbour-42"


async def _seed(config: Settings) -> str:
    """A staff account and one ready video; the staff's access token."""
    container = await bootstrap(config, run_periodic_sweeps=False)
    try:
        await container.accounts.create_admin(STAFF_EMAIL, STAFF_PASSWORD)
        session = await container.accounts.login(STAFF_EMAIL, STAFF_PASSWORD)
        now = datetime.now(UTC)
        async with container.uow() as uow:
            await uow.videos.add(
                Video(
                    title="Seeded",
                    description="A video for the fuzzer",
                    category="Drama",
                    created_at=now,
                    updated_at=now,
                    status=VideoStatus.READY,
                    published=True,
                    duration=3.0,
                )
            )
            await uow.commit()
        return session.access.token
    finally:
        await container.close()


# Built at collection time: schemathesis' fixture-based loader (`schemathesis.pytest.from_fixture`) does not work with
# pytest 9 (it sets `node._nodeid`, which pytest 9 no longer has), so the schema is loaded when the module is imported.
_FOLDER = Path(tempfile.mkdtemp(prefix="videoflix-schemathesis-"))
_SETTINGS = make_settings(_FOLDER)
upgrade(_SETTINGS.database_url)
ACCESS_TOKEN = asyncio.run(_seed(_SETTINGS))
# The app wires its own container in its lifespan, which runs in schemathesis' event loop thread.
schema = schemathesis.openapi.from_asgi("/api/schema/openapi.json", create_app(_SETTINGS))


@pytest.fixture(scope="module", autouse=True)
def _close_the_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # close the app's container (database, job queue), then remove its folder
    shutil.rmtree(_FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_no_server_errors_and_no_undocumented_status_codes(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance],
        cookies={"access_token": ACCESS_TOKEN},
    )
