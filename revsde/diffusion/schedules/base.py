"""Base classes of the noise schedules (docs/mathematics.md §4.1): log-space primitives and helpers.

A schedule defines ``log_alpha``, ``log_sigma`` and ``t_of_lambda``; ``alpha``,
``sigma`` and ``lambda_`` follow.  See :mod:`revsde.diffusion.schedules`.
"""

from __future__ import annotations

import torch

__all__ = ["NoiseSchedule", "VPSchedule", "TimeLike", "as_time", "softplus", "check_range"]

#: a time (or λ, or clock value): a tensor, or a python number read as float64
TimeLike = torch.Tensor | float


def as_time(t: TimeLike) -> torch.Tensor:
    """``t`` as a floating tensor; python numbers become float64 0-d tensors."""
    if torch.is_tensor(t):
        return t if t.is_floating_point() else t.to(torch.float64)
    return torch.as_tensor(t, dtype=torch.float64)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^x)`` to full precision for every ``x`` (no threshold cut-off)."""
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


def check_range(t_min: float, t_max: float, lo: float, hi: float, name: str) -> tuple[float, float]:
    t_min, t_max = float(t_min), float(t_max)
    if not (lo <= t_min < t_max <= hi):
        raise ValueError(
            f"{name} needs {lo} <= t_min < t_max <= {hi} (the ends where λ stays finite); "
            f"got t_min={t_min}, t_max={t_max}"
        )
    return t_min, t_max


class NoiseSchedule:
    """Base class: subclasses define ``log_alpha``, ``log_sigma``, ``t_of_lambda``."""

    t_min: float
    t_max: float
    #: α_t² + σ_t² = 1 (variance preserving)
    variance_preserving: bool = False

    def log_alpha(self, t: TimeLike) -> torch.Tensor:
        raise NotImplementedError

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        raise NotImplementedError

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        raise NotImplementedError

    def at_lambda(self, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(t, log α_t, log σ_t)`` at half log-SNR ``λ`` (``t = t_of_lambda(λ)``)."""
        t = self.t_of_lambda(lam)
        return t, self.log_alpha(t), self.log_sigma(t)

    def alpha(self, t: TimeLike) -> torch.Tensor:
        """α_t = exp(log α_t) (docs/mathematics.md §4.1)."""
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: TimeLike) -> torch.Tensor:
        """σ_t = exp(log σ_t) (docs/mathematics.md §4.1)."""
        return torch.exp(self.log_sigma(t))

    def alpha_sigma(self, t: TimeLike) -> tuple[torch.Tensor, torch.Tensor]:
        """``(α_t, σ_t)``: the numbers of ``alpha(t)`` and ``sigma(t)`` (shared work done once)."""
        return self.alpha(t), self.sigma(t)

    def lambda_(self, t: TimeLike) -> torch.Tensor:
        """Half log-SNR λ_t = log α_t - log σ_t, decreasing in t (docs/mathematics.md §4.1)."""
        return self.log_alpha(t) - self.log_sigma(t)

    def to_dict(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, NoiseSchedule) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))


class VPSchedule(NoiseSchedule):
    """Variance-preserving base: σ_t = sqrt(1 - α_t²) from ``log_alpha`` alone.

    Subclasses define ``log_alpha(t)`` and ``_t_of_log_alpha(log_alpha)``.
    """

    variance_preserving = True

    def log_sigma(self, t: TimeLike) -> torch.Tensor:
        """log σ = ½ log(-expm1(2 log α)) (docs/mathematics.md §4.1, VP: σ² = 1 - α²)."""
        return 0.5 * torch.log(-torch.expm1(2.0 * self.log_alpha(t)))

    def alpha_sigma(self, t: TimeLike) -> tuple[torch.Tensor, torch.Tensor]:
        """``(α_t, σ_t)`` with ``log α_t`` computed once (the numbers of ``alpha(t)``,
        ``sigma(t)``), unless a subclass changes ``log_sigma``, ``alpha`` or ``sigma``."""
        cls = type(self)
        if (cls.log_sigma is not VPSchedule.log_sigma or cls.alpha is not NoiseSchedule.alpha
                or cls.sigma is not NoiseSchedule.sigma):
            return super().alpha_sigma(t)
        la = self.log_alpha(t)
        return torch.exp(la), torch.exp(0.5 * torch.log(-torch.expm1(2.0 * la)))

    def lambda_(self, t: TimeLike) -> torch.Tensor:
        """λ = log α - ½ log(-expm1(2 log α)) (docs/mathematics.md §4.1)."""
        la = self.log_alpha(t)
        return la - 0.5 * torch.log(-torch.expm1(2.0 * la))

    def t_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """Inverse of λ: log α = -½ softplus(-2λ), then t from log α (docs/mathematics.md §4.1)."""
        lam = as_time(lam)
        return self._t_of_log_alpha(-0.5 * softplus(-2.0 * lam))

    def at_lambda(self, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(t, log α_t, log σ_t)`` at ``λ``, each computed once: t from λ, log α from t
        and, for the plain VP log σ, ``½ log(-expm1(2 log α))`` from that log α (the same
        numbers as ``log_alpha(t)``, ``log_sigma(t)``, which the model's conversions use)."""
        t = self.t_of_lambda(lam)
        la = self.log_alpha(t)
        if type(self).log_sigma is VPSchedule.log_sigma:
            return t, la, 0.5 * torch.log(-torch.expm1(2.0 * la))
        return t, la, self.log_sigma(t)

    def _t_of_log_alpha(self, la):
        raise NotImplementedError


