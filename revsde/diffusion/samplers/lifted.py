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
from ..schedules import VE, VPDiscrete, VPLinear, VPScaledLinear, as_time
from ..schedules import coordinates as co
from ..schedules.base import NoiseSchedule, TimeLike, VPSchedule
from ..schedules.coordinates import LIFTED_CASES, LiftedCase
from .drift_table import DriftTable
from .table_cache import grid_tables

__all__ = ["LiftedProblem", "LiftedODE", "LiftedSDE", "DriftTable", "LIFTED_CASES",
           "STAGE_ROW_SCHEDULES"]

#: Schedules (by exact type: a subclass may change the operations) whose coefficients
#: have the same bits for a clock alone as within a vector, so that the stage clocks of
#: a solve can be tabulated without changing a number.  VPCosine (``torch.atan2``) and
#: FlowMatching (``torch.sigmoid``) are not: the CPU kernels of those two operations
#: differ in the last bit between one element and a vector; their stage clocks are
#: computed at each evaluation, as before.
STAGE_ROW_SCHEDULES = (VPLinear, VE, VPDiscrete, VPScaledLinear)


class LiftedODE(torch.nn.Module):
    """Drift-only lifted equation (cases "ode_eps", "ode_x0"): ``f(ς, Y)``, no ``g``.

    The drift's coefficients at a clock value (``κ``, ``t`` in the state's dtype,
    ``α_t``, ``σ_t`` where the network's output is converted, ``ς^drift_power``) are
    :meth:`coefficients`, a pure function of the clock.  A problem built with a grid
    also holds them at every clock of its grid (:class:`DriftTable`, the same function
    applied to the whole grid at once), and a clock that is an element of that grid
    tensor reads them there instead of computing them again.
    """

    noise_type = "additive"
    sde_type = "stratonovich"

    def __init__(self, problem: LiftedProblem) -> None:
        super().__init__()
        self.model = problem.model  # a submodule: the network's parameters are the equation's
        sch, cs = problem.schedule, problem.case
        convert = self.model.prediction != cs.prediction
        # Plain attributes set straight into the instance dictionary (one per solve: the
        # nn.Module attribute hook costs more than the rest of this set-up together).
        self.__dict__.update(
            _schedule=sch,
            _case=cs,
            _cond=problem.cond,
            #: the network's output is converted to the case's prediction (else used as it is)
            _convert=convert,
            _to_prediction=self.model.convert,  # bound once: not a submodule lookup per call
            _pick=0 if cs.prediction == "eps" else 1,
            _call=self.model.net_for_solve(),
            _factor=bool(cs.drift_power),
            # In float64, the model's α, σ at t are exp of the log α, log σ found with t
            # (at_lambda gives log_alpha(t), log_sigma(t)), unless a class changes that.
            _logs_shared=(type(sch).at_lambda in (NoiseSchedule.at_lambda,
                                                  VPSchedule.at_lambda)
                          and type(sch).alpha is NoiseSchedule.alpha
                          and type(sch).sigma is NoiseSchedule.sigma),
            _table=None,
            _stage_rows=type(sch) in STAGE_ROW_SCHEDULES,
        )

    def coefficients(self, s: torch.Tensor, like: torch.Tensor) -> tuple:
        """``(κ, t, α_t, σ_t, ς^drift_power)`` at clock(s) ``s`` (0-d or 1-D), in ``like``'s
        dtype and on its device (``α_t``, ``σ_t``: ``None`` unless the network's output is
        converted; the factor: ``None`` for a drift that is the prediction itself).

        The same numbers as the model's own conversion at ``t`` (``t`` rounded to the
        state's dtype, as :func:`batch_time` does).  Every operation is elementwise, so a
        whole grid at once gives each clock's numbers: bit for bit where the schedule's
        operations give the same bits on a vector as on one element (every bundled
        schedule's do but FlowMatching's ``torch.sigmoid``, whose CPU vector kernel can
        differ in the last bit; a forward and an inverse solve read the same table, so
        round trips stay exact either way).
        """
        cs, sch = self._case, self._schedule
        t, la, ls, kappa = co.drift_terms(sch, cs, s)
        dev, dt = like.device, like.dtype
        kappa = kappa.to(device=dev, dtype=dt)
        tb = t.to(device=dev, dtype=dt)
        a = sg = factor = None
        if self._convert:
            if tb is t and self._logs_shared:  # float64 on t's device: t is the model's t
                a, sg = torch.exp(la), torch.exp(ls)
            else:
                a, sg = sch.alpha_sigma(tb)
        if self._factor:
            factor = (as_time(s) ** cs.drift_power).to(device=dev, dtype=dt)
        return kappa, tb, a, sg, factor

    def f(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Lifted drift of MATH.md §4.2 at clock value ``s``: prediction · ς^drift_power."""
        c = None if self._table is None else self._table.at(s, y)
        if c is None:
            # already in y's dtype and on its device: per-sample coefficients only reshaped
            kappa, tb, a, sg, factor = (v if v is None or v.dim() == 0 else per_sample(v, y)
                                        for v in self.coefficients(s, y))
            tb = tb.reshape(-1).expand(y.shape[0])
        else:
            kappa, tb, a, sg, factor = c
            if not tb.dim():  # a table made without the batch size
                tb = tb.expand(y.shape[0])
        # one memory layout for every call: a network's rounding can depend on its input's
        # strides (a channels-last picture against the contiguous states a solve makes), and
        # the inverse must see the forward's inputs bit for bit *and* laid out alike
        x = (kappa * y).contiguous()
        out = self._call(x, tb, self._cond)
        if self._convert:
            out = self._to_prediction(x, out, a, sg)[self._pick]
        if self._factor:
            out = out * factor
        return out

    def stage_time(self, s: torch.Tensor, c: float, h: float) -> torch.Tensor:
        """``s + c·h``, the clock of a Runge–Kutta stage (what the solver would compute):
        an element of the table's stage rows when ``s`` and ``h`` are of its grid and the
        schedule is one of :data:`STAGE_ROW_SCHEDULES`, so that :meth:`f` reads the
        coefficients there (:mod:`.drift_table`)."""
        t = (None if self._table is None or not self._stage_rows
             else self._table.stage_time(s, c, h, self.coefficients))
        return s + c * h if t is None else t


class LiftedSDE(LiftedODE):
    """Lifted SDE (cases "sde_x0", "sde_eps"): additive noise, ``g = 1``.

    It says so (``unit_diffusion``), so that the solve neither calls :meth:`g` nor
    multiplies by it (:class:`revsde.sde.SDEAdapter`).
    """

    unit_diffusion = True

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
        like: the state: ``clocks`` are in its dtype and on its device (float64 on the
            CPU without it).

    Attributes: ``sde`` (the object to hand to ``revsde.sdeint``), ``case``
    (the :class:`~revsde.diffusion.schedules.coordinates.LiftedCase`), ``case_name``,
    ``stochastic``, ``model``, ``schedule``, ``cond``, ``ts`` and ``clocks``
    (``None`` without ``ts``).  The coordinate maps are those of
    :mod:`~revsde.diffusion.schedules.coordinates` for this schedule and case.
    With ``ts``, the drift's coefficients at every clock of the grid are computed
    once, here (:class:`DriftTable`); the drift reads them when the solve is handed
    ``clocks`` itself as its time grid.
    """

    def __init__(self, model: DiffusionModel, case: str, ts: torch.Tensor | None = None,
                 cond: dict | None = None, like: torch.Tensor | None = None) -> None:
        check_model(model)
        self.case: LiftedCase = co.get_case(case)
        self.model = model
        self.schedule = model.schedule
        self.case_name = self.case.name
        self.stochastic = self.case.stochastic
        self.cond = dict(cond or {})
        self.sde = LiftedSDE(self) if self.stochastic else LiftedODE(self)
        self.ts = None if ts is None else as_time(ts)
        self.clocks = None
        self._end_kappas: dict = {}
        if ts is not None:
            batch = like.shape[0] if like is not None and like.dim() else None
            dtype, device = (None, None) if like is None else (like.dtype, like.device)

            def build() -> tuple[torch.Tensor, DriftTable]:
                clocks = self.clock(self.ts)
                if like is not None:
                    clocks = clocks.to(dtype=dtype, device=device)
                clocks = clocks.contiguous()
                return clocks, DriftTable(clocks, self.sde.coefficients(clocks, clocks), batch)

            # the same grid as an earlier solve's (the next batch of a run): its tables
            key = (self.case_name, self.sde._convert, tuple(self.ts.tolist()), dtype,
                   device, batch)
            self.clocks, self.sde._table, self._end_kappas = grid_tables(self.schedule, key, build)

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

    def _end_kappa(self, i: int, like: torch.Tensor) -> torch.Tensor:
        """κ at ``ts[i]`` in ``like``'s dtype and on its device: the number of
        :func:`~revsde.diffusion.schedules.coordinates.kappa` at that time, kept with the
        grid (a pure function of the schedule, the case and the grid)."""
        key = (i, like.dtype, like.device)
        k = self._end_kappas.get(key)
        if k is None:
            k = self._end_kappas[key] = co.kappa(self.schedule, self.case, self.ts[i]).to(
                device=like.device, dtype=like.dtype)
        return k

    def to_lifted_at(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Y = x/κ at the grid time ``ts[i]``: :meth:`to_lifted` at ``ts[i]``, bit for bit."""
        return x / self._end_kappa(i, x)

    def from_lifted_at(self, y: torch.Tensor, i: int) -> torch.Tensor:
        """x = κ Y at the grid time ``ts[i]``: :meth:`from_lifted` at ``ts[i]``, bit for bit."""
        return self._end_kappa(i, y) * y

    def __repr__(self) -> str:
        return f"LiftedProblem(case={self.case_name!r}, schedule={self.schedule!r})"
