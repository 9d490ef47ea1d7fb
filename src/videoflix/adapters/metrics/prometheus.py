"""Prometheus metrics with prometheus-client: what happened (counters, histograms) recorded where it happens, and
what is (queue depth, outbox, videos by status) read from Redis and the database when Prometheus scrapes.

Several Granian worker processes answer behind one port, so a scrape reaches one of them at random. ``videoflix
serve`` therefore runs prometheus-client's multiprocess mode: each process writes its counters to files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per start), and ``/metrics`` adds up the files of every process. That
mode is chosen when prometheus-client is first imported, so it is imported lazily, inside the worker processes,
never in the process that starts them. The SAQ worker is one process and answers on a port of its own.

Labels are bounded: a route is its template (``/api/video/{video_id:int}/{resolution:str}/{name:str}``), never the
raw path; an unknown method is ``other``.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TRANSCODE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
SPEED_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
LOGIN_ROUTE = "/api/login"


@dataclass
class _Metrics:
    http_requests: Any
    http_latency: Any
    transcodes: Any
    transcode_seconds: Any
    transcode_speed: Any
    transcoded_media_seconds: Any
    jobs: Any
    job_seconds: Any
    login_failures: Any
    rate_limited: Any
    upload_bytes: Any


@cache
def _metrics() -> _Metrics:
    from prometheus_client import Counter, Histogram

    return _Metrics(
        http_requests=Counter(
            "videoflix_http_requests_total",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
        ),
        http_latency=Histogram(
            "videoflix_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
        ),
        transcodes=Counter("videoflix_transcodes_total", "Transcodes that ended, by outcome.", ["outcome"]),
        transcode_seconds=Histogram(
            "videoflix_transcode_duration_seconds",
            "Wall time of a transcode (probe to publish).",
            ["outcome"],
            buckets=TRANSCODE_BUCKETS,
        ),
        transcode_speed=Histogram(
            "videoflix_transcode_speed_ratio",
            "Seconds of video transcoded per second of work (realtime factor).",
            buckets=SPEED_BUCKETS,
        ),
        transcoded_media_seconds=Counter(
            "videoflix_transcoded_media_seconds_total", "Seconds of video published by transcodes."
        ),
        jobs=Counter("videoflix_jobs_total", "Background jobs run, by job and outcome.", ["job", "outcome"]),
        job_seconds=Histogram(
            "videoflix_job_duration_seconds", "Run time of a background job.", ["job"], buckets=JOB_BUCKETS
        ),
        login_failures=Counter("videoflix_login_failures_total", "Logins refused (wrong or unknown credentials)."),
        rate_limited=Counter(
            "videoflix_rate_limit_refusals_total", "Requests refused with 429 by a rate limit.", ["route"]
        ),
        upload_bytes=Counter("videoflix_upload_bytes_total", "Bytes received in video uploads."),
    )


# --- recording -------------------------------------------------------------------------------------------------------


class HttpMetrics:
    """The request observer of the HTTP edge. The label children are looked up once per (method, route, status):
    on a request this costs two dictionary lookups and two increments.

    In multiprocess mode an increment writes to a memory-mapped file under a lock (tens of microseconds on a busy
    machine), too much for the hot path: ``batched_routes`` (segments and playlists) are only counted, in a plain
    dictionary, and added to the shared counter at most once per ``FLUSH_SECONDS``; they get no latency histogram."""

    FLUSH_SECONDS = 1.0

    def __init__(self, batched_routes: Iterable[str] = ()) -> None:
        self._batched = frozenset(batched_routes)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pending: dict[tuple[str, str, int], int] = {}
        self._flushed = time.monotonic()
        _observers.add(self)  # a scrape answered by this process flushes its batch first

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        if route in self._batched:
            self._pending[key] = self._pending.get(key, 0) + 1
            now = time.monotonic()
            if now - self._flushed >= self.FLUSH_SECONDS:
                self._flush(now)
            return
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._new_children(method, route, status)
        children[0].inc()
        children[1].observe(seconds)

    def flush(self) -> None:
        self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        pending, self._pending, self._flushed = self._pending, {}, now
        for (method, route, status), count in pending.items():
            label = method if method in METHODS else "other"
            _metrics().http_requests.labels(label, route, str(status)).inc(count)

    def _new_children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        metrics = _metrics()
        label = method if method in METHODS else "other"
        if status == 401 and route == LOGIN_ROUTE:
            metrics.login_failures.inc(0)  # present from the first login on
        counter = metrics.http_requests.labels(label, route, str(status))
        histogram = metrics.http_latency.labels(route)
        if status == 429:
            return _Both(counter, metrics.rate_limited.labels(route)), histogram
        if status == 401 and route == LOGIN_ROUTE:
            return _Both(counter, metrics.login_failures), histogram
        return counter, histogram

    def upload_bytes(self, count: int) -> None:
        _metrics().upload_bytes.inc(count)


_observers: weakref.WeakSet[HttpMetrics] = weakref.WeakSet()


@dataclass
class _Both:
    first: Any
    second: Any

    def inc(self) -> None:
        self.first.inc()
        self.second.inc()


def transcode_finished(outcome: str, seconds: float, media_seconds: float | None) -> None:
    metrics = _metrics()
    metrics.transcodes.labels(outcome).inc()
    metrics.transcode_seconds.labels(outcome).observe(seconds)
    if outcome == "ready" and media_seconds:
        metrics.transcoded_media_seconds.inc(media_seconds)
        if seconds > 0:
            metrics.transcode_speed.observe(media_seconds / seconds)


def job_finished(job: str, outcome: str, seconds: float) -> None:
    metrics = _metrics()
    metrics.jobs.labels(job, outcome).inc()
    metrics.job_seconds.labels(job).observe(seconds)


# --- exposition ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauge:
    """A value read at scrape time: ``samples`` maps a tuple of label values to the value."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    samples: Mapping[tuple[str, ...], float] = field(default_factory=dict)


