"""Soak test: the production topology on this machine, mixed traffic, faults injected while it runs, then an audit
that nothing was lost, duplicated or left stuck (issue 14; the report is docs/reliability.md).

Topology, all real and on 127.0.0.1, each process started and stopped by this script by its id: two
``videoflix serve`` processes behind nginx (the production config through ``tests/nginx.py``), two
``videoflix worker`` processes, a private Postgres (initdb/pg_ctl, as the ``postgres`` user when run as root), a
private redis-server, an SMTP server that records what it receives (``tests/smtp_server.py``) and ffmpeg. The media
folder is a small tmpfs (so "the volume is full" is a real ENOSPC).

Traffic: viewers who log in, list, fetch playlists and segments as hls.js does, and refresh their tokens; new users
who register, read their activation email and activate; password resets for existing and unknown accounts; staff
who upload short generated clips by multipart and by tus. Faults, one after another with a baseline between:
Postgres restarted, Redis restarted, a worker killed mid-transcode, a web process killed, SMTP refusing connections,
SMTP answering 451, the media volume full, a slow database (a table locked).

    .venv/bin/python bench/soak.py                 # short: about 3 minutes
    .venv/bin/python bench/soak.py --long          # about 9 minutes
    .venv/bin/python bench/soak.py --report docs/reliability.md   # also writes its section of that file

Exit code 0 when the audit is clean, 1 when it found a loss, a duplicate, a stuck item or an unexpected 500.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.server import VIDEOFLIX, Process, Server, Worker, create_staff, process_env  # noqa: E402
from tests.nginx import NJS_MODULE, NginxProxy, find_nginx  # noqa: E402
from tests.smtp_server import SmtpSink, free_port  # noqa: E402

ORIGIN = "http://127.0.0.1:5500"  # the frontend's origin, as in the README
PASSWORD = "Soak-Passw0rd-for-every-account"
STAFF_EMAIL = "soak-staff@example.com"
SWEEP_SECONDS = 5
# The longest an email may wait after its cause, in the worst case of this soak: the SMTP faults make an email fail
# up to ~4 times (backoff 5, 10, 20, 40 s; domain/accounts/delivery.py), plus one sweep period and some slack.
EMAIL_BOUND_SECONDS = 5 + 10 + 20 + 40 + SWEEP_SECONDS + 15
# A worker killed mid-transcode: the video is taken over once it has been silent for STALE_AFTER (45 s) and SAQ
# noticed the dead job (heartbeat 60 s); then it is transcoded again.
TRANSCODE_BOUND_SECONDS = 150
SERVER_ERRORS = range(500, 600)


# -- options -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How long each part runs. ``short()`` fits CI; ``long()`` is the soak proper."""

    name: str
    before: float  # baseline before the first fault
    fault: float  # how long each fault lasts
    gap: float  # baseline between faults (also: the recovery window measured)
    after: float  # baseline after the last fault
    viewers: int = 3
    register_every: float = 1.0
    reset_every: float = 2.0
    upload_every: float = 5.0
    media_mb: int = 512

    @classmethod
    def short(cls) -> Options:
        return cls("short", before=8, fault=6, gap=6, after=6)

    @classmethod
    def long(cls) -> Options:
        return cls("long", before=30, fault=25, gap=25, after=30, media_mb=1024)


# -- the recorder: every request with its phase ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    start: float
    end: float
    phase: str
    action: str
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)


@dataclass
class Window:
    name: str
    start: float
    end: float = math.inf
    note: str = ""


class Recorder:
    """Counts requests by the phase they started in: ``before``, a fault's name, ``after <fault>``, ``after``."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.samples: list[Sample] = []
        self.windows: list[Window] = []

    def begin_fault(self, name: str) -> Window:
        window = Window(name, time.monotonic())
        self.windows.append(window)
        self.phase = name
        return window

    def end_fault(self, window: Window) -> None:
        window.end = time.monotonic()
        self.phase = f"after {window.name}"

    async def request(self, client: httpx.AsyncClient, method: str, url: str, action: str, **kw: Any) -> Any:
        """One request; its outcome is recorded, a transport error becomes ``None`` (status 0)."""
        phase, start = self.phase, time.monotonic()
        try:
            response = await client.request(method, url, **kw)
        except httpx.HTTPError:
            self.samples.append(Sample(start, time.monotonic(), phase, action, 0))
            return None
        self.samples.append(Sample(start, time.monotonic(), phase, action, response.status_code))
        return response


# -- the private services -------------------------------------------------------------------------------------------


def run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True, **kw)


class Postgres:
    """A private cluster in ``base/pg`` on a free port; run as the ``postgres`` user when we are root (Postgres
    refuses to run as root), so it can be stopped and started as a fault without touching the machine's own."""

    def __init__(self, base: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not versions:
            raise SystemExit("PostgreSQL server binaries are missing (apt-get install postgresql)")
        self.bin = versions[-1]
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/videoflix"
        self.started = False

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def init(self) -> None:
        self.dir.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        run(self._as_owner(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N"))
        self.start()
        run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "videoflix"])

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                           "-t", "60", "-o", options, "start"))  # fmt: skip
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"))
        self.started = False

    def close(self) -> None:
        """Stop it whatever state it is in: pg_ctl first, then the postmaster's pid if pg_ctl could not."""
        if not self.data.is_dir():
            return
        with contextlib.suppress(Exception):
            self.stop("immediate")
        pid_file = self.data / "postmaster.pid"
        if pid_file.is_file():
            with contextlib.suppress(Exception):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


class Redis:
    """A private redis-server without persistence: a restart loses every queued job, as a crashed Redis would."""

    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = base / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is missing (apt-get install redis-server)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_port(self.port, 10)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown (nothing is saved anyway)
            proc.wait(10)


class MediaVolume:
    """The media folder on its own small tmpfs, so a full volume is a real ENOSPC for every process writing to it.
    Where mounting is not allowed (not root, a container without CAP_SYS_ADMIN) it is a plain folder and the
    "volume full" fault is reported as not run."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.size_mb = size_mb
        self.mounted = False
        self.filler = path / ".soak-filler"

    def mount(self) -> None:
        self.path.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        self.mounted = done.returncode == 0

    def fill(self) -> int:
        """Write zeros until the volume says ENOSPC; returns the bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with contextlib.suppress(OSError), self.filler.open("wb", buffering=0) as out:
            while True:
                written += out.write(chunk)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            done = subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
            if done.returncode != 0:  # something still holds a file open: detach it now, freed when released
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
            self.mounted = False


def wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


# -- the stack ------------------------------------------------------------------------------------------------------


class Stack:
    """Every process, mount and folder of one soak run. ``close()`` undoes all of it, in reverse order, whatever
    failed; ``with Stack(...)`` calls it on any exit (Ctrl-C and SIGTERM included, see ``main``)."""

    def __init__(self, options: Options, keep_logs: Path | None = None) -> None:
        self.options = options
        self.keep_logs = keep_logs
        self.base = Path(tempfile.mkdtemp(prefix="videoflix-soak-"))
        self.base.chmod(0o755)  # the postgres user must reach its own folder inside
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.postgres = Postgres(self.base)
        self.redis = Redis(self.base)
        self.media = MediaVolume(self.base / "media", options.media_mb)
        self.smtp = SmtpSink()
        self.secret = secrets.token_urlsafe(48)
        self.servers: list[Server] = []
        self.workers: list[Worker] = []
        self.everything: list[Process] = []  # every process ever started, also the killed ones (their logs)
        self.nginx: NginxProxy | None = None
        self.env: dict[str, str] = {}
        self.clips: list[Path] = []
        self.long_clip = self.base / "long.mp4"
        self.edge: dict[str, str] = {}

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        # aiosmtpd logs a deprecation line for every message the recorder reads; the soak's output is its figures.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self.media.mount()
        self.postgres.init()
        self.redis.start()
        self.smtp.start()
        # What the app and nginx's njs checks share (docs/edge.md): the key, the ended sessions, the frontend origin.
        self.edge = {
            "SECRET_KEY": self.secret,
            "EDGE_REVOCATION_FILE": str(self.base / "edge" / "revoked-sessions"),
            "CORS_ALLOWED_ORIGINS": ORIGIN,
        }
        self.env = process_env(
            **self.edge,
            VIDEOFLIX_DATA_DIR=str(self.base / "data"),
            MEDIA_ROOT=str(self.media.path),
            DATABASE_URL=self.postgres.url,
            REDIS_URL=self.redis.url,
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.smtp.port),
            EMAIL_TIMEOUT="5",
            DEBUG="false",
            COOKIE_SECURE="false",  # plain http on 127.0.0.1: the client must send the cookies back
            CSRF_TRUSTED_ORIGINS=ORIGIN,
            FRONTEND_URL=ORIGIN,
            TRUSTED_PROXIES="127.0.0.1",
            SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
            LOGIN_RATE_LIMIT="100000",  # every client is 127.0.0.1 here: the limits are not what is tested
            EMAIL_RATE_LIMIT="100000",
            LOG_LEVEL="INFO",
        )
        run([VIDEOFLIX, "db", "upgrade"], env=self.env)
        create_staff(self.env, STAFF_EMAIL, PASSWORD)
        self.make_clips()
        for _ in range(2):
            self.start_server()
        for _ in range(2):
            self.start_worker()
        for server in self.servers:
            server.wait_ready()
        self.nginx = NginxProxy(
            self.servers[0].port,
            self.media.path,
            app_ports=[server.port for server in self.servers],
            workdir=self.base / "nginx",
            env=self.edge,
        ).start()

    def start_server(self, port: int | None = None) -> Server:
        server = Server(self.env, self.logs / f"server-{len(self.everything)}.log", workers=1, port=port)
        self.everything.append(server)
        self.servers.append(server)
        return server

    def start_worker(self) -> Worker:
        worker = Worker(self.env, self.logs / f"worker-{len(self.everything)}.log")
        self.everything.append(worker)
        self.workers.append(worker)
        return worker

    def make_clips(self) -> None:
        """Short generated clips (1-3 s, small sizes), and one longer one that keeps a worker busy long enough to
        be killed in the middle of its transcode."""
        sizes = [("320x240", 1), ("426x240", 2), ("640x360", 3), ("480x270", 2)]
        for index, (size, seconds) in enumerate(sizes):
            path = self.base / f"clip-{index}.mp4"
            ffmpeg_clip(path, size, seconds, audio=index % 2 == 0, noise=False)
            self.clips.append(path)
        ffmpeg_clip(self.long_clip, "1280x720", 12, audio=True, noise=True)

    def close(self) -> None:
        steps: list[Callable[[], object]] = []
        if self.nginx is not None:
            steps.append(self.nginx.stop)
        steps += [process.stop for process in reversed(self.everything)]
        steps += [self.smtp.stop, self.redis.stop, self.postgres.close, self.media.unmount]
        for step in steps:
            try:
                step()
            except Exception as error:  # one failed step must not leave the others running
                print(f"cleanup: {step!r} failed: {error}", file=sys.stderr)
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in [*self.logs.glob("*.log"), self.base / "redis.log", self.base / "nginx" / "error.log"]:
                with contextlib.suppress(OSError):
                    shutil.copy(log, self.keep_logs / log.name)
        shutil.rmtree(self.base, ignore_errors=True)


