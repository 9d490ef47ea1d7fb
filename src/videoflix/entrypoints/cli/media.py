"""Media commands: ``videoflix hls regenerate``, ``videoflix videos import`` and ``videoflix demo``.

A CLI process has no worker of its own: it runs the pipeline right here, with a progress bar, and never
rings the job queue for work it does itself (rings are dropped; the sweep of ``serve`` or of the worker
picks up anything left queued).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from videoflix.domain.jobs import Job
from videoflix.domain.media.model import TranscodeOutcome, VideoStatus
from videoflix.entrypoints.cli.exits import NotFoundError
from videoflix.entrypoints.startup import prepared_settings

if TYPE_CHECKING:
    from videoflix.bootstrap import Container
    from videoflix.domain.media.model import Video
    from videoflix.domain.ports import JobQueue
    from videoflix.settings import Settings

DEMO_EMAIL = "demo@videoflix.example"  # a real domain: .local is not one (S28)
DEMO_PASSWORD = "popcorn-and-playlists"
PLAIN_PROGRESS_STEP = 10  # percent between two plain progress lines (no terminal: cron, CI, ssh without a tty)
PLAIN_PROGRESS_SECONDS = 10.0  # ... or this long, whichever comes first


class _DroppedRings:
    """The CLI's job queue: it runs the pipeline itself, so a ring would only start a second copy of it.
    Returning False means "not delivered": whatever stays queued is rung again by the next sweep."""

    async def enqueue(self, job: Job, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
        return False

    async def cancel(self, job: Job, *, key: str) -> bool:
        return False  # it rang nothing; a job of the server or a worker is theirs to stop


async def _container(settings: Settings, queue: JobQueue | None) -> Container:
    """``queue=None``: the configured queue (SAQ with REDIS_URL), for work handed to the worker."""
    from videoflix.bootstrap import bootstrap

    if queue is None and not settings.redis_url:
        queue = _DroppedRings()  # never the in-process queue: this process ends before its jobs would
    return await bootstrap(settings, queue=queue, run_periodic_sweeps=False)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[float], Awaitable[None]]]:
    """A 0-100 progress bar on stderr and the async callback the media service feeds it. Without a terminal (cron,
    CI, ssh without a tty) a bar would print nothing until the end: plain lines with the percentage instead."""
    if not sys.stderr.isatty():
        with _plain_progress(label) as on_progress:
            yield on_progress
        return
    with click.progressbar(length=100, label=label, file=sys.stderr, show_eta=False) as bar:
        shown = 0

        async def on_progress(percent: float) -> None:
            nonlocal shown
            step = min(100, int(percent)) - shown
            if step > 0:
                shown += step
                bar.update(step)

        yield on_progress


@contextmanager
def _plain_progress(label: str) -> Iterator[Callable[[float], Awaitable[None]]]:
    """``<label>: 40%`` lines on stderr, every 10 percent or every 10 seconds, whichever comes first."""
    shown, shown_at = -1, time.monotonic()

    async def on_progress(percent: float) -> None:
        nonlocal shown, shown_at
        now, whole = time.monotonic(), min(100, int(percent))
        if whole >= shown + PLAIN_PROGRESS_STEP or (whole > shown and now - shown_at >= PLAIN_PROGRESS_SECONDS):
            click.echo(f"{label}: {whole}%", err=True)
            shown, shown_at = whole, now

    yield on_progress


def _label(video: Video) -> str:
    title = video.title if len(video.title) <= 40 else video.title[:39] + "…"
    return f"video {video.id} {title!r}"


def _describe(video: Video) -> str:
    if video.status is VideoStatus.READY:
        rungs = ", ".join(r.name for r in video.renditions) or "no renditions"
        duration = f", {video.duration:.1f} s" if video.duration else ""
        return f"ready ({rungs}{duration})"
    if video.failure_reason:
        return f"{video.status.value}: {video.failure_reason}"
    return video.status.value


async def _transcode_now(container: Container, video: Video) -> Video:
    """Run the pipeline for a freshly ingested video in this process; the video as it ended."""
    assert video.id is not None
    with _progress(_label(video)) as on_progress:
        await container.media.transcode(video.id, on_progress=on_progress)
    return await container.media.get(video.id)


# --- videoflix hls regenerate ----------------------------------------------------------------------------


@click.group()
def hls() -> None:
    """HLS renditions of the videos."""


@hls.command("regenerate")
@click.option("--video-id", type=int, default=None, help="Only this video (default: every video).")
@click.option("--overwrite", is_flag=True, help="Rebuild complete ladders too (default: skip them).")
def regenerate(video_id: int | None, overwrite: bool) -> None:
    """(Re)build the HLS ladder of one or every video.

    Complete videos (ready, every rendition on disk and as long as the source) are skipped unless
    --overwrite. The new ladder replaces the old one only once it is complete: viewers never see a gap.
    Exits 1 if any video failed, 3 if --video-id does not exist.
    """
    settings = prepared_settings()
    counts = asyncio.run(_regenerate(settings, video_id, overwrite))
    click.echo(f"{counts['ready']} ready, {counts['skipped']} skipped, {counts['failed']} failed")
    if counts["failed"]:
        sys.exit(1)


async def _regenerate(settings: Settings, video_id: int | None, overwrite: bool) -> Counter[str]:
    from videoflix.domain.errors import NotFound

    container = await _container(settings, _DroppedRings())
    counts: Counter[str] = Counter(ready=0, skipped=0, failed=0)
    try:
        if video_id is not None:
            try:
                videos = [await container.media.get(video_id)]
            except NotFound:
                raise NotFoundError(f"There is no video with id {video_id}.") from None
        else:
            videos = sorted(await container.media.list_all(), key=lambda v: v.id or 0)
        if not videos:
            click.echo("No videos yet: add one with `videoflix videos import` or `videoflix demo`.")
        for video in videos:
            counts[await _regenerate_one(container, video, overwrite)] += 1
    finally:
        await container.close()
    return counts


async def _regenerate_one(container: Container, video: Video, overwrite: bool) -> str:
    from videoflix.domain.errors import NotFound

    assert video.id is not None
    if not overwrite and container.media.is_complete(video):
        click.echo(f"{_label(video)}: complete, skipped")
        return "skipped"
    try:
        with _progress(_label(video)) as on_progress:
            outcome = await container.media.regenerate(video.id, overwrite=overwrite, on_progress=on_progress)
    except NotFound:
        click.echo(f"{_label(video)}: deleted meanwhile, skipped")
        return "skipped"
    except Exception as error:  # not the source's fault (disk full, ffmpeg missing): left queued for a retry
        click.echo(f"{_label(video)}: failed: {type(error).__name__}: {error}", err=True)
        return "failed"
    if outcome in (TranscodeOutcome.BUSY, TranscodeOutcome.SKIPPED):
        click.echo(f"{_label(video)}: being transcoded by another process, skipped")
        return "skipped"
    try:
        ended = await container.media.get(video.id)
    except NotFound:
        return "skipped"
    if outcome is TranscodeOutcome.FAILED:
        click.echo(f"{_label(video)}: failed: {ended.failure_reason or 'unknown reason'}", err=True)
        return "failed"
    click.echo(f"{_label(video)}: {_describe(ended)}")
    return "ready"


# --- videoflix videos import -----------------------------------------------------------------------------


@click.group()
def videos() -> None:
    """Videos of the catalog."""


@videos.command("list")
@click.option(
    "--status",
    type=click.Choice([status.value for status in VideoStatus]),
    default=None,
    help="Only videos in this state.",
)
def list_videos(status: str | None) -> None:
    """Every video (newest first) with its state, progress or failure reason."""
    settings = prepared_settings()

    async def run() -> list[Video]:
        container = await _container(settings, _DroppedRings())
        try:
            return await container.media.list_all()
        finally:
            await container.close()

    chosen = [video for video in asyncio.run(run()) if status is None or video.status.value == status]
    for video in chosen:
        progress = f" {video.progress:.0f}%" if video.status is VideoStatus.PROCESSING else ""
        click.echo(f"{video.id}\t{video.status.value}{progress}\t{video.category}\t{video.title}\t{_describe(video)}")
    if not chosen:
        click.echo("no videos" + (f" in state {status}" if status else ""), err=True)


@videos.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--title", required=True, help="Title shown in the catalog.")
@click.option("--category", required=True, help="Category (genre), created if new.")
@click.option("--description", default="", help="Description shown in the catalog.")
@click.option(
    "--thumbnail",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    default=None,
    help="Poster image (any format ffmpeg reads); default: a frame of the video.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Only queue the transcode: the worker (or `videoflix serve` on the embedded default) runs it.",
)
def import_video(
    path: Path, title: str, category: str, description: str, thumbnail: Path | None, no_wait: bool
) -> None:
    """Add a video from a file. The file is copied, never moved or changed.

    The content is probed first (not the file name); then the HLS ladder is built right here with a progress
    bar, unless --no-wait. Exits 1 when the file is not a usable video or the transcode failed.
    """
    settings = prepared_settings()
    asyncio.run(_import(settings, path, title, category, description, thumbnail, no_wait))


async def _import(
    settings: Settings,
    path: Path,
    title: str,
    category: str,
    description: str,
    thumbnail: Path | None,
    no_wait: bool,
) -> None:
    from videoflix.domain.errors import InvalidInput
    from videoflix.domain.media.service import VideoDraft

    container = await _container(settings, None if no_wait else _DroppedRings())
    try:
        with ExitStack() as incoming:  # the copies; whatever ingest did not take over is removed
            upload = incoming.enter_context(container.store.incoming())
            await asyncio.to_thread(shutil.copyfile, path, upload)
            poster = None
            if thumbnail is not None:
                poster = incoming.enter_context(container.store.incoming())
                await asyncio.to_thread(shutil.copyfile, thumbnail, poster)
            try:
                video = await container.media.ingest(
                    upload, path.name, VideoDraft(title, description, category), poster
                )
            except InvalidInput as error:
                raise click.ClickException(f"{path.name}: {error.message}") from None
        click.echo(f"imported video {video.id}: {video.title!r} ({video.category})")
        if no_wait:
            where = "the worker" if settings.redis_url else "`videoflix serve` (its sweep)"
            click.echo(f"video {video.id}: queued; {where} transcodes it")
            return
        ended = await _transcode_now(container, video)
        click.echo(f"video {ended.id}: {_describe(ended)}")
        if ended.status is not VideoStatus.READY:
            raise click.ClickException(f"video {ended.id} {_describe(ended)}")
    finally:
        await container.close()


# --- videoflix demo --------------------------------------------------------------------------------------


@click.command()
@click.option("--videos", "count", default=6, show_default=True, type=click.IntRange(0, 100), help="Videos to add.")
@click.option("--email", default=DEMO_EMAIL, show_default=True, help="Email of the demo viewer account.")
@click.option("--password", default=DEMO_PASSWORD, show_default=True, help="Password of the demo viewer account.")
def demo(count: int, email: str, password: str) -> None:
    """Create a demo viewer account and short generated videos in several categories.

    Safe to run again: the account is reused (activated, password set to the one given) and videos whose
    title already exists are not added twice. Videos are transcoded right here, with progress bars.
    """
    settings = prepared_settings()
    asyncio.run(_demo(settings, count, email, password))


async def _demo(settings: Settings, count: int, email: str, password: str) -> None:
    from videoflix.bootstrap import demo_clips, make_demo_clip
    from videoflix.domain.media.service import VideoDraft

    container = await _container(settings, _DroppedRings())
    failed: list[str] = []
    added: list[Video] = []
    try:
        account = await _ensure_viewer(container, email, password)
        existing = {video.title for video in await container.media.list_all()}
        for clip in demo_clips(count):
            if clip.title in existing:
                click.echo(f"{clip.title!r}: already there, skipped")
                continue
            try:
                with container.store.incoming() as source:
                    await make_demo_clip(settings, clip, source)
                    video = await container.media.ingest(
                        source,
                        f"{clip.title.lower().replace(' ', '-')}.mp4",
                        VideoDraft(clip.title, clip.description, clip.category),
                    )
            except Exception as error:
                failed.append(f"{clip.title}: {error}")
                click.echo(f"{clip.title!r}: failed: {error}", err=True)
                continue
            ended = await _transcode_now(container, video)
            click.echo(f"video {ended.id} {ended.title!r} [{ended.category}]: {_describe(ended)}")
            if ended.status is VideoStatus.READY:
                added.append(ended)
            else:
                failed.append(f"{ended.title}: {_describe(ended)}")
    finally:
        await container.close()
    categories = ", ".join(sorted({video.category for video in added})) or "none"
    noun = "video" if len(added) == 1 else "videos"
    click.echo(f"Demo: {len(added)} {noun} added (categories: {categories}), {len(failed)} failed.")
    click.echo(f"Demo viewer account ({account}):")
    click.echo(f"  email:    {email.strip().lower()}")
    click.echo(f"  password: {password}")
    if failed:
        raise click.ClickException("some demo videos failed: " + "; ".join(failed))


async def _ensure_viewer(container: Container, email: str, password: str) -> str:
    """An active, non-staff account that logs in with ``password``: created, or re-activated and re-passworded."""
    from videoflix.domain.errors import Conflict, InvalidInput

    try:
        _, outcome = await container.accounts.ensure_account(email, password, staff=False)
    except InvalidInput:
        raise click.ClickException(
            "Use a valid email and a password of at least 8 characters that is not common."
        ) from None
    except Conflict:
        raise click.ClickException(f"{email} is a staff account: choose another --email for the demo viewer.") from None
    return outcome
