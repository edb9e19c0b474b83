"""The documentation: every ```python block of the site and the README runs, the shell
examples of the ``revsde`` command parse, nothing cites files outside the repository,
and the generated solver table matches the registry.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from page_code import blocks, run_blocks
from script_util import load_script

from revsde.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]


#: A page may run its blocks in a test of its own, with fixtures (e.g. model folders):
#: it says so in one sentence naming the test file, which must exist and name the page.
DELEGATE = re.compile(r"runs in the test suite \(`(tests/[\w/]+\.py)`")


def delegate(path: Path) -> str | None:
    m = DELEGATE.search(path.read_text())
    return m.group(1) if m else None


PY_PAGES = [p for p in PAGES if blocks(p, "python") and delegate(p) is None]
DELEGATED = [p for p in PAGES if blocks(p, "python") and delegate(p) is not None]


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("page", PY_PAGES, ids=[_id(p) for p in PY_PAGES])
def test_python_blocks_run(page, tmp_path, monkeypatch):
    """The blocks of one page run in order in one namespace, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_blocks(page, "python", _id(page))


def test_delegated_pages_have_their_test():
    """A page whose blocks run elsewhere names a test file that exists and reads the page."""
    for page in DELEGATED:
        test = ROOT / delegate(page)
        assert test.exists(), f"{_id(page)} says its code runs in {test.name}, which is missing"
        assert page.name in test.read_text(), f"{test.name} does not read {page.name}"


def _commands():
    out = []
    for page in PAGES:
        for body in blocks(page, "bash"):
            for line in body.splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith(("revsde ", "python -m revsde ")):
                    out.append((page, line))
    return out


@pytest.mark.parametrize("page,line", _commands(), ids=[c[1] for c in _commands()])
def test_shell_examples_parse(page, line):
    """Every ``revsde ...`` line in a bash block is a valid command line."""
    argv = shlex.split(line)
    argv = argv[3:] if argv[0] == "python" else argv[1:]
    build_parser().parse_args(argv)


def test_docs_cite_nothing_outside_the_repository():
    bad = re.compile(r"\b(MATH|STYLE|DESIGN)\.md\b|/work/")
    hits = [f"{_id(p)}:{n + 1}" for p in PAGES
            for n, line in enumerate(p.read_text().splitlines()) if bad.search(line)]
    assert not hits, f"citations of files outside the repository: {hits}"


def _nav_files(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_nav_and_exists():
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_files(cfg["nav"])
    assert all((DOCS / f).exists() for f in nav), nav
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == set(nav), f"not in the nav: {pages - set(nav)}"
    assert cfg.get("strict") is True


def test_readme_links_to_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert "docs/index.md" in readme and "mkdocs" in readme


def test_solver_table_matches_the_registry():
    """docs/solver-table.md is what the generator renders from today's registry."""
    gen = load_script(DOCS / "scripts" / "gen_solver_table.py")
    assert (DOCS / "solver-table.md").read_text() == gen.render(gen.load_measured()), (
        "the registry changed: run `python docs/scripts/gen_solver_table.py --render`")
    measured = gen.load_measured()
    for row in gen.rows(measured):
        if row["measured"] is not None:
            assert abs(row["measured"] - row["declared"]) <= 0.2, row


def test_license_matches_pyproject():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()
    assert len(text) > 10000  # the full text, not a pointer to it
    assert os.path.getsize(ROOT / "LICENSE") == len(text.encode())
