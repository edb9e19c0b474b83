"""Formula citations point into the repository: ``docs/mathematics.md §N`` must exist.

Code (``revsde/``, ``tests/``, ``benchmarks/``, ``examples/``, ``docs/scripts/``) cites
the numbered sections of ``docs/mathematics.md`` as ``docs/mathematics.md §N`` or
``§N.M``; the docs pages link to them as ``mathematics.md#sN``.  Every cited section
must be a heading ``... {#sN}`` of that page, and nothing may cite a file outside the
repository (the old design notes) or an issue number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CODE_DIRS = ("revsde", "tests", "benchmarks", "examples", "docs/scripts")
SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".sh", ".yml", ".yaml", ".rst"}

SEC = r"\d+(?:\.\d+)*"
HEADING = re.compile(r"^#{2,4} +(" + SEC + r")\.? .*\{#s(" + SEC + r")\}\s*$", re.M)
#: a section sign followed by a number; "et al. 2022, §4.3.2" cites a paper, not this page
SECTION_SIGN = re.compile(r"§\s*(" + SEC + r")")
PAPER = re.compile(r"(?:et al\.?|\d{4}[a-z]?),?\s*$")
OUTSIDE = re.compile(r"\b(?:MATH|STYLE|DESIGN)\.md\b|\bMATH §")
ISSUE = re.compile(r"\bissues? #?\d+\b|(?<![\w&/])#\d+\b")
LINK = re.compile(r"mathematics\.md#([\w.\-]+)")
IN_PAGE_LINK = re.compile(r"\]\(#([\w.\-]+)\)")


def sections(text: str | None = None) -> set[str]:
    """The sections of docs/mathematics.md; a heading's number must match its anchor."""
    text = (DOCS / "mathematics.md").read_text() if text is None else text
    found = HEADING.findall(text)
    bad = [(n, a) for n, a in found if n != a]
    assert not bad, f"docs/mathematics.md: heading numbers and anchors differ: {bad}"
    return {a for _, a in found}


def code_files() -> list[Path]:
    this = Path(__file__).resolve()
    return [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*"))
            if p.is_file() and p.suffix in SUFFIXES and p.resolve() != this]


def cited(text: str) -> list[tuple[int, str]]:
    """``(line, section)`` of every ``§N`` in ``text`` that is not a paper's section."""
    out = []
    for m in SECTION_SIGN.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        if PAPER.search(before):
            continue
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


def problems(text: str, where: str, have: set[str]) -> list[str]:
    out = [f"{where}:{n}: §{s} is not a section of docs/mathematics.md"
           for n, s in cited(text) if s not in have]
    for n, line in enumerate(text.splitlines(), 1):
        for m in OUTSIDE.finditer(line):
            out.append(f"{where}:{n}: cites {m.group(0)}, a file outside the repository")
        for m in ISSUE.finditer(line):
            out.append(f"{where}:{n}: cites an issue number ({m.group(0)}); say what it is")
    return out


def test_mathematics_has_numbered_sections():
    have = sections()
    assert {"0", "1", "2", "3", "4", "4.1", "4.6", "5", "6", "7", "8", "9"} <= have, have
    text = (DOCS / "mathematics.md").read_text()
    dangling = [a for a in IN_PAGE_LINK.findall(text) if a.startswith("s") and a[1:] not in have]
    assert not dangling, f"docs/mathematics.md links to missing sections: {dangling}"


def test_code_cites_existing_sections_and_nothing_outside():
    have = sections()
    bad = []
    for p in code_files():
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        bad += problems(text, str(p.relative_to(ROOT)), have)
    assert not bad, "bad citations:\n" + "\n".join(bad)


def test_docs_pages_link_to_existing_sections():
    have = sections()
    bad = []
    for p in sorted(DOCS.glob("*.md")):
        text = p.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            for a in LINK.findall(line):
                if not (a.startswith("s") and a[1:] in have):
                    bad.append(f"docs/{p.name}:{n}: mathematics.md#{a} is not a numbered section")
            if OUTSIDE.search(line):
                bad.append(f"docs/{p.name}:{n}: cites a file outside the repository")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("text, n_bad", [
    ('"""See docs/mathematics.md §4.2 and §9."""', 0),
    ('"""See docs/mathematics.md §42."""', 1),
    ('"""(docs/mathematics.md §2,\n§31; a template)."""', 1),
    ('"""Rombach et al. 2022, §4.3.2 and D.1."""', 0),
    ('"""See MATH.md §2."""', 1),
    ('"""Per STYLE.md."""', 1),
    ('"""Sampler overhead (issue 9)."""', 1),
    ('# the setting of #12 above', 1),
])
def test_the_checker_fails_on_bad_citations(text, n_bad):
    have = {"2", "4.2", "9"}
    assert len(problems(text, "x.py", have)) == n_bad, problems(text, "x.py", have)


def test_the_checker_reads_headings():
    text = "## 2. Two {#s2}\n\n### 2.1 Sub {#s2.1}\n\n## Other\n"
    assert sections(text) == {"2", "2.1"}
    with pytest.raises(AssertionError, match="differ"):
        sections("## 3. Three {#s4}\n")