def ffmpeg_clip(path: Path, size: str, seconds: int, *, audio: bool, noise: bool) -> None:
    video = f"testsrc=size={size}:rate=25:duration={seconds}"
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if noise:
        args += ["-vf", "noise=alls=20:allf=t"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-ac", "2"] if audio else []
    run([*args, "-movflags", "+faststart", str(path)])


# -- the clients ----------------------------------------------------------------------------------------------------


def new_client(base_url: str) -> httpx.AsyncClient:
    """A browser-like client of the API through nginx: it keeps cookies and sends the frontend's Origin."""
    return httpx.AsyncClient(base_url=base_url, headers={"Origin": ORIGIN}, timeout=30.0)


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """The header the frontend sends on unsafe requests: the csrftoken cookie's value."""
    token = client.cookies.get("csrftoken")
    return {"X-CSRFToken": token} if token else {}


@dataclass
class Account:
    email: str
    registered_at: float = 0.0  # monotonic start of the 201 registration
    phase: str = ""
    activated: bool = False
    reset_requested: bool = False


@dataclass
class Ledger:
    """What the clients know they asked for, to be compared with what arrived."""

    registered: dict[str, Account] = field(default_factory=dict)  # email -> a registration answered 201
    register_failed: set[str] = field(default_factory=set)  # addresses whose registration got no 201
    resets_existing: dict[str, list[int]] = field(default_factory=dict)  # email -> statuses of its reset requests
    resets_unknown: dict[str, list[int]] = field(default_factory=dict)
    uploads: list[tuple[str, str, int, int | None]] = field(default_factory=list)  # (way, phase, status, video id)
    killed_video: int | None = None
    killed_at: float = 0.0  # monotonic time of the SIGKILL
    worker_killed: asyncio.Event = field(default_factory=asyncio.Event)
    full_volume_video: int | None = None  # the video whose transcode ran while the volume filled up
    killed_video_ready_after: float | None = None  # seconds from the SIGKILL until that video was ready
    notes: list[str] = field(default_factory=list)  # what went wrong in the soak itself (each one fails the run)


class Mailbox:
    """Reads the SMTP recorder: messages by recipient and kind (activation or reset), with their arrival time."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self._seen: list[tuple[list[str], str, float, str]] = []  # parsed once: the sink only ever appends

    def by_recipient(self) -> dict[str, list[tuple[str, float, str]]]:
        with self.sink._cond:  # the sink's own lock: its server thread appends meanwhile
            new = self.sink.received[len(self._seen) :]
        for item in new:
            kind, link = classify(item.message)
            self._seen.append(([r.lower() for r in item.rcpt_tos], kind, item.at, link))
        found: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        for recipients, kind, at, link in self._seen:
            for rcpt in recipients:
                found[rcpt].append((kind, at, link))
        return found

    def link(self, email: str, kind: str, mail: dict[str, list[tuple[str, float, str]]]) -> str | None:
        """The link of the first email of ``kind`` to ``email`` in ``mail`` (``by_recipient()``)."""
        for found_kind, _, link in mail.get(email.lower(), []):
            if found_kind == kind:
                return link
        return None


def classify(message: EmailMessage) -> tuple[str, str]:
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    match = re.search(r"https?://\S+?/pages/auth/(activate|confirm_password)\.html\?\S+", text)
    if match is None:
        return "other", ""
    return ("activation" if match.group(1) == "activate" else "reset"), match.group(0)


def uid_and_token(link: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(link).query)
    return query["uid"][0], query["token"][0]


class Traffic:
    """The mixed traffic, as asyncio tasks that run until ``stop`` is set."""

    def __init__(self, stack: Stack, recorder: Recorder, ledger: Ledger) -> None:
        assert stack.nginx is not None
        self.url = stack.nginx.url
        self.stack = stack
        self.options = stack.options
        self.rec = recorder
        self.ledger = ledger
        self.mail = Mailbox(stack.smtp)
        self.stop = asyncio.Event()
        self.viewer_accounts: list[str] = []
        self.rng = random.Random(14)

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    # accounts

    async def register(self, client: httpx.AsyncClient, prefix: str = "soak") -> str | None:
        email = f"{prefix}-{secrets.token_hex(5)}@example.com"
        body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
        phase, started = self.rec.phase, time.monotonic()
        response = await self.rec.request(client, "POST", "/api/register/", "register", json=body)
        if response is not None and response.status_code == 201:
            self.ledger.registered[email] = Account(email, started, phase)
            return email
        self.ledger.register_failed.add(email)
        return None

    async def activate_pending(self, client: httpx.AsyncClient) -> None:
        """Follow the link of every activation email that arrived for an account not yet active."""
        mail = self.mail.by_recipient()
        for account in list(self.ledger.registered.values()):
            if account.activated:
                continue
            link = self.mail.link(account.email, "activation", mail)
            if link is None:
                continue
            uid, token = uid_and_token(link)
            response = await self.rec.request(client, "GET", f"/api/activate/{uid}/{token}/", "activate")
            if response is not None and response.status_code == 200:
                account.activated = True

    async def registrar(self) -> None:
        async with new_client(self.url) as client:
            while not self.stop.is_set():
                await self.register(client)
                await self.activate_pending(client)
                await self.pause(self.options.register_every)

    async def resetter(self) -> None:
        """Alternately a reset for an active account that has not had one yet, and one for an unknown address."""
        async with new_client(self.url) as client:
            unknown = False
            while not self.stop.is_set():
                if unknown:
                    email = f"nobody-{secrets.token_hex(5)}@example.com"
                    statuses = self.ledger.resets_unknown.setdefault(email, [])
                else:
                    candidates = [
                        a for a in self.ledger.registered.values()
                        if a.activated and not a.reset_requested and a.email not in self.viewer_accounts
                    ]  # fmt: skip
                    if not candidates:
                        await self.pause(self.options.reset_every)
                        unknown = True
                        continue
                    account = candidates[0]
                    account.reset_requested = True
                    email = account.email
                    statuses = self.ledger.resets_existing.setdefault(email, [])
                response = await self.rec.request(
                    client, "POST", "/api/password_reset/", "reset", json={"email": email}
                )
                statuses.append(response.status_code if response is not None else 0)
                unknown = not unknown
                await self.pause(self.options.reset_every)

    async def login(self, client: httpx.AsyncClient, email: str) -> bool:
        body = {"email": email, "password": PASSWORD}
        response = await self.rec.request(client, "POST", "/api/login/", "login", json=body)
        return response is not None and response.status_code == 200

    # viewers

    async def viewer(self, email: str) -> None:
        async with new_client(self.url) as client:
            logged_in = False
            rounds = 0
            while not self.stop.is_set():
                if not logged_in:
                    logged_in = await self.login(client, email)
                    if not logged_in:
                        await self.pause(1.0)
                        continue
                rounds += 1
                if rounds % 5 == 0:
                    refreshed = await self.rec.request(
                        client, "POST", "/api/token/refresh/", "refresh", json={}, headers=csrf(client)
                    )
                    if refreshed is not None and refreshed.status_code == 401:
                        logged_in = False
                        continue
                listing = await self.rec.request(client, "GET", "/api/video/", "list")
                if listing is None or listing.status_code != 200:
                    logged_in = not (listing is not None and listing.status_code == 401)
                    await self.pause(0.5)
                    continue
                videos = listing.json()
                if videos:
                    await self.watch(client, self.rng.choice(videos)["id"])
                await self.pause(0.3)

    async def watch(self, client: httpx.AsyncClient, video_id: int) -> None:
        """As hls.js does: the playlist, then the URIs written in it, resolved against the playlist's URL."""
        if self.rng.random() < 0.7:
            playlist = f"{self.url}/api/video/{video_id}/480p/index.m3u8"
        else:
            master_url = f"{self.url}/api/video/{video_id}/index.m3u8"
            master = await self.rec.request(client, "GET", master_url, "master")
            if master is None or master.status_code != 200:
                return
            variants = playlist_uris(master.text)
            if not variants:
                return
            playlist = urljoin(master_url, self.rng.choice(variants))
        response = await self.rec.request(client, "GET", playlist, "playlist")
        if response is None or response.status_code != 200:
            return
        for uri in playlist_uris(response.text)[:3]:
            await self.rec.request(client, "GET", urljoin(playlist, uri), "segment")

    # staff

    async def uploader(self) -> None:
        async with new_client(self.url) as client:
            logged_in = False
            index = 0
            while not self.stop.is_set():
                if not logged_in:
                    logged_in = await self.login(client, STAFF_EMAIL)
                    if not logged_in:
                        await self.pause(1.0)
                        continue
                clip = self.stack.clips[index % len(self.stack.clips)]
                way = "multipart" if index % 2 == 0 else "tus"
                index += 1
                phase = self.rec.phase
                if way == "multipart":
                    status, video_id = await self.upload_multipart(client, clip, f"Soak {index}")
                else:
                    status, video_id = await self.upload_tus(client, clip, f"Soak {index}")
                self.ledger.uploads.append((way, phase, status, video_id))
                logged_in = status != 401
                await self.pause(self.options.upload_every)

    async def upload_multipart(self, client: httpx.AsyncClient, clip: Path, title: str) -> tuple[int, int | None]:
        data = {"title": title, "description": "Generated by the soak test.", "category": "Soak"}
        files = {"file": (clip.name, await asyncio.to_thread(clip.read_bytes), "video/mp4")}
        response = await self.rec.request(
            client, "POST", "/api/admin/videos/", "upload", data=data, files=files, headers=csrf(client)
        )
        if response is None:
            return 0, None
        video_id = response.json().get("id") if response.status_code == 202 else None
        return response.status_code, video_id

    async def upload_tus(self, client: httpx.AsyncClient, clip: Path, title: str) -> tuple[int, int | None]:
        """A minimal tus 1.0.0 client: create, PATCH in two pieces, and after an error ask the offset (HEAD) and go
        on from there, with tus-js-client's retry delays; an upload it gives up on is terminated (DELETE)."""
        data = await asyncio.to_thread(clip.read_bytes)
        metadata = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in (("title", title), ("category", "Soak"), ("filename", clip.name))
        )
        tus = {"Tus-Resumable": "1.0.0"}
        created = await self.rec.request(
            client, "POST", "/api/admin/uploads/", "tus",
            headers={**tus, **csrf(client), "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
        )  # fmt: skip
        if created is None or created.status_code != 201:
            return (created.status_code if created is not None else 0), None
        location = urljoin(self.url + "/api/admin/uploads/", created.headers["Location"])
        offset, chunk, delays = 0, len(data) // 2 + 1, [0.0, 1.0, 3.0, 5.0, 10.0]
        last_status = 201
        while offset < len(data):
            headers = {**tus, **csrf(client), "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream"}  # fmt: skip
            sent = await self.rec.request(
                client, "PATCH", location, "tus", content=data[offset : offset + chunk], headers=headers
            )
            if sent is not None and sent.status_code == 204:
                offset = int(sent.headers["Upload-Offset"])
                if offset >= len(data):
                    return 204, int(sent.headers["Video-Id"]) if "Video-Id" in sent.headers else None
                continue
            last_status = sent.status_code if sent is not None else 0
            if last_status not in (0, 409, 423, 500, 502, 503, 504) or not delays:
                break
            await asyncio.sleep(delays.pop(0))
            head = await self.rec.request(client, "HEAD", location, "tus", headers={**tus})
            if head is not None and head.status_code == 200:
                offset = int(head.headers["Upload-Offset"])
        if offset < len(data):
            await self.rec.request(client, "DELETE", location, "tus", headers={**tus, **csrf(client)})
        return last_status, None


def playlist_uris(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


# -- the faults -----------------------------------------------------------------------------------------------------


FaultStep = Callable[[], Awaitable[object]]


class Faults:
    """Each fault as a pair (begin, end) of coroutines; the driver holds it ``options.fault`` seconds between."""

    def __init__(self, stack: Stack, ledger: Ledger, traffic: Traffic) -> None:
        self.stack = stack
        self.ledger = ledger
        self.traffic = traffic
        self.lock_task: asyncio.Task[None] | None = None
        self.lock_release = asyncio.Event()
        self.killed_port = 0

    def plan(self) -> list[tuple[str, FaultStep, FaultStep]]:
        plan: list[tuple[str, FaultStep, FaultStep]] = [
            ("worker killed mid-transcode", self.kill_worker, self.restart_worker),
            ("postgres restart", self.stop_postgres, self.start_postgres),
            ("redis restart", self.stop_redis, self.start_redis),
            ("web process killed", self.kill_web, self.restart_web),
            ("smtp refusing connections", self.smtp_down, self.smtp_up),
            ("smtp answering 451", self.smtp_451, self.smtp_ok),
            ("media volume full", self.fill_media, self.free_media),
            ("slow database (table lock)", self.lock_tables, self.unlock_tables),
        ]
        return plan

    async def upload_long_clip(self, phase: str, title: str) -> int | None:
        """Upload the long clip as staff; the video's id once accepted."""
        async with new_client(self.traffic.url) as client:
            if not await self.traffic.login(client, STAFF_EMAIL):
                return None
            status, video_id = await self.traffic.upload_multipart(client, self.stack.long_clip, title)
        self.ledger.uploads.append(("multipart", phase, status, video_id))
        return video_id

    async def transcoding_worker(self, seconds: float = 30) -> Worker | None:
        """The first worker seen running an ffmpeg transcode within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for worker in self.stack.workers:
                if worker.proc.poll() is None and ffmpeg_in_group(worker.proc.pid):
                    return worker
            await asyncio.sleep(0.1)
        return None

    async def kill_worker(self) -> str:
        """Upload the long clip, wait for a worker's ffmpeg to run on it, SIGKILL that worker's process group."""
        video_id = await self.upload_long_clip("worker killed mid-transcode", "Soak long")
        if video_id is None:
            return "the long clip was not accepted: no transcode to interrupt"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for worker in self.stack.workers:
                if worker.proc.poll() is None and ffmpeg_in_group(worker.proc.pid):
                    worker.signal(signal.SIGKILL)
                    worker.proc.wait(10)
                    self.stack.workers.remove(worker)
                    self.ledger.killed_video = video_id
                    self.ledger.killed_at = time.monotonic()
                    self.ledger.worker_killed.set()
                    return f"killed worker pid {worker.proc.pid} while ffmpeg transcoded video {video_id}"
            await asyncio.sleep(0.1)
        return "no transcode was seen running within 30 s: nothing killed"

    async def restart_worker(self) -> None:
        self.stack.start_worker()

    async def stop_postgres(self) -> str:
        """Stop Postgres while emails are on their way: a slow SMTP server holds them at the end of DATA, so some
        are accepted after the database went away, before their outbox row could be marked sent."""
        self.stack.smtp.delay = 2.0
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self.stack.postgres.stop, "fast")
        return "pg_ctl stop -m fast while SMTP answered DATA after 2 s; pg_ctl start at the end"

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.stack.postgres.start)
        self.stack.smtp.delay = 0.0

    async def stop_redis(self) -> None:
        self.stack.redis.stop()

    async def start_redis(self) -> None:
        await asyncio.to_thread(self.stack.redis.start)

    async def kill_web(self) -> str:
        server = self.stack.servers.pop(0)
        server.signal(signal.SIGKILL)
        server.proc.wait(10)
        self.killed_port = server.port
        return f"SIGKILL to the process group of the server on port {server.port}"

    async def restart_web(self) -> None:
        server = self.stack.start_server(self.killed_port)  # where nginx's upstream expects it
        await asyncio.to_thread(server.wait_ready, 60)

    async def smtp_down(self) -> None:
        await asyncio.to_thread(self.stack.smtp.stop)

    async def smtp_up(self) -> None:
        await asyncio.to_thread(self.stack.smtp.start)

    async def smtp_451(self) -> None:
        self.stack.smtp.fail_next(451, n=1_000_000)

    async def smtp_ok(self) -> None:
        self.stack.smtp.stop_failing()

    async def fill_media(self) -> str:
        if not self.stack.media.mounted:
            return "not run: the media folder could not be mounted as a tmpfs here (not root?)"
        # A transcode in flight when the volume fills up: its ffmpeg finds no room for the ladder it writes.
        video_id = await self.upload_long_clip("media volume full", "Soak full volume")
        running = await self.transcoding_worker() if video_id is not None else None
        written = await asyncio.to_thread(self.stack.media.fill)
        self.ledger.full_volume_video = video_id
        during = f", while video {video_id} was transcoded" if running is not None else ""
        return f"{written // (1 << 20)} MiB of filler until ENOSPC{during}"

    async def free_media(self) -> None:
        self.stack.media.free()

    async def lock_tables(self) -> str:
        """A session that holds ACCESS EXCLUSIVE locks on users and videos: every query on them waits."""
        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.stack.postgres.port, user="postgres", database="videoflix"
        )
        self.lock_release.clear()

        async def hold() -> None:
            try:
                async with connection.transaction():
                    await connection.execute("LOCK TABLE users, videos IN ACCESS EXCLUSIVE MODE")
                    await self.lock_release.wait()
            finally:
                await connection.close()

        self.lock_task = asyncio.create_task(hold())
        return "LOCK TABLE users, videos IN ACCESS EXCLUSIVE MODE"

    async def unlock_tables(self) -> None:
        self.lock_release.set()
        if self.lock_task is not None:
            await self.lock_task


async def watch_killed_video(stack: Stack, ledger: Ledger) -> None:
    """Once a worker was killed mid-transcode: how long until its video is ready (polled every second; a database
    that is down meanwhile only delays the answer)."""
    await ledger.worker_killed.wait()
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            connection = await asyncpg.connect(
                host="127.0.0.1", port=stack.postgres.port, user="postgres", database="videoflix", timeout=2
            )
            try:
                status = await connection.fetchval("SELECT status FROM videos WHERE id = $1", ledger.killed_video)
            finally:
                await connection.close()
            if status == "ready":
                ledger.killed_video_ready_after = time.monotonic() - ledger.killed_at
                return
        await asyncio.sleep(1.0)


def ffmpeg_in_group(pgid: int) -> bool:
    """True when an ffmpeg process that writes HLS runs in this process group (the worker's transcode)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if command and command[0].endswith(b"ffmpeg") and b"hls" in b" ".join(command):
            return True
    return False


# -- driving it -----------------------------------------------------------------------------------------------------


async def drive(stack: Stack) -> Report:
    """Set up the accounts, run traffic with the faults in turn, let it settle, audit."""
    options = stack.options
    recorder, ledger = Recorder(), Ledger()
    traffic = Traffic(stack, recorder, ledger)
    started = time.monotonic()
    await seed(traffic, stack)
    recorder.phase = "before"
    tasks = [asyncio.create_task(traffic.registrar()), asyncio.create_task(traffic.resetter()),
             asyncio.create_task(traffic.uploader())]  # fmt: skip
    tasks += [asyncio.create_task(traffic.viewer(email)) for email in traffic.viewer_accounts]
    watcher = asyncio.create_task(watch_killed_video(stack, ledger))
    faults = Faults(stack, ledger, traffic)
    try:
        await asyncio.sleep(options.before)
        for name, begin, end in faults.plan():
            window = recorder.begin_fault(name)
            print(f"[{time.monotonic() - started:6.1f}s] fault: {name}", flush=True)
            note = await begin()
            window.note = note if isinstance(note, str) else ""
            await asyncio.sleep(options.fault)
            await end()
            recorder.end_fault(window)
            await asyncio.sleep(options.gap)
        recorder.phase = "after"
        await asyncio.sleep(options.after)
    finally:
        traffic.stop.set()
        ended = await asyncio.gather(*tasks, return_exceptions=True)
        await faults.unlock_tables()
    # A client that crashed would quietly send less traffic: that is a fault of the soak, and it fails the run.
    ledger.notes += [f"a traffic task crashed: {error!r}" for error in ended if isinstance(error, Exception)]
    traffic_end = time.monotonic()
    print(f"[{traffic_end - started:6.1f}s] traffic stopped; settling", flush=True)
    settle = await settle_down(stack, ledger, traffic)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    audit = await run_audit(stack, ledger, traffic, recorder)
    return Report(options, recorder, ledger, audit, time.monotonic() - started, settle, traffic_end - started)


async def seed(traffic: Traffic, stack: Stack) -> None:
    """The viewers register and activate like anyone; two clips are uploaded and made ready before the clock runs,
    so viewers have something to watch from the start."""
    async with new_client(traffic.url) as client:
        for _ in range(stack.options.viewers):
            email = await traffic.register(client, prefix="viewer")
            if email is None:
                raise RuntimeError("a viewer could not register before the soak started")
            traffic.viewer_accounts.append(email)
        deadline = time.monotonic() + 60
        while not all(traffic.ledger.registered[e].activated for e in traffic.viewer_accounts):
            if time.monotonic() > deadline:
                raise RuntimeError("the viewers' activation emails did not arrive within 60 s")
            await traffic.activate_pending(client)
            await asyncio.sleep(0.2)
        if not await traffic.login(client, STAFF_EMAIL):
            raise RuntimeError("the staff account could not log in")
        ids = [(await traffic.upload_multipart(client, clip, f"Seed {n}"))[1] for n, clip in enumerate(stack.clips[:2])]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            listing = await client.get("/api/video/")
            if listing.status_code == 200 and {v["id"] for v in listing.json()} >= set(ids):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the seed videos {ids} were not ready within 90 s")


async def settle_down(stack: Stack, ledger: Ledger, traffic: Traffic) -> dict[str, float]:
    """Wait (bounded) until every expected email arrived and no video waits or transcodes; activate what can be."""
    started = time.monotonic()
    deadline = started + max(EMAIL_BOUND_SECONDS, TRANSCODE_BOUND_SECONDS)
    emails_done = videos_done = math.nan
    async with new_client(traffic.url) as client:
        while time.monotonic() < deadline:
            mail = traffic.mail.by_recipient()
            missing = [e for e in ledger.registered if not any(k == "activation" for k, _, _ in mail.get(e, []))]
            missing += [
                e for e, statuses in ledger.resets_existing.items()
                if 200 in statuses and not any(k == "reset" for k, _, _ in mail.get(e, []))
            ]  # fmt: skip
            connection = await asyncpg.connect(
                host="127.0.0.1", port=stack.postgres.port, user="postgres", database="videoflix"
            )
            try:
                busy = await connection.fetchval("SELECT count(*) FROM videos WHERE status IN ('queued','processing')")
                pending = await connection.fetchval("SELECT count(*) FROM outbox_emails WHERE status = 'pending'")
            finally:
                await connection.close()
            now = time.monotonic() - started
            if not missing and pending == 0 and math.isnan(emails_done):
                emails_done = now
            if busy == 0 and math.isnan(videos_done):
                videos_done = now
            if not math.isnan(emails_done) and not math.isnan(videos_done):
                break
            await asyncio.sleep(1.0)
        await traffic.activate_pending(client)
    return {"emails": emails_done, "videos": videos_done}


# -- the audit ------------------------------------------------------------------------------------------------------


@dataclass
class Audit:
    problems: list[str] = field(default_factory=list)  # each one fails the run
    facts: list[str] = field(default_factory=list)  # what was checked and found right
    lost_emails: int = 0
    duplicate_activation: int = 0
    duplicate_reset: int = 0
    stuck_uploads: int = 0
    unexpected_500: int = 0
    unexpected_4xx: int = 0
    email_delays: dict[str, list[float]] = field(default_factory=dict)  # phase -> seconds
    recovery: dict[str, str] = field(default_factory=dict)  # fault -> what recovery took


async def run_audit(stack: Stack, ledger: Ledger, traffic: Traffic, recorder: Recorder) -> Audit:
    audit = Audit()
    audit_emails(audit, ledger, traffic.mail.by_recipient())
    rows = await database_rows(stack)
    audit_videos(audit, rows, stack.media.path, ledger)
    audit_media_leftovers(audit, stack.media.path, rows)
    audit_database(audit, rows)
    audit_requests(audit, recorder)
    audit_recovery(audit, recorder, rows, ledger)
    audit.problems += ledger.notes
    return audit


def audit_emails(audit: Audit, ledger: Ledger, mail: dict[str, list[tuple[str, float, str]]]) -> None:
    """Every registration answered 201 got exactly one activation email; every reset of an existing account at
    most one (exactly one when it was answered 200); an unknown address none."""
    for email, account in ledger.registered.items():
        arrivals = [at for kind, at, _ in mail.get(email, []) if kind == "activation"]
        if not arrivals:
            audit.lost_emails += 1
            audit.problems.append(f"lost: no activation email for {email} (registered in phase '{account.phase}')")
            continue
        if len(arrivals) > 1:
            audit.duplicate_activation += len(arrivals) - 1
            audit.problems.append(f"duplicate: {len(arrivals)} activation emails for {email}")
        audit.email_delays.setdefault(account.phase, []).append(min(arrivals) - account.registered_at)
    for email in ledger.register_failed:
        if len([k for k, _, _ in mail.get(email, []) if k == "activation"]) > 1:
            audit.duplicate_activation += 1
            audit.problems.append(f"duplicate: several activation emails for {email} (registration not answered 201)")
    for email, statuses in ledger.resets_existing.items():
        count = len([k for k, _, _ in mail.get(email, []) if k == "reset"])
        if count > 1:
            audit.duplicate_reset += count - 1
            audit.problems.append(f"duplicate: {count} reset emails for {email} after {len(statuses)} request(s)")
        elif count == 0 and 200 in statuses:
            audit.lost_emails += 1
            audit.problems.append(f"lost: no reset email for {email} (requests answered {statuses})")
    for email in ledger.resets_unknown:
        if mail.get(email):
            audit.problems.append(f"an email was sent to the unknown address {email}")
    delays = [d for values in audit.email_delays.values() for d in values]
    if delays and max(delays) > EMAIL_BOUND_SECONDS:
        audit.problems.append(
            f"an activation email took {max(delays):.1f} s, over the bound of {EMAIL_BOUND_SECONDS} s"
        )
    audit.facts.append(
        f"{len(ledger.registered)} registrations answered 201, {len(ledger.register_failed)} not; "
        f"{sum(1 for s in ledger.resets_existing.values() if 200 in s)} resets of existing accounts answered 200, "
        f"{len(ledger.resets_unknown)} for unknown addresses"
    )


@dataclass
class Rows:
    videos: list[dict[str, Any]]
    live_family_members: list[tuple[str, int]]
    outbox: Counter[str]
    uploads_open: list[dict[str, Any]]


async def database_rows(stack: Stack) -> Rows:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=stack.postgres.port, user="postgres", database="videoflix"
    )
    try:
        videos = [dict(r) for r in await connection.fetch(
            "SELECT id, status, failure_reason, published, attempts, renditions::text AS renditions "
            "FROM videos ORDER BY id"
        )]  # fmt: skip
        families = [tuple(r) for r in await connection.fetch(
            "SELECT family_id, count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND expires_at > now() "
            "GROUP BY family_id HAVING count(*) > 1"
        )]  # fmt: skip
        outbox = Counter({r["status"]: r["n"] for r in await connection.fetch(
            "SELECT status, count(*) AS n FROM outbox_emails GROUP BY status"
        )})  # fmt: skip
        uploads = [dict(r) for r in await connection.fetch(
            'SELECT id, "offset", length, video_id FROM uploads WHERE video_id IS NULL'
        )]  # fmt: skip
    finally:
        await connection.close()
    return Rows(videos, families, outbox, uploads)


def audit_videos(audit: Audit, rows: Rows, media: Path, ledger: Ledger) -> None:
    """Every video ended ready or failed (with a reason); every ready one has a complete ladder on disk."""
    statuses = Counter(v["status"] for v in rows.videos)
    for video in rows.videos:
        if video["status"] in ("queued", "processing"):
            audit.stuck_uploads += 1
            audit.problems.append(f"stuck: video {video['id']} is still {video['status']}")
        elif video["status"] == "failed" and not (video["failure_reason"] or "").strip():
            audit.problems.append(f"video {video['id']} failed without a reason")
        elif video["status"] == "ready":
            for problem in check_ladder(media / "videos" / str(video["id"])):
                audit.problems.append(f"video {video['id']}: {problem}")
    accepted = [u for u in ledger.uploads if u[3] is not None]
    known = {v["id"] for v in rows.videos}
    for way, phase, _, video_id in accepted:
        if video_id not in known:
            audit.problems.append(f"lost: the {way} upload of phase '{phase}' (video {video_id}) has no video row")
    audit.facts.append(
        f"{len(rows.videos)} videos: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        + f"; {len(accepted)} uploads accepted by the clients, {len(ledger.uploads) - len(accepted)} refused"
    )
    failed = [f"{v['id']}: {v['failure_reason']}" for v in rows.videos if v["status"] == "failed"]
    if failed:
        audit.facts.append("failed videos (with their reason): " + "; ".join(failed))


def check_ladder(folder: Path) -> list[str]:
    """Master, each rendition playlist and every segment it lists exist and are non-empty; ffprobe one segment."""
    master = folder / "index.m3u8"
    if not master.is_file() or master.stat().st_size == 0:
        return ["no master playlist"]
    problems: list[str] = []
    probed = False
    for variant in playlist_uris(master.read_text()):
        playlist = folder / variant
        if not playlist.is_file() or playlist.stat().st_size == 0:
            problems.append(f"rendition playlist {variant} missing or empty")
            continue
        text = playlist.read_text()
        if "#EXT-X-ENDLIST" not in text:
            problems.append(f"{variant} is not finished (no #EXT-X-ENDLIST)")
        for segment in playlist_uris(text):
            path = playlist.parent / segment
            if not path.is_file() or path.stat().st_size == 0:
                problems.append(f"segment {variant} -> {segment} missing or empty")
            elif not probed:
                probed = True
                probe = subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(path)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if probe.returncode != 0 or "video" not in probe.stdout:
                    problems.append(f"ffprobe cannot read {variant} -> {segment}: {probe.stderr.strip()[:200]}")
    return problems


def audit_media_leftovers(audit: Audit, media: Path, rows: Rows) -> None:
    """No staging folder, no intake file, no part file of a finished upload; releases only of existing videos."""
    for folder in ("staging", "uploads"):
        left = sorted(p.name for p in (media / folder).iterdir()) if (media / folder).is_dir() else []
        if left:
            audit.problems.append(f"leftovers in {folder}/: {left[:5]}{' ...' if len(left) > 5 else ''}")
    open_uploads = {u["id"] for u in rows.uploads_open}
    parts = sorted(p.name for p in (media / "resumable").iterdir()) if (media / "resumable").is_dir() else []
    orphans = [name for name in parts if name.split(".")[0] not in open_uploads]
    if orphans:
        audit.problems.append(f"part files without an unfinished upload in resumable/: {orphans[:5]}")
    if rows.uploads_open:
        audit.facts.append(f"{len(rows.uploads_open)} tus uploads left unfinished by clients that gave up mid-way")
    ids = {str(v["id"]) for v in rows.videos}
    stray = (
        [p.name for p in (media / "releases").iterdir() if p.name not in ids] if (media / "releases").is_dir() else []
    )
    if stray:
        audit.problems.append(f"releases of videos that do not exist: {stray[:5]}")
    audit.facts.append("media folder: no staging or intake leftovers checked in staging/, uploads/, resumable/")


def audit_database(audit: Audit, rows: Rows) -> None:
    """No refresh-token family with two live members; no video whose files deny its status."""
    for family, count in rows.live_family_members:
        audit.problems.append(f"refresh-token family {family} has {count} live members")
    for video in rows.videos:
        if video["status"] == "ready" and not video["published"]:
            audit.problems.append(f"video {video['id']} is ready but not published")
        if video["status"] == "ready" and video["renditions"] in ("[]", "null", None):
            audit.problems.append(f"video {video['id']} is ready without renditions")
    pending = rows.outbox.get("pending", 0)
    if pending:
        audit.problems.append(f"{pending} emails still pending in the outbox after settling")
    audit.facts.append("outbox: " + ", ".join(f"{n} {s}" for s, n in sorted(rows.outbox.items())))
    if rows.outbox.get("failed"):
        audit.problems.append(f"{rows.outbox['failed']} emails marked failed (the soak only causes passing failures)")


def in_window(sample: Sample, windows: list[Window]) -> Window | None:
    """The fault whose window this request overlapped, if any."""
    for window in windows:
        if sample.end >= window.start and sample.start <= window.end:
            return window
    return None


def audit_requests(audit: Audit, recorder: Recorder) -> None:
    """No 500 outside the fault windows; no transport error or 5xx at all in the baselines before and after; no
    4xx outside the fault windows (every request the clients send is a correct one)."""
    for sample in recorder.samples:
        if sample.phase == "setup":
            continue
        window = in_window(sample, recorder.windows)
        if sample.status == 500 and window is None:
            audit.unexpected_500 += 1
            audit.problems.append(f"500 for {sample.action} in phase '{sample.phase}', outside any fault")
        elif 400 <= sample.status < 500 and window is None:
            audit.unexpected_4xx += 1
            audit.problems.append(f"{sample.status} for {sample.action} in phase '{sample.phase}', outside any fault")
        elif sample.phase in ("before", "after") and (sample.status == 0 or sample.status in SERVER_ERRORS):
            audit.problems.append(
                f"{sample.status or 'no answer'} for {sample.action} in the '{sample.phase}' baseline"
            )


def audit_recovery(audit: Audit, recorder: Recorder, rows: Rows, ledger: Ledger) -> None:
    """Per fault: how long after its end requests still failed (5xx or no answer). Baseline is zero errors."""
    for index, window in enumerate(recorder.windows):
        horizon = recorder.windows[index + 1].start if index + 1 < len(recorder.windows) else math.inf
        late = [
            s.end for s in recorder.samples
            if s.start >= window.start and window.end < s.end < horizon
            and (s.status == 0 or s.status in SERVER_ERRORS)
        ]  # fmt: skip
        seconds = max(late) - window.end if late else 0.0
        audit.recovery[window.name] = f"{seconds:.1f} s"
        if late and horizon != math.inf and max(late) > horizon - 0.5:
            audit.problems.append(f"'{window.name}': errors went on until the next fault (no recovery)")
    if ledger.killed_video is not None:
        video = next((v for v in rows.videos if v["id"] == ledger.killed_video), None)
        state = video["status"] if video else "missing"
        ready = ledger.killed_video_ready_after
        audit.recovery["worker killed mid-transcode"] += (
            f"; the interrupted video {ledger.killed_video} ended {state}"
            + (f", ready {ready:.0f} s after the SIGKILL" if ready is not None else "")
        )
        if state != "ready":
            audit.problems.append(f"the video whose worker was killed ended {state}, not ready")
    if ledger.full_volume_video is not None and "media volume full" in audit.recovery:
        video = next((v for v in rows.videos if v["id"] == ledger.full_volume_video), None)
        audit.recovery["media volume full"] += (
            f"; video {ledger.full_volume_video}, transcoded as the volume filled up, ended "
            + (f"{video['status']} after {video['attempts']} attempt(s)" if video else "missing")
        )


# -- the report -----------------------------------------------------------------------------------------------------


@dataclass
class Report:
    options: Options
    recorder: Recorder
    ledger: Ledger
    audit: Audit
    seconds: float
    settle: dict[str, float]
    traffic_seconds: float

    @property
    def clean(self) -> bool:
        return not self.audit.problems

    def phases(self) -> list[str]:
        seen: list[str] = []
        for sample in self.recorder.samples:
            if sample.phase != "setup" and sample.phase not in seen:
                seen.append(sample.phase)
        return seen

    def table(self) -> str:
        """Requests per phase by status; email delays (registration -> received) per phase."""
        by_phase: dict[str, Counter[int]] = defaultdict(Counter)
        for sample in self.recorder.samples:
            by_phase[sample.phase][sample.status] += 1
        statuses = sorted({s for counts in by_phase.values() for s in counts})
        head = "| phase | requests | " + " | ".join(str(s) if s else "no answer" for s in statuses)
        head += " | activation email delay min / median / max (s) |"
        lines = [head, "|" + "---|" * (len(statuses) + 3)]
        for phase in self.phases():
            counts = by_phase[phase]
            delays = self.audit.email_delays.get(phase, [])
            shown = (
                f"{min(delays):.1f} / {statistics.median(delays):.1f} / {max(delays):.1f} ({len(delays)})"
                if delays else "-"
            )  # fmt: skip
            cells = " | ".join(str(counts.get(s, 0)) for s in statuses)
            lines.append(f"| {phase} | {sum(counts.values())} | {cells} | {shown} |")
        return "\n".join(lines)

    def recovery_table(self) -> str:
        lines = [
            "| fault | what was done | 5xx or no answer during it, by request | errors after its end went on for |",
            "|---|---|---|---|",
        ]
        for window in self.recorder.windows:
            errors = Counter(
                f"{s.action} {s.status or 'no answer'}"
                for s in self.recorder.samples
                if s.phase == window.name and (s.status == 0 or s.status in SERVER_ERRORS)
            )
            shown = ", ".join(f"{what} x{n}" for what, n in sorted(errors.items())) or "none"
            recovery = self.audit.recovery.get(window.name, "-")
            lines.append(f"| {window.name} | {window.note or '-'} | {shown} | {recovery} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        a, o = self.audit, self.options
        verdict = "**clean**" if self.clean else f"**{len(a.problems)} problem(s)**"
        settle = ", ".join(
            f"{k} {'not within the bound' if math.isnan(v) else f'after {v:.0f} s'}" for k, v in self.settle.items()
        )
        parts = [
            f"Run `{o.name}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {self.seconds:.0f} s wall time "
            f"({self.traffic_seconds:.0f} s of traffic; faults of {o.fault:.0f} s with {o.gap:.0f} s of baseline "
            f"between), {len(self.recorder.samples)} requests. Audit: {verdict}.",
            "",
            self.table(),
            "",
            self.recovery_table(),
            "",
            f"Settled after the traffic stopped: {settle}.",
            "",
            f"- lost emails: {a.lost_emails}; duplicate activation emails: {a.duplicate_activation}; "
            f"duplicate reset emails: {a.duplicate_reset}",
            f"- stuck uploads: {a.stuck_uploads}; unexpected 500s: {a.unexpected_500}; "
            f"4xx outside the faults: {a.unexpected_4xx}",
            *[f"- {fact}" for fact in a.facts],
            *[f"- **problem**: {problem}" for problem in a.problems],
        ]
        return "\n".join(parts)


def write_report(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- soak:name -->`` markers of ``path``."""
    text = path.read_text() if path.exists() else "# Reliability\n"
    start, end = f"<!-- soak:{name} -->", f"<!-- /soak:{name} -->"
    section = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def soak(options: Options, keep_logs: Path | None = None) -> Report:
    """One whole run: the stack up, traffic and faults, the audit, everything down again (the processes' logs
    copied to ``keep_logs`` first when given)."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (apt-get install ffmpeg)")
    if find_nginx() is None or not NJS_MODULE.is_file():
        raise SystemExit("nginx with njs is missing (apt-get install nginx-light libnginx-mod-http-js)")
    with Stack(options, keep_logs) as stack:
        return asyncio.run(drive(stack))


@contextlib.contextmanager
def interrupts_clean_up() -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) both raise KeyboardInterrupt, so ``Stack.close`` runs from the ``with`` block.
    SIGINT explicitly too: a shell starts background jobs with it ignored, and the stack must still go down."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the long soak (about 9 minutes) instead of ~3")
    parser.add_argument("--report", type=Path, help="write the run's section into this Markdown file")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs into this folder at the end")
    args = parser.parse_args()
    options = Options.long() if args.long else Options.short()
    with interrupts_clean_up():
        report = soak(options, args.keep_logs)
    text = report.markdown()
    print(text)
    if args.report:
        write_report(args.report, options.name, text)
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
