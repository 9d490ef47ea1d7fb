"""The container and proxy files, checked without a Docker engine: the compose file parses and wires real commands,
settings and endpoints; the Containerfile installs what the code imports; nginx accepts its config and, in front of a
stand-in upstream, serves X-Accel-Redirect files, thumbnails and uploads the way the app relies on."""

from __future__ import annotations

import ast
import asyncio
import http.server
import importlib.metadata
import json
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import jwt
import pytest
import yaml
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from packaging.requirements import Requirement

from tests.nginx import NGINX_CONF, NginxProxy, find_nginx, free_port
from videoflix.entrypoints.cli.main import cli
from videoflix.entrypoints.http.admin import MAX_IMAGE_BYTES
from videoflix.entrypoints.http.app import create_app
from videoflix.settings import Settings, variable_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
CONTAINERFILE = REPO / "Containerfile"
ENV_TEMPLATE = REPO / ".env.template"
DOCKERIGNORE = REPO / ".dockerignore"
IMAGE = "videoflix:local"
MEDIA_ROOT = "/srv/videoflix/media"
PROCESS_ONLY = {"VIDEOFLIX_ENV_FILE"}  # read from the process environment only: which .env file to read
EDGE_REVOCATION_FILE = "/srv/videoflix/edge/revoked-sessions"
EDGE_KEY = "edge-test-key-" + "k" * 40
ORIGIN = "http://127.0.0.1:5500"
KEY = "Qm3v-k7X2pTz9LwA4sR8yN1cHfJ6dG0bE5uV_iO"  # random-looking: the settings refuse predictable keys

needs_nginx = pytest.mark.skipif(
    find_nginx() is None and not os.environ.get("CI"), reason="nginx is not installed (apt-get install nginx-light)"
)


