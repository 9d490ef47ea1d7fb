"""The resumable-upload row of docs/performance.md: a 1 GB video through the tus endpoint
(``/api/admin/uploads/``) on a real ``videoflix serve`` (embedded default), sent by tus-js-client in Node
(tests/tus_client/upload.js) in 8 MiB chunks. Measures the peak RSS of the server's processes and the throughput
against ``cp`` of the same file on the same disk, in the same run. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/tus_upload.py [--size-mb 1024] [--chunk-mb 8] [--repeat 2] [--workdir DIR] [--no-doc]

Each round starts a fresh server on a fresh data folder and runs ``cp`` right before its upload. Each chunk is a
PATCH of its own, and the complete file is fsync'd before it becomes a video (see docs/architecture.md), so the
fair reference is ``cp`` followed by ``sync``; both figures are reported. Not a test: nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.tus_client import SCRIPT, install, node, start_upload

from bench.common import free_port, machine, stamp, wait_http, write_section
from bench.upload import EMAIL, ORIGIN, PASSWORD, VIDEOFLIX, describe, env_for, make_video, status_kb, stop
from bench.upload import server_processes as serve_processes

MIB = 1024 * 1024


class RssSampler(threading.Thread):
    """The largest VmRSS of the server's processes, every 20 ms. Unlike bench/upload.py's sampler it does not walk
    /proc for new children each time (the upload starts none until the file is complete): on two shared cores that
    walk would compete with the 130 short requests being measured."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.pids:
                self.peak_kb = max(self.peak_kb, status_kb(pid, "VmRSS"))
            self.stop.wait(0.02)


@dataclass
class Round:
    cp_seconds: float
    cp_sync_seconds: float
    upload_seconds: float  # the client's first request to its success (creation, every PATCH, probing, adoption)
    upload_sync_seconds: float
    patches: int
    video_id: int | None
    stored_bytes: int | None
    baseline_rss_mb: float
    baseline_hwm_mb: float
    peak_hwm_mb: float
    sampled_peak_mb: float
    processes: list[str]


