"""Continuous variance-preserving schedules: :class:`VPLinear` and :class:`VPCosine`."""

from __future__ import annotations

import math

import torch

from .base import TimeLike, VPSchedule, as_time, check_range, softplus

__all__ = ["VPLinear", "VPCosine"]


class VPLinear(VPSchedule):
    """Continuous linear VP (Song et al. 2021): log α_t = -(β1-β0) t²/4 - β0 t/2
    (docs/mathematics.md §4.1)."""

    def __init__(self, beta_0: float = 0.1, beta_1: float = 20.0, t_min: float = 1e-3,
                 t_max: float = 1.0):
        self.beta_0, self.beta_1 = float(beta_0), float(beta_1)
        if self.beta_0 < 0 or self.beta_1 < self.beta_0 or self.beta_1 <= 0:
            raise ValueError(
                f"VPLinear needs 0 <= beta_0 <= beta_1 and beta_1 > 0; got "
                f"beta_0={beta_0}, beta_1={beta_1}"
            )
        self.t_min, self.t_max = check_range(t_min, t_max, 0.0, math.inf, "VPLinear")
        if self.t_min == 0.0:
            raise ValueError("VPLinear needs t_min > 0 (λ is infinite at t = 0)")

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """log α_t = -(β1-β0) t²/4 - β0 t/2 (docs/mathematics.md §4.1)."""
        t = as_time(t)
        return -0.25 * (self.beta_1 - self.beta_0) * t * t - 0.5 * self.beta_0 * t

    def _t_of_log_alpha(self, la):
        """Root of a t² + b t + log α = 0, stable form t = 2L/(b + sqrt(b² + 4aL)), L = -log α."""
        a = 0.25 * (self.beta_1 - self.beta_0)
        b = 0.5 * self.beta_0
        L = -la
        return 2.0 * L / (b + torch.sqrt(b * b + 4.0 * a * L))

    def to_dict(self) -> dict:
        return {"type": "VPLinear", "beta_0": self.beta_0, "beta_1": self.beta_1,
                "t_min": self.t_min, "t_max": self.t_max}


class VPCosine(VPSchedule):
    """Cosine VP (Nichol & Dhariwal 2021): α_t = cos(θ_t)/cos(θ_0), θ_t = π/2 (t+s)/(1+s).

    ``t_max`` defaults to 0.9946 as in DPM-Solver (α vanishes at t = 1).
    """

    def __init__(self, s: float = 0.008, t_min: float = 1e-3, t_max: float = 0.9946):
        self.s = float(s)
        if not self.s >= 0:
            raise ValueError(f"VPCosine needs s >= 0; got s={s}")
        self.t_min, self.t_max = check_range(t_min, t_max, 0.0, 1.0, "VPCosine")
        if self.t_min == 0.0 or self.t_max == 1.0:
            raise ValueError("VPCosine needs 0 < t_min < t_max < 1 (λ is infinite at 0 and 1)")
        self._k = 0.5 * math.pi / (1.0 + self.s)
        self._theta0 = self._k * self.s

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """log α = log1p((cos θ - cos θ0)/cos θ0), with the difference as a product of sines."""
        t = as_time(t)
        th = self._k * (t + self.s)
        diff = -2.0 * torch.sin(0.5 * (th + self._theta0)) * torch.sin(0.5 * self._k * t)
        return torch.log1p(diff / math.cos(self._theta0))

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        """σ² = 1 - α² = sin(θ-θ0) sin(θ+θ0)/cos²θ0 (stable near t = 0)."""
        t = as_time(t)
        th = self._k * (t + self.s)
        s2 = torch.sin(self._k * t) * torch.sin(th + self._theta0)
        return 0.5 * torch.log(s2) - math.log(math.cos(self._theta0))

    def lambda_(self, t: TimeLike) -> torch.Tensor:
        return self.log_alpha(t) - self.log_sigma(t)

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """θ = atan2(sqrt(sin²θ0 + cos²θ0 σ²), α cos θ0), t = θ/k - s (stable inverse)."""
        lam = as_time(lam)
        log_a = -0.5 * softplus(-2.0 * lam)
        log_s = -0.5 * softplus(2.0 * lam)
        c0 = math.cos(self._theta0)
        sin_th = torch.sqrt(math.sin(self._theta0) ** 2 + (c0 * torch.exp(log_s)) ** 2)
        th = torch.atan2(sin_th, c0 * torch.exp(log_a))
        return th / self._k - self.s

    def to_dict(self) -> dict:
        return {"type": "VPCosine", "s": self.s, "t_min": self.t_min, "t_max": self.t_max}
