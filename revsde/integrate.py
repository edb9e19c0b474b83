"""The driver loop: ``sdeint`` and ``sdeint_inverse``.

The loop owns nothing but the grid and the noise queries; the one-step method
owns the arithmetic (:mod:`revsde.solvers`), the gradient strategy lives in
:mod:`revsde.adjoint`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .brownian import BrownianGrid, increment, make_brownian
from .checks import check_bm, check_dt, check_ts, check_y
from .grid import step_grid
from .registry import get_solver
from .sde import SDEAdapter
from .solvers import Solver, SolverError


class NonFiniteError(FloatingPointError):
    """A solve produced NaN or inf; the message names the first bad step."""


@dataclass
class Solution:
    """Result of :func:`sdeint` / :func:`sdeint_inverse`.

    Attributes:
        ys: states at ``ts``, shape ``(len(ts), *y0.shape)``.
        state: the solver's full state (auxiliaries included) at the end of the
            solve: at ``ts[-1]`` for :func:`sdeint`, at ``ts[0]`` for
            :func:`sdeint_inverse`.
        stats: ``nfe`` (drift evaluations), ``nge`` (diffusion evaluations),
            ``steps``.
        ts: the output times.
        bm: the Brownian motion used (pass it to :func:`sdeint_inverse`).
        method: the solver's name.
    """

    ys: torch.Tensor
    state: tuple
    stats: dict
    ts: torch.Tensor
    bm: object = None
    method: str = ""


class Problem:
    """Everything one loop needs: solver, equation, grid and noise."""

    def __init__(self, solver: Solver, sde: SDEAdapter, grid, out_idx, ref, bm, levy):
        self.solver = solver
        self.sde = sde
        self.grid = grid
        self.out_idx = out_idx
        # One 1-D tensor indexed per step (a list of 0-d tensors would cost ~0.5 KB a step).
        self.times = torch.tensor(grid, dtype=ref.dtype, device=ref.device)
        self._memo = {}  # the last few t(n): a step reads t_n and t_{n+1}, its neighbour one
        self.bm = bm
        self.levy = levy
        self.steps = len(grid) - 1
        # Fast path: a BrownianGrid built on this very grid is read cell by cell.
        self._flip = grid[0] > grid[-1]
        self._cells = None
        if isinstance(bm, BrownianGrid) and bm.times == (grid[::-1] if self._flip else grid):
            cells = range(self.steps)  # a range, not a list: O(1) memory
            self._cells = cells[::-1] if self._flip else cells

    def t(self, n: int) -> torch.Tensor:
        """``t_n`` as a 0-d tensor on the solve's dtype and device."""
        t = self._memo.get(n)
        if t is None:
            if len(self._memo) > 2:
                self._memo.clear()
            t = self._memo[n] = self.times[n]
        return t

    def h(self, n: int) -> float:
        return self.grid[n + 1] - self.grid[n]

    def dw(self, n: int):
        if self.bm is None:
            return None
        if self._cells is not None:
            w, hh = self.bm.cell(self._cells[n])
            return (-w if self._flip else w), hh
        return increment(self.bm, self.grid[n], self.grid[n + 1], self.levy)

    def step(self, n: int, state):
        return self.solver.step(
            self.sde, self.t(n), self.t(n + 1), self.h(n), state, self.dw(n)
        )

    def inverse(self, n: int, state):
        return self.solver.inverse(
            self.sde, self.t(n), self.t(n + 1), self.h(n), state, self.dw(n)
        )

    def stats(self) -> dict:
        return {"nfe": self.sde.nfe, "nge": self.sde.nge, "steps": self.steps}


def _noise_size(sde: SDEAdapter, t0, y0):
    if sde.is_ode:
        return None
    # Every noise type, diagonal included, has g checked once here: a diagonal g of
    # the wrong shape would otherwise broadcast against dW silently.
    with torch.no_grad():
        g0 = sde.g(t0, y0)
    return sde.configure_noise(g0, y0)


