"""The flow-matching (rectified flow) schedule :class:`FlowMatching`."""

from __future__ import annotations

import torch

from .base import NoiseSchedule, TimeLike, as_time, check_range

__all__ = ["FlowMatching"]


class FlowMatching(NoiseSchedule):
    """Rectified flow / flow matching (Lipman et al. 2023; Liu et al. 2023): α = 1-t, σ = t."""

    def __init__(self, t_min: float = 1e-3, t_max: float = 1.0 - 1e-3):
        self.t_min, self.t_max = check_range(t_min, t_max, 0.0, 1.0, "FlowMatching")
        if self.t_min == 0.0 or self.t_max == 1.0:
            raise ValueError("FlowMatching needs 0 < t_min < t_max < 1 (λ is infinite at 0, 1)")

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """log α = log1p(-t)."""
        return torch.log1p(-as_time(t))

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        """log σ = log t."""
        return torch.log(as_time(t))

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """λ = log((1-t)/t) so t = sigmoid(-λ)."""
        return torch.sigmoid(-as_time(lam))

    def to_dict(self) -> dict:
        return {"type": "FlowMatching", "t_min": self.t_min, "t_max": self.t_max}
