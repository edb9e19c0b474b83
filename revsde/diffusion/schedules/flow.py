"""The flow-matching (rectified flow) schedule :class:`FlowMatching`, with its time shifts."""

from __future__ import annotations

import math

import torch

from .base import NoiseSchedule, TimeLike, as_time, check_range

__all__ = ["FlowMatching"]


class FlowMatching(NoiseSchedule):
    """Rectified flow / flow matching (Lipman et al. 2023; Liu et al. 2023): α = 1-σ, σ.

    Without a shift the time is the noise level itself: σ = t, α = 1-t.  The flow
    models of diffusers (SD3, FLUX, ...) sample on a *shifted* time (Esser et al. 2024,
    §5.3.2): ``σ(t) = s·t/(1 + (s-1)·t)``, which is the unshifted schedule with λ moved
    by ``-log s``: ``λ(t) = log((1-t)/t) - log s``.  A grid uniform in t is then the
    grid diffusers' ``FlowMatchEulerDiscreteScheduler`` samples on; its resolution
    dependent ("dynamic") shift is the same map with ``s = e^μ`` (``time_shift_type``
    "exponential") or ``s = μ`` ("linear").

    ``terminal`` (the scheduler's ``shift_terminal``, LTX-Video's stretch) rescales
    α so that the data end of the schedule sits at σ(t_min) = terminal:
    ``α(t) = (1-σ_s(t))·(1-terminal)/(1-σ_s(t_min))``, ``σ = 1-α``.

    In every case α + σ = 1, so the network's velocity u = ε - x0 (= dx/dσ) converts
    with x0 = x - σu, ε = x + αu (``DiffusionModel``, prediction ``"flow"``).

    Args:
        t_min, t_max: the ends of the time range, 0 < t_min < t_max < 1.
        shift: the time shift s > 0 (1: none).
        terminal: the noise level at t_min (``shift_terminal``), in (0, 1), or ``None``.
    """

    def __init__(self, t_min: float = 1e-3, t_max: float = 1.0 - 1e-3, shift: float = 1.0,
                 terminal: float | None = None):
        self.t_min, self.t_max = check_range(t_min, t_max, 0.0, 1.0, "FlowMatching")
        if self.t_min == 0.0 or self.t_max == 1.0:
            raise ValueError("FlowMatching needs 0 < t_min < t_max < 1 (λ is infinite at 0, 1)")
        if isinstance(shift, bool) or not isinstance(shift, (int, float)) or \
                not (math.isfinite(shift) and shift > 0):
            raise ValueError(f"FlowMatching needs a finite shift > 0 (1: no shift); got "
                             f"{shift!r}")
        self.shift = float(shift)
        if terminal is not None:
            if isinstance(terminal, bool) or not isinstance(terminal, (int, float)) or \
                    not 0.0 < terminal < 1.0:
                raise ValueError(f"FlowMatching's terminal (shift_terminal) must lie in (0, 1); "
                                 f"got {terminal!r}")
            terminal = float(terminal)
            s, t0 = self.shift, self.t_min
            # log of k = (1-σ_s(t_min))/(1-terminal), α = (1-σ_s)/k
            self._log_k = (math.log1p(-t0) - math.log1p((s - 1.0) * t0)
                           - math.log1p(-terminal))
        self.terminal = terminal

    def _plain(self) -> bool:
        return self.shift == 1.0 and self.terminal is None

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        """log α = log1p(-t) (shifted: log(1-σ_s(t)) = log1p(-t) - log1p((s-1)t); with a
        terminal, minus log k)."""
        t = as_time(t)
        if self._plain():
            return torch.log1p(-t)
        la = torch.log1p(-t)
        if self.shift != 1.0:
            la = la - torch.log1p((self.shift - 1.0) * t)
        if self.terminal is not None:
            la = la - self._log_k
        return la

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        """log σ = log t (shifted: log s + log t - log1p((s-1)t); with a terminal,
        log(1 - α))."""
        t = as_time(t)
        if self._plain():
            return torch.log(t)
        if self.terminal is not None:
            return torch.log(-torch.expm1(self.log_alpha(t)))
        return torch.log(t) + math.log(self.shift) - torch.log1p((self.shift - 1.0) * t)

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """λ = log((1-t)/t) - log s, so t = sigmoid(-λ - log s); with a terminal,
        α = sigmoid(λ), u = 1-σ_s = k·α and t = (1-u)/(1 + (s-1)u)."""
        lam = as_time(lam)
        if self._plain():
            return torch.sigmoid(-lam)
        if self.terminal is None:
            return torch.sigmoid(-lam - math.log(self.shift))
        u = torch.exp(self._log_k + torch.nn.functional.logsigmoid(lam))
        return (1.0 - u) / (1.0 + (self.shift - 1.0) * u)

    def to_dict(self) -> dict:
        d: dict = {"type": "FlowMatching", "t_min": self.t_min, "t_max": self.t_max}
        if self.shift != 1.0:
            d["shift"] = self.shift
        if self.terminal is not None:
            d["terminal"] = self.terminal
        return d
