"""The one composition root: settings -> adapters -> services. The app, the worker, the CLI and tests call it.

Entrypoints reach adapters only through this module (tests/unit/test_architecture.py holds them to it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoflix.adapters.db.engine import create_engine, create_session_factory, ping
from videoflix.adapters.db.uow import SqlUnitOfWork
from videoflix.adapters.ffmpeg.binaries import ffmpeg_answers
from videoflix.adapters.metrics import prometheus as metrics
from videoflix.adapters.queue.inprocess import InProcessJobQueue
from videoflix.adapters.security.mailboxes import StrictMailboxValidator
from videoflix.adapters.security.passwords import Argon2PasswordHasher
from videoflix.adapters.security.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from videoflix.adapters.security.revocations import PolledRevokedSessions
from videoflix.adapters.security.tokens import JwtTokenCodec
from videoflix.adapters.storage.filesystem import FilesystemMediaStore
from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.ports import EmailRenderer, Mailer, RevokedSessions, TokenCodec
from videoflix.domain.accounts.service import AccountPolicy, AccountService
from videoflix.domain.catalog.service import CatalogService
from videoflix.domain.jobs import Job
from videoflix.domain.media.model import MediaLimits, TranscodeReport
from videoflix.domain.media.ports import MediaStore, Transcoder
from videoflix.domain.media.service import MediaService
from videoflix.domain.media.streaming import StreamLinks
from videoflix.domain.media.upload_model import UploadPolicy
from videoflix.domain.media.uploads import UploadService
from videoflix.domain.operations.model import HousekeepingPolicy, Overview
from videoflix.domain.operations.service import OperationsService
from videoflix.domain.ports import Clock, JobMonitor, JobQueue, SystemClock
from videoflix.settings import Settings, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from videoflix.adapters.ffmpeg.demo import DemoClip
    from videoflix.adapters.queue.saq_worker import VideoflixWorker

log = logging.getLogger(__name__)
JobHandler = Callable[..., Awaitable[Any]]
ReadinessCheck = Callable[[], Awaitable[None]]


class CheckFailed(Exception):
    """A readiness check's short, safe reason for saying no."""


@dataclass
class Container:
    """Every long-lived object of one process. ``close()`` releases connections, pools and tasks."""

    settings: Settings
    engine: AsyncEngine
    uow: Any
    hasher: Argon2PasswordHasher
    tokens: TokenCodec
    revoked_sessions: RevokedSessions
    store: MediaStore
    transcoder: Transcoder
    mailer: Mailer
    queue: JobQueue
    rate_limiter: RateLimiter
    accounts: AccountService
    email_delivery: EmailDelivery
    media: MediaService
    catalog: CatalogService
    stream_links: StreamLinks
    operations: OperationsService
    clock: Clock
    uploads: UploadService
    redis: Any = None
    _closers: list[Any] = field(default_factory=list)

    async def sweep(self) -> dict[str, int]:
        """Re-ring lost work: undelivered emails and videos whose transcode never ran or whose worker died; remove
        abandoned resumable uploads (finishing those cut off after their last byte); forget session revocations
        whose access tokens have all expired."""
        return {
            "emails": await self.email_delivery.sweep(),
            "videos": await self.media.sweep(),
            "uploads": await self.uploads.sweep(),
            "revocations_forgotten": await self.accounts.forget_expired_revocations(),
        }

    def job_handlers(self) -> dict[Job, JobHandler]:
        """The handler of every job, for both queues: each is a thin call into a domain service."""
        return {
            Job.DELIVER_EMAIL: self.email_delivery.deliver,
            Job.TRANSCODE_VIDEO: self.media.transcode,
            Job.SWEEP: self.sweep,
            Job.HOUSEKEEPING: self.operations.housekeeping,
        }

    async def metrics_text(self) -> bytes:
        """``/metrics``: the counters of every web process, then what is read now: the queue (per job, waiting
        and running), the outbox and the videos by status."""
        overview = await self.operations.overview()
        return metrics.exposition(overview_gauges(overview))

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What a request needs: each check raises when its part is unavailable."""
        checks: dict[str, ReadinessCheck] = {"database": lambda: ping(self.engine)}
        if self.redis is not None:
            redis = self.redis

            async def redis_ping() -> None:
                await redis.ping()

            checks["redis"] = redis_ping

        async def media() -> None:
            problem = await asyncio.to_thread(self.store.check_writable)
            if problem is not None:
                raise CheckFailed(problem)

        async def ffmpeg() -> None:
            answer = await ffmpeg_answers(self.settings.ffmpeg_binary)
            if answer != "ok":
                raise CheckFailed(answer)

        checks["media"] = media
        checks["ffmpeg"] = ffmpeg
        return checks

    async def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing")
        self.hasher.close()
        await self.engine.dispose()


Samples = dict[tuple[str, ...], float]


def _by_status(counts: dict[str, int], always: tuple[str, ...]) -> Samples:
    """Counts by status; the ``always`` ones at zero too, so a dashboard's series never vanish."""
    samples: Samples = {(status,): 0 for status in always}
    samples.update({(status,): count for status, count in counts.items()})
    return samples


