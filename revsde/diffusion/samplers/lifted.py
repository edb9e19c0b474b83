"""The four lifted diffusion equations of MATH.md §4.2, as SDE objects for the core.

Change variables ``Y = x/κ_t`` and run in a clock ``ς = exp(c·λ_t)``:

| case      | κ      | clock ς                | lifted equation                          |
|-----------|--------|------------------------|------------------------------------------|
| "ode_eps" | α      | χ = σ/α = e^{-λ}       | dY/dχ = ε_θ(αY, t)                       |
| "ode_x0"  | σ      | γ = α/σ = e^{λ}        | dY/dγ = x_θ(σY, t)                       |
| "sde_x0"  | σ²/α   | ρ = α²/σ² = e^{2λ}     | dY = x_θ(κY, t) dρ + dW_ρ                |
| "sde_eps" | α      | u = χ² = e^{-2λ}       | dY = ε_θ(αY, t)/χ du + dW_u              |

The last row is MATH.md's ``dY = 2 ε dχ + dW_{χ²}`` written in the clock u = χ²
(du = 2χ dχ), so that W is a standard Brownian motion in the clock.  Sampling
(noise to data) increases λ: the clock decreases for the noise-prediction cases
and increases for the data-prediction cases; the core accepts either direction.
The noise is additive: ``g`` returns ones of Y's shape (elementwise with dW).
ODE cases have no ``g``, which the core reads as an ODE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import DiffusionModel, per_sample
from ..schedules import as_time

__all__ = ["LiftedProblem", "LiftedODE", "LiftedSDE", "LIFTED_CASES"]


@dataclass(frozen=True)
class _Case:
    name: str
    #: clock = exp(c λ)
    c: float
    #: log κ = p log α + q log σ
    p: float
    q: float
    prediction: str
    stochastic: bool


_CASES = {
    "ode_eps": _Case("ode_eps", -1.0, 1.0, 0.0, "eps", False),
    "ode_x0": _Case("ode_x0", 1.0, 0.0, 1.0, "x0", False),
    "sde_x0": _Case("sde_x0", 2.0, -1.0, 2.0, "x0", True),
    "sde_eps": _Case("sde_eps", -2.0, 1.0, 0.0, "eps", True),
}
LIFTED_CASES = tuple(_CASES)

_MEMO_LIMIT = 1 << 16


class LiftedODE(torch.nn.Module):
    """Drift-only lifted equation (cases "ode_eps", "ode_x0"): ``f(ς, Y)``, no ``g``."""

    noise_type = "additive"
    sde_type = "stratonovich"

    def __init__(self, problem: LiftedProblem):
        super().__init__()
        self.model = problem.model
        self._problem = problem

    def f(self, s, y):
        """Lifted drift of MATH.md §4.2 at clock value ``s``."""
        pb = self._problem
        t = pb.t_of_clock(s)
        kappa = per_sample(pb.kappa(t), y)
        cs = pb.case
        if cs.prediction == "eps":
            out = self.model.eps(kappa * y, t, **pb.cond)
        else:
            out = self.model.x0(kappa * y, t, **pb.cond)
        if cs.name == "sde_eps":
            # dY = ε/χ du with χ = sqrt(u) = e^{-λ}
            out = out * per_sample(torch.rsqrt(as_time(s)), y)
        return out


class LiftedSDE(LiftedODE):
    """Lifted SDE (cases "sde_x0", "sde_eps"): additive noise, ``g = 1``."""

    def g(self, s, y):
        """Unit diffusion: W is a standard Brownian motion in the clock (MATH.md §4.2)."""
        return torch.ones_like(y)


class LiftedProblem:
    """A diffusion model in lifted coordinates ``Y = x/κ_t`` and clock ``ς(t)``.

    Args:
        model: a :class:`DiffusionModel` (any prediction type; it is converted).
        case: one of ``LIFTED_CASES``.
        ts: optional t-grid; its clock values are memoised (see :meth:`clock`).
        cond: conditioning keyword arguments passed to the model at every call.

    Attributes: ``sde`` (the object to hand to ``revsde.sdeint``), ``case_name``,
    ``stochastic``, ``model``, ``schedule``, ``cond``, ``ts`` and ``clocks``
    (``None`` without ``ts``).
    """

    def __init__(self, model: DiffusionModel, case: str, ts=None, cond: dict | None = None):
        if not isinstance(model, DiffusionModel):
            raise TypeError(
                f"model must be a revsde DiffusionModel(net, schedule, prediction); got "
                f"{type(model).__name__}"
            )
        if case not in _CASES:
            raise ValueError(f"unknown lifted case {case!r}; valid cases are {LIFTED_CASES}")
        self.model = model
        self.schedule = model.schedule
        self.case = _CASES[case]
        self.case_name = case
        self.stochastic = self.case.stochastic
        self.cond = dict(cond or {})
        self._memo: dict[float, float] = {}
        self.sde = LiftedSDE(self) if self.stochastic else LiftedODE(self)
        self.ts = None if ts is None else as_time(ts)
        self.clocks = None if ts is None else self.clock(self.ts)

    # -- clock ---------------------------------------------------------------------
    @property
    def clock_increases(self) -> bool:
        """Whether the clock increases from noise to data (sampling direction)."""
        return self.case.c > 0

    def clock_of_lambda(self, lam):
        """ς = exp(c λ) with c = -1, 1, 2, -2 for ode_eps, ode_x0, sde_x0, sde_eps (§4.2)."""
        return torch.exp(self.case.c * as_time(lam))

    def lambda_of_clock(self, s):
        """λ = log(ς)/c."""
        return torch.log(as_time(s)) / self.case.c

    def clock(self, t):
        """Clock values ς(t) in t's dtype.

        The pairs (ς, t) are memoised (keys: ς rounded to float64 and float32), so
        that :meth:`t_of_clock` returns the exact grid times at grid clocks.
        """
        t = as_time(t)
        s = self.clock_of_lambda(self.schedule.lambda_(t))
        if t.numel() <= 4096:
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
            s64 = s.detach().to("cpu", torch.float64).reshape(-1)
            tl = t.detach().to("cpu", torch.float64).reshape(-1).tolist()
            for key_t in (s64, s64.to(torch.float32)):
                for k, v in zip(key_t.tolist(), tl):
                    self._memo[k] = v
        return s

    def t_of_clock(self, s):
        """t from a clock value: memoised grid time, else ``schedule.t_of_lambda(λ(ς))``.

        The memo is read for python floats and CPU scalars only: reading a CUDA
        scalar would stall the device at every drift evaluation, so there ``t``
        is recomputed on the device (exact to ~1e-12 relative).
        """
        if isinstance(s, float) or (
            torch.is_tensor(s) and s.dim() == 0 and s.device.type == "cpu"
        ):
            hit = self._memo.get(float(s))
            if hit is not None:
                return hit
        return self.schedule.t_of_lambda(self.lambda_of_clock(s))

    # -- state map -----------------------------------------------------------------
    def log_kappa(self, t):
        """log κ_t: log α (eps cases), log σ (ode_x0), 2 log σ - log α (sde_x0), §4.2."""
        cs = self.case
        out = 0.0
        if cs.p:
            out = out + cs.p * self.schedule.log_alpha(t)
        if cs.q:
            out = out + cs.q * self.schedule.log_sigma(t)
        return out

    def kappa(self, t):
        """κ_t = exp(log κ_t)."""
        return torch.exp(self.log_kappa(t))

    def to_lifted(self, x, t):
        """Y = x/κ_t (``t`` a scalar or ``(batch,)``)."""
        return x / per_sample(self.kappa(as_time(t)), x)

    def from_lifted(self, y, t):
        """x = κ_t Y."""
        return per_sample(self.kappa(as_time(t)), y) * y

    def __repr__(self) -> str:
        return f"LiftedProblem(case={self.case_name!r}, schedule={self.schedule!r})"