def _setup(sde, ref, ts, method, dt, bm, entropy, options, need_bm_given=False):
    solver = get_solver(method, **options)
    sde = SDEAdapter(sde)
    solver.check(sde)
    ref = check_y(ref, "y0")
    ts_list = check_ts(ts, ref)
    dt = check_dt(dt)
    grid, out_idx = step_grid(ts_list, dt)
    levy = solver.needs_levy_area
    t0 = torch.tensor(grid[0], dtype=ref.dtype, device=ref.device)
    size = _noise_size(sde, t0, ref)
    lo, hi = min(grid[0], grid[-1]), max(grid[0], grid[-1])
    if size is None:
        bm = None
    elif bm is None or isinstance(bm, str):
        kind = bm or "grid"
        if need_bm_given and (kind != "grid" or entropy is None):
            raise ValueError(
                "sdeint_inverse needs the Brownian motion of the forward solve: pass "
                "bm=solution.bm (the same object), or entropy=<the forward solve's entropy> "
                "to rebuild its grid noise (the default, bm='grid'). A new BrownianInterval "
                "with the same entropy is not enough: its path depends on the order of the "
                "queries."
            )
        if kind == "interval":
            hmin = min(abs(b - a) for a, b in zip(grid[:-1], grid[1:]))
            bm = make_brownian(lo, hi, size, dtype=ref.dtype, device=ref.device,
                               entropy=entropy, dt=hmin, levy_area=levy)
        elif kind == "grid":
            ent = int(torch.randint(0, 2**31 - 1, ()).item()) if entropy is None else entropy
            bm = BrownianGrid(sorted(grid), size, dtype=ref.dtype, device=ref.device,
                              entropy=ent, levy_area=levy)
        else:
            raise ValueError(f"bm must be a Brownian motion, 'interval' or 'grid'; got {bm!r}")
    else:
        check_bm(bm, size, ref, lo, hi, levy)
    problem = Problem(solver, sde, grid, out_idx, ref, bm, levy)
    return problem, ts_list


def _locate_non_finite(problem: Problem, state, backward: bool):
    order = range(problem.steps - 1, -1, -1) if backward else range(problem.steps)
    with torch.no_grad():
        for n in order:
            state = problem.inverse(n, state) if backward else problem.step(n, state)
            if not all(torch.isfinite(s).all() for s in state):
                t = problem.grid[n] if backward else problem.grid[n + 1]
                return n, t
    return None, None


def _raise_non_finite(problem, state0, backward):
    n, t = _locate_non_finite(problem, state0, backward)
    where = f"at step {n} (t={t:.6g})" if n is not None else "(the step could not be located)"
    direction = "inverse solve" if backward else "solve"
    raise NonFiniteError(
        f"the {direction} produced NaN or inf {where} with method {problem.solver.name!r}; "
        "reduce dt, check f and g for overflow, or use float64"
    )


def _progress(iterable, enabled, desc):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc)


