"""Fidelity of an inversion: is the latent the picture's true noise?

An exact round trip is necessary but not enough (the identity map is exact too).  A
picture's *true* latent is where the probability-flow ODE carries it at the noise end;
a sampler's encoding approximates it with the sampler's own error, and an exactly
reversible sampler gives that approximation back bit for bit.  This module measures it:

* :func:`reference_encoding`: a converged encoding of ``x0``.  DDIM inversion is the
  first-order exponential integrator of the PF-ODE (docs/mathematics.md §5), so its
  error is ``C/N + O(N^-2)`` after ``N`` steps; the reference is the Richardson
  extrapolation ``2·DDIM(2N) - DDIM(N)`` in a float64 state, on a grid whose
  ``uniform_lambda`` levels nest.  With a third level ``N/2`` it also estimates its own
  error, ``|ref - (2·DDIM(N) - DDIM(N/2))|`` (a bound in practice: the measured
  extrapolations converge faster than first order, see ``benchmarks/bench_inversion.py``).
* :func:`latent_distance`: the max abs and RMS distance of a latent to the reference,
  per picture.
* :func:`latent_statistics`: std, mean, skewness and excess kurtosis of the flattened
  latent, D'Agostino–Pearson's normality test and the Kolmogorov–Smirnov distance to
  N(0, 1) (scipy.stats).  The VP schedules end at ``σ_{t_max} ≈ 1``, so the true latent
  of a picture is close to N(0, I); one that "still looks like the photo" is not.
* :func:`regeneration`: the decode-from-reference check: the reference latent decoded
  by the same sampler (same grid, options and seed), compared with the picture.  The
  round trip of an exact sampler returns the picture whatever its latent; decoding the
  *true* latent shows how well the sampler regenerates from noise, which an edit needs.
* :func:`measure`: all of it for a :class:`~revsde.diffusion.Latents`.

The latent compared is ``x_T`` in data coordinates at ``ts[0]`` (``Latents.x_T``), whose
end points do not depend on the grid kind (:func:`revsde.diffusion.time_grid`), so
encodings on any grid compare with one reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import check_model
from ..samplers import get_encoder
from ..schedules import time_grid

__all__ = ["Reference", "reference_encoding", "latent_distance", "latent_statistics",
           "regeneration", "measure", "REFERENCE_STEPS"]

#: the reference's Richardson levels ``N`` and ``2N`` (measured converged to ~1e-5 on
#: the shipped model; ``benchmarks/bench_inversion.py``)
REFERENCE_STEPS = 1000


@dataclass
class Reference:
    """A converged encoding: ``x_T`` (float64, ``(batch, ...)``) of pictures ``x0``."""

    x0: torch.Tensor
    x_T: torch.Tensor
    steps: int
    grid: str
    nfe: int
    #: per picture, the max abs difference to the extrapolation one level coarser
    #: (``None`` when not estimated)
    error_estimate: list[float] | None = None
    levels: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: how the reference was computed and its estimated error."""
        return {"method": "ddim_richardson", "steps": [self.steps, 2 * self.steps],
                "grid": self.grid, "nfe": self.nfe, "state_dtype": "float64",
                "error_estimate": (None if self.error_estimate is None
                                   else max(self.error_estimate)),
                "error_estimate_per_picture": self.error_estimate,
                "latent_std": float(self.x_T.std())}


def _ddim(model, x0: torch.Tensor, steps: int, grid: str, cond) -> torch.Tensor:
    from .encode import encode

    lat = encode(model, x0, steps=steps, sampler="ddim", grid=grid, cond=cond,
                 dtype=torch.float64, check_range=False, reproducible=False)
    return lat.x_T.to(torch.float64)


