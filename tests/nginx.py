"""Run the production nginx config (``deploy/nginx/videoflix.conf``) on this machine, without Docker.

The config file stays the one source of truth: this helper copies it, replaces only the values its lines mark
with ``# local: upstream|listen|media|js`` (the web service's address, nginx's listen address, the media folder,
the folder of ``videoflix.js``), and wraps it in a minimal main config (like ``deploy/nginx/nginx.conf``: the njs
module and the environment it reads) whose pid, logs and temp folders live in a private directory, running as the
current user. ``env=`` gives nginx the variables ``videoflix.js`` reads (``SECRET_KEY``, ``EDGE_REVOCATION_FILE``,
``CORS_ALLOWED_ORIGINS``). Then it starts ``nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`` as a child process::

    with NginxProxy(app_port=8123, media_root=settings.media_root) as proxy:
        httpx.get(proxy.url + "/api/health")

Several app processes behind the one upstream (a load-balanced web tier): ``NginxProxy(app_port=first,
app_ports=[first, second], ...)`` renders one ``server`` line per port.

``NginxProxy(...).start()`` / ``.stop()`` do the same without a ``with`` block; ``.check()`` runs ``nginx -t``;
``.logs()`` returns the access and error logs (handy in an assertion message). The files live in a temporary folder
removed by ``stop()``, unless ``workdir=`` names one to keep. For benchmarks: ``worker_processes="auto"`` and
``access_log=False``.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
DEPLOY_NGINX = REPO / "deploy" / "nginx"
NGINX_CONF = DEPLOY_NGINX / "videoflix.conf"
INCLUDED = ("stream-headers.conf",)  # included by videoflix.conf, relative to the main config's folder
NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian's libnginx-mod-http-js
# What videoflix.js reads, as the production main config passes it to nginx's workers (one list: its `env` lines).
NJS_ENVIRONMENT = tuple(re.findall(r"^env (\w+);", (DEPLOY_NGINX / "nginx.conf").read_text(encoding="utf-8"), re.M))
PRODUCTION_MEDIA_ROOT = "/srv/videoflix/media/"
_MARKER = re.compile(r"#\s*local:\s*(\w+)")
MIME_TYPES = Path("/etc/nginx/mime.types")


def find_nginx() -> str | None:
    """The nginx binary: on PATH, or where Debian puts it (``/usr/sbin`` is not on every user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def render_server_config(
    source: str,
    *,
    app_host: str,
    app_port: int,
    listen_host: str,
    listen_port: int,
    media_root: Path,
    access_log: bool = True,
    app_ports: Sequence[int] | None = None,
) -> str:
    """``source`` (the production config) with the ``# local:`` marked values replaced for a local run
    (``access_log=False`` turns the access log off, for benchmarks; ``app_ports`` puts several app processes in the
    upstream, ``app_port`` alone is one)."""
    media = str(Path(media_root).resolve()).rstrip("/") + "/"
    upstream = " ".join(f"server {app_host}:{port};" for port in (app_ports or [app_port]))
    seen: dict[str, int] = {}
    lines = []
    for line in source.splitlines():
        marker = _MARKER.search(line)
        if marker:
            key = marker.group(1)
            seen[key] = seen.get(key, 0) + 1
            if key == "upstream":
                line, count = re.subn(r"\bserver\s+\S+;", lambda _: upstream, line)
            elif key == "listen":
                line, count = re.subn(r"\blisten\s+[^;]+;", f"listen {listen_host}:{listen_port};", line)
            elif key == "js":
                line, count = re.subn(r"\bjs_path\s+[^;]+;", f'js_path "{DEPLOY_NGINX}/";', line)
            elif key == "media":
                count = line.count(PRODUCTION_MEDIA_ROOT)
                line = re.sub(
                    r"\balias\s+" + re.escape(PRODUCTION_MEDIA_ROOT) + r"([^;\s]*);",
                    lambda m: f'alias "{media}{m.group(1)}";',
                    line,
                )
            else:
                raise ValueError(f"unknown '# local: {key}' marker in {NGINX_CONF.name}")
            if count != 1:
                raise ValueError(f"the '# local: {key}' line of {NGINX_CONF.name} no longer has the expected form")
        elif not access_log and re.match(r"\s*access_log\s", line):
            line = re.sub(r"access_log\s[^;]+;", "access_log off;", line)
        lines.append(line)
    missing = {"upstream", "listen", "media", "js"} - set(seen)
    if missing:
        raise ValueError(f"{NGINX_CONF.name} lost its '# local:' markers: {sorted(missing)}")
    return "\n".join(lines) + "\n"


def _user_directive() -> str:
    # nginx started by root switches its workers to `nobody`, which could not read a private temp folder.
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};\n"


