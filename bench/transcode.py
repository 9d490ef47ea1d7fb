"""The transcode row of docs/performance.md: our one-process ladder against (a) three separate ffmpeg runs with the
same encoder settings and (b) the Django original's three runs, on the same 30 s noisy 1080p30 source, in one
run, alternating the order. Reports wall and CPU time ratios and the SSIM of every rung against the source
scaled alike. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/transcode.py [--seconds 30] [--repeat 2] [--workdir DIR] [--no-doc]

Not a test: nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, stamp, write_section
from videoflix.adapters.ffmpeg import commands
from videoflix.adapters.ffmpeg.binaries import find_ffmpeg, find_ffprobe
from videoflix.adapters.ffmpeg.transcoder import FfmpegTranscoder
from videoflix.domain.media.model import PlannedRung, ProbeResult, plan_ladder

FFMPEG = find_ffmpeg(None)
METHODS = ("ladder", "separate", "django")
LABELS = {
    "ladder": "one process, all rungs (ours)",
    "separate": "(a) three runs, same settings",
    "django": "(b) Django original, three runs",
}


@dataclass
class Timing:
    wall: float
    cpu: float  # user + system of the ffmpeg children


@dataclass
class Results:
    times: dict[str, list[Timing]] = field(default_factory=lambda: {m: [] for m in METHODS})
    ssim: dict[str, dict[str, float]] = field(default_factory=dict)
    kbps: dict[str, dict[str, float]] = field(default_factory=dict)


def run(args: list[str]) -> Timing:
    """Run one command to completion; its wall time and the CPU time it (and its children) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


SOURCE_KBPS = 20_000  # about what a phone records 1080p30 at; the noise would otherwise take ~150 Mbit/s


def source_args(seconds: int, out: str) -> list[str]:
    return [
        FFMPEG, "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-vf", "noise=alls=20:allf=t", "-c:v", "libx264", "-preset", "veryfast",
        "-b:v", f"{SOURCE_KBPS}k", "-maxrate", f"{SOURCE_KBPS}k", "-bufsize", f"{2 * SOURCE_KBPS}k",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-ac", "2", "-movflags", "+faststart", out,
    ]  # fmt: skip


def make_source(path: Path, seconds: int) -> Path:
    """1080p30 test pattern with temporal film-grain noise (costs as much to encode as real footage)."""
    run(source_args(seconds, str(path)))
    return path


def ladder_command(source: Path, probe: ProbeResult, rungs: list[PlannedRung], out: Path) -> list[str]:
    """The production command, from the adapter itself."""
    for rung in rungs:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
    return commands.ladder_args(FFMPEG, source, probe, rungs, out, can_tonemap=False)


def separate_commands(source: Path, probe: ProbeResult, rungs: list[PlannedRung], out: Path) -> list[list[str]]:
    """(a) The same adapter command for one rung at a time: identical encoder settings, three decodes."""
    return [ladder_command(source, probe, [rung], out / rung.name) for rung in rungs]


def django_commands(source: Path, rungs: list[PlannedRung], out: Path) -> list[list[str]]:
    """(b) What the Django original ran per resolution (x264 default preset, no bitrate cap)."""
    cmds = []
    for rung in rungs:
        folder = out / rung.name
        folder.mkdir(parents=True, exist_ok=True)
        cmds.append(
            [
                FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(source),
                "-vf", f"scale=-2:{rung.height}", "-c:v", "h264", "-c:a", "aac",
                "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(folder / "%03d.ts"), str(folder / "index.m3u8"),
            ]
        )  # fmt: skip
    return cmds


def rung_playlists(method: str, out: Path, rungs: list[PlannedRung]) -> dict[str, Path]:
    if method == "separate":
        return {r.name: out / r.name / r.name / "index.m3u8" for r in rungs}
    return {r.name: out / r.name / "index.m3u8" for r in rungs}


def ssim(playlist: Path, source: Path, rung: PlannedRung) -> float:
    """SSIM (All) of a rung against the source scaled to the rung's size; timestamps reset on both sides."""
    graph = (
        f"[0:v]setpts=PTS-STARTPTS,format=yuv420p[dist];"
        f"[1:v]scale={rung.width}:{rung.height}:flags=bicubic,setpts=PTS-STARTPTS,format=yuv420p[ref];"
        f"[dist][ref]ssim"
    )
    done = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-hide_banner",
            "-i",
            str(playlist),
            "-i",
            str(source),
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stderr.splitlines() if "SSIM" in line and "All:" in line)
    return float(line.split("All:")[1].split()[0])


def rung_kbps(playlist: Path, seconds: float) -> float:
    size = sum(p.stat().st_size for p in playlist.parent.glob("*.ts"))
    return size * 8 / seconds / 1000


