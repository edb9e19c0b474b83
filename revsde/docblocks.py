"""Generated blocks of the docs pages: `read_block`, `write_block` (benchmarks, docs scripts).

A generated block is the text between a line ``<!-- NAME -->`` and a line ``<!-- /NAME -->``
(or another closing marker, ``end``) of a markdown page.  The scripts that measure the docs'
numbers write it from their saved JSON with :func:`write_block`; the tests check, with
:func:`read_block`, that the page shows exactly what the script renders from that JSON.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["read_block", "write_block"]


def _pattern(name: str, end: str | None) -> tuple[re.Pattern[str], str]:
    begin = f"<!-- {name} -->"
    close = f"<!-- {'/' + name if end is None else end} -->"
    pattern = re.compile(f"({re.escape(begin)}\n)(.*?)(\n{re.escape(close)})", re.S)
    return pattern, f"no {begin} block (a line {begin}, the block, a line {close})"


def read_block(page: str | Path, name: str, *, end: str | None = None) -> str:
    """The text of block ``name`` of ``page``, without its marker lines.

    ``end`` names the closing marker (``<!-- END -->``) where it is not ``/name``.
    Raises ``ValueError`` if the page has no such block.
    """
    pattern, missing = _pattern(name, end)
    m = pattern.search(Path(page).read_text())
    if m is None:
        raise ValueError(f"{page} has {missing}")
    return m.group(2)


def write_block(page: str | Path, name: str, body: str, *, end: str | None = None) -> None:
    """Replace the text of block ``name`` of ``page`` by ``body`` (the marker lines and the
    rest of the page stay as they are).

    ``end`` names the closing marker (``<!-- END -->``) where it is not ``/name``.
    Raises ``ValueError`` (and writes nothing) if the page has no such block.
    """
    pattern, missing = _pattern(name, end)
    path = Path(page)
    text = path.read_text()
    if pattern.search(text) is None:
        raise ValueError(f"{page} has {missing}")
    path.write_text(pattern.sub(lambda m: m.group(1) + body + m.group(3), text))
