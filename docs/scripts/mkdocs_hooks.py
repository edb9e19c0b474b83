"""mkdocs hooks: keep the site free of references to files outside the repository.

Docstrings rendered by mkdocstrings cite the numbered sections of the mathematics
page as ``docs/mathematics.md §N``.  This hook turns each such citation into a link to
that section (anchor ``#sN``) and logs a warning, which fails ``mkdocs build --strict``,
for a section the page does not have or for a citation of a file outside the
repository.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.revsde")

#: The numbered sections of docs/mathematics.md: "## 4. Title {#s4}", "### 4.2 Title {#s4.2}".
HEADING = re.compile(r"^#{2,4} .*\{#s(\d+(?:\.\d+)*)\}\s*$", re.M)
PAGE = Path(__file__).resolve().parents[1] / "mathematics.md"
SECTIONS = set(HEADING.findall(PAGE.read_text()))
NAMES = r"(?:MATH|STYLE|DESIGN)\.md"
CITATION = re.compile(r"docs/mathematics\.md(?:\s*(?:§|&sect;)\s*(\d+(?:\.\d+)*))?")


def _root(page) -> str:
    depth = page.url.count("/") if page.url else 0
    return "../" * depth


def on_page_content(html: str, page, config, files) -> str:
    root = _root(page)

    def link(m: re.Match) -> str:
        section = m.group(1)
        if section is None:
            return f'<a href="{root}mathematics/">Mathematics</a>'
        if section not in SECTIONS:
            log.warning("%s cites docs/mathematics.md §%s, which has no such section",
                        page.file.src_path, section)
            return m.group(0)
        return f'<a href="{root}mathematics/#s{section}">Mathematics §{section}</a>'

    if page.file.src_path != "mathematics.md":  # the page describes the scheme itself
        html = CITATION.sub(link, html)
    left = re.findall(NAMES, html)
    if left:
        log.warning("%s cites %s, a file outside the repository", page.file.src_path,
                    ", ".join(sorted(set(left))))
    return html
