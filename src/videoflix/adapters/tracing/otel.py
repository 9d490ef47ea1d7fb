"""An OpenTelemetry tracer provider that exports spans with OTLP over HTTP.

Only imported with ``OTEL_ENABLED=true``, which needs ``pip install 'videoflix[otel]'``. Where the spans go is set
the standard way, with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``),
``OTEL_EXPORTER_OTLP_HEADERS`` and friends, read by the exporter itself.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def tracer_provider(service: str, version: str, exporter: Any = None) -> TracerProvider:
    """Spans of this process, batched to ``exporter`` (default: OTLP over HTTP)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": version}))
    provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter()))
    return provider
