"""What the Studio's live status costs: the catalog and the admin list, requests/s with and without 20 Studio
tabs polling the admin list every 2 s (the rate the Studio polls while a video is queued or processing; idle,
it polls every 15 s). Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/studio.py [--seconds 10] [--connections 64] [--workers 2] [--pollers 20] [--sqlite]

Needs wrk (`apt-get install wrk`) and, for the production-like database, Postgres on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, require, stamp, wait_http, write_section, wrk
from bench.seed import seed
from bench.streaming import EMAIL, ORIGIN, PASSWORD, VIDEOFLIX, create_database, start, stop
from videoflix.settings import Settings

POLL_SECONDS = 2.0
ADMIN_PAGE = "/api/admin/videos/?page=1&page_size=20"  # the Studio's first page


class Pollers:
    """N Studio tabs: each its own staff session, asking for the list every POLL_SECONDS."""

    def __init__(self, base: str, count: int) -> None:
        self.base, self.count = base, count
        self.requests = self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(count)]
        self._lock = threading.Lock()

    def _poll(self, index: int) -> None:
        with httpx.Client(base_url=self.base, headers={"Origin": ORIGIN}, timeout=10) as client:
            client.post("/api/login/", json={"email": EMAIL, "password": PASSWORD})
            self._stop.wait(POLL_SECONDS * index / self.count)  # spread out, as real tabs are
            while not self._stop.is_set():
                ok = client.get(ADMIN_PAGE).status_code == 200
                with self._lock:
                    self.requests += 1
                    self.errors += not ok
                self._stop.wait(POLL_SECONDS)

    def __enter__(self) -> Pollers:
        for thread in self._threads:
            thread.start()
        time.sleep(POLL_SECONDS + 1)  # every tab signed in and polling
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="use the embedded SQLite database")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    opts = parser.parse_args()
    require("wrk", "wrk")

    work = Path(tempfile.mkdtemp(prefix="videoflix-bench-studio-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "EMAIL_", "REDIS", "DATABASE"))},
        "VIDEOFLIX_ENV_FILE": "/nonexistent/.env",
        "VIDEOFLIX_DATA_DIR": str(work / "data"),
        "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "true",
        "CSRF_TRUSTED_ORIGINS": ORIGIN,
        "LOGIN_RATE_LIMIT": "100000000",
    }
    if not opts.sqlite:
        env["DATABASE_URL"] = create_database()
    settings = Settings.from_env(env)
    print("seeding: one transcoded clip and 100 catalog rows ...", flush=True)
    seed(settings, work, catalog_size=100)
    import subprocess

    subprocess.run(
        [VIDEOFLIX, "users", "create-admin", "--email", EMAIL, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    port = int(os.environ.get("BENCH_PORT", "18090"))
    base = f"http://127.0.0.1:{port}"
    server = start(
        [VIDEOFLIX, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(opts.workers)],
        env,
        work / "server.log",
    )
    rows: list[str] = []
    commands: list[str] = []
    try:
        wait_http(f"{base}/api/health")
        token = httpx.post(
            f"{base}/api/login/", json={"email": EMAIL, "password": PASSWORD}, headers={"Origin": ORIGIN}
        ).cookies["access_token"]
        cookie = {"Cookie": f"access_token={token}"}
        run = {"connections": opts.connections, "seconds": opts.seconds, "headers": cookie}
        targets = [
            ("catalog `GET /api/video/` (100 videos)", "/api/video/"),
            (f"admin list `GET {ADMIN_PAGE}`", ADMIN_PAGE),
        ]
        alone = {path: wrk(base + path, **run) for _, path in targets}
        with Pollers(base, opts.pollers) as pollers:
            started, before = time.monotonic(), pollers.requests
            polled = {path: wrk(base + path, **run) for _, path in targets}
            poll_rate = (pollers.requests - before) / (time.monotonic() - started)
        for label, path in targets:
            a, b = alone[path], polled[path]
            ratio = b.requests_per_second / max(a.requests_per_second, 0.001)
            rows.append(
                f"| {label} | {a.requests_per_second:,.0f} req/s, p99 {a.p99_ms:.1f} ms"
                f" | {b.requests_per_second:,.0f} req/s, p99 {b.p99_ms:.1f} ms | {ratio:.2f}x |"
            )
            commands += [a.command]
        poll_note = (
            f"{opts.pollers} pollers sent {poll_rate:.1f} admin list requests/s during the loaded runs"
            f" ({pollers.errors} errors); one admin list request is one SQL query for the page and its total,"
            " plus the staff guard's account lookup."
        )
    finally:
        stop(server)

    body = "\n".join(
        [
            "## Studio: what live status costs",
            "",
            f"Measured {stamp()} on {machine()}, with `{' '.join(sys.argv)}` ({opts.workers} Granian workers,"
            f" {opts.connections} wrk connections, {opts.seconds} s per run, {'SQLite' if opts.sqlite else 'Postgres'}),"
            f" without and with {opts.pollers} Studio tabs polling the admin list every {POLL_SECONDS:.0f} s."
            " wrk, the pollers and the server share the same cores.",
            "",
            f"| what | alone | with {opts.pollers} polling tabs | ratio |",
            "|---|---|---|---|",
            *rows,
            "",
            f"- {poll_note}",
            "",
            "Commands (wrk; the same again while the tabs poll):",
            "",
            *[f"    {c}" for c in commands],
        ]
    )
    print(body)
    if not opts.no_write:
        write_section("studio", body)


if __name__ == "__main__":
    main()
