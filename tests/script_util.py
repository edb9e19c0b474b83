"""Load a script of the repository (a benchmark, an example, a docs script) as a module, to
test its functions without running its ``main``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` as a fresh module named after its file (not put in
    ``sys.modules``; its ``if __name__ == "__main__"`` part does not run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python script")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
