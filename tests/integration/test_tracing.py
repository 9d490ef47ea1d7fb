"""OpenTelemetry traces, off by default, on with OTEL_ENABLED (the ``videoflix[otel]`` extra): a span per request,
named by its route template, ending in the exporter."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import API_BASE, make_settings
from videoflix.bootstrap import Container, tracer_provider
from videoflix.entrypoints.http.app import create_app


async def test_requests_are_traced_when_enabled(container: Container, tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider(exporter)
    settings = make_settings(tmp_path, OTEL_ENABLED="true")
    container.settings = settings
    async with AsyncTestClient(create_app(container=container, tracer_provider=provider), base_url=API_BASE) as client:
        assert (await client.get("/api/health")).status_code == 200
        assert (await client.get("/api/video/3/480p/000.ts")).status_code == 401
        await client.get("/api/activate/MQ/secret-activation-token/")
    provider.force_flush()
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"GET /api/health", "GET /api/video/{video_id}/{resolution}/{name}"} <= names, names
    assert not any("/api/video/3" in name for name in names), names  # route templates, never the raw path
    assert "secret-activation-token" not in repr([(span.name, dict(span.attributes or {})) for span in spans])  # S25


async def test_tracing_is_off_by_default(client: AsyncTestClient) -> None:
    from litestar.plugins.opentelemetry import OpenTelemetryPlugin

    assert not any(isinstance(plugin, OpenTelemetryPlugin) for plugin in client.app.plugins)
