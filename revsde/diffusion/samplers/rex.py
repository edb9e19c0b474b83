"""Rex samplers (docs/mathematics.md §4.3): a reversible core solver run on a lifted diffusion
equation.

The solver (a McCallum–Foster ``mcf_<base>`` wrapper, docs/mathematics.md §3, Reversible
Heun, docs/mathematics.md §2, or any other reversible registry solver) is run by
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
``seed`` and one key per sample (:class:`revsde.brownian.Seeds`; an integer seed
keys the samples ``0 .. batch-1``): counter-based and drawn sample by sample, so a
sample's path is regenerated bit for bit in any query order, alone or in any batch,
and in another process.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ...brownian import BrownianGrid, Seeds
from ...integrate import sdeint, sdeint_inverse
from ...registry import SOLVERS
from ...sde import SDEAdapter
from ...solvers import Solver
from ..checks import check_grid, check_model, check_seed, check_tensor, draw_seed
from ..models import DiffusionModel
from ..schedules import coordinates as co
from .base import Encoded, Sampler
from .lifted import LiftedProblem, Tables

__all__ = ["RexSampler", "LiftedRun", "ODE_CASES", "SDE_CASES", "DEFAULT_ODE_CASE",
           "DEFAULT_SDE_CASE", "cases_for"]

ODE_CASES = tuple(n for n, c in co.CASES.items() if not c.stochastic)
SDE_CASES = tuple(n for n, c in co.CASES.items() if c.stochastic)
#: Defaults chosen from the measurements of docs/mathematics.md §4.5 (docs/diffusion.md).
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
class RexSampler(Sampler):
    """A reversible solver run on a lifted diffusion equation (docs/mathematics.md §4.3).

    Args:
        name: registry name.
        method: a reversible solver of :data:`revsde.registry.SOLVERS`
            (``"mcf_rk4"``, ``"reversible_heun"``, ``"exp_reversible_heun"``, ...).
        case: lifted case (``LIFTED_CASES``).
        zeta: MCF coupling in (0, 1] for a solver with ``uses_zeta``; ``None`` otherwise.
        quantum: power-of-two fixed-point grid for bit-exact reversal (docs/mathematics.md §7),
            for a solver with ``exact_mode``.
        compensated: carry the lifted ``Y`` and ``Ŷ`` as ``hi + lo`` pairs (a solver with
            ``compensated_mode``; docs/mathematics.md §4.6): the network sees ``hi`` and the inverse
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
    wide_state: ClassVar[bool] = True

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

    @property  # read-only here, declared as a plain attribute on Sampler
    def stochastic(self) -> bool:  # type: ignore[override]
        return co.CASES[self.case].stochastic

    @property
    def prediction(self) -> str:
        return co.CASES[self.case].prediction

    @property
    def base(self) -> str:
        """The base method: the wrapped one of a McCallum–Foster solver, else the solver."""
        inner = getattr(self._solver, "base", None)
        return inner.name if isinstance(inner, Solver) else self._solver.name

    @property  # read-only here, declared as a plain attribute on Sampler
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return self._solver.nfe_per_step

    @property  # read-only here, declared as a plain attribute on Sampler
    def init_nfe(self) -> int:  # type: ignore[override]
        """Evaluations made once when the state is built (Reversible Heun caches f(ŷ))."""
        return self._solver.init_nfe

    @property
    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case, "quantum": self.quantum}
        if self._solver.uses_zeta:
            out["zeta"] = getattr(self._solver, "zeta")  # noqa: B009 - uses_zeta declares it
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

    # -- the one orchestration: lift -> init -> solve -> unlift --------------------------
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
        if clocks is None:  # a LiftedProblem built with ts always has its clocks
            raise RuntimeError("the lifted problem was built without its clock grid")
        c = clocks.tolist()  # one read of the grid, checked in python (no tensor per test)
        if not (all(map(operator.lt, c, c[1:])) or all(map(operator.gt, c, c[1:]))):
            raise ValueError(
                f"the clock grid of case {self.case!r} is not strictly monotone in "
                f"{clocks.dtype}; use fewer steps or float64"
            )
        return pb, clocks

    def brownian(self, clocks: torch.Tensor, like: torch.Tensor,
                 seed: int | Seeds | None) -> BrownianGrid | None:
        """The lifted noise: a :class:`BrownianGrid` on the clock grid, sample ``i``'s path
        from ``(seed, keys[i])`` (:class:`~revsde.brownian.Seeds`; an integer seed keys the
        samples ``0 .. batch-1``; ``Seeds(seed, None)``: one path for the whole batch, as
        latents of format version 1 were encoded)."""
        if not self.stochastic:
            return None
        if seed is None:
            raise ValueError(
                f"{self.name} with case {self.case!r} is stochastic: pass an integer seed "
                "(the same one to invert) or a Brownian motion bm="
            )
        seeds = Seeds.of(seed if isinstance(seed, Seeds) else check_seed(seed), like.shape[0])
        return BrownianGrid(sorted(clocks.tolist()), tuple(like.shape), dtype=like.dtype,
                            device=like.device, entropy=seeds.seed, keys=seeds.keys,
                            levy_area=self._solver.needs_levy_area)

    def prepare(self, model: DiffusionModel, ts: torch.Tensor, like: torch.Tensor, *,
                cond: dict | None = None, seed: int | Seeds | None = None, bm: Any = None,
                noise: bool = True) -> LiftedRun:
        """This sampler on one model, grid, conditioning and noise path, lifted once.

        ``like`` is the state (its dtype, device and shape): the clocks and the noise
        follow it.  The noise is ``bm`` if given, else the :meth:`brownian` path of
        ``seed`` (``None`` for an ODE case); ``noise=False``: none (a run that only builds
        states).
        """
        pb, clocks = self.lift(model, ts, cond, like)
        if not noise:
            bm = None
        elif bm is not None:
            if not self.stochastic:
                raise ValueError(f"{self.name} with case {self.case!r} is an ODE; it takes no bm")
        else:
            bm = self.brownian(clocks, like, seed)
        return LiftedRun(self, pb, clocks, bm)

    def _init(self, pb: LiftedProblem, k: int, y: torch.Tensor) -> tuple:
        # contiguous, like every state the solve makes from it (a picture read from an
        # (H, W, C) array arrives channels-last); at the clock pb.clocks[k], read there
        clocks = pb.clocks
        if clocks is None:  # a LiftedProblem built with ts always has its clocks
            raise RuntimeError("the lifted problem was built without its clock grid")
        return self._solver.init(SDEAdapter(pb.sde), clocks[k].to(y.dtype), y.contiguous(),
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
        return self.prepare(model, ts, x_T, cond=cond, noise=False).start(x_T, 0)

    def data_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                   cond: dict | None = None) -> tuple:
        """The full state at ``ts[-1]`` from ``x0``: ``y = ŷ = x0/κ`` (quantised in exact mode)."""
        x0 = check_tensor(x0, "x0")
        return self.prepare(model, ts, x0, cond=cond, noise=False).start(x0, -1)

    def solve(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
              seed: int | Seeds | None = None, cond: dict | None = None, bm: Any = None,
              inverse: bool = False) -> Any:
        """The core :class:`~revsde.Solution` of a forward (noise to data) or inverse solve.

        ``state`` is the full state at ``ts[0]`` (forward) or ``ts[-1]`` (inverse);
        ``ys`` holds ``y`` at every grid time.
        """
        state = self._check_state(state)
        run = self.prepare(model, ts, state[0], cond=cond, seed=seed, bm=bm)
        return run.solve(state, inverse=inverse)

    def forward_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                      seed: int | Seeds | None = None, cond: dict | None = None,
                      bm: Any = None) -> tuple:
        """Solve from the full ``state`` at ``ts[0]`` (noise) to ``ts[-1]`` (data)."""
        state = self._check_state(state)
        run = self.prepare(model, ts, state[0], cond=cond, seed=seed, bm=bm)
        return run.solve(state, outputs=False).state

    def inverse_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                      seed: int | Seeds | None = None, cond: dict | None = None,
                      bm: Any = None) -> tuple:
        """Run the inverse steps from the full ``state`` at ``ts[-1]`` (data) to ``ts[0]``."""
        state = self._check_state(state)
        run = self.prepare(model, ts, state[0], cond=cond, seed=seed, bm=bm)
        return run.solve(state, inverse=True, outputs=False).state

    # -- the sampler protocol ---------------------------------------------------------
    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | Seeds | None = None, cond: dict | None = None,
               bm: Any = None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` with ``ŷ = y`` (SDE: noise from ``seed`` or ``bm``)."""
        if self.stochastic and seed is None and bm is None:
            seed = draw_seed()
        x_T = check_tensor(x_T, "x_T")
        run = self.prepare(model, ts, x_T, cond=cond, seed=seed, bm=bm)
        state = run.solve(run.start(x_T, 0), outputs=False).state
        return run.unlift(state[0], -1)

    def encode_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                     seed: int | Seeds | None = None, cond: dict | None = None) -> Encoded:
        """Lift ``x0`` at ``ts[-1]`` (``y = ŷ = x0/κ``) and run the inverse steps to ``ts[0]``."""
        x0 = check_tensor(x0, "x0")
        run = self.prepare(model, ts, x0, cond=cond, seed=seed)
        start = run.start(x0, -1)
        sol = run.solve(start, inverse=True)
        return Encoded(tuple(sol.state), int(sol.stats["nfe"]) + self.init_nfe, start, sol.ys)

    def decode_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                     seed: int | Seeds | None = None, cond: dict | None = None) -> tuple:
        """The full lifted state at ``ts[-1]`` from the one at ``ts[0]`` (forward steps)."""
        return self._decode(model, state, ts, seed, cond)[1]

    def decode(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
               seed: int | Seeds | None = None, cond: dict | None = None,
               residual: torch.Tensor | None = None) -> torch.Tensor:
        """``x0 = κ (y + residual)`` at ``ts[-1]`` from the full state at ``ts[0]``."""
        run, end = self._decode(model, state, ts, seed, cond)
        y = end[0] if residual is None else end[0] + residual
        return run.unlift(y, -1)

    def _decode(self, model, state, ts, seed, cond) -> tuple[LiftedRun, tuple]:
        state = self._check_state(state)
        run = self.prepare(model, ts, state[0], cond=cond, seed=seed)
        return run, run.solve(state).state

    def brownian_spec(self, like: torch.Tensor, seed: int | Seeds | None) -> dict | None:
        """The Brownian path a :class:`~revsde.diffusion.Latents` records (SDE cases):
        ``kind`` ``"keyed_grid"`` (per-sample keys, kept in the latents' ``keys``) or
        ``"grid"`` (one path for the batch: latents of format version 1)."""
        if not self.stochastic:
            return None
        keyed = not (isinstance(seed, Seeds) and seed.keys is None)
        if isinstance(seed, Seeds):
            seed = seed.seed
        return {"kind": "keyed_grid" if keyed else "grid", "entropy": seed,
                "size": list(like.shape),
                "dtype": str(like.dtype).replace("torch.", ""),
                "levy_area": self._solver.needs_levy_area, "on": "lifted clock grid"}


@dataclass(frozen=True)
class LiftedRun:
    """One Rex sampler on one model, grid, conditioning and noise path, lifted once.

    The one orchestration of lift -> init -> solve -> unlift: :meth:`RexSampler.sample`,
    the encode and decode states and every gradient method call these three methods,
    and :meth:`solve` is the one place that calls :func:`revsde.sdeint` /
    :func:`revsde.sdeint_inverse` for a sampler.
    """

    sampler: RexSampler
    problem: LiftedProblem
    clocks: torch.Tensor
    bm: Any

    @property
    def sde(self) -> Any:
        return self.problem.sde

    def start(self, x: torch.Tensor, end: int) -> tuple:
        """The full state at the grid end ``ts[end]`` (0: noise, -1: data) from ``x``:
        ``y = ŷ = x/κ`` (quantised in exact mode)."""
        return self.sampler._init(self.problem, end, self.problem.to_lifted_at(x, end))

    def solve(self, state: tuple, *, inverse: bool = False, outputs: bool = True,
              span: tuple[int, int] | None = None, adjoint: bool = False,
              params: list | None = None) -> Any:
        """The core :class:`~revsde.Solution` from the full ``state`` at ``ts[0]`` (forward)
        or ``ts[-1]`` (``inverse``).

        ``outputs=False``: only the end state is wanted, so the outputs are the grid's two
        ends (the same steps, bit for bit, without a copy of ``y`` at every step); it is
        implied by ``adjoint`` (the reversible adjoint over the whole grid, differentiating
        ``params`` too).  ``span=(a, b)``: the sub-grid ``clocks[a:b]`` of the same path.
        """
        solver = self.sampler.solver()
        if span is not None:  # a sub-grid of the same path, solved on its own
            ts, grid = self.clocks[span[0]:span[1]], None
        else:
            # the steps: the problem's grid (the solver's data of it reused by the next
            # call); the outputs: every clock, or the two ends as a strided view
            clocks = self.clocks
            whole = outputs and not adjoint
            ts, grid = (clocks if whole else clocks[::clocks.numel() - 1]), self.problem.grid
        if inverse:
            return sdeint_inverse(self.sde, state, ts, method=solver, bm=self.bm, grid=grid)
        if adjoint:
            return sdeint(self.sde, None, ts, method=solver, state=state, bm=self.bm, grid=grid,
                          adjoint=True, params=params)
        return sdeint(self.sde, None, ts, method=solver, state=state, bm=self.bm, grid=grid)

    def unlift(self, y: torch.Tensor, end: int) -> torch.Tensor:
        """``x = κ y`` at the grid time ``ts[end]``."""
        return self.problem.from_lifted_at(y, end)
