"""The lifted diffusion equations of docs/mathematics.md §4.2, as SDE objects for the core.

The coordinates (``Y = x/κ_t``, clock ``ς = exp(c·λ_t)``) are functions of the
schedule and the case (:mod:`revsde.diffusion.schedules.coordinates`, which
holds the table of cases).  Sampling (noise to data) increases λ: the clock
decreases for the noise-prediction cases and increases for the data-prediction
cases; the core accepts either direction.  The noise is additive: ``g`` returns
ones of Y's shape (elementwise with dW).  ODE cases have no ``g``, which the
core reads as an ODE.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ...grid import Grid, Point
from ..checks import check_model
from ..models import DiffusionModel, per_sample
from ..schedules import VE, VPDiscrete, VPLinear, VPScaledLinear, as_time
from ..schedules import coordinates as co
from ..schedules.base import NoiseSchedule, TimeLike, VPSchedule
from ..schedules.coordinates import LIFTED_CASES, LiftedCase
from .drift_table import DriftTable, GridDrift, Tables

__all__ = ["LiftedProblem", "LiftedODE", "LiftedSDE", "DriftTable", "Tables", "LIFTED_CASES",
           "VECTOR_SCHEDULES"]

#: Schedules (by exact type: a subclass may change the operations) whose coefficients
#: have the same bits for a clock alone as within a vector, so that a row of stage
#: clocks is computed as one vector without changing a number.  VPCosine
#: (``torch.atan2``) and FlowMatching (``torch.sigmoid``) are not: the CPU kernels of
#: those two operations differ in the last bit between one element and a vector; their
#: stage clocks' coefficients are computed one clock at a time (and kept for the solve).
VECTOR_SCHEDULES = (VPLinear, VE, VPDiscrete, VPScaledLinear)


def coefficients(sch: NoiseSchedule, cs: LiftedCase, convert: bool, s: torch.Tensor,
                 like: torch.Tensor) -> tuple:
    """``(κ, t, α_t, σ_t, ς^drift_power)`` of the lifted drift at clock(s) ``s`` (0-d or
    1-D), in ``like``'s dtype and on its device (``α_t``, ``σ_t``: ``None`` unless the
    network's output is converted (``convert``); the factor: ``None`` for a drift that is
    the prediction itself).

    The same numbers as the model's own conversion at ``t`` (``t`` rounded to the
    state's dtype, as :func:`batch_time` does).  Every operation is elementwise, so a
    whole grid at once gives each clock's numbers: bit for bit where the schedule's
    operations give the same bits on a vector as on one element (every bundled
    schedule's do but FlowMatching's ``torch.sigmoid``, whose CPU vector kernel can
    differ in the last bit; a forward and an inverse solve read the same table, so
    round trips stay exact either way).
    """
    t, la, ls, kappa = co.drift_terms(sch, cs, s)
    dev, dt = like.device, like.dtype
    kappa = kappa.to(device=dev, dtype=dt)
    tb = t.to(device=dev, dtype=dt)
    a = sg = factor = None
    if convert:
        # In float64, the model's α, σ at t are exp of the log α, log σ found with t
        # (at_lambda gives log_alpha(t), log_sigma(t)), unless a class changes that.
        logs_shared = (type(sch).at_lambda in (NoiseSchedule.at_lambda, VPSchedule.at_lambda)
                       and type(sch).alpha is NoiseSchedule.alpha
                       and type(sch).sigma is NoiseSchedule.sigma)
        if tb is t and logs_shared:  # float64 on t's device: t is the model's t
            a, sg = torch.exp(la), torch.exp(ls)
        else:
            a, sg = sch.alpha_sigma(tb)
    if cs.drift_power:
        factor = (as_time(s) ** cs.drift_power).to(device=dev, dtype=dt)
    return kappa, tb, a, sg, factor


class LiftedODE(torch.nn.Module):
    """Drift-only lifted equation (cases "ode_eps", "ode_x0"): ``f(ς, Y)``, no ``g``.

    The drift's coefficients at a clock value (``κ``, ``t`` in the state's dtype,
    ``α_t``, ``σ_t`` where the network's output is converted, ``ς^drift_power``) are
    :meth:`coefficients`, a pure function of the clock.  A problem built with a grid
    also holds them at every clock of its grid and at the Runge–Kutta stage clocks of
    its steps (:class:`DriftTable`).  A solve prepares the table for its own grid
    (:meth:`prepare`) and evaluates the drift at a :class:`~revsde.grid.Point` (step
    index, stage, direction), where it is read; elsewhere it is computed.
    """

    noise_type = "additive"
    sde_type = "stratonovich"

    # The plain attributes __init__ sets into the instance dictionary (annotations only:
    # nn.Module's attribute lookup would otherwise type them as tensors or submodules).
    _schedule: NoiseSchedule
    _case: LiftedCase
    _cond: dict
    _convert: bool
    _to_prediction: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    _pick: int
    _call: Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]
    _factor: bool
    _table: DriftTable | None

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
            _table=None,
        )

    def coefficients(self, s: torch.Tensor, like: torch.Tensor) -> tuple:
        """``(κ, t, α_t, σ_t, ς^drift_power)`` at clock(s) ``s`` (:func:`coefficients`)."""
        return coefficients(self._schedule, self._case, self._convert, s, like)

    def prepare(self, grid: Grid, prior: GridDrift | None = None) -> GridDrift | None:
        """The table as the solve's ``grid`` reads it, once per solve (``None``: no table,
        or another dtype or device); ``prior``: the same, before the grid grew."""
        if prior is not None:
            return prior.extend(grid)
        return None if self._table is None else self._table.for_grid(grid)

    def f(self, s: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> torch.Tensor:
        """Lifted drift of docs/mathematics.md §4.2 at clock value ``s`` (the point ``at`` of the
        solve's grid): prediction · ς^drift_power."""
        c = None if at is None or at.data is None else at.data.row(at, y)
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

    def stage_time(self, s: torch.Tensor, c: float, h: float, at: Point) -> torch.Tensor:
        """``s + c·h``, the clock of a Runge–Kutta stage (the point ``at``): the table's
        when it holds the point (the same bits as the solver's own sum)."""
        t = None if at.data is None else at.data.clock(at)
        return s + c * h if t is None else t


class LiftedSDE(LiftedODE):
    """Lifted SDE (cases "sde_x0", "sde_eps"): additive noise, ``g = 1``.

    It says so (``unit_diffusion``), so that the solve neither calls :meth:`g` nor
    multiplies by it (:class:`revsde.sde.SDEAdapter`).
    """

    unit_diffusion = True

    def g(self, s: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> torch.Tensor:
        """Unit diffusion: W is a standard Brownian motion in the clock
        (docs/mathematics.md §4.2)."""
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
        tables: a :class:`Tables` the caller keeps, to reuse the clocks and the drift
            table of an earlier problem on the same grid (a sampler's next batch).

    Attributes: ``sde`` (the object to hand to ``revsde.sdeint``), ``case``
    (the :class:`~revsde.diffusion.schedules.coordinates.LiftedCase`), ``case_name``,
    ``stochastic``, ``model``, ``schedule``, ``cond``, ``ts``, ``clocks`` and ``grid``
    (the clocks as a :class:`~revsde.grid.Grid`; ``None`` without ``ts``).  The
    coordinate maps are those of :mod:`~revsde.diffusion.schedules.coordinates` for this
    schedule and case.
    With ``ts``, the drift's coefficients at every clock of the grid are computed
    once, here (:class:`DriftTable`); a solve on these clocks (or part of them) reads
    them by index (:meth:`LiftedODE.prepare`), and :meth:`at` gives the point of a grid
    clock for an evaluation outside a solve (a solver's ``init``).
    """

    def __init__(self, model: DiffusionModel, case: str, ts: torch.Tensor | None = None,
                 cond: dict | None = None, like: torch.Tensor | None = None,
                 tables: Tables | None = None) -> None:
        check_model(model)
        self.case: LiftedCase = co.get_case(case)
        self.model = model
        self.schedule = model.schedule
        self.case_name = self.case.name
        self.stochastic = self.case.stochastic
        self.cond = dict(cond or {})
        self.sde = LiftedSDE(self) if self.stochastic else LiftedODE(self)
        times = None if ts is None else as_time(ts)
        self.ts = times
        self.clocks = None
        #: the clocks as the step grid of a solve (:class:`~revsde.grid.Grid`), kept with
        #: the table: a solve on it reuses the solver's data of an earlier one
        self.grid: Grid | None = None
        self._end_kappas: dict = {}
        self._own: GridDrift | None = None
        if times is not None:
            batch = like.shape[0] if like is not None and like.dim() else None
            dtype, device = (None, None) if like is None else (like.dtype, like.device)
            vector = type(self.schedule) in VECTOR_SCHEDULES

            def build() -> tuple[torch.Tensor, DriftTable, dict, Grid]:
                clocks = self.clock(times)
                if like is not None:
                    clocks = clocks.to(dtype=dtype, device=device)
                clocks = clocks.contiguous()
                table = DriftTable(clocks, partial(coefficients, self.schedule, self.case,
                                                   self.sde._convert), vector, batch)
                return clocks, table, {}, Grid(table.times, clocks.dtype, clocks.device)

            if tables is None:
                built = build()
            else:
                key = (self.case_name, self.sde._convert, tuple(times.tolist()), dtype,
                       device, batch)
                built = tables.get(key, self.schedule, build)
            # the problem's own copy of the clocks: a caller who writes into it changes
            # neither the table nor the next problem that reuses it
            self.clocks = built[0].clone()
            self.sde._table, self._end_kappas, self.grid = built[1:]

    def at(self, k: int) -> Point:
        """The clock ``clocks[k]`` as an evaluation point of the problem's own grid (for a
        solver's ``init`` outside a solve, so that it reads the solve's numbers)."""
        table = self.sde._table
        if table is None:
            return Point(k)
        if self._own is None:
            self._own = GridDrift(table)
            self._own.index = list(range(len(table.times)))
        return Point(k % len(table.times), 0.0, False, self._own)

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
            if self.ts is None:
                raise ValueError("this LiftedProblem was built without ts, so it has no grid "
                                 "times; build it with ts= to convert at ts[i]")
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
