"""Prometheus metrics: ``/metrics`` behind its token, requests by route template (never the raw path), login failures,
rate-limit refusals, uploads, transcodes and jobs, the outbox and the queue read at scrape time; the sum over every
Granian worker of a real server; the worker's own metrics port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings
from tests.e2e.server import Server, process_env
from tests.fakes import FakeTranscoder
from tests.integration.test_http_admin import csrf_headers, login_staff
from videoflix.adapters.db.migrate import upgrade
from videoflix.adapters.metrics.prometheus import WorkerMetricsServer
from videoflix.adapters.queue.jobs import run_job
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.jobs import Job
from videoflix.domain.media.service import VideoDraft
from videoflix.entrypoints.http.app import create_app

TOKEN = "metrics-token-0123456789abcdef"
PASSWORD = "tangerine-rocket-harbour-42"
SEGMENT_ROUTE = "/api/video/{video_id}/{resolution}/{name}"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def metrics_container(tmp_path: Path) -> AsyncIterator[Container]:
    settings = make_settings(tmp_path, METRICS_TOKEN=TOKEN, LOGIN_RATE_LIMIT="3")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, transcoder=FakeTranscoder(), run_periodic_sweeps=False)
    yield container
    await container.close()


@pytest.fixture
async def metrics_client(metrics_container: Container) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(container=metrics_container), base_url=API_BASE) as client:
        client.headers["Origin"] = TEST_ORIGIN
        yield client


async def scrape(client: AsyncTestClient) -> str:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_need_the_token(metrics_client: AsyncTestClient) -> None:
    missing = await metrics_client.get("/metrics")
    assert missing.status_code == 401 and missing.json()["detail"] == "A valid metrics token is needed."
    wrong = await metrics_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "/metrics" not in (await metrics_client.get("/api/schema/openapi.json")).json()["paths"]


async def test_without_a_token_metrics_are_for_this_machine_only(client: AsyncTestClient) -> None:
    refused = await client.get("/metrics")  # the test client is no local address
    assert refused.status_code == 403 and "METRICS_TOKEN" in refused.json()["detail"]


async def test_requests_are_counted_by_route_template_and_status_never_by_raw_path(
    metrics_client: AsyncTestClient,
) -> None:
    before = await scrape(metrics_client)
    await metrics_client.get("/api/health")
    await metrics_client.get("/api/video/7/480p/000.ts")  # no cookie: 401
    await metrics_client.get("/api/no-such-thing-c0ffee/")
    after = await scrape(metrics_client)

    def grew(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return value(after, "videoflix_http_requests_total", **labels) - value(
            before, "videoflix_http_requests_total", **labels
        )

    assert grew("/api/health", "200") == 1
    assert grew(SEGMENT_ROUTE, "401") == 1
    assert grew("unmatched", "404") == 1
    assert "c0ffee" not in after and "/api/video/7" not in after
    assert value(after, "videoflix_http_request_duration_seconds_count", route="/api/health") >= 1
    # The hot path (playlists, segments) is counted in batches, without a latency histogram (bench/streaming.py).
    assert value(after, "videoflix_http_request_duration_seconds_count", route=SEGMENT_ROUTE) == 0


async def test_login_failures_rate_limit_refusals_and_upload_bytes(
    metrics_client: AsyncTestClient, metrics_container: Container
) -> None:
    before = await scrape(metrics_client)
    for _ in range(4):  # LOGIN_RATE_LIMIT=3: three refused logins, then a 429
        await metrics_client.post("/api/login/", json={"email": "nobody@example.com", "password": "wrong-password"})
    after = await scrape(metrics_client)
    assert value(after, "videoflix_login_failures_total") - value(before, "videoflix_login_failures_total") == 3
    refusals = "videoflix_rate_limit_refusals_total"
    assert value(after, refusals, route="/api/login") - value(before, refusals, route="/api/login") == 1

    metrics_container.settings.__dict__["login_rate_limit"] = 1000  # let the staff log in
    await login_staff(metrics_client, metrics_container)
    form = {"title": "T", "description": "", "category": "C"}
    content = b"\x00" * 100_000
    answer = await metrics_client.post(
        "/api/admin/videos/",
        data=form,
        files={"file": ("a.mp4", content, "video/mp4")},
        headers=csrf_headers(metrics_client),
    )
    assert answer.status_code in (202, 400)
    uploaded = value(await scrape(metrics_client), "videoflix_upload_bytes_total") - value(
        after, "videoflix_upload_bytes_total"
    )
    assert uploaded > len(content)  # the file and the rest of the form


async def test_transcodes_jobs_outbox_and_queue_are_in_the_metrics(
    metrics_client: AsyncTestClient, metrics_container: Container, tmp_path: Path
) -> None:
    before = await scrape(metrics_client)
    upload = tmp_path / "clip.mp4"
    upload.write_bytes(b"pretend video")
    with metrics_container.store.incoming() as incoming:
        incoming.write_bytes(upload.read_bytes())
        await metrics_container.media.ingest(incoming, "clip.mp4", VideoDraft("Clip", "", "Drama"))
    await metrics_container.queue.drain(10)  # type: ignore[attr-defined]
    await metrics_container.accounts.register("new@example.com", PASSWORD, PASSWORD)
    after = await scrape(metrics_client)

    assert (
        value(after, "videoflix_transcodes_total", outcome="ready")
        - value(before, "videoflix_transcodes_total", outcome="ready")
        == 1
    )
    assert value(after, "videoflix_transcode_speed_ratio_count") > value(
        before, "videoflix_transcode_speed_ratio_count"
    )
    job = {"job": "transcode_video", "outcome": "ready"}
    assert value(after, "videoflix_jobs_total", **job) - value(before, "videoflix_jobs_total", **job) == 1
    assert value(after, "videoflix_videos", status="ready") == 1
    assert (
        value(after, "videoflix_outbox_emails", status="pending")
        + value(after, "videoflix_outbox_emails", status="sent")
        == 1
    )
    assert value(after, "videoflix_outbox_emails", status="failed") == 0  # present at zero: dashboards need it
    assert value(after, "videoflix_queue_up") == 1
    assert ("videoflix_queue_jobs", (("job", "deliver_email"), ("state", "queued"))) in samples(after)


def health_counts_per_process(folder: Path) -> list[float]:
    """``GET /api/health`` answers counted by each process, from its own file in the multiprocess folder."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts = []
    for file in sorted(folder.glob("counter_*.db")):
        merged = MultiProcessCollector.merge([str(file)], accumulate=False)
        counts.append(
            sum(
                sample.value
                for metric in merged
                for sample in metric.samples
                if sample.name == "videoflix_http_requests_total" and sample.labels.get("route") == "/api/health"
            )
        )
    return counts


