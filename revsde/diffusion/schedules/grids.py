"""Time grids from noise (``t_max``) to data (``t_min``): uniform in t, in λ, or Karras."""

from __future__ import annotations

import math

import torch

from .base import NoiseSchedule

__all__ = ["time_grid", "GRID_KINDS"]


GRID_KINDS = ("uniform_t", "uniform_lambda", "karras")


def time_grid(schedule: NoiseSchedule, steps: int, kind: str = "uniform_t", *,
              rho: float = 7.0, t_start: float | None = None, t_end: float | None = None,
              dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``steps + 1`` strictly decreasing times from noise ``t_start`` to data ``t_end``.

    ``kind``:
      * ``"uniform_t"``: equal steps in t;
      * ``"uniform_lambda"``: equal steps in λ (DPM-Solver, Lu et al. 2022);
      * ``"karras"``: ``χ_i = (χ_max^{1/ρ} + i/N (χ_min^{1/ρ} - χ_max^{1/ρ}))^ρ`` in
        the VE noise level χ = σ/α = e^{-λ} (Karras et al. 2022, eq. 5).
    The ends default to ``schedule.t_max`` and ``schedule.t_min`` and are exact.
    """
    if kind not in GRID_KINDS:
        raise ValueError(f"unknown grid kind {kind!r}; valid kinds are {list(GRID_KINDS)}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    steps = int(steps)
    t0 = float(schedule.t_max if t_start is None else t_start)
    t1 = float(schedule.t_min if t_end is None else t_end)
    if not t0 > t1:
        raise ValueError(
            f"time_grid runs from noise to data, so t_start must exceed t_end; got "
            f"t_start={t0}, t_end={t1}"
        )
    f64 = torch.float64
    if kind == "uniform_t":
        ts = torch.linspace(t0, t1, steps + 1, dtype=f64)
    else:
        ends = torch.tensor([t0, t1], dtype=f64)
        lam0, lam1 = schedule.lambda_(ends).tolist()
        if kind == "uniform_lambda":
            lams = torch.linspace(lam0, lam1, steps + 1, dtype=f64)
        else:
            if not rho > 0:
                raise ValueError(f"karras grid needs rho > 0; got {rho}")
            r = torch.linspace(0.0, 1.0, steps + 1, dtype=f64)
            c0, c1 = math.exp(-lam0 / rho), math.exp(-lam1 / rho)
            lams = -rho * torch.log(c0 + r * (c1 - c0))
        ts = schedule.t_of_lambda(lams)
    ts[0], ts[-1] = t0, t1
    ts = ts.to(dtype)
    if not bool((ts[1:] < ts[:-1]).all()):
        raise ValueError(
            f"time_grid with {steps} steps is not strictly decreasing in {dtype}; use fewer "
            "steps or dtype=torch.float64"
        )
    return ts