class _Gauges:
    def __init__(self, gauges: Iterable[Gauge]) -> None:
        self._gauges = list(gauges)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for gauge in self._gauges:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
            for values, value in gauge.samples.items():
                family.add_metric(list(values), value)
            yield family


def _process_registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    _metrics()  # every metric is there from the first scrape on, at zero
    if not os.environ.get(MULTIPROC_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call] # the sum over every process that wrote into the folder
    return registry


def exposition(gauges: Iterable[Gauge] = ()) -> bytes:
    """The Prometheus text format: this process's (or every web process's) metrics, then ``gauges``."""
    from prometheus_client import CollectorRegistry, generate_latest

    for observer in list(_observers):
        observer.flush()
    text = generate_latest(_process_registry())
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Gauges(gauges))
    return text + generate_latest(scraped)


def prepare_multiprocess_dir(folder: Path) -> None:
    """Use ``folder`` for the counters of every process started from now on (``videoflix serve``): created if
    missing, emptied of an earlier run's files, and announced in the environment the worker processes inherit."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for leftover in folder.glob("*.db"):
        leftover.unlink(missing_ok=True)
    os.environ[MULTIPROC_VARIABLE] = str(folder)


def authorized(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


class WorkerMetricsServer:
    """``/metrics`` of the SAQ worker on a port of its own (a thread; the worker's event loop is never blocked).
    With a token, scrapes must send it as a bearer token."""

    def __init__(self, host: str, port: int, token: str = "") -> None:
        from wsgiref.simple_server import make_server

        from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

        self._token = token
        self._server = make_server(host, port, self._app, ThreadingWSGIServer, handler_class=_SilentHandler)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="worker-metrics", daemon=True)

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if self._token and not authorized(environ.get("HTTP_AUTHORIZATION"), self._token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"unauthorized\n"]
        body = exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    def start(self) -> WorkerMetricsServer:
        self._thread.start()
        log.info("worker metrics on http://%s:%s/metrics", *self._server.server_address[:2])
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
