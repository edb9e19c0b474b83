"""Exact-inversion baselines on the probability-flow ODE (docs/mathematics.md §5).

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

The methods are samplers of the one protocol
(:mod:`revsde.diffusion.samplers.baselines`), registered in ``BASELINES``;
``encode(model, x0, sampler="edict")`` and ``decode`` run them like any reversible
sampler.  This module adds the calls on an explicit grid::

    lat = invert(model, x0, "edict", steps=20)   # -> Latents (sampler "edict")
    x0_back = generate(model, lat)
    x0 = generate(model, x_T, "bdia", steps=20)  # sampling from noise

Formulas and the EDICT role swap: ``docs/baselines.md``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..checks import grid_for
from ..inversion import Latents
from ..inversion.encode import latents_of
from ..models import DiffusionModel
from ..samplers import BASELINES, Baseline, Levels, get_baseline
from ..samplers.baseline_methods import BDIA, EDICT, OBELM, DDIMInversion

__all__ = [
    "BASELINES",
    "BDIA",
    "Baseline",
    "DDIMInversion",
    "EDICT",
    "Levels",
    "OBELM",
    "generate",
    "get_baseline",
    "invert",
    "list_baselines",
]


def list_baselines() -> list[dict[str, Any]]:
    """One row per baseline: name, exact, evaluations per step, default options, min steps."""
    return BASELINES.list()


def invert(model: DiffusionModel, x0: torch.Tensor, method: str = "edict", *,
           steps: int | None = None,
           ts: torch.Tensor | None = None, grid: str = "uniform_t", cond: dict | None = None,
           **options) -> Latents:
    """Encode data ``x0`` (taken to sit at ``ts[-1]``) to :class:`Latents` at ``ts[0]``.

    Give ``steps`` (a ``time_grid`` of kind ``grid`` over the schedule's range) or
    an explicit decreasing grid ``ts``.  ``options`` go to the method: ``p`` and
    ``swap`` for EDICT, ``gamma`` for BDIA.  The state stays in ``x0``'s dtype.
    """
    spec = {"kind": grid if ts is None else "custom", "steps": steps}
    ts = grid_for(model, steps, ts, grid)
    spec["steps"] = ts.numel() - 1
    s = get_baseline(method, **options)
    return latents_of(model, s, s.encode_state(model, x0, ts, cond=cond), ts, x0,
                      x_dtype=x0.dtype, grid=spec, cond=cond)


def generate(model: DiffusionModel, latent: Latents | torch.Tensor,
             method: str | None = None, *, steps: int | None = None,
             ts: torch.Tensor | None = None, grid: str = "uniform_t", cond: dict | None = None,
             **options) -> torch.Tensor:
    """Decode to data: run the method's denoising steps from ``latent``.

    A baseline's :class:`Latents` carry its method, options and grid.  A plain
    noise tensor ``x_N`` (sampling) needs ``method`` and ``steps`` or ``ts``;
    BDIA and O-BELM then start with one DDIM step and EDICT with ``y_N = x_N``,
    as in their reference code.
    """
    if isinstance(latent, Latents):
        if latent.sampler not in BASELINES:
            raise ValueError(f"these latents were made by {latent.sampler!r}, not a baseline; "
                             "decode them with revsde.diffusion.decode")
        if method is not None and method != latent.sampler:
            raise ValueError(f"latent was made by {latent.sampler!r}, not {method!r}")
        if steps is not None or ts is not None or options:
            raise ValueError("the latents carry their own grid and options; pass neither")
        s = get_baseline(latent.sampler, **latent.options)
        return s.decode(model, latent.state, latent.ts, cond=cond)
    if method is None:
        raise ValueError(f"decoding a plain tensor needs method= (one of {sorted(BASELINES)})")
    ts = grid_for(model, steps, ts, grid)
    return get_baseline(method, **options).sample(model, latent, ts, cond=cond)