def shown(args: list[str], source: Path, work: Path) -> str:
    text = shlex.join(args).replace(str(source), "SRC.mp4").replace(str(work) + "/", "")
    return text.replace(FFMPEG, "ffmpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="source length (docs/performance.md: 30)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the order alternates between rounds")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temp folder)")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    options = parser.parse_args()

    work = options.workdir or Path(tempfile.mkdtemp(prefix="videoflix-bench-transcode-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; ffmpeg: {FFMPEG}; work folder: {work}", flush=True)
    source = make_source(work / "source_1080p30_noisy.mp4", options.seconds)
    probe = asyncio.run(FfmpegTranscoder(FFMPEG, find_ffprobe(None)).probe(source))
    rungs = plan_ladder(probe)
    source_kbps = source.stat().st_size * 8 / probe.duration / 1000
    print(f"source: {probe.width}x{probe.height} {probe.fps:g} fps {probe.duration:.1f} s, {source_kbps:.0f} kbit/s")

    results = Results()
    examples: dict[str, list[list[str]]] = {}
    for round_ in range(options.repeat):
        order = METHODS if round_ % 2 == 0 else tuple(reversed(METHODS))
        for method in order:
            out = work / f"{method}-{round_}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            if method == "ladder":
                cmds = [ladder_command(source, probe, rungs, out)]
            elif method == "separate":
                cmds = separate_commands(source, probe, rungs, out)
            else:
                cmds = django_commands(source, rungs, out)
            examples.setdefault(method, cmds)
            timings = [run(cmd) for cmd in cmds]
            total = Timing(sum(t.wall for t in timings), sum(t.cpu for t in timings))
            results.times[method].append(total)
            print(f"round {round_ + 1} {method:8s}: wall {total.wall:6.1f} s, cpu {total.cpu:6.1f} s", flush=True)
            if round_ == 0:
                playlists = rung_playlists(method, out, rungs)
                results.ssim[method] = {r.name: ssim(playlists[r.name], source, r) for r in rungs}
                results.kbps[method] = {r.name: rung_kbps(playlists[r.name], probe.duration) for r in rungs}
                print(f"  ssim {results.ssim[method]}  kbit/s {results.kbps[method]}", flush=True)
            if round_ > 0 or not options.workdir:
                shutil.rmtree(out, ignore_errors=True)

    body = report(options, probe, rungs, source_kbps, results, examples, source, work)
    print()
    print(body)
    if not options.no_doc:
        write_section("transcode", body)
        print("\nwritten to docs/benchmarks.md")
    if not options.workdir:
        shutil.rmtree(work, ignore_errors=True)


def report(
    options: argparse.Namespace,
    probe: ProbeResult,
    rungs: list[PlannedRung],
    source_kbps: float,
    results: Results,
    examples: dict[str, list[list[str]]],
    source: Path,
    work: Path,
) -> str:
    wall = {m: statistics.mean(t.wall for t in results.times[m]) for m in METHODS}
    cpu = {m: statistics.mean(t.cpu for t in results.times[m]) for m in METHODS}
    names = [r.name for r in rungs]
    lines = [
        "## Transcode: one-process ladder vs three ffmpeg runs",
        "",
        f"Measured {stamp()} on {machine()}, ffmpeg `{FFMPEG}`. "
        f"Source: {probe.width}x{probe.height} {probe.fps:g} fps, {probe.duration:.0f} s, testsrc2 with "
        f"`noise=alls=20:allf=t`, H.264 {source_kbps:.0f} kbit/s + AAC. {options.repeat} rounds, order alternating "
        "(ours, a, b / b, a, ours); figures are means. The machine is shared: compare the ratios, not the seconds.",
        "",
        "| method | wall s (each round) | wall ratio ours/x | CPU s | "
        + " | ".join(f"SSIM {n}" for n in names)
        + " | "
        + " | ".join(f"kbit/s {n}" for n in names)
        + " |",
        "|---|---|---|---|" + "---|" * (2 * len(names)),
    ]
    for method in METHODS:
        rounds = ", ".join(f"{t.wall:.1f}" for t in results.times[method])
        ratio = "1.00" if method == "ladder" else f"{wall['ladder'] / wall[method]:.2f}"
        ssims = " | ".join(f"{results.ssim[method][n]:.4f}" for n in names)
        rates = " | ".join(f"{results.kbps[method][n]:.0f}" for n in names)
        lines.append(
            f"| {LABELS[method]} | {wall[method]:.1f} ({rounds}) | {ratio} | {cpu[method]:.1f} | {ssims} | {rates} |"
        )
    worst_gap = max(results.ssim["django"][n] - results.ssim["ladder"][n] for n in names)
    lines += [
        "",
        f"- vs (a) same settings, three runs: **{wall['ladder'] / wall['separate']:.2f}x** wall "
        f"(target <= 0.9x), {cpu['ladder'] / cpu['separate']:.2f}x CPU.",
        f"- vs (b) the Django original: **{wall['ladder'] / wall['django']:.2f}x** wall (target <= 0.4x), "
        f"{cpu['ladder'] / cpu['django']:.2f}x CPU.",
        f"- SSIM: the largest shortfall of ours against (b) on a rung is {max(worst_gap, 0):.4f} "
        f"(target: no worse than 0.01).",
        "",
        "Commands (SRC.mp4 = the source; output folders relative to the work folder):",
        "",
        "```",
        "# source",
        shlex.join(source_args(options.seconds, "SRC.mp4")).replace(FFMPEG, "ffmpeg"),
    ]
    for method in METHODS:
        lines.append(f"# {LABELS[method]}")
        lines += [shown(cmd, source, work) for cmd in examples[method]]
    lines += [
        "# SSIM of a rung (W x H = the rung's size)",
        "ffmpeg -i RUNG/index.m3u8 -i SRC.mp4 -lavfi '[0:v]setpts=PTS-STARTPTS,format=yuv420p[dist];"
        "[1:v]scale=W:H:flags=bicubic,setpts=PTS-STARTPTS,format=yuv420p[ref];[dist][ref]ssim' -f null -",
        "```",
        "",
        f"Reproduce: `.venv/bin/python bench/transcode.py --seconds {options.seconds} --repeat {options.repeat}`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
