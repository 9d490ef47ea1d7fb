"""The ``Transcoder`` port on top of the ffmpeg command line."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

from videoflix.adapters.ffmpeg import commands, playlist, probing
from videoflix.adapters.ffmpeg.process import error_summary, run
from videoflix.domain.media.model import MediaError, PlannedRung, ProbeResult, Rendition
from videoflix.domain.media.ports import ProgressCallback

MASTER = "index.m3u8"


class ProgressReporter:
    """Turns ``-progress`` lines into percentages: clamped to 0-100, monotonic, about once per interval."""

    def __init__(self, duration: float, on_progress: ProgressCallback, interval: float = 1.0) -> None:
        self._total_us = max(duration, 0.001) * 1_000_000
        self._on_progress = on_progress
        self._interval = interval
        self._sent = 0.0
        self._sent_at = float("-inf")

    async def line(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        # out_time_ms is microseconds too (a long-standing ffmpeg misnomer)
        if key not in ("out_time_us", "out_time_ms") or not value.lstrip("-").isdigit():
            return
        percent = min(100.0, max(0.0, int(value) / self._total_us * 100))
        if percent > self._sent and time.monotonic() - self._sent_at >= self._interval:
            await self._send(percent)

    async def finish(self) -> None:
        if self._sent < 100:
            await self._send(100.0)

    async def _send(self, percent: float) -> None:
        self._sent, self._sent_at = percent, time.monotonic()
        await self._on_progress(percent)


class FfmpegTranscoder:
    """Probe, HLS ladder and thumbnail with one ffmpeg child process each, never through a shell."""

    def __init__(self, ffmpeg: str, ffprobe: str | None, threads: int = 0) -> None:
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.threads = threads
        self._filters: frozenset[str] | None = None

    async def probe(self, source: Path) -> ProbeResult:
        size = await asyncio.to_thread(_source_size, source)
        if self.ffprobe:
            return await self._probe_with_ffprobe(source, size)
        return await self._probe_with_ffmpeg(source, size)

    async def _probe_with_ffprobe(self, source: Path, size: int) -> ProbeResult:
        assert self.ffprobe is not None
        done = await run(commands.probe_args(self.ffprobe, source), capture_stdout=True)
        if done.returncode != 0:
            raise probing.refused_format(done.stderr) or probing.not_readable(
                error_summary(done.stderr, str(source), lines=1)
            )
        try:
            data = json.loads(done.stdout)
        except ValueError as exc:
            raise probing.not_readable("ffprobe printed no readable report") from exc
        return probing.from_ffprobe(data, size)

    async def _probe_with_ffmpeg(self, source: Path, size: int) -> ProbeResult:
        # ffmpeg without an output exits 1 by design; the stream listing on stderr is what we want
        done = await run(commands.listing_args(self.ffmpeg, source), stderr_lines=2000)
        return probing.from_ffmpeg_stderr("\n".join(done.stderr), size, str(source))

    async def build_ladder(
        self,
        source: Path,
        probe: ProbeResult,
        rungs: list[PlannedRung],
        out_dir: Path,
        on_progress: ProgressCallback,
    ) -> list[Rendition]:
        if not rungs:
            raise MediaError("nothing to encode: no rungs planned")
        await asyncio.to_thread(_make_dirs, out_dir, [rung.name for rung in rungs])
        can_tonemap = probe.is_hdr and await self.can_tonemap()
        args = commands.ladder_args(
            self.ffmpeg, source, probe, rungs, out_dir, can_tonemap=can_tonemap, threads=self.threads
        )
        progress = ProgressReporter(probe.duration, on_progress)
        done = await run(args, on_stdout_line=progress.line)
        if done.returncode != 0:
            raise MediaError(f"ffmpeg failed: {error_summary(done.stderr, str(source))}")
        renditions = await asyncio.to_thread(_finish_outputs, out_dir, rungs, probe.has_audio)
        await progress.finish()
        return renditions

    async def thumbnail(self, source: Path, probe: ProbeResult, out_path: Path, at: float | None = None) -> None:
        hdr_filter = commands.hdr_chain(probe, probe.is_hdr and await self.can_tonemap())
        try:
            if at is not None:
                # The time staff picked. Past the start of the last frame a seek finds nothing: one second earlier.
                failure = await self._grab_frame(
                    source, commands.source_input(probe, source, seek=max(0.0, at)), out_path, hdr_filter
                )
                if failure is not None and at > 0:
                    failure = await self._grab_frame(
                        source, commands.source_input(probe, source, seek=max(0.0, at - 1)), out_path, hdr_filter
                    )
            else:
                # a third of the way in, because frame 0 is often black; the first frame if that seek found nothing
                seek = probe.duration / 3 if probe.duration > 0 else None
                failure = await self._grab_frame(
                    source, commands.source_input(probe, source, seek=seek), out_path, hdr_filter
                )
                if failure is not None and seek is not None:
                    failure = await self._grab_frame(source, commands.source_input(probe, source), out_path, hdr_filter)
        except MediaError as error:
            raise MediaError(f"could not extract a thumbnail: {error.reason}") from error
        if failure is not None:
            raise MediaError(f"could not extract a thumbnail: {error_summary(failure, str(source))}")

    async def still_image(self, source: Path, out_path: Path) -> None:
        # Re-encoding (rather than storing the upload) checks the content, strips metadata and makes every
        # thumbnail a JPEG of a sane size, whatever was uploaded.
        failure = await self._grab_frame(source, commands.image_input(source), out_path, "")
        if failure is not None:
            raise MediaError(f"not an image: {error_summary(failure, str(source))}")

    async def _grab_frame(
        self, source: Path, source_input: list[str], out_path: Path, hdr_filter: str
    ) -> list[str] | None:
        """Write one frame of ``source`` (opened by ``source_input``); ``None`` on success, else ffmpeg's stderr."""
        await asyncio.to_thread(out_path.unlink, missing_ok=True)
        args = commands.thumbnail_args(self.ffmpeg, source_input, out_path, hdr_filter=hdr_filter)
        done = await run(args)
        if done.returncode == 0 and await asyncio.to_thread(_non_empty, out_path):
            return None
        return done.stderr or ["ffmpeg wrote no image"]

    async def can_tonemap(self) -> bool:
        """Whether this ffmpeg build has the filters for HDR -> SDR (zscale comes with libzimg)."""
        filters = await self.filters()
        return {"zscale", "tonemap"} <= filters

    async def filters(self) -> frozenset[str]:
        if self._filters is None:
            done = await run([self.ffmpeg, "-hide_banner", "-filters"], capture_stdout=True)
            text = done.stdout.decode("utf-8", "replace")
            # rows look like " TSC zscale   V->V   description" (flag columns differ between versions)
            self._filters = frozenset(re.findall(r"^\s*[A-Z.|]{2,4}\s+(\w+)\s+\S+->\S+", text, re.MULTILINE))
        return self._filters