def overview_gauges(overview: Overview) -> list[metrics.Gauge]:
    """The scrape-time gauges of ``/metrics``: outbox, videos and queue, read from the database and Redis."""
    queue_up: Samples = {(): 0 if overview.queue_error else 1}
    gauges = [
        metrics.Gauge(
            "videoflix_outbox_emails",
            "Emails in the outbox, by status.",
            ("status",),
            _by_status(overview.emails, ("pending", "failed", "sent")),
        ),
        metrics.Gauge(
            "videoflix_videos",
            "Videos by status (failed: transcodes that need staff).",
            ("status",),
            _by_status(overview.videos, ("queued", "processing", "ready", "failed")),
        ),
        metrics.Gauge("videoflix_queue_up", "1 when the job queue answered this scrape.", (), queue_up),
    ]
    if overview.queue is not None:
        jobs: Samples = {}
        for job, state in overview.queue.jobs.items():
            jobs[(job.value, "queued")] = state.queued
            jobs[(job.value, "running")] = state.running
        gauges.append(metrics.Gauge("videoflix_queue_jobs", "Jobs waiting or running, by job.", ("job", "state"), jobs))
    return gauges


def build_mailer(settings: Settings) -> Mailer:
    if settings.email_host:
        from videoflix.adapters.mail.smtp import SmtpMailer

        return SmtpMailer(
            host=settings.email_host,
            port=settings.email_port,
            username=settings.email_host_user,
            password=settings.email_host_password,
            use_tls=settings.email_use_tls,
            use_ssl=settings.email_use_ssl,
            from_address=settings.default_from_email,
            timeout=settings.email_timeout,
        )
    from videoflix.adapters.mail.file_outbox import FileMailer

    return FileMailer(settings.outbox_dir, from_address=settings.default_from_email)


def media_limits(settings: Settings) -> MediaLimits:
    return MediaLimits(
        max_duration_seconds=settings.max_video_seconds,
        max_frame_pixels=settings.max_video_pixels,
        max_fps=settings.max_video_fps,
        min_bytes_per_second=settings.min_video_bytes_per_second,
        max_transcode_seconds=settings.max_transcode_seconds,
    )


def build_transcoder(settings: Settings) -> Transcoder:
    from videoflix.adapters.ffmpeg.binaries import find_ffmpeg, find_ffprobe
    from videoflix.adapters.ffmpeg.transcoder import FfmpegTranscoder

    return FfmpegTranscoder(find_ffmpeg(settings.ffmpeg_binary), find_ffprobe(settings.ffprobe_binary))