def render_main_config(workdir: Path, server_config: Path, worker_processes: int | str = 1) -> str:
    temp = workdir / "temp"
    mime = f"    include {MIME_TYPES};\n" if MIME_TYPES.is_file() else ""
    return (
        f"load_module {NJS_MODULE};\n"
        + "".join(f"env {name};\n" for name in NJS_ENVIRONMENT)
        + _user_directive()
        + f"worker_processes {worker_processes};\n"
        + f"pid {workdir / 'nginx.pid'};\n"
        + f"error_log {workdir / 'error.log'} notice;\n"
        + "events { worker_connections 4096; }\n"
        + "http {\n"
        + mime
        + "    default_type application/octet-stream;\n"
        + f"    client_body_temp_path {temp / 'client_body'};\n"
        + f"    proxy_temp_path {temp / 'proxy'};\n"
        + f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        + f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        + f"    scgi_temp_path {temp / 'scgi'};\n"
        + f"    include {server_config};\n"
        + "}\n"
    )


class NginxProxy:
    """The production nginx config in front of an app on ``127.0.0.1:app_port``, serving ``media_root``."""

    def __init__(
        self,
        app_port: int,
        media_root: Path | str,
        listen_port: int | None = None,
        *,
        app_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        workdir: Path | str | None = None,
        worker_processes: int | str = 1,
        access_log: bool = True,
        nginx: str | None = None,
        source: Path = NGINX_CONF,
        env: dict[str, str] | None = None,
        app_ports: Sequence[int] | None = None,
    ) -> None:
        binary = nginx or find_nginx()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.nginx = binary
        self.app_host, self.app_port = app_host, app_port
        self.app_ports = list(app_ports) if app_ports else [app_port]
        self.listen_host = listen_host
        self.port = listen_port or free_port(listen_host)
        self.media_root = Path(media_root)
        self.worker_processes = worker_processes
        self.access_log = access_log
        self.source = source
        self.env = {**os.environ, **(env or {})}
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="videoflix-nginx-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.config = self.write_config()

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    def write_config(self) -> Path:
        """Render both files into the work directory; returns the main config's path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / "temp" / folder).mkdir(parents=True, exist_ok=True)
        for name in INCLUDED:
            shutil.copyfile(DEPLOY_NGINX / name, self.workdir / name)
        server = self.workdir / "videoflix.conf"
        server.write_text(
            render_server_config(
                self.source.read_text(encoding="utf-8"),
                app_host=self.app_host,
                app_port=self.app_port,
                listen_host=self.listen_host,
                listen_port=self.port,
                media_root=self.media_root,
                access_log=self.access_log,
                app_ports=self.app_ports,
            ),
            encoding="utf-8",
        )
        main = self.workdir / "nginx.conf"
        main.write_text(render_main_config(self.workdir, server, self.worker_processes), encoding="utf-8")
        return main

    def _command(self, *extra: str) -> list[str]:
        return [
            self.nginx,
            "-p",
            str(self.workdir),
            "-c",
            str(self.config),
            "-e",
            str(self.workdir / "error.log"),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the rendered config (returncode 0 when nginx accepts it; the reason in stderr)."""
        return subprocess.run(
            self._command("-t"), capture_output=True, text=True, check=False, timeout=30, env=self.env
        )

    def start(self, timeout: float = 10.0) -> NginxProxy:
        if self.process is not None:
            return self
        access_log = (self.workdir / "access.log").open("ab")
        try:
            self.process = subprocess.Popen(
                self._command("-g", "daemon off;"), stdout=access_log, stderr=subprocess.STDOUT, env=self.env
            )
        finally:
            access_log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"nginx did not start:\n{self.logs()}")
            try:
                with socket.create_connection((self.listen_host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nginx did not listen on {self.url} within {timeout} s:\n{self.logs()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGQUIT: finish the requests in flight), then SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self) -> str:
        parts = []
        for name in ("error.log", "access.log"):
            path = self.workdir / name
            if path.is_file():
                parts.append(f"--- {name}\n{path.read_text(encoding='utf-8', errors='replace')}")
        return "\n".join(parts)

    def __enter__(self) -> NginxProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