def one_round(work: Path, video: Path, index: int, chunk: int) -> Round:
    data_dir = work / f"data-{index}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = env_for(data_dir)
    subprocess.run([VIDEOFLIX, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [VIDEOFLIX, "users", "create-admin", "--email", EMAIL, "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (work / f"serve-{index}.log").open("wb")
    server = subprocess.Popen(
        [VIDEOFLIX, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/video/", accept=(200, 401))
        login = httpx.post(
            f"{base}/api/login/", json={"email": EMAIL, "password": PASSWORD}, headers={"Origin": ORIGIN}
        )
        login.raise_for_status()
        cookies = {name: login.cookies[name] for name in ("access_token", "refresh_token", "csrftoken")}
        time.sleep(1)  # settle: idle figures
        baseline = max(status_kb(pid, "VmRSS") for pid in serve_processes(server.pid))
        baseline_hwm = max(status_kb(pid, "VmHWM") for pid in serve_processes(server.pid))

        copy = work / "cp-copy.mp4"
        subprocess.run(["sync"], check=True)
        started = time.perf_counter()
        subprocess.run(["cp", str(video), str(copy)], check=True)
        cp_seconds = time.perf_counter() - started
        subprocess.run(["sync"], check=True)
        cp_sync_seconds = time.perf_counter() - started
        copy.unlink()
        subprocess.run(["sync"], check=True)

        sampler = RssSampler(serve_processes(server.pid))
        sampler.start()
        client = start_upload(
            f"{base}/api/admin/uploads/", video, cookies=cookies, chunk_size=chunk, title="Benchmark upload",
            category="Benchmarks",
        )  # fmt: skip
        client.wait_for("start", timeout=60)  # node is up (its start-up is the client's, not the upload's)
        started = time.perf_counter()
        done = client.wait_for("success", timeout=3600)
        upload_seconds = time.perf_counter() - started
        subprocess.run(["sync"], check=True)
        upload_sync_seconds = time.perf_counter() - started
        client.finish()
        sampler.stop.set()
        sampler.join()
        pids = serve_processes(server.pid)
        video_id = done.get("videoId")
        stored = None
        if video_id is not None:
            stored = httpx.get(f"{base}/api/admin/videos/{video_id}", cookies=cookies).json().get("source_size")
        if stored != video.stat().st_size:
            raise RuntimeError(f"the server stored {stored} bytes of {video.stat().st_size}")
        return Round(
            cp_seconds=cp_seconds,
            cp_sync_seconds=cp_sync_seconds,
            upload_seconds=upload_seconds,
            upload_sync_seconds=upload_sync_seconds,
            patches=sum(1 for event in client.seen if event["event"] == "chunk"),
            video_id=video_id,
            stored_bytes=stored,
            baseline_rss_mb=baseline / 1024,
            baseline_hwm_mb=baseline_hwm / 1024,
            peak_hwm_mb=max(status_kb(pid, "VmHWM") for pid in pids) / 1024,
            sampled_peak_mb=sampler.peak_kb / 1024,
            processes=[describe(pid) for pid in pids],
        )
    finally:
        stop(server)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the uploaded video (default 1024)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="tus chunk size, one PATCH each (default 8)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds (a fresh server each)")
    parser.add_argument("--workdir", type=Path, default=None, help="work folder on the disk to measure")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    options = parser.parse_args()

    install()
    work = options.workdir or Path(tempfile.mkdtemp(prefix="videoflix-bench-tus-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; work folder: {work}", flush=True)
    video = make_video(work, options.size_mb)
    size = video.stat().st_size
    print(f"video: {video.name}, {size / MIB:.0f} MiB", flush=True)
    rounds: list[Round] = []
    try:
        for index in range(options.repeat):
            result = one_round(work, video, index, options.chunk_mb * MIB)
            rounds.append(result)
            print(
                f"round {index + 1}: cp {size / result.cp_seconds / MIB:.0f} MiB/s "
                f"(+sync {size / result.cp_sync_seconds / MIB:.0f}), tus {size / result.upload_seconds / MIB:.0f} "
                f"MiB/s (+sync {size / result.upload_sync_seconds / MIB:.0f}) in {result.patches} PATCHes -> "
                f"video {result.video_id}; server RSS idle {result.baseline_rss_mb:.0f} MB, peak (VmHWM) "
                f"{result.peak_hwm_mb:.0f} MB, sampled {result.sampled_peak_mb:.0f} MB",
                flush=True,
            )
            for line in result.processes:
                print("   ", line)
    finally:
        video.unlink(missing_ok=True)
        if not options.workdir:
            shutil.rmtree(work, ignore_errors=True)

    body = report(options, size, rounds)
    print()
    print(body)
    if not options.no_doc:
        write_section("tus-upload", body)
        print("\nwritten to docs/benchmarks.md")


def report(options: argparse.Namespace, size: int, rounds: list[Round]) -> str:
    def rate(seconds: float) -> float:
        return size / seconds / MIB

    cached = statistics.mean(rate(r.upload_seconds) for r in rounds) / statistics.mean(
        rate(r.cp_seconds) for r in rounds
    )
    on_disk = statistics.mean(rate(r.upload_sync_seconds) for r in rounds) / statistics.mean(
        rate(r.cp_sync_seconds) for r in rounds
    )
    peak = max(r.peak_hwm_mb for r in rounds)
    version = subprocess.run([node(), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    lines = [
        "## Resumable upload: a 1 GB video through tus",
        "",
        f"Measured {stamp()} on {machine()}. `videoflix serve` (embedded default: SQLite, in-process jobs, one "
        f"Granian worker) on a fresh data folder per round; a {size / MIB:.0f} MiB H.264/AAC MP4 (a 10 s 1080p clip "
        f"looped with `-c copy`) sent by tus-js-client (Node {version}) with a staff session in "
        f"{options.chunk_mb} MiB chunks, one PATCH each, timed from the client's first request to its success "
        "(creation, every PATCH, the fsync of the complete file, probing and adoption; not Node's start-up). "
        "Reference: `cp` of the same file to the same disk right before each upload. Both read the file from the "
        "page cache; figures are given without and with a `sync` afterwards. Since the complete file is fsync'd "
        "before it becomes a video, the figure to compare is the one with `sync`.",
        "",
        "| round | PATCHes | tus MiB/s | cp MiB/s | ratio | tus+sync MiB/s | cp+sync MiB/s | ratio | "
        "server RSS idle MB | VmHWM before MB | peak RSS (VmHWM after) MB | RSS sampled during upload MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(rounds, 1):
        up, cp = rate(r.upload_seconds), rate(r.cp_seconds)
        up_sync, cp_sync = rate(r.upload_sync_seconds), rate(r.cp_sync_seconds)
        lines.append(
            f"| {index} | {r.patches} | {up:.0f} | {cp:.0f} | {up / cp:.2f} | {up_sync:.0f} | {cp_sync:.0f} | "
            f"{up_sync / cp_sync:.2f} | {r.baseline_rss_mb:.0f} | {r.baseline_hwm_mb:.0f} | {r.peak_hwm_mb:.0f} | "
            f"{r.sampled_peak_mb:.0f} |"
        )
    lines += [
        "",
        f"- Throughput (target >= 0.5x `cp`): **{on_disk:.2f}x** to the disk (both followed by `sync`), "
        f"{cached:.2f}x against `cp` into the page cache (means of the rounds).",
        f"- Peak RSS of the largest server process: **{peak:.0f} MB** (target < 150 MB): VmHWM of the serve "
        "process and of its Granian worker from /proc/<pid>/status (ffmpeg/ffprobe children excluded); chunks are "
        "streamed to the part file, never held in memory.",
        "",
        "Commands:",
        "",
        "```",
        f"videoflix db upgrade && echo '{PASSWORD}' | videoflix users create-admin --email {EMAIL} --password-stdin",
        "videoflix serve --port PORT",
        f"node {SCRIPT.relative_to(SCRIPT.parents[2])} --endpoint http://127.0.0.1:PORT/api/admin/uploads/ "
        f"--file upload_{options.size_mb}mb.mp4 --cookie 'access_token=<jwt>; ...' --csrf '<csrftoken>' "
        f"--chunk-size {options.chunk_mb * MIB} --title 'Benchmark upload' --category Benchmarks",
        "sync",
        f"sync; cp upload_{options.size_mb}mb.mp4 cp-copy.mp4; sync",
        "```",
        "",
        f"Reproduce: `.venv/bin/python bench/tus_upload.py --size-mb {options.size_mb} --chunk-mb {options.chunk_mb} "
        f"--repeat {options.repeat}`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
