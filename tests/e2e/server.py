"""Real ``videoflix`` processes for end-to-end tests: the server (Granian) and the SAQ worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VIDEOFLIX = str(Path(sys.executable).parent / "videoflix")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "EMAIL_", "REDIS", "DATABASE"))}
    env.update({"VIDEOFLIX_ENV_FILE": "/nonexistent/.env", "NO_PROXY": "127.0.0.1,localhost"})
    env.update(overrides)
    return env


class Process:
    """A child process in its own session, so stopping it also stops what it started (Granian workers, ffmpeg)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


class Server(Process):
    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()  # a given port: a restart where clients expect the server
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [VIDEOFLIX, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            env,
            log_path,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/video/", timeout=1).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")


class Worker(Process):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__([VIDEOFLIX, "worker"], env, log_path)


def create_staff(env: dict[str, str], email: str, password: str) -> None:
    """``videoflix users create-admin`` as an operator runs it, password on stdin."""
    done = subprocess.run(
        [VIDEOFLIX, "users", "create-admin", "--email", email, "--password-stdin"],
        input=password + "\n",
        text=True,
        env=env,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def access_token(base_url: str, email: str, password: str, origin: str) -> str:
    """Log in over HTTP as the frontend does; the access cookie's value."""
    login = httpx.post(
        f"{base_url}/api/login/", json={"email": email, "password": password}, headers={"Origin": origin}
    )
    assert login.status_code == 200, login.text
    return login.cookies["access_token"]
