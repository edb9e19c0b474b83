"""The lifted diffusion equations of MATH.md §4.2, as SDE objects for the core.

The coordinates (``Y = x/κ_t``, clock ``ς = exp(c·λ_t)``) are functions of the
schedule and the case (:mod:`revsde.diffusion.schedules.coordinates`, which
holds the table of cases).  Sampling (noise to data) increases λ: the clock
decreases for the noise-prediction cases and increases for the data-prediction
cases; the core accepts either direction.  The noise is additive: ``g`` returns
ones of Y's shape (elementwise with dW).  ODE cases have no ``g``, which the
core reads as an ODE.
"""

from __future__ import annotations

import torch

from ..checks import check_model
from ..models import DiffusionModel, per_sample
from ..schedules import as_time
from ..schedules import coordinates as co
from ..schedules.base import TimeLike
from ..schedules.coordinates import LIFTED_CASES, LiftedCase

__all__ = ["LiftedProblem", "LiftedODE", "LiftedSDE", "LIFTED_CASES"]


class LiftedODE(torch.nn.Module):
    """Drift-only lifted equation (cases "ode_eps", "ode_x0"): ``f(ς, Y)``, no ``g``."""

    noise_type = "additive"
    sde_type = "stratonovich"

    def __init__(self, problem: LiftedProblem) -> None:
        super().__init__()
        self.model = problem.model
        self._schedule = problem.schedule
        self._case = problem.case
        self._cond = problem.cond
        cs = problem.case
        self._predict = self.model.eps if cs.prediction == "eps" else self.model.x0

    def f(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Lifted drift of MATH.md §4.2 at clock value ``s``: prediction · ς^drift_power."""
        cs, sch = self._case, self._schedule
        t, kappa = co.drift_coefficients(sch, cs, s)
        out = self._predict(per_sample(kappa, y) * y, t, **self._cond)
        if cs.drift_power:
            out = out * per_sample(as_time(s) ** cs.drift_power, y)
        return out


class LiftedSDE(LiftedODE):
    """Lifted SDE (cases "sde_x0", "sde_eps"): additive noise, ``g = 1``."""

    def g(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unit diffusion: W is a standard Brownian motion in the clock (MATH.md §4.2)."""
        return torch.ones_like(y)


class LiftedProblem:
    """A diffusion model in lifted coordinates ``Y = x/κ_t`` and clock ``ς(t)``.

    Args:
        model: a :class:`DiffusionModel` (any prediction type; it is converted).
        case: one of ``LIFTED_CASES``.
        ts: optional t-grid (float64); ``clocks`` holds its clock values.
        cond: conditioning keyword arguments passed to the model at every call.

    Attributes: ``sde`` (the object to hand to ``revsde.sdeint``), ``case``
    (the :class:`~revsde.diffusion.schedules.coordinates.LiftedCase`), ``case_name``,
    ``stochastic``, ``model``, ``schedule``, ``cond``, ``ts`` and ``clocks``
    (``None`` without ``ts``).  The coordinate maps are those of
    :mod:`~revsde.diffusion.schedules.coordinates` for this schedule and case;
    nothing is memoised.
    """

    def __init__(self, model: DiffusionModel, case: str, ts: torch.Tensor | None = None,
                 cond: dict | None = None) -> None:
        check_model(model)
        self.case: LiftedCase = co.get_case(case)
        self.model = model
        self.schedule = model.schedule
        self.case_name = self.case.name
        self.stochastic = self.case.stochastic
        self.cond = dict(cond or {})
        self.sde = LiftedSDE(self) if self.stochastic else LiftedODE(self)
        self.ts = None if ts is None else as_time(ts)
        self.clocks = None if ts is None else self.clock(self.ts)

    @property
    def clock_increases(self) -> bool:
        """Whether the clock increases from noise to data (sampling direction)."""
        return self.case.clock_increases

    def clock_of_lambda(self, lam: TimeLike) -> torch.Tensor:
        """ς = exp(c λ)."""
        return co.clock_of_lambda(self.case, lam)

    def lambda_of_clock(self, s: TimeLike) -> torch.Tensor:
        """λ = log(ς)/c."""
        return co.lambda_of_clock(self.case, s)

    def clock(self, t: TimeLike) -> torch.Tensor:
        """Clock values ς(t), in t's dtype."""
        return co.clock(self.schedule, self.case, t)

    def t_of_clock(self, s: TimeLike) -> torch.Tensor:
        """t from a clock value (float64): ``schedule.t_of_lambda(λ(ς))``."""
        return co.t_of_clock(self.schedule, self.case, s)

    def log_kappa(self, t: TimeLike) -> torch.Tensor:
        """log κ_t."""
        return co.log_kappa(self.schedule, self.case, t)

    def kappa(self, t: TimeLike) -> torch.Tensor:
        """κ_t."""
        return co.kappa(self.schedule, self.case, t)

    def to_lifted(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """Y = x/κ_t (``t`` a scalar or ``(batch,)``)."""
        return co.to_lifted(self.schedule, self.case, x, t)

    def from_lifted(self, y: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """x = κ_t Y."""
        return co.from_lifted(self.schedule, self.case, y, t)

    def __repr__(self) -> str:
        return f"LiftedProblem(case={self.case_name!r}, schedule={self.schedule!r})"
