"""mkdocs hooks: keep the site free of references to files outside the repository.

Docstrings rendered by mkdocstrings cite the project's design notes by section
("see the maths, section 7"), and those notes are not part of the repository.  This
hook points each such citation at the section of ``docs/mathematics.md`` (or
``docs/baselines.md``) that states the same equations, and logs a warning —
which fails ``mkdocs build --strict`` — for any citation it cannot place.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("mkdocs.plugins.revsde")

#: Section number of the design notes -> (page, anchor) on this site.
SECTIONS = {
    "0": ("mathematics", "notation"),
    "1": ("mathematics", "brownian-path"),
    "2": ("mathematics", "reversible-heun"),
    "3": ("mathematics", "mccallumfoster-wrapper"),
    "4": ("mathematics", "lifted-coordinates"),
    "5": ("baselines", ""),
    "6": ("mathematics", "gradients-through-a-reversible-solve"),
    "7": ("mathematics", "exact-mode"),
    "8": ("mathematics", "adjointdeis-the-continuous-adjoint-of-a-diffusion-sde"),
    "9": ("mathematics", "oracles-with-known-answers"),
}
NAMES = r"(?:MATH|STYLE|DESIGN)\.md"
CITATION = re.compile(NAMES + r"(?:\s*(?:§|&sect;)\s*(\d+)(?:\.\d+)*)?")


def _root(page) -> str:
    depth = page.url.count("/") if page.url else 0
    return "../" * depth


def on_page_content(html: str, page, config, files) -> str:
    root = _root(page)

    def link(m: re.Match) -> str:
        section = m.group(1)
        if section is None or section not in SECTIONS:
            return m.group(0)
        target, anchor = SECTIONS[section]
        href = f"{root}{target}/" + (f"#{anchor}" if anchor else "")
        title = "Mathematics" if target == "mathematics" else "Baselines"
        return f'<a href="{href}">{title}</a>'

    html = CITATION.sub(link, html)
    left = re.findall(NAMES, html)
    if left:
        log.warning("%s cites %s, a file outside the repository", page.file.src_path,
                    ", ".join(sorted(set(left))))
    return html
