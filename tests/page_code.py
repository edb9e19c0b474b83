"""The code of the docs pages: the fenced blocks of a language, and running them in order
(tests/test_docs.py for every page, the diffusers pages' own tests with their fixtures)."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(page: Path, lang: str) -> list[str]:
    """The bodies of the ```` ```LANG ```` blocks of ``page``, in order."""
    return [body for kind, body in FENCE.findall(page.read_text()) if kind == lang]


def run_blocks(page: Path, lang: str, name: str | None = None) -> dict:
    """Run the ``lang`` blocks of ``page`` in order in one namespace, and return it; a block
    that fails raises AssertionError naming it (``NAME[LANG block I]``) and showing its code."""
    name = page.name if name is None else name
    ns: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(page, lang)):
        where = f"{name}[{lang} block {i + 1}]"
        try:
            exec(compile(code, where, "exec"), ns)
        except Exception as err:  # noqa: BLE001 - report which block failed
            raise AssertionError(f"{where} failed: {err!r}\n{code}") from err
    return ns