def reference_encoding(model, x0: torch.Tensor, steps: int = REFERENCE_STEPS, *,
                       grid: str = "uniform_lambda", cond: dict | None = None,
                       estimate: bool = True, keep_levels: bool = False) -> Reference:
    """The converged encoding of ``x0``: ``2·DDIM(2N) - DDIM(N)`` with ``N = steps``.

    DDIM inversion runs in a float64 state with the model's network in its own dtype
    (the float32 and float64 networks give references within ~1e-5 on the shipped
    model).  ``estimate``: also run ``N/2`` steps and store, per picture, the distance
    to the coarser extrapolation in ``error_estimate``.  Costs ``3N`` network
    evaluations (``3.5N`` with ``estimate``), batched.
    """
    model = check_model(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 4:
        raise ValueError(f"reference steps must be an integer >= 4 (the Richardson levels "
                         f"are N/2, N and 2N); got {steps!r}")
    levels = [steps, 2 * steps] + ([steps // 2] if estimate else [])
    with torch.no_grad():
        xs = {n: _ddim(model, x0, n, grid, cond) for n in levels}
    ref = 2 * xs[2 * steps] - xs[steps]
    err = None
    if estimate:
        coarse = 2 * xs[steps] - xs[steps // 2]
        err = [float(e) for e in (ref - coarse).abs().flatten(1).amax(1)]
    return Reference(x0=x0.detach().to(torch.float64), x_T=ref, steps=steps, grid=grid,
                     nfe=sum(levels), error_estimate=err,
                     levels=xs if keep_levels else {})


def latent_distance(x_T: torch.Tensor, reference: Reference | torch.Tensor) -> dict[str, Any]:
    """Max abs and RMS distance of latent ``x_T`` to the reference, per picture and worst."""
    ref = reference.x_T if isinstance(reference, Reference) else reference
    if x_T.shape != ref.shape:
        raise ValueError(f"the latent has shape {tuple(x_T.shape)} but the reference "
                         f"{tuple(ref.shape)}; compare latents of the same pictures")
    d = x_T.detach().to(torch.float64) - ref.to(torch.float64)
    per_max = [float(v) for v in d.abs().flatten(1).amax(1)]
    per_rms = [float(v) for v in d.pow(2).flatten(1).mean(1).sqrt()]
    return {"latent_max_abs": max(per_max), "latent_rms": float(d.pow(2).mean().sqrt()),
            "latent_max_abs_per_picture": per_max, "latent_rms_per_picture": per_rms}


def latent_statistics(x_T: torch.Tensor) -> dict[str, Any]:
    """The flattened latent against N(0, 1): std, mean, skewness, excess kurtosis, the
    D'Agostino–Pearson normality test (statistic, p-value) and the Kolmogorov–Smirnov
    distance to N(0, 1) (statistic, p-value).  Non-finite latents give ``nan`` tests."""
    from scipy import stats

    v = x_T.detach().to(torch.float64).flatten().cpu()
    out: dict[str, Any] = {"std": float(v.std()), "mean": float(v.mean())}
    if not bool(torch.isfinite(v).all()) or v.numel() < 20:
        nan = math.nan
        out.update(skewness=nan, excess_kurtosis=nan, normaltest_statistic=nan,
                   normaltest_p=nan, ks_statistic=nan, ks_p=nan)
        return out
    a = v.numpy()
    nt = stats.normaltest(a)
    ks = stats.kstest(a, "norm")
    out.update(skewness=float(stats.skew(a)), excess_kurtosis=float(stats.kurtosis(a)),
               normaltest_statistic=float(nt.statistic), normaltest_p=float(nt.pvalue),
               ks_statistic=float(ks.statistic), ks_p=float(ks.pvalue))
    return out


def regeneration(model, reference: Reference, sampler: str, steps: int | None = None, *,
                 ts: torch.Tensor | None = None, grid: str = "uniform_lambda",
                 seed: int | None = 0, cond: dict | None = None,
                 **options: Any) -> dict[str, Any]:
    """Decode-from-reference: the reference latent generated back by ``sampler`` (a
    reversible sampler or a baseline, with ``options``) on ``ts`` (or a ``grid`` of
    ``steps``), against the pictures: max abs and RMS error, per picture and worst."""
    model = check_model(model)
    if ts is None:
        if steps is None:
            raise ValueError("regeneration needs steps= or ts=")
        ts = time_grid(model.schedule, steps, grid)
    s = get_encoder(sampler, **options)
    with torch.no_grad():
        x = s.sample(model, reference.x_T.clone(), ts, seed=seed if s.stochastic else None,
                     cond=cond)
    d = x.detach().to(torch.float64) - reference.x0
    per_max = [float(v) for v in d.abs().flatten(1).amax(1)]
    return {"regen_max_abs": max(per_max), "regen_rms": float(d.pow(2).mean().sqrt()),
            "regen_max_abs_per_picture": per_max}


def measure(model, latents, reference: Reference, *, cond: dict | None = None,
            regenerate: bool = True) -> dict[str, Any]:
    """The fidelity of :class:`~revsde.diffusion.Latents` ``latents`` (an encoding of
    ``reference.x0``): distance to the reference, the latent's statistics and, with
    ``regenerate``, the decode-from-reference check with the latents' own sampler,
    options, grid and seed."""
    out = latent_distance(latents.x_T, reference)
    out["latent_stats"] = latent_statistics(latents.x_T)
    if regenerate:
        opts = {k: v for k, v in (latents.options or {}).items()
                if not (k == "quantum" and v is None)}
        out.update(regeneration(model, reference, latents.sampler, ts=latents.ts,
                                seed=latents.seed, cond=cond, **opts))
    return out
