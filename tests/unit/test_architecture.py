"""The layering rule of docs/architecture.md: the domain imports only the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import videoflix

PACKAGE = Path(videoflix.__file__).parent
ALLOWED_ROOTS = set(sys.stdlib_module_names) | {"videoflix"}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_domain_imports_no_framework_adapter_or_entrypoint():
    offenders = []
    for path in sorted((PACKAGE / "domain").rglob("*.py")):
        for name in imports_of(path):
            root = name.split(".")[0]
            if root not in ALLOWED_ROOTS or name.startswith(("videoflix.adapters", "videoflix.entrypoints")):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
            if name in ("videoflix.bootstrap", "videoflix.settings"):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_adapters_do_not_import_entrypoints():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted((PACKAGE / "adapters").rglob("*.py"))
        for name in imports_of(path)
        if name.startswith("videoflix.entrypoints")
    ]
    assert offenders == []


def test_the_check_would_catch_a_framework_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import litestar\nfrom sqlalchemy import select\n")
    assert [n.split(".")[0] not in ALLOWED_ROOTS for n in imports_of(bad)] == [True, True]
