"""The variance-exploding (EDM-style) schedule :class:`VE`."""

from __future__ import annotations

import math

import torch

from .base import NoiseSchedule, TimeLike, as_time, check_range

__all__ = ["VE"]


class VE(NoiseSchedule):
    """Variance exploding / EDM-style (Karras et al. 2022): α = 1, σ = t, t ∈ [σ_min, σ_max]."""

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0):
        self.t_min, self.t_max = check_range(sigma_min, sigma_max, 0.0, math.inf, "VE")
        if self.t_min == 0.0:
            raise ValueError("VE needs sigma_min > 0 (λ is infinite at σ = 0)")

    @property
    def sigma_min(self) -> float:
        return self.t_min

    @property
    def sigma_max(self) -> float:
        return self.t_max

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """log α = 0 (EDM); written as 0·t so that it stays differentiable in t."""
        return as_time(t) * 0.0

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        """log σ = log t (EDM)."""
        return torch.log(as_time(t))

    def lambda_(self, t: TimeLike) -> torch.Tensor:
        return -torch.log(as_time(t))

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """t = e^{-λ}."""
        return torch.exp(-as_time(lam))

    def to_dict(self) -> dict:
        return {"type": "VE", "sigma_min": self.t_min, "sigma_max": self.t_max}
