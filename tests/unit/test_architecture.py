"""The layering rules of docs/architecture.md, checked on the code itself (imports are read, nothing is run):

- the domain imports only the standard library and itself;
- adapters import no entrypoint and no domain service (only models, ports and errors);
- entrypoints reach adapters only through ``bootstrap``;
- no import cycle between modules, nor between packages;
- access by guards and services by dependency injection at the HTTP edge;
- one source of job names: every job the domain rings has a handler in both queues.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from litestar.routes import HTTPRoute

import videoflix
from videoflix.domain.jobs import Job

PACKAGE = Path(videoflix.__file__).parent
DOMAIN_SERVICES = (
    "videoflix.domain.accounts.service",
    "videoflix.domain.accounts.delivery",
    "videoflix.domain.media.uploads",
)

# Entrypoint modules allowed to import an adapter directly, and why. Empty: bootstrap hands out everything.
ENTRYPOINT_ADAPTER_EXCEPTIONS: dict[str, str] = {}

# HTTP modules that may read the container from the app state instead of receiving services by injection.
CONTAINER_READERS = {
    "entrypoints/http/dependencies.py": "it is the injection: the providers read the container",
    "entrypoints/http/access.py": "guards run before injection and get only the connection",
    "entrypoints/http/ratelimits.py": "a guard, for the same reason",
    "entrypoints/http/app.py": "the lifespan puts the container there",
    "entrypoints/http/videos.py": "the raw ASGI streaming path (no Request, no injection: see its benchmark)",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[str]:
    """Every module ``path`` imports (relative imports resolved), including ``from x import name`` as x.name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inside = path.is_relative_to(PACKAGE)
    package = (
        "" if not inside else module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def source_files(folder: str = "") -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = {module_name(path): path for path in source_files()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {imported for imported in imports_of(path) if imported in modules and imported != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    return module.rpartition(".")[0] or module


# -- layers --------------------------------------------------------------------------------------------------------


def test_domain_imports_no_framework_adapter_or_entrypoint():
    offenders = []
    for path in source_files("domain"):
        for name in imports_of(path):
            root = name.split(".")[0]
            allowed = name.startswith("videoflix.domain") if root == "videoflix" else root in sys.stdlib_module_names
            if not allowed:
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_adapters_import_no_entrypoint_and_no_domain_service():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in source_files("adapters")
        for name in imports_of(path)
        if name.startswith(("videoflix.entrypoints", "videoflix.bootstrap", *DOMAIN_SERVICES))
    ]
    assert offenders == []


def test_entrypoints_reach_adapters_only_through_bootstrap():
    offenders = [
        f"{relative}: {name}"
        for path in source_files("entrypoints")
        if (relative := str(path.relative_to(PACKAGE))) not in ENTRYPOINT_ADAPTER_EXCEPTIONS
        for name in imports_of(path)
        if name.startswith("videoflix.adapters")
    ]
    assert offenders == []


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, imported in import_graph().items():
        packages[package_of(module)] |= {package_of(target) for target in imported} - {package_of(module)}
    assert cycles(packages) == []


def test_the_checks_would_catch_what_they_forbid(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import litestar\nfrom sqlalchemy import select\n")
    assert {n.split(".")[0] for n in imports_of(bad)} - set(sys.stdlib_module_names) == {"litestar", "sqlalchemy"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# -- the HTTP edge -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    from tests.conftest import make_settings
    from videoflix.entrypoints.http.app import create_app

    return create_app(make_settings(Path("/nonexistent-data-dir")))


def api_handlers(app):  # type: ignore[no-untyped-def]
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(("/api/", "/media/")):
            for handler in route.route_handlers:
                if handler.http_methods != {"OPTIONS"}:  # Litestar's own CORS preflight answers
                    yield route.path_format, handler


def guards_of(handler):  # type: ignore[no-untyped-def]
    """The guards declared on the handler and on every layer that owns it (controller, router, app)."""
    return {guard for layer in handler.ownership_layers for guard in (layer.guards or [])}


def test_every_admin_route_is_guarded_as_staff_and_every_catalog_route_as_viewer(app):
    from videoflix.entrypoints.http.access import staff, viewer

    streaming = {"master_playlist", "rendition_file"}  # raw ASGI, checked by _stream itself (see videos.py)
    for path, handler in api_handlers(app):
        guards = guards_of(handler)
        if path.startswith("/api/admin"):
            assert staff in guards, path
        elif path.startswith("/api/video") and handler.handler_name not in streaming:
            assert viewer in guards, path


def test_guards_are_coroutines(app):
    """Litestar runs a plain-function guard in a worker thread on every request: on the catalog that cost more
    than the rest of the request together."""
    for path, handler in api_handlers(app):
        for guard in guards_of(handler):
            assert inspect.iscoroutinefunction(guard), f"{path}: {guard.__name__}"


def test_the_docs_say_protected_exactly_where_a_guard_protects(app):
    from videoflix.entrypoints.http.access import staff, viewer
    from videoflix.entrypoints.http.openapi import ACCESS_SCHEME, CSRF_SCHEME

    for path, handler in api_handlers(app):
        guarded = bool({staff, viewer} & guards_of(handler))
        security = handler.resolve_security()
        declared = any(ACCESS_SCHEME in requirement for requirement in security)
        if handler.handler_name in {"master_playlist", "rendition_file"}:
            guarded = True  # the raw streaming path checks the access cookie itself
        assert declared == guarded, f"{path} {handler.handler_name}"
        unsafe = bool(set(handler.http_methods) & {"POST", "PATCH", "PUT", "DELETE"})
        # The frontend refreshes without the header (docs/api.md): that one unsafe request goes without it.
        if unsafe and security and handler.handler_name != "refresh":
            assert all(CSRF_SCHEME in requirement for requirement in security), path


def test_handlers_get_services_by_injection_not_from_the_app_state():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in source_files("entrypoints/http")
        if "state.container" in path.read_text() and str(path.relative_to(PACKAGE)) not in CONTAINER_READERS
    ]
    assert offenders == []


# -- jobs ----------------------------------------------------------------------------------------------------------


def test_the_domain_rings_jobs_only_by_their_job_member():
    offenders = []
    for path in source_files("domain"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue":
                first = node.args[0] if node.args else None
                if not (
                    isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "Job"
                ):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


async def test_every_job_has_limits_and_a_handler_in_both_queues(tmp_path):
    from tests.conftest import make_settings
    from videoflix.adapters.db.migrate import upgrade
    from videoflix.adapters.queue.jobs import LIMITS
    from videoflix.adapters.queue.saq_worker import saq_function
    from videoflix.bootstrap import bootstrap, create_worker

    assert set(LIMITS) == set(Job)
    settings = make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")  # never connected to in this test
    worker = create_worker(settings)
    assert set(worker.functions) == {job.value for job in Job}
    assert all(worker.functions[job.value].__name__ == saq_function(job).__name__ for job in Job)

    embedded = make_settings(tmp_path / "embedded")
    await asyncio.to_thread(upgrade, embedded.database_url)
    container = await bootstrap(embedded, run_periodic_sweeps=False)
    try:
        assert set(container.job_handlers()) == set(Job)
        assert container.queue.registered == frozenset(Job)  # type: ignore[attr-defined]
    finally:
        await container.close()
