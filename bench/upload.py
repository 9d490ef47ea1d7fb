"""The upload row of docs/performance.md: a 1 GB video through ``POST /api/admin/videos/`` on a real
``videoflix serve`` (embedded default), sent by curl. Measures the peak RSS of the server's processes and the
throughput against ``cp`` of the same file on the same disk, in the same run. Writes its section of
docs/benchmarks.md.

    .venv/bin/python bench/upload.py [--size-mb 1024] [--repeat 2] [--workdir DIR] [--no-doc]

Each round starts a fresh server on a fresh data folder (the accepted upload starts a transcode in the server,
which must not disturb the next round) and runs ``cp`` right before its upload. Not a test: nothing here runs
in CI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
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

from bench.common import free_port, machine, require, stamp, wait_http, write_section
from videoflix.adapters.ffmpeg.binaries import find_ffmpeg

VIDEOFLIX = str(Path(sys.executable).parent / "videoflix")
FFMPEG = find_ffmpeg(None)
ORIGIN = "http://127.0.0.1:5500"
EMAIL, PASSWORD = "bench-upload@example.com", "bench-upload-password-1"
NOT_SERVER = {"ffmpeg", "ffprobe"}  # children of the server that are not the server


@dataclass
class Round:
    cp_seconds: float
    cp_sync_seconds: float  # cp, then sync: the copy is on the disk
    upload_seconds: float
    upload_sync_seconds: float  # the answer, then sync: the upload is on the disk
    status: int
    answer: dict[str, object]
    baseline_rss_mb: float  # the largest server process, idle, before the upload
    baseline_hwm_mb: float  # the largest VmHWM before the upload (start-up, migrations, login)
    peak_hwm_mb: float  # the largest VmHWM of a server process after the upload
    sampled_peak_mb: float  # the largest VmRSS seen while the body streamed in
    processes: list[str]


def make_video(work: Path, size_mb: int) -> Path:
    """A real ~``size_mb`` MB MP4 quickly: a 10 s 1080p clip at 40 Mbit/s, looped with ``-c copy``."""
    clip = work / "clip_10s.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=10",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
        "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
        "-b:v", "40M", "-maxrate", "40M", "-bufsize", "80M", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ac", "2", str(clip),
    )  # fmt: skip
    loops = max(1, math.ceil(size_mb * 1024 * 1024 / clip.stat().st_size))
    video = work / f"upload_{size_mb}mb.mp4"
    run_ffmpeg("-stream_loop", str(loops - 1), "-i", str(clip), "-c", "copy", "-f", "mp4", str(video))
    clip.unlink()
    return video


def run_ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *args], check=True)


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier += [child for child, parent in parents.items() if parent == pid]
    return found


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_processes(root: int) -> list[int]:
    """The serve process and its Granian workers (not the ffmpeg/ffprobe they start)."""
    pids = []
    for pid in descendants(root):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm not in NOT_SERVER:
            pids.append(pid)
    return pids


def describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = "?"
    return f"pid {pid} ({cmdline[:60]}): VmHWM {status_kb(pid, 'VmHWM') / 1024:.0f} MB"


class RssSampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in server_processes(self.root):
                self.peak_kb = max(self.peak_kb, status_kb(pid, "VmRSS"))
            self.stop.wait(0.02)


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DB_", "REDIS_", "MEDIA_"))}
    env.update(
        VIDEOFLIX_DATA_DIR=str(data_dir),
        VIDEOFLIX_ENV_FILE="/nonexistent/.env",
        SECRET_KEY="bench-secret-key-that-is-long-enough-for-hs256-0123456789",  # noqa: S106
        DEBUG="true",  # plain-http cookies on 127.0.0.1
        LOG_LEVEL="WARNING",
        CSRF_TRUSTED_ORIGINS=ORIGIN,
    )
    return env


def upload_command(port: int, video: Path, cookie: str, csrf: str, answer: Path) -> list[str]:
    return [
        require("curl", "curl"), "-sS", "-o", str(answer), "-w", "%{http_code} %{time_total} %{size_upload}",
        "-H", "Expect:", "-H", f"Origin: {ORIGIN}", "-H", f"X-CSRFToken: {csrf}", "-H", f"Cookie: {cookie}",
        "-F", "title=Benchmark upload", "-F", "category=Benchmarks", "-F", "description=1 GB through the API",
        "-F", f"file=@{video};type=video/mp4",
        f"http://127.0.0.1:{port}/api/admin/videos/",
    ]  # fmt: skip


def one_round(work: Path, video: Path, index: int) -> tuple[Round, list[str]]:
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
        wait_http(f"http://127.0.0.1:{port}/api/video/", accept=(200, 401))
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/login/",
            json={"email": EMAIL, "password": PASSWORD},
            headers={"Origin": ORIGIN},
        )
        login.raise_for_status()
        cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
        time.sleep(1)  # settle: idle figures
        baseline = max(status_kb(pid, "VmRSS") for pid in server_processes(server.pid))
        baseline_hwm = max(status_kb(pid, "VmHWM") for pid in server_processes(server.pid))

        copy = work / "cp-copy.mp4"
        subprocess.run(["sync"], check=True)
        started = time.perf_counter()
        subprocess.run(["cp", str(video), str(copy)], check=True)
        cp_seconds = time.perf_counter() - started
        subprocess.run(["sync"], check=True)
        cp_sync_seconds = time.perf_counter() - started
        copy.unlink()
        subprocess.run(["sync"], check=True)

        answer_file = work / f"answer-{index}.json"
        command = upload_command(port, video, cookie, login.cookies["csrftoken"], answer_file)
        placeholder = upload_command(port, video, "access_token=<jwt>; ...", "<csrftoken>", answer_file)
        sampler = RssSampler(server.pid)
        sampler.start()
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        upload_seconds = time.perf_counter() - started
        subprocess.run(["sync"], check=True)
        upload_sync_seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        status, _, sent = done.stdout.split()
        status = int(status)
        if int(sent) < video.stat().st_size:
            raise RuntimeError(f"curl sent {sent} bytes of {video.stat().st_size}")
        pids = server_processes(server.pid)
        peak_hwm = max(status_kb(pid, "VmHWM") for pid in pids)
        shown = [shlex.join(placeholder).replace(str(work) + "/", "").replace(str(port), "PORT")]
        answer = json.loads(answer_file.read_text() or "{}")
        if status == 202 and answer.get("source_size") != video.stat().st_size:
            raise RuntimeError(f"the server stored {answer.get('source_size')} bytes of {video.stat().st_size}")
        result = Round(
            cp_seconds=cp_seconds,
            cp_sync_seconds=cp_sync_seconds,
            upload_seconds=upload_seconds,
            upload_sync_seconds=upload_sync_seconds,
            status=status,
            answer=answer,
            baseline_rss_mb=baseline / 1024,
            baseline_hwm_mb=baseline_hwm / 1024,
            peak_hwm_mb=peak_hwm / 1024,
            sampled_peak_mb=sampler.peak_kb / 1024,
            processes=[describe(pid) for pid in pids],
        )
        return result, shown
    finally:
        stop(server)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def stop(server: subprocess.Popen[bytes]) -> None:
    """The accepted upload started a transcode in the server: stop the whole process group."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    except ProcessLookupError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the uploaded video (default 1024)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds (a fresh server each)")
    parser.add_argument("--workdir", type=Path, default=None, help="work folder on the disk to measure")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    options = parser.parse_args()

    work = options.workdir or Path(tempfile.mkdtemp(prefix="videoflix-bench-upload-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; work folder: {work}", flush=True)
    video = make_video(work, options.size_mb)
    size = video.stat().st_size
    print(f"video: {video.name}, {size / 1024**2:.0f} MiB", flush=True)
    rounds: list[Round] = []
    shown: list[str] = []
    try:
        for index in range(options.repeat):
            result, shown = one_round(work, video, index)
            rounds.append(result)
            print(
                f"round {index + 1}: cp {size / result.cp_seconds / 1024**2:.0f} MiB/s "
                f"(+sync {size / result.cp_sync_seconds / 1024**2:.0f}), upload "
                f"{size / result.upload_seconds / 1024**2:.0f} MiB/s "
                f"(+sync {size / result.upload_sync_seconds / 1024**2:.0f}) -> HTTP {result.status} "
                f"{result.answer.get('status', result.answer.get('detail'))}; server RSS idle "
                f"{result.baseline_rss_mb:.0f} MB, peak (VmHWM) {result.peak_hwm_mb:.0f} MB, sampled "
                f"{result.sampled_peak_mb:.0f} MB",
                flush=True,
            )
            for line in result.processes:
                print("   ", line)
    finally:
        video.unlink(missing_ok=True)
        if not options.workdir:
            shutil.rmtree(work, ignore_errors=True)

    body = report(options, size, rounds, shown)
    print()
    print(body)
    if not options.no_doc:
        write_section("upload", body)
        print("\nwritten to docs/benchmarks.md")


def report(options: argparse.Namespace, size: int, rounds: list[Round], shown: list[str]) -> str:
    mib = 1024**2

    def rate(seconds: float) -> float:
        return size / seconds / mib

    cached = statistics.mean(rate(r.upload_seconds) for r in rounds) / statistics.mean(
        rate(r.cp_seconds) for r in rounds
    )
    on_disk = statistics.mean(rate(r.upload_sync_seconds) for r in rounds) / statistics.mean(
        rate(r.cp_sync_seconds) for r in rounds
    )
    peak = max(r.peak_hwm_mb for r in rounds)
    lines = [
        "## Upload: a 1 GB video through the API",
        "",
        f"Measured {stamp()} on {machine()}. `videoflix serve` (embedded default: SQLite, in-process jobs, one "
        f"Granian worker) on a fresh data folder per round; a {size / mib:.0f} MiB H.264/AAC MP4 (a 10 s 1080p "
        "clip looped with `-c copy`) sent by curl as multipart with a staff session, timed to the end of the "
        "answer (body streamed to disk, probed, adopted as the source). Reference: `cp` of the same file to the "
        "same disk right before each upload. Both read the file from the page cache; figures are given as they "
        "land in the page cache (no sync, where `cp` runs at memory speed) and on the disk (followed by `sync`).",
        "",
        "| round | answer | upload MiB/s | cp MiB/s | ratio | upload+sync MiB/s | cp+sync MiB/s | ratio | "
        "server RSS idle MB | VmHWM before MB | peak RSS (VmHWM after) MB | RSS sampled during upload MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(rounds, 1):
        answer = f"{r.status} {r.answer.get('status', r.answer.get('detail', ''))}"
        up, cp = rate(r.upload_seconds), rate(r.cp_seconds)
        up_sync, cp_sync = rate(r.upload_sync_seconds), rate(r.cp_sync_seconds)
        lines.append(
            f"| {index} | {answer} | {up:.0f} | {cp:.0f} | {up / cp:.2f} | {up_sync:.0f} | {cp_sync:.0f} | "
            f"{up_sync / cp_sync:.2f} | {r.baseline_rss_mb:.0f} | {r.baseline_hwm_mb:.0f} | {r.peak_hwm_mb:.0f} | "
            f"{r.sampled_peak_mb:.0f} |"
        )
    lines += [
        "",
        f"- Throughput (target >= 0.5x `cp`): **{cached:.2f}x** into the page cache, **{on_disk:.2f}x** to the "
        "disk (means of the rounds).",
        f"- Peak RSS of the largest server process: **{peak:.0f} MB** (target < 150 MB): VmHWM of the serve "
        "process and of its Granian worker from /proc/<pid>/status (ffmpeg/ffprobe children excluded); the "
        "1 GB body never sits in memory.",
        "",
        "Commands:",
        "",
        "```",
        f"videoflix db upgrade && echo '{PASSWORD}' | videoflix users create-admin --email {EMAIL} --password-stdin",
        "videoflix serve --port PORT",
        *shown,
        "sync",
        f"sync; cp upload_{options.size_mb}mb.mp4 cp-copy.mp4; sync",
        "```",
        "",
        f"Reproduce: `.venv/bin/python bench/upload.py --size-mb {options.size_mb} --repeat {options.repeat}`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
