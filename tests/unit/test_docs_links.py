"""The repository stands alone: nothing cites a file outside it, every relative Markdown link in README.md and
docs/ resolves, and every requirement id that code or tests cite is defined in docs/security.md.

Standard library only; nothing from the package is imported, so this runs before (and without) an install.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SECURITY = DOCS / "security.md"

# What the repository ships as text: the trees and files that could cite other files.
SCANNED = ("README.md", "docs", "src", "tests", "bench", "deploy", "compose.yaml", "Containerfile", "Makefile")
SCANNED_EXTRA = (".env.template",)
TEXT_SUFFIXES = {".py", ".md", ".conf", ".yaml", ".yml", ".toml", ".txt", ".html", ".mako", ".lua", ".sh", ".cfg"}
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "node_modules"}

# Citations of the material this repository was written from, which lives outside it.
OUTSIDE = (
    re.compile(r"\.\./+shared\b"),
    re.compile(r"(?<![\w.-])shared/+(?:contract|docs)/"),
    re.compile(r"/work/+shared\b"),
)
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# A Markdown file name, with or without a folder: README.md, docs/api.md, or one up and over (dot-dot, slash, ...)
MD_NAME = re.compile(r"(?<![\w/.-])((?:\.{1,2}/|/)?(?:[\w.-]+/)*[\w.-]*\w\.md)\b")

# Requirement ids as they appear in text (S19, R3) and in test names (test_s19_..., test_r3_...).
REQUIREMENT_ID = re.compile(r"\b[SR][0-9]{1,2}\b")
TEST_NAME = re.compile(r"\bdef (test_\w+)")
ID_IN_TEST_NAME = re.compile(r"^[sr][0-9]{1,2}$")
# How docs/security.md defines one: a list item starting with the bold id.
DEFINITION = re.compile(r"^- \*\*([SR][0-9]{1,2})\*\*", re.MULTILINE)
EXPECTED_IDS = {f"S{n}" for n in range(1, 30)} | {f"R{n}" for n in range(1, 9)}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def scanned_files() -> Iterator[Path]:
    for name in SCANNED + SCANNED_EXTRA:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
                for file in sorted(files):
                    candidate = Path(root) / file
                    if candidate.suffix in TEXT_SUFFIXES:
                        yield candidate


def lines_of(path: Path) -> Iterator[tuple[int, str]]:
    yield from enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)


def where(path: Path, number: int) -> str:
    return f"{path.relative_to(ROOT)}:{number}"


def exists_exactly(path: Path) -> bool:
    """True when ``path`` exists with exactly this spelling (case included) and lies inside the repository."""
    resolved = Path(os.path.normpath(path))
    if not resolved.is_relative_to(ROOT) or not resolved.exists():
        return False
    current = ROOT
    for part in resolved.relative_to(ROOT).parts:
        if part not in os.listdir(current):
            return False
        current = current / part
    return True


def markdown_names_in_repository() -> set[str]:
    names = {path.name for path in ROOT.iterdir() if path.suffix == ".md"}
    return names | {path.name for path in scanned_files() if path.suffix == ".md"}


def without_code(markdown: str) -> str:
    """Markdown with fenced blocks blanked (line numbers kept) and inline code spans removed."""
    blanked = FENCE.sub(lambda match: "\n" * match.group(0).count("\n"), markdown)
    return INLINE_CODE.sub("", blanked)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        anchors.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return anchors


def markdown_documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


# -- (a) nothing cites a file outside the repository ---------------------------------------------------------------


def test_nothing_cites_a_file_outside_the_repository():
    offenders = [
        f"{where(path, number)}: {line.strip()}"
        for path in scanned_files()
        for number, line in lines_of(path)
        if any(pattern.search(line) for pattern in OUTSIDE)
    ]
    assert offenders == [], "cite the file in docs/ instead:\n" + "\n".join(offenders)


def test_every_markdown_file_named_anywhere_exists_in_the_repository():
    """``docs/media.md`` must exist as spelled; an upper-case name of a document kept elsewhere, or a path that
    climbs out of the repository, is a dangling citation."""
    known_names = markdown_names_in_repository()
    offenders = []
    for path in scanned_files():
        for number, line in lines_of(path):
            for name in MD_NAME.findall(URL.sub("", line)):
                if "/" not in name:
                    found = name in known_names
                else:
                    found = exists_exactly(path.parent / name) or (
                        not name.startswith(("/", ".")) and exists_exactly(ROOT / name)
                    )
                if not found:
                    offenders.append(f"{where(path, number)}: {name}")
    assert offenders == [], "no such file in the repository:\n" + "\n".join(offenders)


# -- (b) every relative Markdown link resolves -------------------------------------------------------------------


def test_every_relative_markdown_link_resolves():
    offenders = []
    for document in markdown_documents():
        text = without_code(document.read_text(encoding="utf-8"))
        for number, line in enumerate(text.splitlines(), start=1):
            targets = INLINE_LINK.findall(line) + REFERENCE_LINK.findall(line)
            for target in targets:
                if SCHEME.match(target):
                    continue  # https:, mailto:, ...: not a file of this repository
                file_part, _, fragment = target.partition("#")
                linked = document if not file_part else document.parent / file_part
                if not exists_exactly(linked):
                    offenders.append(f"{where(document, number)}: {target} (no such file in the repository)")
                elif fragment and linked.suffix == ".md" and fragment not in anchors_of(linked):
                    offenders.append(f"{where(document, number)}: {target} (no heading with that anchor)")
    assert offenders == [], "\n".join(offenders)


def test_the_checks_would_catch_a_citation_outside_and_a_broken_link():
    # Built from pieces, so that this file does not cite what it forbids.
    outside = "/".join(["..", "shared", "contract", "API" + ".md"])
    assert any(pattern.search(f"see {outside}") for pattern in OUTSIDE)
    assert MD_NAME.findall(f"see {outside} and docs/api.md") == [outside, "docs/api.md"]
    assert not exists_exactly(ROOT / outside)
    assert not exists_exactly((ROOT / "docs" / "no-such-file").with_suffix(".md"))
    assert not exists_exactly(ROOT / "docs" / ("API" + ".md"))  # case matters, as it does on Linux and on GitHub
    assert exists_exactly(ROOT / "docs" / "api.md")
    assert INLINE_LINK.findall(f"see [the contract]({outside}).") == [outside]
    assert slug("The `token` in the register answer") == "the-token-in-the-register-answer"
    assert slug("The database is the source of truth, the queue is a doorbell") == (
        "the-database-is-the-source-of-truth-the-queue-is-a-doorbell"
    )


# -- (c) every cited requirement id is defined in docs/security.md ------------------------------------------------


def defined_ids() -> list[str]:
    return DEFINITION.findall(SECURITY.read_text(encoding="utf-8"))


def test_security_md_defines_every_requirement_exactly_once():
    ids = defined_ids()
    duplicates = sorted(name for name, count in Counter(ids).items() if count > 1)
    assert duplicates == []
    assert set(ids) == EXPECTED_IDS


def cited_ids(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in lines_of(path):
        for name in REQUIREMENT_ID.findall(line):
            yield number, name
        for test_name in TEST_NAME.findall(line):
            for part in test_name.split("_"):
                if ID_IN_TEST_NAME.match(part):
                    yield number, part.upper()


def test_every_requirement_id_cited_is_defined_in_security_md():
    """Ids in comments, docstrings, test names and docs. A word that only looks like an id (a product name such
    as a storage service's) must be reworded, so that every match is a real citation."""
    defined = set(defined_ids())
    offenders = [
        f"{where(path, number)}: {name}"
        for path in scanned_files()
        if path != SECURITY
        for number, name in cited_ids(path)
        if name not in defined
    ]
    assert offenders == [], "not defined in docs/security.md:\n" + "\n".join(offenders)


def test_the_id_scan_finds_ids_in_text_and_in_test_names(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""R6: fuzzing."""\n# see docs/security.md (S19)\ndef test_s11_rotation():\n    pass\n')
    assert list(cited_ids(sample)) == [(1, "R6"), (2, "S19"), (3, "S11")]
