"""``sdeint`` and ``sdeint_inverse``: the public entry points.

Both check their arguments once, build a :class:`~revsde.loop.Problem` and walk
it with the one driver loop (:mod:`revsde.loop`); the gradient strategy is an
adjoint object (:mod:`revsde.adjoint`).  The state they return records how it
was made (:mod:`revsde.provenance`), so that an inverse with another setup is
refused instead of returning a wrong start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .checks import check_flag
from .grid import Grid
from .loop import (
    NonFiniteError,
    NonFiniteInputError,
    Problem,
    all_finite,
    check_replayable,
    raise_non_finite,
    setup,
    walk,
    walk_inverse,
)
from .provenance import (
    SolverState,
    check_inverse,
    check_solver,
    provenance_of,
    record,
    state_time,
)
from .solvers import Solver, SolverError
from .solvers.base import State

__all__ = [
    "NonFiniteError",
    "NonFiniteInputError",
    "Solution",
    "check_replayable",
    "sdeint",
    "sdeint_inverse",
]


@dataclass
class Solution:
    """Result of :func:`sdeint` / :func:`sdeint_inverse`.

    Attributes:
        ys: states at ``ts``, shape ``(len(ts), *y0.shape)``.
        state: the solver's full state (auxiliaries included) at the end of the
            solve: at ``ts[-1]`` for :func:`sdeint`, at ``ts[0]`` for
            :func:`sdeint_inverse`.  A :class:`~revsde.provenance.SolverState`:
            a tuple of tensors that records how it was made.
        stats: ``nfe`` (drift evaluations), ``nge`` (diffusion evaluations),
            ``steps``.
        ts: the output times.
        bm: the Brownian motion used (pass it to :func:`sdeint_inverse`).
        method: the solver's name.
        grid: an adaptive solve's accepted step times (``adaptive=True``), a 1-D tensor in
            ``y0``'s dtype, one number a step; ``None`` for a solve on a given grid.  The
            state records it too, and :func:`sdeint_inverse` replays it exactly (pass
            ``grid=solution.grid`` with a state that lost its record, e.g. one loaded
            from a file).
    """

    ys: torch.Tensor
    state: State
    stats: dict[str, int]
    ts: torch.Tensor
    bm: Any = None
    method: str = ""
    grid: torch.Tensor | None = None


def _as_state(state: Any) -> tuple:
    if torch.is_tensor(state) or not isinstance(state, (tuple, list)) or not state:
        raise TypeError(
            "state must be the solver's full state (a tuple of tensors such as "
            f"Solution.state), not a {type(state).__name__}: the inverse needs the "
            "auxiliary state"
        )
    return tuple(state)


def _close_time(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _adjoint_strategy(adjoint: Any):
    """``adjoint=`` as an adjoint object (``True``: the reversible adjoint), or ``None``."""
    if adjoint is False or adjoint is None:
        return None
    from .adjoint import ReversibleAdjoint  # lazy: the adjoint imports torch.autograd machinery

    if adjoint is True:
        return ReversibleAdjoint()
    if isinstance(adjoint, ReversibleAdjoint):
        return adjoint
    raise TypeError(
        f"adjoint must be True, False or an adjoint object such as "
        f"revsde.adjoint.ReversibleAdjoint(); got {type(adjoint).__name__} {adjoint!r}"
    )


def _finish(problem: Problem, ys: torch.Tensor, state: State, start: State, check_finite: bool,
            backward: bool) -> None:
    if check_finite and not all_finite(ys, state):
        raise_non_finite(problem, start, backward)


def sdeint(sde: Any, y0: torch.Tensor | None, ts: torch.Tensor | list[float], *,
           method: str | Solver = "reversible_heun", dt: float | None = None,
           bm: Any = None, adjoint: bool | Any = False,
           params: list[torch.Tensor] | None = None, state: State | None = None,
           entropy: int | None = None, check_finite: bool = True, progress: bool = False,
           grid: torch.Tensor | list[float] | Grid | None = None,
           adaptive: bool = False, rtol: float | None = None, atol: float | None = None,
           max_steps: int | None = None,
           **options: Any) -> Solution:
    """Solve an SDE (or ODE) on the grid ``ts``, stepping at most ``dt`` at a time (or,
    with ``adaptive=True``, under error control from a first step ``dt``).

    Args:
        sde: torchsde-style object with ``f``, ``g``, ``noise_type``, ``sde_type``;
            or an object with only ``f`` / a callable ``f(t, y)`` for an ODE.
        y0: initial state, batch in the leading dimension (ignored if ``state``).
        ts: strictly monotone output times (increasing or decreasing), same
            dtype and device as ``y0``.
        method: a registry name (see :func:`revsde.list_solvers`) or a
            :class:`~revsde.solvers.Solver` instance.
        dt: maximum step; each output interval is split into equal sub-steps.
            ``None`` takes one step per output interval.
        bm: a Brownian motion (``torchsde.BrownianInterval``,
            :class:`~revsde.BrownianGrid`), or ``"grid"`` (default) /
            ``"interval"`` to build one seeded by ``entropy``.  ``"grid"`` is
            an exact Brownian path on the solve's step grid: fast, a few cells
            in memory, and rebuilt bit for bit from ``entropy``.
            ``"interval"`` (torchsde's ``BrownianInterval``) can also be
            queried off the grid, so solves with different ``dt`` and the
            same object share one path.
        entropy: non-negative integer seed of the path built from
            ``bm="grid"``/``"interval"`` (random if None; ``Solution.bm`` keeps
            the path either way).
        adjoint: ``True`` (or a :class:`revsde.adjoint.ReversibleAdjoint`) for
            exact O(1)-memory gradients through a reversible solve.
        params: tensors to differentiate with the adjoint (default: the SDE's
            parameters that require grad, if it is an ``nn.Module``).
        state: a full solver state at ``ts[0]`` (e.g. ``Solution.state`` of a
            previous solve) instead of ``y0``.
        check_finite: raise :class:`NonFiniteError` naming the step if the
            solve produces NaN or inf.
        progress: show a tqdm progress bar (forward and, with the adjoint,
            backward).
        grid: explicit step times instead of ``dt``: a strictly monotone 1-D
            tensor from ``ts[0]`` to ``ts[-1]`` that contains every time of
            ``ts`` (e.g. a long non-uniform grid with ``ts`` just its two
            ends, so that only the outputs are kept: with ``adjoint=True``
            memory then stays flat in the number of steps).  A
            :class:`~revsde.grid.Grid` (in ``y0``'s dtype and device) is solved on as
            it is: a caller that solves on it again (a sampler's next batch) reuses
            the solver's data of it (e.g. exponential weights).
        adaptive: error-controlled steps (docs/mathematics.md §11): a PI controller
            accepts a step when its embedded error estimate is within
            ``atol + rtol·|y|`` (RMS over the batch) and picks the next; every time of
            ``ts`` is a step time.  ``dt`` is the first step tried (default: a hundredth
            of the span).  Needs a solver with an error estimate (``reversible_heun``,
            ``mcf_bs3``, ``mcf_dopri5``, ``mcf_tsit5``, or the plain ``bs3``, ``dopri5``,
            ``tsit5``) and, for an SDE, noise that answers any interval (the default
            ``bm='interval'``, or a ``torchsde.BrownianInterval``).  The accepted grid is
            ``Solution.grid``; :func:`sdeint_inverse` and the adjoint replay it.
        rtol, atol: the tolerances of an adaptive solve (defaults 1e-3 and 1e-6).
        max_steps: the budget of attempted steps of an adaptive solve (default 10000);
            running out raises :class:`revsde.adaptive.StepBudgetError` saying how far
            the solve got.
        **options: solver options, e.g. ``zeta`` for the ``mcf_*`` wrappers.

    Returns:
        A :class:`Solution`; its ``state`` records the setup, so that
        :func:`sdeint_inverse` can refuse a different one.
    """
    strategy = _adjoint_strategy(adjoint)
    controller = _controller(adaptive, rtol, atol, max_steps)
    check_flag(check_finite, "check_finite")
    check_flag(progress, "progress")
    made = provenance_of(state)
    if state is not None:
        state = _as_state(state)
        ref = state[0]
    else:
        if y0 is None:
            raise TypeError("sdeint needs y0 (or state=, a full solver state at ts[0])")
        ref = y0
    problem = setup(sde, ref, ts, method, dt, bm, entropy, options, grid=grid,
                    controller=controller)
    solver = problem.solver
    if state is None:
        state0 = solver.init(problem.sde, problem.t(0), ref, at=problem.at(0))
    else:
        check_solver(made, solver, "sdeint")
        if made is not None and not _close_time(state_time(made), problem.grid.times[0]):
            raise ValueError(
                f"this state is at t={state_time(made):.6g} but ts starts at "
                f"{problem.grid.times[0]:.6g}; a solve continues from its state's time"
            )
        solver.check_state(problem.sde, state)
        state0 = state
    if strategy is not None:
        ys, final = strategy.solve(problem, state0, params, show=progress)
    else:
        ys, final = walk(problem, state0, show=progress)
    _finish(problem, ys, final, state0, check_finite, backward=False)
    ts_t = torch.tensor(problem.ts, dtype=ref.dtype, device=ref.device)
    accepted = (None if controller is None
                else torch.tensor(problem.grid.times, dtype=ref.dtype, device=ref.device))
    return Solution(ys=ys, state=record(problem, final), stats=problem.stats(), ts=ts_t,
                    bm=problem.bm, method=solver.name, grid=accepted)


def sdeint_inverse(sde: Any, state: State, ts: torch.Tensor | list[float], *,
                   method: str | Solver = "reversible_heun", dt: float | None = None,
                   bm: Any = None, entropy: int | None = None, check_finite: bool = True,
                   progress: bool = False,
                   grid: torch.Tensor | list[float] | Grid | None = None,
                   **options: Any) -> Solution:
    """Run the inverse steps from the full ``state`` at ``ts[-1]`` back to ``ts[0]``.

    ``ts``, ``dt`` (or ``grid``), ``method``, its options and the noise must be those of the
    forward solve, so that the same grid and the same Brownian increments are
    replayed.  The noise is ``bm`` (the forward solve's ``Solution.bm``), or,
    for a forward solve with the default grid noise, its ``entropy``: the
    path is rebuilt bit for bit from the seed.

    A state returned by :func:`sdeint` records its setup, and a different one
    (another solver or options, ``ts``, ``dt``, entropy or Brownian motion) is
    refused with a message naming the difference.  A plain tuple is checked
    against the solver's state layout.

    A state of an adaptive solve (``sdeint(..., adaptive=True)``) replays its recorded
    accepted grid, with no controller; a state that lost its record takes
    ``grid=solution.grid``.

    Returns:
        A :class:`Solution` whose ``ys`` are on ``ts`` (so ``ys[0]`` is the
        reconstructed start) and whose ``state`` is the full state at ``ts[0]``.
    """
    check_flag(check_finite, "check_finite")
    check_flag(progress, "progress")
    state = _as_state_keep(state)
    ref = state[0]
    prov = provenance_of(state)
    if prov is not None and prov.adaptive is not None and grid is None and dt is None:
        grid = prov.grid  # the accepted grid, replayed exactly (docs/mathematics.md §11)
    problem = setup(sde, ref, ts, method, dt, bm, entropy, options, inverse=True, grid=grid)
    solver = problem.solver
    if not solver.reversible:
        raise SolverError(
            f"method {solver.name!r} is not reversible, so it cannot be inverted; use "
            "'reversible_heun' or an 'mcf_*' wrapper"
        )
    check_replayable(problem)
    if prov is not None:
        check_inverse(prov, problem, bm, entropy)
    solver.check_state(problem.sde, state)
    state = tuple(state)
    ys, start = walk_inverse(problem, state, show=progress)
    _finish(problem, ys, start, state, check_finite, backward=True)
    ts_t = torch.tensor(problem.ts, dtype=ref.dtype, device=ref.device)
    return Solution(ys=ys, state=record(problem, start, inverse=True), stats=problem.stats(),
                    ts=ts_t, bm=problem.bm, method=solver.name)


def _controller(adaptive: Any, rtol: Any, atol: Any, max_steps: Any) -> Any:
    """The :class:`~revsde.adaptive.Controller` of ``adaptive=True`` (``None`` without)."""
    check_flag(adaptive, "adaptive")
    if not adaptive:
        given = [k for k, v in (("rtol", rtol), ("atol", atol), ("max_steps", max_steps))
                 if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} apply to adaptive solves only; pass "
                             "adaptive=True, or leave them out for a fixed grid")
        return None
    from .adaptive import Controller

    kw = {k: v for k, v in (("rtol", rtol), ("atol", atol), ("max_steps", max_steps))
          if v is not None}
    return Controller(**kw)


def _as_state_keep(state: Any) -> tuple:
    """Like :func:`_as_state`, keeping a :class:`SolverState` (and its record) as it is."""
    if isinstance(state, SolverState):
        if not state:
            _as_state(state)
        return state
    return _as_state(state)

