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
from videoflix.adapters.queue.inprocess import InProcessJobQueue
from videoflix.adapters.security.passwords import Argon2PasswordHasher
from videoflix.adapters.security.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from videoflix.adapters.security.tokens import JwtTokenCodec
from videoflix.adapters.storage.filesystem import FilesystemMediaStore
from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.ports import Mailer, TokenCodec
from videoflix.domain.accounts.service import AccountPolicy, AccountService
from videoflix.domain.catalog.service import CatalogService
from videoflix.domain.jobs import Job
from videoflix.domain.media.ports import MediaStore, Transcoder
from videoflix.domain.media.service import MediaService
from videoflix.domain.media.upload_model import UploadPolicy
from videoflix.domain.media.uploads import UploadService
from videoflix.domain.ports import Clock, JobQueue, SystemClock
from videoflix.settings import Settings, SettingsError

if TYPE_CHECKING:
    from saq import Worker
    from sqlalchemy.ext.asyncio import AsyncEngine

    from videoflix.adapters.ffmpeg.demo import DemoClip
    from videoflix.adapters.queue.saq_worker import WorkerContext

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
    store: MediaStore
    transcoder: Transcoder
    mailer: Mailer
    queue: JobQueue
    rate_limiter: RateLimiter
    accounts: AccountService
    email_delivery: EmailDelivery
    media: MediaService
    catalog: CatalogService
    clock: Clock
    uploads: UploadService
    redis: Any = None
    _closers: list[Any] = field(default_factory=list)

    async def sweep(self) -> dict[str, int]:
        """Re-ring lost work: undelivered emails and videos whose transcode never ran or whose worker died; and
        remove abandoned resumable uploads (finishing those cut off after their last byte)."""
        return {
            "emails": await self.email_delivery.sweep(),
            "videos": await self.media.sweep(),
            "uploads": await self.uploads.sweep(),
        }

    def job_handlers(self) -> dict[Job, JobHandler]:
        """The handler of every job, for both queues: each is a thin call into a domain service."""
        return {
            Job.DELIVER_EMAIL: self.email_delivery.deliver,
            Job.TRANSCODE_VIDEO: self.media.transcode,
            Job.SWEEP: self.sweep,
        }

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


def build_transcoder(settings: Settings) -> Transcoder:
    from videoflix.adapters.ffmpeg.binaries import find_ffmpeg, find_ffprobe
    from videoflix.adapters.ffmpeg.transcoder import FfmpegTranscoder

    return FfmpegTranscoder(find_ffmpeg(settings.ffmpeg_binary), find_ffprobe(settings.ffprobe_binary))


async def bootstrap(
    settings: Settings,
    *,
    mailer: Mailer | None = None,
    transcoder: Transcoder | None = None,
    queue: JobQueue | None = None,
    clock: Clock | None = None,
    run_periodic_sweeps: bool = True,
) -> Container:
    """Wire the process. With ``REDIS_URL`` jobs go to SAQ (run ``videoflix worker``); otherwise they run here."""
    from videoflix.adapters.mail.templates import TemplateEmailRenderer

    if not settings.secret_key:  # never sign with an empty key
        raise SettingsError("SECRET_KEY: not set; prepare_data_dir(settings) loads or generates the data folder's key")
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory)

    closers: list[Any] = []
    redis = None
    rate_limiter: RateLimiter = MemoryRateLimiter()
    inprocess: InProcessJobQueue | None = None
    if settings.redis_url:
        from videoflix.adapters.queue.saq_queue import SaqJobQueue, create_redis, create_saq_queue

        redis = create_redis(settings.redis_url)
        rate_limiter = RedisRateLimiter(redis)
        if queue is None:
            saq_queue = SaqJobQueue(create_saq_queue(redis))
            queue = saq_queue
            closers.append(saq_queue.close)
        closers.append(redis.aclose)
    elif queue is None:
        inprocess = InProcessJobQueue()
        queue = inprocess
        closers.append(inprocess.close)

    hasher = Argon2PasswordHasher(max_workers=settings.password_hash_workers)
    tokens = JwtTokenCodec(
        settings.secret_key,
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    renderer = TemplateEmailRenderer(
        operator_name=settings.operator_name,
        operator_address=settings.operator_address,
        reset_hours=settings.reset_token_hours,
        activation_hours=settings.activation_token_hours,
    )
    store = FilesystemMediaStore(settings.media_root)
    transcoder = transcoder or build_transcoder(settings)
    mailer = mailer or build_mailer(settings)
    accounts = AccountService(
        uow,
        hasher,
        tokens,
        renderer,
        queue,
        clock,
        AccountPolicy(
            frontend_url=settings.frontend_url,
            activation_ttl=timedelta(hours=settings.activation_token_hours),
            reset_ttl=timedelta(hours=settings.reset_token_hours),
        ),
    )
    delivery = EmailDelivery(uow, mailer, queue, clock)
    catalog = CatalogService(uow, clock)
    media = MediaService(uow, store, transcoder, queue, clock, on_catalog_change=catalog.invalidate)
    uploads = UploadService(
        uow,
        store,
        media,
        clock,
        UploadPolicy(
            max_bytes=settings.max_upload_bytes,
            expiry=timedelta(hours=settings.upload_expiry_hours),
            max_per_user=settings.upload_max_per_user,
            max_bytes_per_user=settings.upload_max_bytes_per_user,
        ),
    )
    container = Container(
        settings=settings,
        engine=engine,
        uow=uow,
        hasher=hasher,
        tokens=tokens,
        store=store,
        transcoder=transcoder,
        mailer=mailer,
        queue=queue,
        rate_limiter=rate_limiter,
        accounts=accounts,
        email_delivery=delivery,
        media=media,
        catalog=catalog,
        clock=clock,
        uploads=uploads,
        redis=redis,
        _closers=closers,
    )
    if inprocess is not None:
        inprocess.register(container.job_handlers())
        if run_periodic_sweeps:
            inprocess.every(settings.sweep_interval_seconds, Job.SWEEP)
            await inprocess.enqueue(Job.SWEEP, key="startup-sweep")
    return container


def create_worker(settings: Settings, *, concurrency: int = 2, burst: bool = False) -> Worker[WorkerContext]:
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
        sweep_every=settings.sweep_interval_seconds,
    )


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (synchronous: Alembic runs its own event loop)."""
    from videoflix.adapters.db.migrate import upgrade

    upgrade(settings.database_url, revision)


def downgrade_database(settings: Settings, revision: str) -> None:
    from videoflix.adapters.db.migrate import downgrade

    downgrade(settings.database_url, revision)


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
