"""Deprecated aliases for the module paths of the flat package (before the regrouping).

``import revsde.diffusion.reference`` (and the other old paths below) still works: it
returns the module at its new path and warns with a :class:`DeprecationWarning` that
names that path.  Nothing in revsde imports through these aliases.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    "revsde.diffusion.schedule_base": "revsde.diffusion.schedules.base",
    "revsde.diffusion.discrete": "revsde.diffusion.schedules.discrete",
    "revsde.diffusion.grids": "revsde.diffusion.schedules.grids",
    "revsde.diffusion.reference": "revsde.diffusion.samplers.reference",
    "revsde.diffusion.lifted": "revsde.diffusion.samplers.lifted",
    "revsde.diffusion.latents": "revsde.diffusion.inversion.latents",
    "revsde.diffusion.unet": "revsde.diffusion.pretrained.unet",
    "revsde.diffusion.train": "revsde.diffusion.pretrained.train",
    "revsde.diffusion.exp_heun": "revsde.solvers.exp_reversible_heun",
    "revsde.diffusion.images": "revsde.app.images",
    "revsde.diffusion.demo": "revsde.app.demo",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.target}; import it from there "
                      "(the old path will be removed)", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed; nothing to do."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
