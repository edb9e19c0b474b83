"""Discrete VP schedules (diffusers-style ``betas`` / ``alphas_cumprod``), made continuous.

``log α`` is piecewise linear in t through the nodes ``t_i = (i+1)/N`` (as in
DPM-Solver's discrete ``NoiseScheduleVP``), so λ is strictly decreasing and its
inverse is exact (docs/mathematics.md §4.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import TimeLike, VPSchedule, as_time, check_range

__all__ = ["VPDiscrete", "VPScaledLinear"]


def _as_float64_list(v) -> torch.Tensor:
    if torch.is_tensor(v):
        return v.detach().to("cpu", torch.float64).reshape(-1)
    return torch.as_tensor(v, dtype=torch.float64).reshape(-1)


class VPDiscrete(VPSchedule):
    """Discrete VP schedule (diffusers-style ``alphas_cumprod``), made continuous.

    Node i (0-based, N nodes) sits at ``t_i = (i+1)/N`` with ``log α_i = ½ log ᾱ_i``,
    plus ``(t=0, log α=0)``; ``log α`` is piecewise linear in t between nodes
    (as in DPM-Solver's discrete schedule), so it is strictly decreasing and its
    inverse is exact piecewise-linear interpolation (docs/mathematics.md §4.1).
    ``t_min`` defaults to ``1/N`` (the first trained timestep), ``t_max`` to 1.
    """

    #: attributes that only memoise numbers of the others (the node tables per dtype and
    #: device): not part of the schedule's state (revsde.diffusion.samplers.drift_table.Tables)
    _memo_attributes = ("_cache",)

    def __init__(self, betas: torch.Tensor | Sequence[float] | None = None,
                 alphas_cumprod: torch.Tensor | Sequence[float] | None = None,
                 t_min: float | None = None,
                 t_max: float = 1.0):
        if (betas is None) == (alphas_cumprod is None):
            raise ValueError("VPDiscrete needs exactly one of betas= or alphas_cumprod=")
        if betas is not None:
            b = _as_float64_list(betas)
            if not bool(((b > 0) & (b < 1)).all()):
                raise ValueError("VPDiscrete betas must lie in (0, 1)")
            ac = torch.cumprod(1.0 - b, 0)
        else:
            ac = _as_float64_list(alphas_cumprod)
        if ac.numel() < 2:
            raise ValueError("VPDiscrete needs at least 2 timesteps")
        if not bool(((ac > 0) & (ac < 1)).all()):
            raise ValueError(
                "VPDiscrete alphas_cumprod must lie in (0, 1): a zero terminal SNR "
                "(alphas_cumprod[-1] == 0) has infinite λ; clip it to a small positive value"
            )
        if not bool((ac[1:] < ac[:-1]).all()):
            raise ValueError("VPDiscrete alphas_cumprod must be strictly decreasing")
        self.alphas_cumprod = ac
        n = ac.numel()
        self.num_timesteps = n
        self._t_nodes = torch.arange(n + 1, dtype=torch.float64) / n
        self._la_nodes = torch.cat([torch.zeros(1, dtype=torch.float64), 0.5 * torch.log(ac)])
        t_min = 1.0 / n if t_min is None else t_min
        self.t_min, self.t_max = check_range(t_min, t_max, 0.0, 1.0, "VPDiscrete")
        if self.t_min == 0.0:
            raise ValueError("VPDiscrete needs t_min > 0 (λ is infinite at t = 0)")
        self._cache: dict = {}

    def _nodes(self, like: torch.Tensor):
        key = (like.dtype, like.device)
        hit = self._cache.get(key)
        if hit is None:
            hit = (self._t_nodes.to(like.device, like.dtype),
                   self._la_nodes.to(like.device, like.dtype),
                   (-self._la_nodes).to(like.device, like.dtype))
            self._cache[key] = hit
        return hit

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """Piecewise-linear interpolation of ½ log ᾱ over t_i = (i+1)/N
        (docs/mathematics.md §4.1)."""
        t = as_time(t)
        tn, la, _ = self._nodes(t)
        n = self.num_timesteps
        idx = (torch.searchsorted(tn, t.contiguous(), right=True) - 1).clamp(0, n - 1)
        w = (t - tn[idx]) * n
        return la[idx] + w * (la[idx + 1] - la[idx])

    def _t_of_log_alpha(self, log_a):
        """Exact inverse of the piecewise-linear log α (monotone)."""
        _, la, neg = self._nodes(log_a)
        n = self.num_timesteps
        idx = (torch.searchsorted(neg, (-log_a).contiguous(), right=True) - 1).clamp(0, n - 1)
        w = (log_a - la[idx]) / (la[idx + 1] - la[idx])
        return (idx.to(log_a.dtype) + w) / n

    def timestep_of_t(self, t: TimeLike) -> torch.Tensor:
        """Continuous t to the model's (fractional) training index ``t·N - 1``."""
        return as_time(t) * self.num_timesteps - 1.0

    def to_dict(self) -> dict:
        return {"type": "VPDiscrete", "alphas_cumprod": self.alphas_cumprod.tolist(),
                "t_min": self.t_min, "t_max": self.t_max}


class VPScaledLinear(VPDiscrete):
    """Stable Diffusion's "scaled_linear" betas: linspace(sqrt β_start, sqrt β_end, N)²."""

    def __init__(self, beta_start: float = 0.00085, beta_end: float = 0.012,
                 num_train_timesteps: int = 1000, t_min: float | None = None,
                 t_max: float = 1.0):
        self.beta_start, self.beta_end = float(beta_start), float(beta_end)
        n = int(num_train_timesteps)
        if n != num_train_timesteps or n < 2:
            raise ValueError(
                f"num_train_timesteps must be an integer >= 2; got {num_train_timesteps}"
            )
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(
                f"VPScaledLinear needs 0 < beta_start < beta_end < 1; got {beta_start}, {beta_end}"
            )
        betas = torch.linspace(math.sqrt(self.beta_start), math.sqrt(self.beta_end), n,
                               dtype=torch.float64) ** 2
        super().__init__(betas=betas, t_min=t_min, t_max=t_max)

    def to_dict(self) -> dict:
        return {"type": "VPScaledLinear", "beta_start": self.beta_start,
                "beta_end": self.beta_end, "num_train_timesteps": self.num_timesteps,
                "t_min": self.t_min, "t_max": self.t_max}