@dataclass
class _JobBackend:
    """Where jobs go and what rate limits are counted in: Redis when configured, else this process."""

    queue: JobQueue
    rate_limiter: RateLimiter
    redis: Any = None
    inprocess: InProcessJobQueue | None = None


def _job_backend(settings: Settings, queue: JobQueue | None, closers: list[Any]) -> _JobBackend:
    """SAQ and a shared rate limiter with ``REDIS_URL``; otherwise jobs run in this process. A ``queue`` given by
    the caller (tests) is used as it is."""
    if settings.redis_url:
        from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue

        redis = create_redis(settings.redis_url)
        if queue is None:
            saq_queue = SaqJobQueue(create_saq_queue(redis))
            queue = saq_queue
            closers.append(saq_queue.close)
        closers.append(redis.aclose)
        return _JobBackend(queue, RedisRateLimiter(redis), redis=redis)
    if queue is not None:
        return _JobBackend(queue, MemoryRateLimiter())
    inprocess = InProcessJobQueue()
    closers.append(inprocess.close)
    return _JobBackend(inprocess, MemoryRateLimiter(), inprocess=inprocess)


def email_renderer(settings: Settings) -> EmailRenderer:
    from videoflix.adapters.mail.templates import TemplateEmailRenderer

    return TemplateEmailRenderer(
        operator_name=settings.operator_name,
        operator_address=settings.operator_address,
        reset_hours=settings.reset_token_hours,
        activation_hours=settings.activation_token_hours,
    )


def account_policy(settings: Settings) -> AccountPolicy:
    return AccountPolicy(
        frontend_url=settings.frontend_url,
        activation_ttl=timedelta(hours=settings.activation_token_hours),
        reset_ttl=timedelta(hours=settings.reset_token_hours),
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        reset_emails_per_hour=settings.password_reset_emails_per_hour,
    )


def upload_policy(settings: Settings) -> UploadPolicy:
    return UploadPolicy(
        max_bytes=settings.max_upload_bytes,
        expiry=timedelta(hours=settings.upload_expiry_hours),
        max_per_user=settings.upload_max_per_user,
        max_bytes_per_user=settings.upload_max_bytes_per_user,
    )