def _source_size(source: Path) -> int:
    if not source.is_file():
        raise MediaError("the source file is missing")
    size = source.stat().st_size
    if size == 0:
        raise MediaError("empty file: the upload contains no data")
    return size


def _make_dirs(out_dir: Path, names: list[str]) -> None:
    for name in names:
        (out_dir / name).mkdir(parents=True, exist_ok=True)


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _finish_outputs(out_dir: Path, rungs: list[PlannedRung], has_audio: bool) -> list[Rendition]:
    """Check every rung has a playlist, then replace ffmpeg's master with a complete, sorted one."""
    for rung in rungs:
        media_playlist = out_dir / rung.name / "index.m3u8"
        if not media_playlist.is_file():
            raise MediaError(f"ffmpeg wrote no playlist for {rung.name}")
        text = media_playlist.read_text(encoding="utf-8")
        fixed = playlist.with_valid_target_duration(text)
        if fixed != text:
            playlist.write_atomically(media_playlist, fixed)
    master = out_dir / MASTER
    ffmpeg_master = master.read_text(encoding="utf-8") if master.is_file() else None
    renditions = playlist.renditions_from(rungs, ffmpeg_master, has_audio)
    text = playlist.render_master(renditions, playlist.master_version(ffmpeg_master))
    playlist.write_atomically(master, text)
    return renditions