def settings_names() -> set[str]:
    """Every environment variable ``Settings.from_env`` reads: the variables of the settings table."""
    names = set(variable_names())
    assert len(names) > 30, "the settings table no longer lists the variables"
    return names


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def videoflix_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items() if service.get("image") == IMAGE}


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined, comments dropped."""
    text = CONTAINERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def check_videoflix_command(args: list[str]) -> None:
    """Parse ``args`` with the real `videoflix` click group (options validated, nothing run)."""
    command: click.Command = cli
    context = cli.make_context("videoflix", list(args), resilient_parsing=False)
    remaining = [*context._protected_args, *context.args]
    while isinstance(command, click.Group):
        name, sub, remaining = command.resolve_command(context, remaining)
        assert sub is not None, f"no such command: {args}"
        context = sub.make_context(name, list(remaining), parent=context)
        remaining = [*getattr(context, "_protected_args", []), *context.args]
        command = sub
    assert not remaining, f"unexpected arguments {remaining} in {args}"


def app_route_paths() -> set[str]:
    app = create_app(Settings.from_env({"SECRET_KEY": KEY, "VIDEOFLIX_DATA_DIR": "/nonexistent"}))
    return {route.path for route in app.routes if isinstance(route, HTTPRoute) and "GET" in route.methods}


def urls_in(value: Any) -> list[str]:
    return re.findall(r"http://127\.0\.0\.1:8000(/[A-Za-z0-9/_.-]*)", json.dumps(value))


# -- compose.yaml ----------------------------------------------------------------------------------------------------


def test_compose_has_the_whole_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    core = {"postgres", "redis", "migrate", "web", "worker", "nginx", "mailpit"}
    assert set(services) == core | {"prometheus", "grafana"}
    assert {name for name, service in services.items() if "profiles" in service} == {"prometheus", "grafana"}
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["nginx"]["image"].startswith("nginx:1.27")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    for name in ("postgres", "redis", "worker", "nginx", "mailpit", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert any(v.startswith("postgres:") for v in services["postgres"]["volumes"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    web_needs = services["web"]["depends_on"]
    assert web_needs["migrate"]["condition"] == "service_completed_successfully"
    assert web_needs["redis"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "8000:80" in services["nginx"]["ports"]
    assert any("8025:8025" in port for port in services["mailpit"]["ports"])


def test_every_image_is_pinned_to_a_version_and_every_log_is_rotated(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if image == IMAGE:
            continue
        tag = image.rpartition(":")[2]
        assert ":" in image and re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
        options = service["logging"]["options"]
        assert service["logging"]["driver"] == "json-file" and options["max-size"] and int(options["max-file"]) > 1
    for service in videoflix_services(compose).values():
        assert service["logging"]["options"]["max-size"], "the videoflix services rotate their logs too"


def test_secrets_come_from_files_never_from_the_environment(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    assert {"secret_key", "db_password", "metrics_token", "grafana_admin_password"} <= set(declared)
    assert all(secret["file"].startswith("./secrets/") for secret in declared.values())
    assert "/secrets/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    for name, service in videoflix_services(compose).items():
        environment = service["environment"]
        mounted = {f"/run/secrets/{secret}" for secret in service["secrets"]}
        for variable in ("SECRET_KEY", "DB_PASSWORD", "METRICS_TOKEN"):
            assert environment[variable] == "", f"{name}: {variable} must come from its file"
            assert environment[f"{variable}_FILE"] in mounted, name
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


def test_the_settings_read_a_secret_from_the_file_compose_mounts(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(KEY + "\n")
    password = tmp_path / "db_password"
    password.write_text("p@ss word\n")
    settings = Settings.from_env(
        {
            "SECRET_KEY": "",
            "SECRET_KEY_FILE": str(secret),
            "DB_PASSWORD_FILE": str(password),
            "DB_HOST": "postgres",
            "VIDEOFLIX_DATA_DIR": str(tmp_path),
        }
    )
    assert settings.secret_key == KEY and settings.db_password == "p@ss word"
    assert "p%40ss%20word@postgres" in settings.database_url


def test_every_videoflix_service_runs_a_real_command(compose: dict[str, Any]) -> None:
    services = videoflix_services(compose)
    assert set(services) == {"migrate", "web", "worker"}
    for name, service in services.items():
        assert service["build"]["dockerfile"] == "Containerfile", name
        check_videoflix_command(service["command"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    web = services["web"]["command"]
    assert web[0] == "serve" and "--no-migrate" in web and web[web.index("--workers") + 1] == "4"
    assert services["worker"]["command"][0] == "worker"
    check = services["worker"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "videoflix"]
    check_videoflix_command(check[2:])  # `videoflix worker-health`
    # The image's own default command is one too.
    instructions = containerfile()
    entrypoint = exec_form(next(args for kind, args in instructions if kind == "ENTRYPOINT"))
    command = exec_form(next(args for kind, args in instructions if kind == "CMD"))
    assert entrypoint == ["tini", "--", "videoflix"]
    check_videoflix_command(command)
    assert command == ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]


def test_a_wrong_command_would_be_caught() -> None:
    with pytest.raises((AssertionError, click.UsageError)):
        check_videoflix_command(["serve", "--no-such-option"])
    with pytest.raises((AssertionError, click.UsageError)):
        check_videoflix_command(["no-such-command"])


def test_compose_sets_only_settings_videoflix_reads(compose: dict[str, Any]) -> None:
    known = settings_names()
    known |= {f"{name}_FILE" for name in known}  # any setting may name a file holding its value
    for name, service in videoflix_services(compose).items():
        environment = service["environment"]
        unknown = set(environment) - known
        assert not unknown, f"{name} sets variables Videoflix does not read: {sorted(unknown)}"
        assert environment["EDGE_REVOCATION_FILE"] == EDGE_REVOCATION_FILE  # on the volume nginx reads
        assert environment["DB_HOST"] == "postgres"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["MEDIA_ROOT"] == MEDIA_ROOT
        assert "mailpit" in environment["EMAIL_HOST"] and "1025" in environment["EMAIL_PORT"]
        assert service["env_file"][0]["path"] == ".env"
        # ${NAME:-default} interpolations read .env too: they must be settings as well.
        interpolated = set(re.findall(r"\$\{([A-Z_]+)", json.dumps(service)))
        assert interpolated <= known, sorted(interpolated - known)


def test_trusted_proxies_cover_the_compose_network(compose: dict[str, Any]) -> None:
    import ipaddress

    subnet = ipaddress.ip_network(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    for service in videoflix_services(compose).values():
        trusted = [ipaddress.ip_network(p.strip()) for p in service["environment"]["TRUSTED_PROXIES"].split(",")]
        assert any(subnet.subnet_of(network) for network in trusted)  # type: ignore[arg-type]


def test_media_is_one_volume_shared_by_web_worker_and_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "media" in compose["volumes"]
    for name in ("web", "worker"):
        assert f"media:{MEDIA_ROOT}" in services[name]["volumes"], name
    nginx = services["nginx"]
    assert f"media:{MEDIA_ROOT}:ro" in nginx["volumes"]
    for mount in (
        "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro",
        "./deploy/nginx/videoflix.conf:/etc/nginx/conf.d/default.conf:ro",
        "./deploy/nginx/stream-headers.conf:/etc/nginx/stream-headers.conf:ro",
        "./deploy/nginx/videoflix.js:/etc/nginx/njs/videoflix.js:ro",
    ):
        assert mount in nginx["volumes"], mount
        assert (REPO / mount.split(":")[0]).is_file(), mount
    # The edge checks sessions as the app does: the same key, the app's list of ended sessions, the same origins.
    assert "secret_key" in nginx["secrets"]
    assert nginx["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert nginx["environment"]["EDGE_REVOCATION_FILE"] == EDGE_REVOCATION_FILE
    assert f"edge:{Path(EDGE_REVOCATION_FILE).parent}:ro" in nginx["volumes"]
    assert f"edge:{Path(EDGE_REVOCATION_FILE).parent}" in services["web"]["volumes"]
    assert "CORS_ALLOWED_ORIGINS" in nginx["environment"]
    main = (REPO / "deploy/nginx/nginx.conf").read_text(encoding="utf-8")
    assert "load_module modules/ngx_http_js_module.so;" in main
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "EDGE_REVOCATION_FILE", "CORS_ALLOWED_ORIGINS"):
        assert f"env {name};" in main, name


def test_health_checks_point_at_real_endpoints(compose: dict[str, Any]) -> None:
    routes = app_route_paths()
    web_check = urls_in(compose["services"]["web"]["healthcheck"]["test"])
    assert web_check == ["/api/ready"]
    image_check = urls_in([args for kind, args in containerfile() if kind == "HEALTHCHECK"])
    assert image_check == ["/api/health"]
    for path in web_check + image_check:
        assert path in routes, path
    # The one-shot migration has no web server: the image's check is off for it; the worker checks its heartbeat.
    assert compose["services"]["migrate"]["healthcheck"] == {"disable": True}
    assert "disable" not in compose["services"]["worker"]["healthcheck"]


async def test_the_health_check_endpoints_answer(client: AsyncTestClient) -> None:
    assert (await client.get("/api/health")).status_code == 200
    assert (await client.get("/api/ready")).status_code == 200


# -- .env.template ---------------------------------------------------------------------------------------------------


def test_env_template_lists_every_setting_once_with_a_comment() -> None:
    lines = ENV_TEMPLATE.read_text(encoding="utf-8").splitlines()
    assigned = [(index, line.split("=", 1)[0]) for index, line in enumerate(lines) if re.match(r"^[A-Z_]+=", line)]
    names = [name for _, name in assigned]
    assert len(names) == len(set(names)), "a setting is listed twice"
    assert set(names) == settings_names() - PROCESS_ONLY
    for index, name in assigned:
        assert lines[index - 1].startswith("# "), f"{name} has no comment line above it"
    for django_name in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DB_NAME", "DB_USER"):
        assert django_name in names


def test_env_template_values_are_safe_and_readable() -> None:
    from videoflix.settings import read_dotenv

    values = read_dotenv(ENV_TEMPLATE)
    assert values["SECRET_KEY"] == ""  # generated and kept in the data folder until someone sets one
    assert values["DEBUG"] == "false"
    settings = Settings.from_env({**values, "VIDEOFLIX_DATA_DIR": "/nonexistent"} | {"SECRET_KEY": KEY})
    assert settings.embedded  # the template alone selects the embedded default (compose sets DB_HOST)
    assert settings.access_token_minutes > 20  # the frontend refreshes every 20 minutes
    assert settings.max_upload_bytes == 4 * 1024**3


# -- Containerfile ---------------------------------------------------------------------------------------------------


def test_containerfile_is_multi_stage_slim_and_non_root() -> None:
    instructions = containerfile()
    bases = [args for kind, args in instructions if kind == "FROM"]
    assert len(bases) >= 2
    image_arg = next(args for kind, args in instructions if kind == "ARG" and args.startswith("PYTHON_IMAGE="))
    image = image_arg.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.(1[1-9])-slim(-\w+)?", image), image
    users = [args for kind, args in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    runtime = [args for kind, args in instructions if kind == "RUN"]
    apt = next(args for args in runtime if "apt-get install" in args)
    assert {"ffmpeg", "tini"} <= set(apt.split())
    assert "--no-install-recommends" in apt and "rm -rf /var/lib/apt/lists" in apt
    assert any(kind == "HEALTHCHECK" for kind, _ in instructions)
    env = " ".join(args for kind, args in instructions if kind == "ENV")
    assert f"MEDIA_ROOT={MEDIA_ROOT}" in env
    labels = " ".join(args for kind, args in instructions if kind == "LABEL")
    for label in ("title", "description", "licenses", "version", "revision", "created"):
        assert f"org.opencontainers.image.{label}=" in labels, label
    volumes = exec_form(next(args for kind, args in instructions if kind == "VOLUME"))
    edge_folder = str(Path(EDGE_REVOCATION_FILE).parent)
    assert set(volumes) == {"/srv/videoflix/data", MEDIA_ROOT, edge_folder}
    # A named volume mounted on a folder the image lacks belongs to root: the app (not root) could not write there.
    made = next(args for args in runtime if "mkdir -p" in args)
    for folder in volumes:
        assert folder in made.split(), folder
    assert "chown -R videoflix:videoflix /srv/videoflix" in made
    example = CONTAINERFILE.read_text(encoding="utf-8").split("FROM", 1)[0]
    assert f"-v videoflix-media:{MEDIA_ROOT}" in example  # the documented `docker run` keeps media on a volume


def test_containerfile_installs_the_project_and_everything_it_imports() -> None:
    instructions = containerfile()
    runs = " ".join(args for kind, args in instructions if kind == "RUN")
    copies = [args for kind, args in instructions if kind == "COPY"]
    assert "pip install -r requirements/base.txt" in runs  # the exact versions of the lock
    assert "pip install --no-deps ." in runs  # then the project itself, resolving nothing again
    assert runs.index("pip install -r requirements/base.txt") < runs.index("pip install --no-deps .")
    assert any(args.startswith("requirements/base.txt") for args in copies)
    assert any(args.startswith("pyproject.toml") for args in copies)
    assert any(args.startswith("src ") for args in copies)
    # What the build context lets in: an allowlist of exactly what the COPY lines need.
    allowed = [line for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if line.startswith("!")]
    assert set(allowed) == {"!pyproject.toml", "!README.md", "!requirements/base.txt", "!src/", "!studio/"}
    ignored = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert {"studio/node_modules", "src/videoflix/entrypoints/http/studio"} <= set(ignored)  # built in the image
    # Every third-party module the code imports comes with a declared dependency (directly or through one), or with
    # one of the optional extras it is imported for (ffmpeg-wheel, otel).
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [
        requirement
        for extra, items in project["optional-dependencies"].items()
        if extra != "dev"
        for requirement in items
    ]
    installed = _dependency_closure(declared)
    providers = importlib.metadata.packages_distributions()
    for module in _third_party_imports():
        distributions = {_normalize(d) for d in providers.get(module, [])}
        assert distributions & installed, f"`import {module}` is not covered by pyproject dependencies"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dependency_closure(requirements: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        name = _normalize(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            child = Requirement(line)
            environment = {"extra": ""}
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({**environment, "extra": e}) for e in extras):
                pending.append(child)
    return seen


def _third_party_imports() -> set[str]:
    modules: set[str] = set()
    for path in (REPO / "src" / "videoflix").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "videoflix"}


def test_containerfile_builds_the_studio_from_the_lock_file_into_the_package() -> None:
    instructions = containerfile()
    stages = [args for kind, args in instructions if kind == "FROM"]
    assert any(args.endswith("AS studio") for args in stages), stages
    runs = [args for kind, args in instructions if kind == "RUN"]
    assert any("npm ci" in args for args in runs) and any("npm run --silent build" in args for args in runs)
    copies = [args for kind, args in instructions if kind == "COPY"]
    assert any("studio/package-lock.json" in args for args in copies)
    studio = "/build/src/videoflix/entrypoints/http/studio ./src/videoflix/entrypoints/http/studio"
    position = {args: index for index, (_, args) in enumerate(instructions)}
    copy_in = next(args for args in copies if args == f"--from=studio {studio}")
    install = next(args for kind, args in instructions if kind == "RUN" and "pip install --no-deps ." in args)
    assert position[copy_in] < position[install]  # the wheel is built with the Studio in it


def test_containerfile_env_is_made_of_settings() -> None:
    names = set()
    for kind, args in containerfile():
        if kind == "ENV":
            names |= set(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", args))
    ours = {n for n in names if not n.startswith(("PYTHON", "PIP")) and n != "PATH"}
    assert ours and ours <= settings_names()


# -- nginx -----------------------------------------------------------------------------------------------------------


def _locations(conf: str) -> dict[str, str]:
    """``location`` header -> its block, for the un-nested locations of the config."""
    blocks = {}
    conf = re.sub(r"(?m)^\s*#.*$", "", conf)  # comments may mention a location too
    for match in re.finditer(r'location\s+((?:"[^"]*"|[^{"])+?)\s*\{', conf):  # a quoted regex may hold braces
        depth, start = 1, match.end()
        index = start
        while depth:
            depth += {"{": 1, "}": -1}.get(conf[index], 0)
            index += 1
        blocks[match.group(1).strip()] = conf[start : index - 1]
    return blocks


def test_nginx_config_has_the_production_locations() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    locations = _locations(conf)
    streams = [
        block for header, block in locations.items() if header.startswith(('~ "^/api/video/', '~ "^(/api/video/'))
    ]
    linked = [block for header, block in locations.items() if header.startswith('~ "^/media/hls/')]
    for block in (*streams, *linked):
        if "alias" in block:
            assert f"alias {MEDIA_ROOT}/videos/$1/$2/$3;" in block
            assert "include stream-headers.conf;" in block
            assert re.search(r'if \(\$videoflix_(viewer|link) = ""\)', block)  # nothing is sent unchecked
    assert len(streams) == 2 and len(linked) == 1
    headers = (NGINX_CONF.parent / "stream-headers.conf").read_text(encoding="utf-8")
    assert "sendfile on;" in headers
    assert "application/vnd.apple.mpegurl m3u8;" in headers and "video/MP2T ts;" in headers
    for upload in (locations["~ ^/api/admin/videos/?$"], locations["^~ /api/admin/uploads"]):  # multipart, tus
        assert "proxy_request_buffering off;" in upload
        size = re.search(r"client_max_body_size (\d+)m;", upload)
        assert size and int(size.group(1)) * 1024**2 > Settings.max_upload_bytes
    thumbnail = re.search(r"client_max_body_size (\d+)m;", locations["~ ^/api/admin/videos/[0-9]+/thumbnail/?$"])
    assert thumbnail and int(thumbnail.group(1)) * 1024**2 > MAX_IMAGE_BYTES  # the Studio's new posters
    assert f"alias {MEDIA_ROOT}/thumbnails/;" in locations["/media/thumbnails/"]
    assert "server web:8000;" in conf  # the compose service and port


@needs_nginx
def test_nginx_accepts_the_local_rendering(tmp_path: Path) -> None:
    proxy = NginxProxy(app_port=free_port(), media_root=tmp_path)
    try:
        result = proxy.check()
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr


# -- nginx in front of a stand-in upstream ---------------------------------------------------------------------------


class Upstream(http.server.ThreadingHTTPServer):
    """A stand-in for the app: 200 JSON naming the path, 503 for /api/ready; it records what reached it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _UpstreamHandler)
        self.seen: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, *args: Any) -> None:
        pass

    def _record(self, body: bytes) -> None:
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "size": len(body)})

    def do_GET(self) -> None:
        self._record(b"")
        if self.path == "/api/ready":
            self._json(503, {"status": "not ready"})
            return
        self._json(200, {"path": self.path})

    def do_POST(self) -> None:
        size = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                length = int(self.rfile.readline().strip(), 16)
                size += len(self.rfile.read(length))
                self.rfile.readline()
                if length == 0:
                    break
        else:
            size = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "size": size})
        self._json(202, {"received": size})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    rendition = root / "releases" / "7" / "abc" / "480p"
    rendition.mkdir(parents=True)
    (root / "videos").mkdir()
    (root / "videos" / "7").symlink_to("../releases/7/abc")  # published, as the media store does it
    (rendition / "000.ts").write_bytes(b"\x47" + bytes(range(187)) * 50)
    (rendition / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:4\n" + "#EXTINF:4.0,\n000.ts\n" * 100)
    (root / "thumbnails").mkdir()
    (root / "thumbnails" / "7-0123456789ab.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    return root


@pytest.fixture
def proxied(media: Path) -> Iterator[tuple[NginxProxy, Upstream]]:
    if find_nginx() is None and not os.environ.get("CI"):  # in CI a missing nginx is a failure
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    upstream = Upstream()
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        revocations = media.parent / "revoked-sessions"
        revocations.write_text("\nended-session\n")
        env = {"SECRET_KEY": EDGE_KEY, "EDGE_REVOCATION_FILE": str(revocations), "CORS_ALLOWED_ORIGINS": ORIGIN}
        with NginxProxy(app_port=upstream.port, media_root=media, env=env) as proxy:
            yield proxy, upstream
    finally:
        upstream.shutdown()
        upstream.server_close()


def access_cookie(session: str = "a-session", expires_in: int = 60) -> dict[str, str]:
    """An access cookie as the app issues it (tokens.py), signed with the key nginx was given."""
    now = int(time.time())
    claims = {"sub": "1", "jti": "j", "type": "access", "iat": now, "exp": now + expires_in, "iss": "videoflix"}
    return {"access_token": jwt.encode({**claims, "fam": session}, EDGE_KEY, algorithm="HS256")}


def test_nginx_sends_segments_to_a_valid_session(proxied: tuple[NginxProxy, Upstream], media: Path) -> None:
    proxy, upstream = proxied
    origin = {"Origin": ORIGIN}
    for path in ("/api/video/7/480p/000.ts", "/api/video/7/480p/000.ts/"):
        response = httpx.get(proxy.url + path, headers=origin, cookies=access_cookie())
        assert response.status_code == 200, proxy.logs()
        assert response.content == (media / "releases/7/abc/480p/000.ts").read_bytes()
        assert response.headers["content-type"] == "video/MP2T"
        assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "Origin" in response.headers["vary"]
    assert not upstream.seen  # nginx decided alone
    ranged = httpx.get(
        proxy.url + "/api/video/7/480p/000.ts", headers={"Range": "bytes=0-187"}, cookies=access_cookie()
    )
    assert ranged.status_code == 206 and len(ranged.content) == 188
    for cookies in ({}, access_cookie("ended-session"), access_cookie(expires_in=-1)):
        refused = httpx.get(proxy.url + "/api/video/7/480p/000.ts", headers=origin, cookies=cookies)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/json"


def test_nginx_sends_playlists_compressed_and_no_cors_for_strangers(proxied: tuple[NginxProxy, Upstream]) -> None:
    proxy, _ = proxied
    response = httpx.get(
        proxy.url + "/api/video/7/480p/index.m3u8",
        headers={"Accept-Encoding": "gzip", "Origin": "http://127.0.0.1.evil.test"},
        cookies=access_cookie(),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.startswith("#EXTM3U")  # httpx decompressed it
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    segment = httpx.get(
        proxy.url + "/api/video/7/480p/000.ts", headers={"Accept-Encoding": "gzip"}, cookies=access_cookie()
    )
    assert "content-encoding" not in segment.headers  # video is not compressed again


def test_the_media_folder_is_not_reachable_directly(proxied: tuple[NginxProxy, Upstream]) -> None:
    proxy, _ = proxied
    for path in ("/media/releases/7/abc/480p/000.ts", "/media/videos/7/480p/000.ts", "/_protected_media/videos/7"):
        response = httpx.get(proxy.url + path, cookies=access_cookie())
        assert response.json() == {"path": path}  # the app's to answer (a 404), never a file from disk
    missing = httpx.get(proxy.url + "/api/video/8/480p/000.ts", cookies=access_cookie())
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}


def test_nginx_serves_thumbnails_from_the_media_folder(proxied: tuple[NginxProxy, Upstream], media: Path) -> None:
    proxy, upstream = proxied
    response = httpx.get(proxy.url + "/media/thumbnails/7-0123456789ab.jpg")
    assert response.status_code == 200
    assert response.content == (media / "thumbnails" / "7-0123456789ab.jpg").read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert not upstream.seen  # the app was not asked
    missing = httpx.get(proxy.url + "/media/thumbnails/8-0123456789ab.jpg")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}


def test_nginx_forwards_the_client_and_request_id(proxied: tuple[NginxProxy, Upstream]) -> None:
    proxy, upstream = proxied
    response = httpx.get(proxy.url + "/api/video/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    headers = upstream.seen[-1]["headers"]
    # The spoofed hop stays first; nginx appends the real peer, which is what the app trusts (TRUSTED_PROXIES).
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["Host"] == f"127.0.0.1:{proxy.port}"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    root = httpx.get(proxy.url + "/")
    assert root.json() == {"path": "/"}  # / goes to the app (the frontend, with FRONTEND_DIR)
    not_ready = httpx.get(proxy.url + "/api/ready")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"status": "not ready"}  # the app's own error answers pass unchanged


def test_uploads_stream_through_and_json_bodies_stay_small(proxied: tuple[NginxProxy, Upstream]) -> None:
    proxy, upstream = proxied
    big = 8 * 1024 * 1024  # above the 2 MiB limit of the other /api/ locations

    def chunks() -> Iterator[bytes]:
        for _ in range(big // 65536):
            yield b"\0" * 65536

    for path in ("/api/admin/videos/", "/api/admin/videos"):
        upload = httpx.post(proxy.url + path, content=chunks(), timeout=30)
        assert upload.status_code == 202, proxy.logs()
        assert upload.json() == {"received": big}
        assert upstream.seen[-1]["size"] == big
    too_big = httpx.post(proxy.url + "/api/login/", content=b"x" * big, timeout=30)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/json"
    assert too_big.json() == {"detail": "The request body is too large."}


@needs_nginx
def test_an_unreachable_app_is_a_json_503(tmp_path: Path) -> None:
    with NginxProxy(app_port=free_port(), media_root=tmp_path) as proxy:  # nothing listens there
        response = httpx.get(proxy.url + "/api/video/")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert "unavailable" in response.json()["detail"]


# -- the lock: the same versions on every install ---------------------------------------------------------------------


def locked(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s;]+)", line)
        if match:
            pins[_normalize(match[1])] = match[2]
    return pins


def test_the_lock_pins_every_dependency_of_pyproject_within_its_bounds() -> None:
    import tomllib

    from packaging.version import Version

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base, dev = locked(REPO / "requirements/base.txt"), locked(REPO / "requirements/dev.txt")
    extras = [r for extra in ("dev", "otel", "ffmpeg-wheel") for r in project["optional-dependencies"][extra]]
    for lock, requirements in ((base, project["dependencies"]), (dev, project["dependencies"] + extras)):
        for line in requirements:
            requirement = Requirement(line)
            name = _normalize(requirement.name)
            assert name in lock, f"{name} is not in the lock: run `make lock`"
            assert Version(lock[name]) in requirement.specifier, f"{name}=={lock[name]} is outside {requirement}"
    assert all(dev.get(name) == version for name, version in base.items())  # one set of versions
    for name in ("litestar", "saq", "sqlalchemy", "granian"):  # a new major version is a deliberate change
        [requirement] = [Requirement(r) for r in project["dependencies"] if _normalize(Requirement(r).name) == name]
        assert any(spec.operator == "<" for spec in requirement.specifier), name
    assert "imageio-ffmpeg" not in base  # 165 MB only for those who ask for it (the ffmpeg-wheel extra)


def test_make_ci_and_the_image_install_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet -r requirements/base.txt" in makefile
    assert "pip install --quiet -r requirements/dev.txt" in makefile
    assert makefile.count("pip install --quiet --no-deps -e .") == 2
    assert "uv pip compile pyproject.toml" in makefile  # `make lock`
    ci = (REPO / ".ci/run").read_text(encoding="utf-8")
    assert "make lint" in ci and "make test" in ci  # make installs from the lock


# -- monitoring: Prometheus and Grafana (compose's `monitoring` profile) -------------------------------------------


def test_prometheus_scrapes_web_and_worker_with_the_metrics_token(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    web, worker = jobs["videoflix-web"], jobs["videoflix-worker"]
    assert web["static_configs"][0]["targets"] == ["web:8000"]
    assert worker["dns_sd_configs"][0]["names"] == ["worker"]
    services = compose["services"]
    assert str(worker["dns_sd_configs"][0]["port"]) == services["worker"]["environment"]["WORKER_METRICS_PORT"]
    assert "9101" in services["worker"]["expose"]
    prometheus = services["prometheus"]
    for job in (web, worker):
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert "metrics_token" in prometheus["secrets"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"] + services["grafana"]["ports"])


def test_grafana_provisions_the_prometheus_source_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    source = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    [datasource] = source["datasources"]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/videoflix.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/videoflix.json").read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert all(panel["datasource"]["uid"] == datasource["uid"] for panel in panels)


async def test_every_metric_on_the_dashboard_is_one_videoflix_serves(tmp_path: Path) -> None:
    """The dashboard's queries name metrics of the web's /metrics and the worker's port (one registry here)."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import make_settings
    from videoflix.adapters.db.migrate import upgrade
    from videoflix.bootstrap import bootstrap

    settings = make_settings(tmp_path, METRICS_TOKEN="dashboard-token-0123456789")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url="http://127.0.0.1:8000") as client:
            text = (await client.get("/metrics", headers={"Authorization": "Bearer dashboard-token-0123456789"})).text
    finally:
        await container.close()
    served = set()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    for family in text_string_to_metric_families(text):
        served |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/videoflix.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"\b(videoflix_[a-z_]+)", target["expr"])
    }
    assert len(used) >= 12
    assert used <= served, sorted(used - served)
    for needed in ("videoflix_http_requests_total", "videoflix_transcodes_total", "videoflix_queue_jobs"):
        assert needed in used  # requests, transcodes, queue and emails are on it
    assert "videoflix_outbox_emails" in used


def test_nginx_never_serves_metrics_and_answers_its_own_health_check(proxied: tuple[NginxProxy, Upstream]) -> None:
    proxy, upstream = proxied
    for path in ("/metrics", "/metrics/"):
        hidden = httpx.get(proxy.url + path)
        assert hidden.status_code == 404 and hidden.json() == {"detail": "Not found."}
    health = httpx.get(proxy.url + "/nginx-health")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert not [seen for seen in upstream.seen if seen["path"].startswith(("/metrics", "/nginx-health"))]
