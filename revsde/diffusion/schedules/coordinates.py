"""Lifted coordinates of docs/mathematics.md §4.2 as functions of a schedule and a case: κ, the
clock, inverses.

Change variables ``Y = x/κ_t`` and run in a clock ``ς = exp(c·λ_t)``:

| case      | κ      | clock ς                | lifted drift (per unit clock)     |
|-----------|--------|------------------------|-----------------------------------|
| "ode_eps" | α      | χ = σ/α = e^{-λ}       | ε_θ(αY, t)                        |
| "ode_x0"  | σ      | γ = α/σ = e^{λ}        | x_θ(σY, t)                        |
| "sde_x0"  | σ²/α   | ρ = α²/σ² = e^{2λ}     | x_θ(κY, t)          (+ dW_ρ)      |
| "sde_eps" | α      | u = χ² = e^{-2λ}       | ε_θ(αY, t) u^{-1/2} (+ dW_u)      |

Every row is data (:class:`LiftedCase`): ``log κ = p log α + q log σ``, the clock
exponent ``c`` and the drift factor ``ς^drift_power`` (``-1/2`` for ``sde_eps``,
the ``dY = 2 ε dχ + dW_{χ²}`` of docs/mathematics.md §4.2, written in ``u = χ²``).  Nothing here
needs a
network or keeps state: the same schedule, case and time give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import NoiseSchedule, TimeLike, as_time

__all__ = [
    "LiftedCase",
    "CASES",
    "LIFTED_CASES",
    "get_case",
    "log_kappa",
    "kappa",
    "clock",
    "clock_of_lambda",
    "lambda_of_clock",
    "t_of_clock",
    "drift_coefficients",
    "drift_terms",
    "to_lifted",
    "from_lifted",
]


@dataclass(frozen=True)
class LiftedCase:
    """One row of the table of docs/mathematics.md §4.2 (module docstring)."""

    name: str
    #: clock ς = exp(c λ)
    c: float
    #: log κ = p log α + q log σ
    p: float
    q: float
    #: the network prediction the drift is made of: "eps" or "x0"
    prediction: str
    stochastic: bool
    #: drift = prediction · ς^drift_power (0: the drift is the prediction itself)
    drift_power: float = 0.0

    @property
    def clock_increases(self) -> bool:
        """Whether the clock increases from noise to data (the sampling direction)."""
        return self.c > 0


CASES: dict[str, LiftedCase] = {
    "ode_eps": LiftedCase("ode_eps", -1.0, 1.0, 0.0, "eps", False),
    "ode_x0": LiftedCase("ode_x0", 1.0, 0.0, 1.0, "x0", False),
    "sde_x0": LiftedCase("sde_x0", 2.0, -1.0, 2.0, "x0", True),
    "sde_eps": LiftedCase("sde_eps", -2.0, 1.0, 0.0, "eps", True, drift_power=-0.5),
}
LIFTED_CASES = tuple(CASES)


def get_case(case: str | LiftedCase) -> LiftedCase:
    """The :class:`LiftedCase` named ``case`` (a case object is returned unchanged)."""
    if isinstance(case, LiftedCase):
        return case
    if case not in CASES:
        raise ValueError(f"unknown lifted case {case!r}; valid cases are {LIFTED_CASES}")
    return CASES[case]


def _no_kappa(cs: LiftedCase) -> str:
    return (f"lifted case {cs.name!r} has p = q = 0, so κ_t = 1 and there is nothing to lift; "
            "give p or q a non-zero weight")


def log_kappa(schedule: NoiseSchedule, case: str | LiftedCase, t: TimeLike) -> torch.Tensor:
    """log κ_t = p log α_t + q log σ_t (log α, log σ, 2 log σ - log α by case)."""
    cs = get_case(case)
    out: torch.Tensor | None = None
    for w, part in ((cs.p, schedule.log_alpha), (cs.q, schedule.log_sigma)):
        if w:
            term = part(t) if w == 1.0 else w * part(t)
            out = term if out is None else out + term
    if out is None:
        raise ValueError(_no_kappa(cs))
    return out


def kappa(schedule: NoiseSchedule, case: str | LiftedCase, t: TimeLike) -> torch.Tensor:
    """κ_t = exp(log κ_t) (docs/mathematics.md §4.2)."""
    return torch.exp(log_kappa(schedule, case, t))


def clock_of_lambda(case: str | LiftedCase, lam: TimeLike) -> torch.Tensor:
    """ς = exp(c λ) with c = -1, 1, 2, -2 for ode_eps, ode_x0, sde_x0, sde_eps
    (docs/mathematics.md §4.2)."""
    return torch.exp(get_case(case).c * as_time(lam))


def lambda_of_clock(case: str | LiftedCase, s: TimeLike) -> torch.Tensor:
    """λ = log(ς)/c."""
    return torch.log(as_time(s)) / get_case(case).c


def clock(schedule: NoiseSchedule, case: str | LiftedCase, t: TimeLike) -> torch.Tensor:
    """Clock values ς(t) = exp(c λ_t), in t's dtype."""
    return clock_of_lambda(case, schedule.lambda_(as_time(t)))


def t_of_clock(schedule: NoiseSchedule, case: str | LiftedCase, s: TimeLike) -> torch.Tensor:
    """t from a clock value: ``schedule.t_of_lambda(log(ς)/c)``, computed in float64.

    A float32 clock is read in float64 (it is exact there), so that t is as close
    to the grid time as the clock's own rounding allows; the answer is float64 on
    the clock's device.
    """
    s = as_time(s)
    return schedule.t_of_lambda(lambda_of_clock(case, s.to(torch.float64)))


def drift_terms(schedule: NoiseSchedule, case: str | LiftedCase,
                s: TimeLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(t, log α_t, log σ_t, κ_t)`` at clock ``s`` in one pass (float64): λ = log(ς)/c,
    then ``schedule.at_lambda(λ)`` gives t, log α and log σ together."""
    cs = get_case(case)
    t, la, ls = schedule.at_lambda(lambda_of_clock(cs, as_time(s).to(torch.float64)))
    log_k: torch.Tensor | None = None
    for w, part in ((cs.p, la), (cs.q, ls)):
        if w:
            term = part if w == 1.0 else w * part
            log_k = term if log_k is None else log_k + term
    if log_k is None:
        raise ValueError(_no_kappa(cs))
    return t, la, ls, torch.exp(log_k)


def drift_coefficients(schedule: NoiseSchedule, case: str | LiftedCase,
                       s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t, κ_t)`` at clock ``s`` in one pass (float64): λ = log(ς)/c, then
    ``schedule.at_lambda(λ)`` gives t, log α and log σ together (what the lifted
    drift needs at every evaluation)."""
    t, _, _, kappa = drift_terms(schedule, case, s)
    return t, kappa


def to_lifted(schedule: NoiseSchedule, case: str | LiftedCase, x: torch.Tensor,
              t: TimeLike) -> torch.Tensor:
    """Y = x/κ_t (``t`` a scalar or ``(batch,)``)."""
    return x / _per_sample(kappa(schedule, case, as_time(t)), x)


def from_lifted(schedule: NoiseSchedule, case: str | LiftedCase, y: torch.Tensor,
                t: TimeLike) -> torch.Tensor:
    """x = κ_t Y."""
    return _per_sample(kappa(schedule, case, as_time(t)), y) * y


def _per_sample(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    c = c.to(device=x.device, dtype=x.dtype)
    return c if c.dim() == 0 else c.reshape(c.shape + (1,) * (x.dim() - 1))
