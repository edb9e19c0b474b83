"""The grouped diffusion package: old module paths still import (with a warning)."""

import importlib
import sys

import pytest

import revsde.diffusion  # noqa: F401  (installs the aliases)
from revsde.diffusion._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_path_warns_and_gives_the_new_module(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=MOVED[old].replace(".", r"\.")):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(MOVED[old])


def test_unknown_old_path_still_fails():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("revsde.diffusion.no_such_module")


def test_package_data_ships_py_typed_and_the_weights():
    """pyproject's package-data names files that exist at the regrouped paths."""
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "py.typed" in data["revsde"] and (root / "revsde" / "py.typed").is_file()
    weights = data["revsde.diffusion.pretrained"]
    found = [p for pattern in weights
             for p in (root / "revsde" / "diffusion" / "pretrained").glob(pattern)]
    assert any(p.name == "small_unet.pt" for p in found)
