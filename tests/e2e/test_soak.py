"""Issue 14: the short soak (bench/soak.py) as a test. The production topology on this machine (two web processes
behind nginx, two workers, a private Postgres and Redis, an SMTP recorder, ffmpeg), mixed traffic, every fault in
turn, then the audit: no email lost, no activation email twice, no upload stuck, no unexpected 500.

Long-ish (about three minutes, most of it the faults' windows and baselines), and not skipped in CI: there a missing
tool fails the test, as tests/services.py does for Postgres and Redis.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from bench.soak import Options, Report, soak

from tests.nginx import NJS_MODULE, find_nginx

pytestmark = [pytest.mark.ffmpeg, pytest.mark.soak, pytest.mark.timeout(600)]


def require_tools() -> None:
    """The soak starts its own Postgres and Redis: their server binaries, nginx and ffmpeg must be installed."""
    missing = [tool for tool in ("ffmpeg", "ffprobe", "redis-server") if shutil.which(tool) is None]
    if find_nginx() is None or not NJS_MODULE.is_file():
        missing.append("nginx with njs")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        missing.append("postgresql (initdb, pg_ctl)")
    if not missing:
        return
    message = f"the soak test needs {', '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI needs it (see .ci/run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def report() -> Report:
    require_tools()
    result = soak(Options.short())
    print(result.markdown())  # the figures, in the test's output
    return result


def test_soak_loses_no_email_and_sends_no_activation_email_twice(report: Report) -> None:
    assert report.ledger.registered, "the soak registered nobody"
    assert report.audit.lost_emails == 0, report.audit.problems
    assert report.audit.duplicate_activation == 0, report.audit.problems
    assert report.audit.duplicate_reset == 0, report.audit.problems


def test_soak_leaves_no_upload_stuck_and_every_ladder_complete(report: Report) -> None:
    assert [u for u in report.ledger.uploads if u[3] is not None], "no upload was accepted"
    assert report.audit.stuck_uploads == 0, report.audit.problems
    assert report.ledger.killed_video is not None, "no worker was killed mid-transcode"


def test_soak_answers_no_unexpected_500_and_recovers_from_every_fault(report: Report) -> None:
    assert report.audit.unexpected_500 == 0, report.audit.problems
    assert len(report.recorder.windows) == 8
    assert report.audit.problems == []