async def bootstrap(
    settings: Settings,
    *,
    mailer: Mailer | None = None,
    transcoder: Transcoder | None = None,
    queue: JobQueue | None = None,
    clock: Clock | None = None,
    run_periodic_sweeps: bool = True,
    serves_http: bool = False,
) -> Container:
    """Wire the process. With ``REDIS_URL`` jobs go to SAQ (run ``videoflix worker``); otherwise they run here.

    A process that ``serves_http`` learns the sessions other processes end by polling the database (S27), from
    now until ``close()``."""
    if not settings.secret_key:  # never sign with an empty key
        raise SettingsError("SECRET_KEY: not set; prepare_data_dir(settings) loads or generates the data folder's key")
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory)

    closers: list[Any] = []
    jobs = _job_backend(settings, queue, closers)
    queue = jobs.queue
    hasher = Argon2PasswordHasher(max_workers=settings.password_hash_workers)
    tokens = JwtTokenCodec(
        settings.secret_key,
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    revoked_sessions = PolledRevokedSessions(uow, clock, export_to=settings.edge_revocation_file)
    store = FilesystemMediaStore(settings.media_root)
    transcoder = transcoder or build_transcoder(settings)
    mailer = mailer or build_mailer(settings)
    accounts = AccountService(
        uow,
        hasher,
        tokens,
        email_renderer(settings),
        queue,
        clock,
        account_policy(settings),
        mailboxes=StrictMailboxValidator(),
        revoked=revoked_sessions,
    )
    delivery = EmailDelivery(uow, mailer, queue, clock)
    catalog = CatalogService(uow, clock)
    media = MediaService(
        uow,
        store,
        transcoder,
        queue,
        clock,
        on_catalog_change=catalog.invalidate,
        on_transcoded=_record_transcode,
        limits=media_limits(settings),
    )
    operations = OperationsService(
        uow,
        store,
        clock,
        housekeeping_policy(settings),
        monitor=queue if isinstance(queue, JobMonitor) else None,
    )
    uploads = UploadService(
        uow,
        store,
        media,
        clock,
        upload_policy(settings),
    )
    container = Container(
        settings=settings,
        engine=engine,
        uow=uow,
        hasher=hasher,
        tokens=tokens,
        revoked_sessions=revoked_sessions,
        stream_links=StreamLinks(
            settings.secret_key, settings.stream_link_lifetime_seconds, settings.stream_link_window_seconds
        ),
        store=store,
        transcoder=transcoder,
        mailer=mailer,
        queue=queue,
        rate_limiter=jobs.rate_limiter,
        accounts=accounts,
        email_delivery=delivery,
        media=media,
        catalog=catalog,
        operations=operations,
        clock=clock,
        uploads=uploads,
        redis=jobs.redis,
        _closers=closers,
    )
    if serves_http:
        await revoked_sessions.start()
        closers.append(revoked_sessions.stop)
    inprocess = jobs.inprocess
    if inprocess is not None:
        inprocess.register(container.job_handlers())
        if run_periodic_sweeps:
            for job, every in periodic_jobs(settings).items():
                inprocess.every(every, job)
            await inprocess.enqueue(Job.SWEEP, key="startup-sweep")
    return container


def periodic_jobs(settings: Settings) -> dict[Job, int]:
    """The jobs rung on a timer, and every how many seconds."""
    return {Job.SWEEP: settings.sweep_interval_seconds, Job.HOUSEKEEPING: settings.housekeeping_interval_seconds}


def housekeeping_policy(settings: Settings) -> HousekeepingPolicy:
    return HousekeepingPolicy(
        sent_email_retention=timedelta(days=settings.sent_email_retention_days),
        expired_token_retention=timedelta(days=settings.expired_token_retention_days),
        stale_upload_age=timedelta(hours=settings.stale_upload_hours),
        stale_staging_age=timedelta(hours=settings.stale_staging_hours),
    )


def _record_transcode(report: TranscodeReport) -> None:
    metrics.transcode_finished(report.outcome, report.seconds, report.media_seconds)


def request_metrics(batched_routes: list[str]) -> metrics.HttpMetrics:
    """The HTTP edge's request observer (Prometheus); ``batched_routes`` (route templates) are only counted, in
    batches, with no latency histogram: the hot path."""
    return metrics.HttpMetrics(batched_routes)


def metrics_authorized(header: str | None, token: str) -> bool:
    return metrics.authorized(header, token)


def prepare_multiprocess_metrics(folder: Path) -> None:
    metrics.prepare_multiprocess_dir(folder)


def start_worker_metrics(settings: Settings) -> metrics.WorkerMetricsServer | None:
    """The SAQ worker's own ``/metrics`` port (``WORKER_METRICS_PORT``), when configured."""
    if settings.worker_metrics_port is None:
        return None
    return metrics.WorkerMetricsServer(
        settings.worker_metrics_host, settings.worker_metrics_port, settings.metrics_token
    ).start()


def tracer_provider(exporter: Any = None) -> Any:
    """The OpenTelemetry tracer provider of this process (``OTEL_ENABLED``); ``exporter`` replaces OTLP (tests)."""
    from importlib.metadata import version

    from videoflix.adapters.tracing.otel import tracer_provider as provider

    return provider("videoflix", version("videoflix"), exporter)


def tracing_available() -> bool:
    """The ``videoflix[otel]`` extra is installed."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp"))


def describe(settings: Settings) -> str:
    """What this process uses, for its startup line: never a password, token or key."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    database = (
        f"SQLite {url.database}" if settings.embedded else f"Postgres {url.host}:{url.port or 5432}/{url.database}"
    )
    if settings.redis_url:
        redis = make_url(settings.redis_url.replace("rediss://", "redis://", 1))
        queue = f"SAQ on Redis {redis.host}:{redis.port or 6379}/{redis.database or 0}"
    else:
        queue = "in-process jobs"
    mailer = (
        f"SMTP {settings.email_host}:{settings.email_port}"
        if settings.email_host
        else f"file outbox {settings.outbox_dir}"
    )
    try:
        from videoflix.adapters.ffmpeg.binaries import find_ffmpeg

        ffmpeg = find_ffmpeg(settings.ffmpeg_binary)
    except FileNotFoundError:
        ffmpeg = "not found"
    return f"database: {database}; queue: {queue}; mail: {mailer}; ffmpeg: {ffmpeg}; media: {settings.media_root}"


