"""Rex samplers (MATH.md §4.3): a reversible core solver run on a lifted diffusion equation.

The solver (a McCallum–Foster ``mcf_<base>`` wrapper, MATH.md §3, Reversible
Heun, MATH.md §2, or any other reversible registry solver) is run by
:func:`revsde.sdeint` / :func:`revsde.sdeint_inverse` in the lifted clock
(:class:`~revsde.diffusion.samplers.lifted.LiftedProblem`); the state stays
lifted and is converted with ``κ`` only at the ends.

Nothing here names a solver: what a sampler needs is class data on the solver
(``init_nfe``, ``uses_zeta``, ``exact_mode``, ``needs_positive_clock``,
``needs_levy_area``, ``description``).  The solver is built once, with the
sampler.

Reversible samplers expose ``noise_state`` / ``data_state`` (the full solver
state at either end, with ``ŷ = y``), ``forward_state`` (noise to data) and
``inverse_state`` (data to noise), which :mod:`revsde.diffusion.inversion`
uses to encode and decode.  The noise of the SDE samplers is a
:class:`revsde.BrownianGrid` on the lifted clock grid, seeded by an integer
``seed``: counter-based, so the same path is regenerated bit for bit in any
query order and in another process.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ...brownian import BrownianGrid
from ...integrate import sdeint, sdeint_inverse
from ...registry import SOLVERS
from ...sde import SDEAdapter
from ...solvers import Solver
from ..checks import check_grid, check_model, check_seed, check_tensor, draw_seed
from ..models import DiffusionModel
from ..schedules import coordinates as co
from .lifted import LiftedProblem, Tables

__all__ = ["RexSampler", "ODE_CASES", "SDE_CASES", "DEFAULT_ODE_CASE", "DEFAULT_SDE_CASE",
           "cases_for"]

ODE_CASES = tuple(n for n, c in co.CASES.items() if not c.stochastic)
SDE_CASES = tuple(n for n, c in co.CASES.items() if c.stochastic)
#: Defaults chosen from the measurements of MATH.md §4.5 (docs/diffusion.md).
DEFAULT_ODE_CASE = "ode_x0"
DEFAULT_SDE_CASE = "sde_x0"
#: the reason a solver that needs a positive clock refuses a case whose drift is not a prediction
LOG_CLOCK_WHY = (" (its weights assume a drift linear in log-clock, which the sde_eps drift "
                  "ε/χ is not)")


def cases_for(solver: Solver, stochastic: bool) -> tuple[str, ...]:
    """The lifted cases a sampler of ``solver`` may run: ODE or SDE ones, and for a
    solver that needs a positive clock (exponential weights) only those whose drift
    is the prediction itself."""
    names = SDE_CASES if stochastic else ODE_CASES
    if solver.needs_positive_clock:
        names = tuple(n for n in names if co.CASES[n].drift_power == 0)
    return names


@dataclass(frozen=True)
class RexSampler:
    """A reversible solver run on a lifted diffusion equation (MATH.md §4.3).

    Args:
        name: registry name.
        method: a reversible solver of :data:`revsde.registry.SOLVERS`
            (``"mcf_rk4"``, ``"reversible_heun"``, ``"exp_reversible_heun"``, ...).
        case: lifted case (``LIFTED_CASES``).
        zeta: MCF coupling in (0, 1] for a solver with ``uses_zeta``; ``None`` otherwise.
        quantum: power-of-two fixed-point grid for bit-exact reversal (MATH.md §7),
            for a solver with ``exact_mode``.
        compensated: carry the lifted ``Y`` and ``Ŷ`` as ``hi + lo`` pairs (a solver with
            ``compensated_mode``; MATH.md §4.6): the network sees ``hi`` and the inverse
            rebuilds it bit for bit.  :func:`~revsde.diffusion.encode` turns it on.
    """

    name: str
    method: str
    case: str
    zeta: float | None = None
    quantum: float | None = None
    compensated: bool = False
    _solver: Solver = field(init=False, repr=False, compare=False)
    #: the clocks and drift tables of earlier calls, for the next call on the same grid
    _tables: Tables = field(default_factory=Tables, init=False, repr=False, compare=False)

    reversible: ClassVar[bool] = True

    def __post_init__(self) -> None:
        probe = SOLVERS.get(self.method)
        if not probe.reversible:
            raise ValueError(f"{self.name}: solver {self.method!r} is not reversible; a Rex "
                             "sampler needs a reversible one (see revsde.list_solvers())")
        if self.quantum is not None and not probe.exact_mode:
            raise ValueError(
                f"{self.name} has no exact mode (exact=True / quantum=): its solver "
                f"{self.method} has no fixed-point grid it can invert bit for bit; use "
                "rev_heun or a rex_* sampler for exact mode"
            )
        if self.compensated is not False and not probe.compensated_mode:
            raise ValueError(f"{self.name} has no compensated mode (its solver {self.method} "
                             "does not carry hi + lo pairs); omit compensated=")
        if self.zeta is not None and not probe.uses_zeta:
            raise ValueError(f"{self.name} takes no zeta (its solver {self.method} has no "
                             "coupling); omit zeta=")
        if self.case not in co.CASES:
            raise ValueError(f"unknown lifted case {self.case!r}; valid cases are "
                             f"{co.LIFTED_CASES}")
        allowed = cases_for(probe, co.CASES[self.case].stochastic)
        if self.case not in allowed:
            raise ValueError(f"{self.name} takes case in {list(allowed)}; got {self.case!r}"
                             f"{LOG_CLOCK_WHY}")
        options: dict[str, Any] = {}
        if probe.uses_zeta:
            options["zeta"] = 0.999 if self.zeta is None else self.zeta
        if probe.exact_mode:
            options["quantum"] = self.quantum
        if probe.compensated_mode:
            options["compensated"] = self.compensated
        # built once; validates zeta and quantum with the core's messages
        object.__setattr__(self, "_solver", SOLVERS.get(self.method, **options))

    # -- metadata ---------------------------------------------------------------------
    def solver(self) -> Solver:
        """The core solver (built once, with the sampler)."""
        return self._solver

    @property
    def stochastic(self) -> bool:
        return co.CASES[self.case].stochastic

    @property
    def prediction(self) -> str:
        return co.CASES[self.case].prediction

    @property
    def base(self) -> str:
        """The base method: the wrapped one of a McCallum–Foster solver, else the solver."""
        inner = getattr(self._solver, "base", None)
        return inner.name if isinstance(inner, Solver) else self._solver.name

    @property
    def nfe_per_step(self) -> int:
        return self._solver.nfe_per_step

    @property
    def init_nfe(self) -> int:
        """Evaluations made once when the state is built (Reversible Heun caches f(ŷ))."""
        return self._solver.init_nfe

    @property
    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case, "quantum": self.quantum}
        if self._solver.uses_zeta:
            out["zeta"] = self._solver.zeta
        if self._solver.compensated_mode:
            out["compensated"] = self._solver.compensated
        return out

    def info(self) -> dict[str, Any]:
        s = self._solver
        order = s.strong_order.get("additive") if self.stochastic else s.ode_order
        return {
            "name": self.name,
            "reversible": True,
            "stochastic": self.stochastic,
            "nfe_per_step": s.nfe_per_step,
            "init_nfe": s.init_nfe,
            "case": self.case,
            "cases": list(cases_for(s, self.stochastic)),
            "prediction": self.prediction,
            "base": self.base,
            "solver": s.name,
            "order": order,
            "order_kind": "strong" if self.stochastic else "ode",
            "options": self.options,
            "description": f"{s.description} on the lifted {self.case} equation "
                           f"(core solver {s.name})",
        }

    # -- plumbing ---------------------------------------------------------------------
    def lift(self, model: DiffusionModel, ts: torch.Tensor, cond: dict | None = None,
             like: torch.Tensor | None = None) -> tuple[LiftedProblem, torch.Tensor]:
        """``(LiftedProblem, clocks)``: the lifted equation and the clock grid.

        The clocks are in ``like``'s dtype and on its device (float64 on the CPU
        without ``like``); ``ts`` is the float64 t-grid.
        """
        check_model(model)
        ts = check_grid(ts)
        pb = LiftedProblem(model, self.case, ts, cond=cond, like=like, tables=self._tables)
        clocks = pb.clocks
        c = clocks.tolist()  # one read of the grid, checked in python (no tensor per test)
        if not (all(map(operator.lt, c, c[1:])) or all(map(operator.gt, c, c[1:]))):
            raise ValueError(
                f"the clock grid of case {self.case!r} is not strictly monotone in "
                f"{clocks.dtype}; use fewer steps or float64"
            )
        return pb, clocks

    def brownian(self, clocks: torch.Tensor, like: torch.Tensor,
                 seed: int | None) -> BrownianGrid | None:
        """The lifted noise: a :class:`BrownianGrid` on the clock grid, seeded by ``seed``."""
        if not self.stochastic:
            return None
        if seed is None:
            raise ValueError(
                f"{self.name} with case {self.case!r} is stochastic: pass an integer seed "
                "(the same one to invert) or a Brownian motion bm="
            )
        return BrownianGrid(sorted(clocks.tolist()), tuple(like.shape), dtype=like.dtype,
                            device=like.device, entropy=check_seed(seed),
                            levy_area=self._solver.needs_levy_area)

    def _bm(self, clocks: torch.Tensor, like: torch.Tensor, seed: int | None,
            bm: Any) -> Any:
        if bm is not None:
            if not self.stochastic:
                raise ValueError(f"{self.name} with case {self.case!r} is an ODE; it takes no bm")
            return bm
        return self.brownian(clocks, like, seed)

    def _init(self, pb: LiftedProblem, k: int, y: torch.Tensor) -> tuple:
        # contiguous, like every state the solve makes from it (a picture read from an
        # (H, W, C) array arrives channels-last); at the clock pb.clocks[k], read there
        return self._solver.init(SDEAdapter(pb.sde), pb.clocks[k].to(y.dtype), y.contiguous(),
                                 at=pb.at(k))

    def _check_state(self, state: Any, name: str = "state") -> tuple:
        if not isinstance(state, (tuple, list)) or len(state) < 2:
            raise TypeError(
                f"{name} must be the full reversible state (y, ŷ, ...) of {self.name}, e.g. "
                "from noise_state / data_state / Latents.state"
            )
        return tuple(state)

    # -- states -----------------------------------------------------------------------
    def noise_state(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                    cond: dict | None = None) -> tuple:
        """The full state at ``ts[0]`` from ``x_T``: ``y = ŷ = x_T/κ`` (quantised in exact mode)."""
        x_T = check_tensor(x_T, "x_T")
        pb, clocks = self.lift(model, ts, cond, x_T)
        return self._init(pb, 0, pb.to_lifted_at(x_T, 0))

    def data_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                   cond: dict | None = None) -> tuple:
        """The full state at ``ts[-1]`` from ``x0``: ``y = ŷ = x0/κ`` (quantised in exact mode)."""
        x0 = check_tensor(x0, "x0")
        pb, clocks = self.lift(model, ts, cond, x0)
        return self._init(pb, -1, pb.to_lifted_at(x0, -1))

    def solve(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
              seed: int | None = None, cond: dict | None = None, bm: Any = None,
              inverse: bool = False) -> Any:
        """The core :class:`~revsde.Solution` of a forward (noise to data) or inverse solve.

        ``state`` is the full state at ``ts[0]`` (forward) or ``ts[-1]`` (inverse);
        ``ys`` holds ``y`` at every grid time.
        """
        state = self._check_state(state)
        pb, clocks = self.lift(model, ts, cond, state[0])
        return self._solve(pb, clocks, state, seed, bm, inverse)

    def _solve(self, pb: LiftedProblem, clocks: torch.Tensor, state: tuple,
               seed: int | None, bm: Any, inverse: bool, outputs: bool = True) -> Any:
        """The core solve on the clock grid; ``outputs=False``: only the end state is
        wanted, so the outputs are the grid's two ends (the same steps, bit for bit,
        without a copy of ``y`` at every step)."""
        bm = self._bm(clocks, state[0], seed, bm)
        # the two ends as a strided view (an index list would copy); the steps: the
        # problem's grid (the solver's data of it reused by the next call)
        ts = clocks if outputs else clocks[::clocks.numel() - 1]
        if inverse:
            return sdeint_inverse(pb.sde, state, ts, method=self._solver, bm=bm, grid=pb.grid)
        return sdeint(pb.sde, None, ts, method=self._solver, state=state, bm=bm, grid=pb.grid)

    def _end_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor,
                   seed: int | None, cond: dict | None, bm: Any, inverse: bool) -> tuple:
        state = self._check_state(state)
        pb, clocks = self.lift(model, ts, cond, state[0])
        return self._solve(pb, clocks, state, seed, bm, inverse, outputs=False).state

    def forward_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                      seed: int | None = None, cond: dict | None = None,
                      bm: Any = None) -> tuple:
        """Solve from the full ``state`` at ``ts[0]`` (noise) to ``ts[-1]`` (data)."""
        return self._end_state(model, state, ts, seed, cond, bm, False)

    def inverse_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                      seed: int | None = None, cond: dict | None = None,
                      bm: Any = None) -> tuple:
        """Run the inverse steps from the full ``state`` at ``ts[-1]`` (data) to ``ts[0]``."""
        return self._end_state(model, state, ts, seed, cond, bm, True)

    def to_data(self, model: DiffusionModel, state: tuple, ts: torch.Tensor) -> torch.Tensor:
        """``x = κ_{ts[-1]} y`` from the lifted state at the data end."""
        return co.from_lifted(check_model(model).schedule, self.case, state[0],
                              check_grid(ts)[-1])

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None,
               bm: Any = None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` with ``ŷ = y`` (SDE: noise from ``seed`` or ``bm``)."""
        if self.stochastic and seed is None and bm is None:
            seed = draw_seed()
        # noise_state, forward_state and to_data on one lifted problem (lifted once)
        x_T = check_tensor(x_T, "x_T")
        pb, clocks = self.lift(model, ts, cond, x_T)
        state = self._init(pb, 0, pb.to_lifted_at(x_T, 0))
        state = self._solve(pb, clocks, state, seed, bm, False, outputs=False).state
        return pb.from_lifted_at(state[0], -1)
