"""Streaming, catalog, login-under-load, cold-start and metrics-cost figures of docs/performance.md, each as a ratio
against a reference measured in the same run on this machine. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/streaming.py [--seconds 10] [--connections 64] [--workers 2] [--only-metrics]

Needs wrk and nginx with njs (Debian packages: `apt-get install wrk nginx-light libnginx-mod-http-js`) and, for the production-like
database, Postgres on 127.0.0.1:5432 (falls back to SQLite with --sqlite).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.nginx import NginxProxy

from bench.common import ROOT, machine, require, stamp, wait_http, write_section, wrk
from bench.seed import seed
from videoflix.settings import Settings

VIDEOFLIX = str(Path(sys.executable).parent / "videoflix")
GRANIAN = str(Path(sys.executable).parent / "granian")
ORIGIN = "http://127.0.0.1:5500"
EMAIL, PASSWORD = "bench@example.com", "bench-password-123"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def create_database() -> str:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await conn.execute("DROP DATABASE IF EXISTS videoflix_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE videoflix_bench")
        await conn.close()

    asyncio.run(run())
    return "postgresql+asyncpg://postgres@127.0.0.1:5432/videoflix_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="use the embedded SQLite database")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--only-metrics", action="store_true", help="only the cost of the per-request metrics (with vs without)"
    )
    opts = parser.parse_args()
    require("wrk", "wrk")
    require("nginx", "nginx-light")

    work = Path(tempfile.mkdtemp(prefix="videoflix-bench-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "EMAIL_", "REDIS", "DATABASE"))},
        "VIDEOFLIX_ENV_FILE": "/nonexistent/.env",
        "VIDEOFLIX_DATA_DIR": str(work / "data"),
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "true",
        "CSRF_TRUSTED_ORIGINS": ORIGIN,
        "LOGIN_RATE_LIMIT": "100000000",
        "LOG_LEVEL": "INFO",
        "EDGE_REVOCATION_FILE": str(work / "edge" / "revoked-sessions"),
    }
    edge_env = {name: env[name] for name in ("SECRET_KEY", "EDGE_REVOCATION_FILE")} | {"CORS_ALLOWED_ORIGINS": ORIGIN}
    if not opts.sqlite:
        env["DATABASE_URL"] = create_database()
    settings = Settings.from_env(env)
    print("seeding: transcoding a noisy clip and adding 100 catalog rows ...", flush=True)
    video_id = seed(settings, work, catalog_size=100)
    subprocess.run(
        [VIDEOFLIX, "users", "create-admin", "--email", EMAIL, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    published = (settings.media_root / "videos" / str(video_id)).resolve()
    segment = published / "720p" / "000.ts"
    playlist = published / "720p" / "index.m3u8"
    segment_kb = segment.stat().st_size / 1024
    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []

    # Cold start: spawn to first answer.
    port = int(os.environ.get("BENCH_PORT", "18080"))
    server_args = [VIDEOFLIX, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(opts.workers)]
    server = start(server_args, env, work / "server.log")
    cold = wait_http(f"http://127.0.0.1:{port}/api/health")
    base = f"http://127.0.0.1:{port}"
    token = httpx.post(
        f"{base}/api/login/", json={"email": EMAIL, "password": PASSWORD}, headers={"Origin": ORIGIN}
    ).cookies["access_token"]
    cookie = {"Cookie": f"access_token={token}"}
    bare = start(
        [
            GRANIAN,
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port + 1),
            "--workers",
            str(opts.workers),
            "--no-ws",
            "bench.bare_pathsend:app",
        ],
        {**env, "BENCH_FILE": str(segment), "PYTHONPATH": str(ROOT)},
        work / "bare.log",
    )
    wait_http(f"http://127.0.0.1:{port + 1}/", accept=(200,))
    static = NginxProxy(
        port, settings.media_root, worker_processes=opts.workers, source=Path(__file__).with_name("nginx_static.conf")
    ).start()
    proxy = NginxProxy(port, settings.media_root, worker_processes=opts.workers, env=edge_env).start()
    relative = segment.relative_to(settings.media_root.resolve())
    seg_path = f"/api/video/{video_id}/720p/000.ts"
    pl_path = f"/api/video/{video_id}/720p/index.m3u8"
    run = {"connections": opts.connections, "seconds": opts.seconds}

    try:
        # The cost of the per-request metrics: the same server with METRICS_ENABLED=false beside it, alternating.
        off_port = port + 2
        off = start(
            [*server_args[:-4], "--port", str(off_port), "--workers", str(opts.workers)],
            {**env, "METRICS_ENABLED": "false"},
            work / "server-no-metrics.log",
        )
        try:
            wait_http(f"http://127.0.0.1:{off_port}/api/health")
            metric_rows, metric_commands = metrics_cost(base, f"http://127.0.0.1:{off_port}", cookie, seg_path, run)
        finally:
            stop(off)
        if opts.only_metrics:
            rows += metric_rows
            commands = metric_commands
            raise _Done
        # Segment through Granian vs the bare pathsend app, alternating, best of two rounds each.
        ours, reference = [], []
        for _ in range(2):
            reference.append(wrk(f"http://127.0.0.1:{port + 1}/", **run))
            ours.append(wrk(base + seg_path, headers=cookie, **run))
        a, b = max(ours, key=lambda r: r.requests_per_second), max(reference, key=lambda r: r.requests_per_second)
        rows.append(
            (
                f"segment (~{segment_kb:.0f} KB) through Granian, pathsend",
                fmt(a),
                "bare pathsend app: " + fmt(b),
                ratio(a, b),
                ">= 0.85x",
            )
        )
        commands = [a.command, b.command]

        # Production: the deploy/ nginx checks the cookie (njs) or the signed link and sends the file, against
        # nginx sending the same file with no check at all; alternating, best of two rounds each.
        master = httpx.get(f"{proxy.url}/api/video/{video_id}/index.m3u8", headers=cookie).text
        link = next(line for line in master.splitlines() if line.endswith("/720p/index.m3u8")).rpartition("/")[0]
        playlist_direct = f"{static.url}/direct/{playlist.relative_to(settings.media_root.resolve())}"
        for label, url, headers, direct, target in (
            (
                "segment via nginx, cookie checked by njs",
                proxy.url + seg_path,
                cookie,
                "/direct/" + str(relative),
                ">= 0.9x; p99 < 1.5x",
            ),
            (
                "segment via nginx, signed link (CDN path)",
                f"{proxy.url}{link}/000.ts",
                {},
                "/direct/" + str(relative),
                ">= 0.9x; p99 < 1.5x",
            ),
            (
                "rendition playlist via nginx, cookie checked by njs",
                proxy.url + pl_path,
                cookie,
                playlist_direct.removeprefix(static.url),
                ">= 0.5x",
            ),
        ):
            ours, reference = [], []
            for _ in range(2):
                reference.append(wrk(static.url + direct, **run))
                ours.append(wrk(url, headers=headers, **run))
            a = max(ours, key=lambda r: r.requests_per_second)
            b = max(reference, key=lambda r: r.requests_per_second)
            p99 = f"; p99 {a.p99_ms / max(b.p99_ms, 0.001):.2f}x" if "p99" in target else ""
            rows.append((label, fmt(a), "nginx sendfile, no check: " + fmt(b), ratio(a, b) + p99, target))
            commands += [a.command, b.command]

        # The embedded default's playlist (Granian), catalog.
        a = wrk(base + pl_path, headers=cookie, **run)
        b = wrk(playlist_direct, **run)
        rows.append(
            (
                "playlist (index.m3u8) through Granian (embedded default)",
                fmt(a),
                "nginx, same file: " + fmt(b),
                ratio(a, b),
                "- (production: nginx)",
            )
        )
        commands += [a.command, b.command]
        a = wrk(base + "/api/video/", headers=cookie, **run)
        b = wrk(base + "/api/health", **run)
        rows.append(("catalog, 100 ready videos", fmt(a), "GET /api/health: " + fmt(b), ratio(a, b), ">= 0.5x"))
        commands += [a.command, b.command]

        # Login under load: catalog p99 alone vs while 16 logins run.
        solo = wrk(base + "/api/video/", headers=cookie, connections=16, seconds=opts.seconds)
        script = work / "login.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.body = \'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Origin"] = "{ORIGIN}"\n'
        )
        with ThreadPoolExecutor(2) as pool:
            logins = pool.submit(
                wrk, base + "/api/login/", connections=16, seconds=opts.seconds + 2, threads=1, script=script
            )
            time.sleep(1)
            loaded = wrk(base + "/api/video/", headers=cookie, connections=16, seconds=opts.seconds)
            login_result = logins.result()
        rows.append(
            (
                f"catalog p99 while 16 logins run ({login_result.requests_per_second:.0f} logins/s)",
                f"p99 {loaded.p99_ms:.1f} ms",
                f"catalog alone: p99 {solo.p99_ms:.1f} ms",
                f"{loaded.p99_ms / max(solo.p99_ms, 0.001):.2f}x",
                "< 2x",
            )
        )
        commands += [solo.command, login_result.command]
        rows.append(("cold start: `videoflix serve` to first answer", f"{cold:.2f} s", "-", "-", "< 2 s"))
        rows += metric_rows
        commands += metric_commands
    except _Done:
        pass
    finally:
        for proc in (server, bare):
            stop(proc)
        static.stop()
        proxy.stop()

    table = ["| what | Videoflix | reference (same run) | ratio | target |", "|---|---|---|---|---|"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    title = (
        "## The cost of the per-request metrics"
        if opts.only_metrics
        else "## Streaming, catalog, login under load, cold start"
    )
    body = "\n".join(
        [
            title,
            "",
            f"Measured {stamp()} on {machine()}, with `{' '.join(sys.argv)}`"
            f" ({opts.workers} Granian workers, {opts.connections} connections, {opts.seconds} s per run,"
            f" {'SQLite' if opts.sqlite else 'Postgres'}). wrk and the servers share the same cores.",
            "",
            *table,
            "",
            "Commands (wrk, in the order run):",
            "",
            *[f"    {c}" for c in commands],
            "",
            *[f"- {n}" for n in notes],
        ]
    )
    print(body)
    if not opts.no_write:
        write_section("metrics-cost" if opts.only_metrics else "streaming", body)


class _Done(Exception):
    """--only-metrics: the rest of the measurements is skipped."""


def metrics_cost(
    on: str, off: str, cookie: dict[str, str], seg_path: str, run: dict[str, int], rounds: int = 3
) -> tuple[list[tuple[str, str, str, str, str]], list[str]]:
    """Segment and catalog with the per-request metrics against the same server without them (METRICS_ENABLED=
    false), alternating over ``rounds``, best of each: the metrics may cost at most 3%."""
    rows, commands = [], []
    for label, path in ((f"segment {seg_path.rsplit('/', 2)[-2]}", seg_path), ("catalog", "/api/video/")):
        with_metrics, without = [], []
        for _ in range(rounds):
            without.append(wrk(off + path, headers=cookie, **run))
            with_metrics.append(wrk(on + path, headers=cookie, **run))
        a = max(with_metrics, key=lambda r: r.requests_per_second)
        b = max(without, key=lambda r: r.requests_per_second)
        rows.append(
            (f"{label} with per-request metrics", fmt(a), "METRICS_ENABLED=false: " + fmt(b), ratio(a, b), ">= 0.97x")
        )
        commands += [a.command, b.command]
    return rows, commands


def fmt(result) -> str:  # type: ignore[no-untyped-def]
    errors = f", {result.errors} errors" if result.errors else ""
    return f"{result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.1f} ms{errors}"


def ratio(a, b) -> str:  # type: ignore[no-untyped-def]
    return f"{a.requests_per_second / max(b.requests_per_second, 0.001):.2f}x"


if __name__ == "__main__":
    main()