def create_worker(settings: Settings, *, concurrency: int = 2, burst: bool = False) -> VideoflixWorker:
    """The SAQ worker process (needs ``REDIS_URL``): every job of ``Job``, handled by its container's handler."""
    from videoflix.adapters.queue.saq_queue import SaqJobQueue
    from videoflix.adapters.queue.saq_worker import create_saq_worker

    if not settings.redis_url:
        raise SystemExit("The worker needs REDIS_URL. Without it, jobs run inside `videoflix serve`.")
    containers: list[Container] = []

    async def startup(queue: SaqJobQueue) -> dict[Job, JobHandler]:
        container = await bootstrap(settings, queue=queue)
        containers.append(container)
        await container.sweep()
        return container.job_handlers()

    async def shutdown() -> None:
        for container in containers:
            await container.close()

    return create_saq_worker(
        settings.redis_url,
        startup=startup,
        shutdown=shutdown,
        concurrency=concurrency,
        burst=burst,
        periodic=periodic_jobs(settings),
    )


async def healthy_workers(settings: Settings, this_host_only: bool = True) -> int:
    """Workers whose heartbeat is in Redis (on this machine, by default): ``videoflix worker-health``."""
    import socket

    from videoflix.adapters.queue.saq_worker import healthy_workers as count

    if not settings.redis_url:
        raise SettingsError("REDIS_URL: not set; without it there is no worker (jobs run inside `videoflix serve`)")
    return await count(settings.redis_url, socket.gethostname() if this_host_only else None)


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (synchronous: Alembic runs its own event loop)."""
    from videoflix.adapters.db.migrate import upgrade

    upgrade(settings.database_url, revision)


def downgrade_database(settings: Settings, revision: str) -> None:
    from videoflix.adapters.db.migrate import downgrade

    downgrade(settings.database_url, revision)


def database_revision(settings: Settings) -> list[str]:
    """Where the schema is (``videoflix db current``)."""
    from videoflix.adapters.db.migrate import current

    return current(settings.database_url)


def migration_history() -> list[str]:
    """Every migration, newest first (``videoflix db history``)."""
    from videoflix.adapters.db.migrate import history

    return history()


def new_migration(settings: Settings, message: str) -> None:
    """For developers: a new revision autogenerated from the models against an up-to-date database."""
    from videoflix.adapters.db.migrate import make_revision

    make_revision(settings.database_url, message)


def demo_clips(count: int) -> list[DemoClip]:
    """``count`` short generated demo videos (titles, categories and the ffmpeg source of each)."""
    from videoflix.adapters.ffmpeg.demo import demo_clips as clips

    return clips(count)


async def make_demo_clip(settings: Settings, clip: DemoClip, out: Path) -> None:
    """Generate one demo clip with ffmpeg; ``RuntimeError`` with ffmpeg's complaint when it cannot."""
    from videoflix.adapters.ffmpeg.binaries import find_ffmpeg
    from videoflix.adapters.ffmpeg.demo import make_demo_clip as make

    try:
        ffmpeg = find_ffmpeg(settings.ffmpeg_binary)
    except FileNotFoundError as error:
        raise RuntimeError(str(error)) from None
    await make(ffmpeg, clip, out)