def sdeint(sde, y0, ts, *, method="reversible_heun", dt=None, bm=None, adjoint=False,
           params=None, state=None, entropy=None, check_finite=True, progress=False,
           **options) -> Solution:
    """Solve an SDE (or ODE) on the grid ``ts``, stepping at most ``dt`` at a time.

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
        entropy: seed of the path built from ``bm="grid"``/``"interval"``
            (random if None; ``Solution.bm`` keeps the path either way).
        adjoint: ``True`` for exact O(1)-memory gradients through a reversible
            solve (:mod:`revsde.adjoint`).
        params: tensors to differentiate with the adjoint (default: the SDE's
            parameters that require grad, if it is an ``nn.Module``).
        state: a full solver state at ``ts[0]`` (e.g. ``Solution.state`` of a
            previous solve) instead of ``y0``.
        check_finite: raise :class:`NonFiniteError` naming the step if the
            solve produces NaN or inf.
        progress: show a tqdm progress bar.
        **options: solver options, e.g. ``zeta`` for the ``mcf_*`` wrappers.
    """
    ref = state[0] if state is not None else y0
    problem, ts_list = _setup(sde, ref, ts, method, dt, bm, entropy, options)
    ts_t = torch.tensor(ts_list, dtype=ref.dtype, device=ref.device)
    t0 = problem.t(0)
    if state is None:
        state0 = problem.solver.init(problem.sde, t0, y0)
    else:
        state0 = tuple(state)
    if adjoint:
        from .adjoint import adjoint_solve

        ys, state = adjoint_solve(problem, state0, params)
    else:
        ys = [state0[0]]
        state = state0
        outs = iter(problem.out_idx[1:])
        nxt = next(outs)
        for n in _progress(range(problem.steps), progress, problem.solver.name):
            state = problem.step(n, state)
            if n + 1 == nxt:
                ys.append(state[0])
                nxt = next(outs, None)
        ys = torch.stack(ys)
    if check_finite and not (torch.isfinite(ys).all() and torch.isfinite(state[0]).all()):
        _raise_non_finite(problem, state0, backward=False)
    return Solution(ys=ys, state=state, stats=problem.stats(), ts=ts_t, bm=problem.bm,
                    method=problem.solver.name)


def check_replayable(problem: Problem) -> None:
    """Raise if the Brownian motion returns different bits for the same query."""
    if problem.bm is None:
        return
    a = problem.dw(0)
    b = problem.dw(0)
    if not all(x is None or torch.equal(x, y) for x, y in zip(a, b)):
        raise ValueError(
            "the Brownian motion returned different increments for the same interval, so "
            "it cannot be replayed backwards; use torchsde.BrownianInterval or "
            "revsde.BrownianGrid with a fixed entropy"
        )


def sdeint_inverse(sde, state, ts, *, method="reversible_heun", dt=None, bm=None,
                   entropy=None, check_finite=True, progress=False, **options) -> Solution:
    """Run the inverse steps from the full ``state`` at ``ts[-1]`` back to ``ts[0]``.

    ``ts``, ``dt``, ``method``, its options and the noise must be those of the
    forward solve, so that the same grid and the same Brownian increments are
    replayed.  The noise is ``bm`` (the forward solve's ``Solution.bm``), or,
    for a forward solve with the default grid noise, its ``entropy``: the
    path is rebuilt bit for bit from the seed.  Returns a :class:`Solution`
    whose ``ys`` are on ``ts`` (so ``ys[0]`` is the reconstructed start) and
    whose ``state`` is the full state at ``ts[0]``.
    """
    if not isinstance(state, (tuple, list)) or not state:
        raise TypeError(
            "state must be the solver's full state (a tuple of tensors such as "
            "Solution.state), not a bare tensor: the inverse needs the auxiliary state"
        )
    state = tuple(state)
    ref = state[0]
    problem, ts_list = _setup(sde, ref, ts, method, dt, bm, entropy, options,
                              need_bm_given=True)
    if not problem.solver.reversible:
        raise SolverError(
            f"method {problem.solver.name!r} is not reversible, so it cannot be inverted; use "
            "'reversible_heun' or an 'mcf_*' wrapper"
        )
    check_replayable(problem)
    ts_t = torch.tensor(ts_list, dtype=ref.dtype, device=ref.device)
    final = state
    ys = [state[0]]
    outs = iter(reversed(problem.out_idx[:-1]))
    nxt = next(outs)
    for n in _progress(range(problem.steps - 1, -1, -1), progress, problem.solver.name):
        state = problem.inverse(n, state)
        if n == nxt:
            ys.append(state[0])
            nxt = next(outs, None)
    ys = torch.stack(ys[::-1])
    if check_finite and not (torch.isfinite(ys).all() and torch.isfinite(state[0]).all()):
        _raise_non_finite(problem, final, backward=True)
    return Solution(ys=ys, state=state, stats=problem.stats(), ts=ts_t, bm=problem.bm,
                    method=problem.solver.name)
