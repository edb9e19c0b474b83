"""Exact-inversion baselines on the probability-flow ODE (MATH.md §5).

Four methods share one grid and one model (``ε_θ = model.eps``):

* ``"ddim"``: DDIM inversion (Song et al. 2021; Dhariwal & Nichol 2021), inexact;
* ``"edict"``: EDICT (Wallace et al. 2023), two coupled latents, mixing ``p``;
* ``"bdia"``: BDIA-DDIM (Zhang et al. 2024), ``γ ∈ (0, 1]``;
* ``"obelm"``: O-BELM (Wang et al. 2024), the LTE-optimal BELM.

Levels run from data (``i = 0``, ``ts[-1]``) to noise (``i = N``, ``ts[0]``),
with ``α_i``, ``σ_i`` from the model's schedule (``α = sqrt(ᾱ)``,
``σ = sqrt(1-ᾱ)`` for a VP schedule) and ``χ_i = σ_i/α_i``.  The DDIM map is
``Φ(x, ε; i→j) = α_j (x - σ_i ε)/α_i + σ_j ε``.  Coefficients are computed in
float64 and cast to the state's dtype; the state arithmetic happens in its dtype.

Usage::

    lat = invert(model, x0, "edict", steps=20)   # -> BaselineLatent
    x0_back = generate(model, lat)
    get_baseline("bdia", gamma=1.0).invert(model, x0, ts)   # the same, by object

Formulas and the EDICT role swap: ``docs/baselines.md``.
"""

from __future__ import annotations

from typing import Any

import torch

from ...registry import Registry
from ..checks import grid_for
from ..models import DiffusionModel
from .base import Baseline, BaselineLatent, Levels
from .methods import BDIA, EDICT, OBELM, DDIMInversion

__all__ = [
    "BASELINES",
    "BDIA",
    "Baseline",
    "BaselineLatent",
    "DDIMInversion",
    "EDICT",
    "Levels",
    "OBELM",
    "generate",
    "get_baseline",
    "invert",
    "list_baselines",
]

#: name -> class; ``get_baseline(name, **options)`` builds one
BASELINES: Registry[Baseline] = Registry("baseline", Baseline)
for _cls in (DDIMInversion, EDICT, BDIA, OBELM):
    BASELINES.register(_cls.name, _cls)
del _cls


def list_baselines() -> list[dict[str, Any]]:
    """One row per baseline: name, exact, evaluations per step, default options, min steps."""
    return BASELINES.list()


def get_baseline(name: str | Baseline, **options: Any) -> Baseline:
    """Build a baseline by name (``"ddim"``, ``"edict"``, ``"bdia"``, ``"obelm"``)."""
    return BASELINES.get(name, **options)


def invert(model: DiffusionModel, x0: torch.Tensor, method: str = "edict", *,
           steps: int | None = None,
           ts: torch.Tensor | None = None, grid: str = "uniform_t", cond: dict | None = None,
           **options) -> BaselineLatent:
    """Encode data ``x0`` (taken to sit at ``ts[-1]``) to a :class:`BaselineLatent` at ``ts[0]``.

    Give ``steps`` (a ``time_grid`` of kind ``grid`` over the schedule's range) or
    an explicit decreasing grid ``ts``.  ``options`` go to the method: ``p`` and
    ``swap`` for EDICT, ``gamma`` for BDIA.
    """
    ts = grid_for(model, steps, ts, grid)
    return get_baseline(method, **options).invert(model, x0, ts, cond=cond)


def generate(model: DiffusionModel, latent: BaselineLatent | torch.Tensor,
             method: str | None = None, *, steps: int | None = None,
             ts: torch.Tensor | None = None, grid: str = "uniform_t", cond: dict | None = None,
             **options) -> torch.Tensor:
    """Decode to data: run the method's denoising steps from ``latent``.

    A :class:`BaselineLatent` carries its method, options and grid.  A plain
    noise tensor ``x_N`` (sampling) needs ``method`` and ``steps`` or ``ts``;
    BDIA and O-BELM then start with one DDIM step and EDICT with ``y_N = x_N``,
    as in their reference code.
    """
    if isinstance(latent, BaselineLatent):
        if method is not None and method != latent.method:
            raise ValueError(f"latent was made by {latent.method!r}, not {method!r}")
        if steps is not None or ts is not None or options:
            raise ValueError("a BaselineLatent carries its own grid and options; pass neither")
        return get_baseline(latent.method, **latent.options).generate(model, latent, cond=cond)
    if method is None:
        raise ValueError(f"decoding a plain tensor needs method= (one of {sorted(BASELINES)})")
    ts = grid_for(model, steps, ts, grid)
    return get_baseline(method, **options).generate(model, latent, ts, cond=cond)