def test_one_scrape_counts_the_requests_of_every_granian_worker(tmp_path: Path) -> None:
    """Two worker processes behind one port: every scrape, whichever process answers it, sums both."""
    folder = tmp_path / "metrics"
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256-0123456789",
        DEBUG="true",
        LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(folder),  # chosen here only to see which processes wrote counters
    )
    server = Server(env, tmp_path / "server.log", workers=2)
    sent = 0
    try:
        server.wait_ready(60)
        # New connections until both processes have answered some (the kernel spreads them), at least 20.
        while sent < 20 or len([count for count in health_counts_per_process(folder) if count]) < 2:
            assert sent < 500, "one process answered every request"
            httpx.get(server.url + "/api/health", timeout=10)
            sent += 1
        counts = set()
        for _ in range(6):
            text = httpx.get(server.url + "/metrics", timeout=10).text  # from 127.0.0.1: no token needed
            counts.add(value(text, "videoflix_http_requests_total", method="GET", route="/api/health", status="200"))
    finally:
        server.stop()
    assert counts == {float(sent)}, server.log()[-2000:]


async def test_the_worker_serves_its_own_metrics_behind_the_token() -> None:
    await run_job(Job.SWEEP, "periodic:sweep", _sweep, {})
    server = WorkerMetricsServer("127.0.0.1", 0, token=TOKEN).start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 401
            answer = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert (await http.get(f"http://127.0.0.1:{server.port}/other")).status_code == 404
    finally:
        server.stop()
    assert answer.status_code == 200
    assert value(answer.text, "videoflix_jobs_total", job="sweep", outcome="done") >= 1
    assert "videoflix_outbox_emails" not in answer.text  # read by the web's /metrics only: never counted twice


async def _sweep() -> dict[str, int]:
    return {"emails": 0, "videos": 0}
