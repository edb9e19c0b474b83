"""The driver loop, written once: set-up, the forward walk and the inverse walk.

:func:`revsde.sdeint`, :func:`revsde.sdeint_inverse`, the reversible adjoint
(:mod:`revsde.adjoint`) and the non-finite locator all walk a :class:`Problem`
with :func:`walk` / :func:`walk_inverse`.  This module imports neither
:mod:`revsde.integrate` nor :mod:`revsde.adjoint`: they import it.

The loop owns the grid (:class:`~revsde.grid.Grid`) and the noise queries; the
one-step method owns the arithmetic (:mod:`revsde.solvers`).  The solver's and the
equation's data of the grid are prepared once per solve and handed to every
step with its index (:class:`~revsde.grid.Step`); a grid known step by step grows
with :meth:`Problem.extend`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .brownian import BrownianGrid, Increment, increment, make_brownian
from .checks import check_bm, check_dt, check_entropy, check_ts, check_y
from .grid import Grid, Point, Step, step_grid
from .registry import get_solver
from .sde import SDEAdapter, SDEOutputError
from .solvers import Solver
from .solvers.base import State

__all__ = [
    "NonFiniteError",
    "NonFiniteInputError",
    "Problem",
    "check_replayable",
    "progress",
    "raise_non_finite",
    "setup",
    "walk",
    "walk_inverse",
]


class NonFiniteError(FloatingPointError):
    """A solve produced NaN or inf; the message names the first bad step."""


class NonFiniteInputError(NonFiniteError, ValueError):
    """The state a solve starts from already holds NaN or inf (the input's fault)."""


class Problem:
    """Everything one walk needs: solver, equation, step grid and noise.

    Attributes:
        solver: the one-step method.
        sde: the equation, wrapped in an :class:`~revsde.sde.SDEAdapter`.
        ts: the output times (python floats).
        dt: the largest step asked for (``None``: one step per output interval).
        grid: the step grid (:class:`~revsde.grid.Grid`); ``out_idx[k]`` is the grid
            index of ``ts[k]``.
        bm: the Brownian motion (``None`` for an ODE).
        noise: how ``bm`` was made: ``"grid"`` / ``"interval"`` (built here from
            ``entropy``), ``"user"`` (given) or ``None`` (an ODE).
        entropy: the seed ``bm`` was built from (``None`` for a user's ``bm``).
        data, eq: the solver's and the equation's data of the grid (``prepare``), made
            here once and handed to every step (:class:`~revsde.grid.Step`).
    """

    def __init__(self, solver: Solver, sde: SDEAdapter, ts: list[float], dt: float | None,
                 grid: Grid, out_idx: list[int], bm: Any, levy: bool,
                 noise: str | None = None, entropy: int | None = None):
        self.solver = solver
        self.sde = sde
        self.ts = ts
        self.dt = dt
        self.grid = grid
        self.out_idx = out_idx
        self.data = grid.keep(solver.data_key(), lambda: solver.prepare(grid))
        self.eq = sde.prepare(grid)
        self.bm = bm
        self.levy = levy
        self.noise = noise
        self.entropy = entropy
        #: the step-size controller of an adaptive solve (``None``: the grid is given), the
        #: first step it tries, and the steps it rejected (docs/mathematics.md §11)
        self.controller: Any = None
        self.first: float = 0.0
        self.rejected = 0
        # Fast path: a BrownianGrid built on this very grid is read cell by cell.
        times = grid.times
        self._flip = times[0] > times[-1]
        self._cells = None
        if isinstance(bm, BrownianGrid) and bm.times == (times[::-1] if self._flip else times):
            cells = range(self.steps)  # a range, not a list: O(1) memory
            self._cells = cells[::-1] if self._flip else cells

    @property
    def steps(self) -> int:
        """The number of steps."""
        return self.grid.steps

    def extend(self, t: float) -> None:
        """Add a step to ``t`` (a grid known step by step): the grid, and the solver's and
        the equation's data of the new step (computed as for a whole grid)."""
        self.grid.append(t)
        self._cells = None
        if self.data is not None:
            self.data = self.solver.prepare(self.grid, self.data)
        if self.eq is not None:
            self.eq = self.sde.prepare(self.grid, self.eq)

    def retract(self) -> None:
        """Take back the last step (an adaptive solve's rejected proposal): the grid, and
        the solver's and the equation's data of it."""
        self.grid.pop()
        self._cells = None
        if self.data is not None:
            self.data = self.solver.prepare(self.grid, self.data)
        if self.eq is not None:
            self.eq = self.sde.prepare(self.grid, self.eq)

    def t(self, n: int) -> torch.Tensor:
        """``t_n`` as a 0-d tensor on the solve's dtype and device."""
        return self.grid.t(n)

    def h(self, n: int) -> float:
        """The step size ``t_{n+1} - t_n`` (a python float, negative backwards in time)."""
        return self.grid.h(n)

    def at(self, k: int) -> Point:
        """The grid time ``t_k`` as an evaluation point."""
        return Point(k, 0.0, False, self.eq)

    def step_at(self, n: int) -> Step:
        """Step ``n``, with the solver's and the equation's data."""
        return self.grid.step(n, self.data, self.eq)

    def dw(self, n: int) -> Increment | None:
        """The noise ``(W, H)`` over step ``n``, oriented like the step (``None``: ODE)."""
        if self.bm is None:
            return None
        if self._cells is not None:
            w, hh = self.bm.cell(self._cells[n])
            return Increment(-w if self._flip else w, hh)
        return increment(self.bm, self.grid.times[n], self.grid.times[n + 1], self.levy)

    def step(self, n: int, state: State) -> State:
        """The state at ``t_{n+1}`` from the state at ``t_n``."""
        return self.solver.step(self.sde, self.grid.step(n, self.data, self.eq), state,
                                self.dw(n))

    def inverse(self, n: int, state: State) -> State:
        """The state at ``t_n`` from the state at ``t_{n+1}`` (reversible solvers)."""
        return self.solver.inverse(self.sde, self.grid.step(n, self.data, self.eq), state,
                                   self.dw(n))

    def stats(self) -> dict[str, int]:
        """``nfe`` (drift evaluations), ``nge`` (diffusion evaluations), ``steps``; an
        adaptive solve adds ``rejected`` (its ``steps`` are the accepted ones)."""
        out = {"nfe": self.sde.nfe, "nge": self.sde.nge, "steps": self.steps}
        if self.controller is not None:
            out["rejected"] = self.rejected
        return out


# -- set-up ------------------------------------------------------------------------------------
def _noise_size(sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor) -> tuple[int, ...] | None:
    if sde.is_ode:
        return None
    # Every noise type, diagonal included, has g checked once here: a diagonal g of
    # the wrong shape would otherwise broadcast against dW silently.
    with torch.no_grad():
        g0 = sde.g(t0, y0)
    return sde.configure_noise(g0, y0)


_NEED_NOISE = (
    "sdeint_inverse needs the Brownian motion of the forward solve: pass bm=solution.bm (the "
    "same object), or entropy=<the forward solve's entropy> to rebuild its grid noise (the "
    "default, bm='grid'). A new BrownianInterval with the same entropy is not enough: its "
    "path depends on the order of the queries."
)


_ADAPTIVE_NOISE = (
    "adaptive steps query the noise on intervals no grid knows in advance: use bm='interval' "
    "(the default with adaptive=True) or pass a torchsde.BrownianInterval, not {what}"
)


def setup(sde: Any, ref: torch.Tensor, ts: Any, method: str | Solver, dt: Any, bm: Any,
          entropy: Any, options: dict[str, Any], inverse: bool = False,
          grid: Any = None, controller: Any = None) -> Problem:
    """Check the inputs once and build the :class:`Problem` (solver, grid, noise).

    ``ref`` is the state's ``y`` (its dtype, device and shape); ``inverse=True``
    asks for the noise of a forward solve (a given ``bm``, or ``entropy``);
    ``grid`` gives the step times explicitly (instead of ``dt``); ``controller`` (a
    :class:`revsde.adaptive.Controller`) makes an adaptive solve, whose grid starts at
    ``ts[0]`` and grows under error control from a first step ``dt``.
    """
    solver = get_solver(method, **options)
    sde = SDEAdapter(sde)
    solver.check(sde)
    ref = check_y(ref, "y0")
    ts_list = check_ts(ts, ref)
    dt = check_dt(dt)
    entropy = check_entropy(entropy)
    if controller is not None:
        return _setup_adaptive(solver, sde, ref, ts_list, dt, bm, entropy, grid, controller)
    steps = None
    given = grid if isinstance(grid, Grid) else None
    if given is not None and (given.dtype != ref.dtype or given.device != ref.device):
        raise TypeError(f"grid is a Grid of {given.dtype} on {given.device} but y0 is "
                        f"{ref.dtype} on {ref.device}; build the Grid in y0's dtype and device")
    if grid is not None:
        if dt is not None:
            raise ValueError("pass either dt or grid (explicit step times), not both")
        steps = check_ts(grid.times if given else grid, ref, name="grid")
        if (steps[-1] > steps[0]) != (ts_list[-1] > ts_list[0]):
            raise ValueError("grid must run in the same direction as ts")
    grid, out_idx = step_grid(ts_list, dt, steps)
    if given is None:  # (a Grid given is solved on as it is: its kept data is reused)
        given = Grid(grid, ref.dtype, ref.device)
    levy = solver.needs_levy_area
    t0 = torch.tensor(grid[0], dtype=ref.dtype, device=ref.device)
    size = _noise_size(sde, t0, ref)
    lo, hi = min(grid[0], grid[-1]), max(grid[0], grid[-1])
    noise = None
    if size is None:
        bm = None
    elif bm is None or isinstance(bm, str):
        noise = bm or "grid"
        if inverse and (noise != "grid" or entropy is None):
            raise ValueError(_NEED_NOISE)
        if noise == "interval":
            hmin = min(abs(b - a) for a, b in zip(grid[:-1], grid[1:]))
            if entropy is None:
                entropy = int(torch.randint(0, 2**31 - 1, ()).item())
            bm = make_brownian(lo, hi, size, dtype=ref.dtype, device=ref.device,
                               entropy=entropy, dt=hmin, levy_area=levy)
        elif noise == "grid":
            if entropy is None:
                entropy = int(torch.randint(0, 2**31 - 1, ()).item())
            bm = BrownianGrid(sorted(grid), size, dtype=ref.dtype, device=ref.device,
                              entropy=entropy, levy_area=levy)
        else:
            raise ValueError(f"bm must be a Brownian motion, 'interval' or 'grid'; got {bm!r}")
    else:
        check_bm(bm, size, ref, lo, hi, levy)
        noise, entropy = "user", None
    return Problem(solver, sde, ts_list, dt, given, out_idx, bm, levy, noise, entropy)


def _setup_adaptive(solver: Solver, sde: SDEAdapter, ref: torch.Tensor, ts_list: list[float],
                    dt: float | None, bm: Any, entropy: int | None, grid: Any,
                    controller: Any) -> Problem:
    """The :class:`Problem` of an adaptive solve: a grid of one time, ``ts[0]``, and noise
    that answers any query interval with the same bits (docs/mathematics.md §11)."""
    from .adaptive import check_adaptive

    check_adaptive(solver, sde)
    if grid is not None:
        raise ValueError("pass either adaptive=True or grid (explicit step times), not both; "
                         "an adaptive solve makes its own grid (Solution.grid)")
    span = abs(ts_list[-1] - ts_list[0])
    first = span / 100 if dt is None else dt
    lo, hi = min(ts_list[0], ts_list[-1]), max(ts_list[0], ts_list[-1])
    levy = solver.needs_levy_area
    size = _noise_size(sde, torch.tensor(ts_list[0], dtype=ref.dtype, device=ref.device), ref)
    noise = None
    if size is None:
        bm = None
    elif bm is None or (isinstance(bm, str) and bm == "interval"):
        noise = "interval"
        if entropy is None:
            entropy = int(torch.randint(0, 2**31 - 1, ()).item())
        bm = make_brownian(lo, hi, size, dtype=ref.dtype, device=ref.device, entropy=entropy,
                           dt=min(first, span), levy_area=levy)
    elif isinstance(bm, (str, BrownianGrid)):
        raise ValueError(_ADAPTIVE_NOISE.format(
            what="bm='grid'" if isinstance(bm, str) and bm == "grid"
            else "a BrownianGrid (its queries must fall on its fixed grid)"
            if isinstance(bm, BrownianGrid) else f"bm={bm!r}"))
    else:
        check_bm(bm, size, ref, lo, hi, levy)
        noise, entropy = "user", None
    problem = Problem(solver, sde, ts_list, None, Grid([ts_list[0]], ref.dtype, ref.device),
                      [0], bm, levy, noise, entropy)
    problem.controller = controller
    problem.first = first
    return problem


# -- the walks ---------------------------------------------------------------------------------
def progress(iterable: Iterable[int], enabled: bool, desc: str) -> Iterable[int]:
    """``iterable`` behind a tqdm progress bar if ``enabled``."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc)


def _diagnose(problem: Problem, n: int, state: State, err: RuntimeError,
              shape: torch.Size) -> None:
    """After a raw error in step ``n``: raise :class:`SDEOutputError` if f or g changed shape.

    Nothing is checked per step; only when a step fails are f and g evaluated
    again at the step's start and compared with their first evaluation.
    """
    if state[0].shape != shape:
        raise SDEOutputError(
            f"the state changed shape from {tuple(shape)} to {tuple(state[0].shape)} by step "
            f"{n}: f(t, y) or g(t, y) returned a shape that broadcast it to a larger one "
            "after their first evaluation; they must keep one output shape"
        ) from err
    sde = problem.sde
    y = state[1] if len(state) > 1 else state[0]
    for k in (n, n + 1):  # a step evaluates at both of its ends
        t, tk = problem.t(k), problem.grid.times[k]
        with torch.no_grad():
            try:
                f = sde.base_f(t, y, problem.at(k))
                g = None if sde.is_ode else sde.base_g(t, y, problem.at(k))
            except Exception:  # noqa: BLE001 - the user's own failure: report the original
                return
        for name, out, first in (("f", f, sde.f_shape), ("g", g, sde.g_shape)):
            if out is not None and not torch.is_tensor(out):
                raise SDEOutputError(
                    f"{name}(t, y) returned a {type(out).__name__} at t={tk:.6g} "
                    f"(step {n}); it must return a torch.Tensor"
                ) from err
            if out is not None and first is not None and tuple(out.shape) != first:
                raise SDEOutputError(
                    f"{name}(t, y) returned shape {tuple(out.shape)} at t={tk:.6g} "
                    f"(step {n}) but {first} at its first evaluation; {name} must keep one "
                    f"output shape through the solve (the state has shape "
                    f"{tuple(state[0].shape)})"
                ) from err


def _check_shapes(problem: Problem, start: State, end: State) -> None:
    """Once per walk: every state entry ends with the shape it started with."""
    for i, (a, b) in enumerate(zip(start, end)):
        if a.shape != b.shape:
            names = problem.solver.state_names(problem.sde)
            name = names[i] if names is not None and i < len(names) else f"state[{i}]"
            raise SDEOutputError(
                f"the state entry {name!r} changed shape from {tuple(a.shape)} to "
                f"{tuple(b.shape)} during the solve: f(t, y) or g(t, y) returned a shape that "
                "broadcast it to a larger one after their first evaluation; they must keep "
                "one output shape"
            )


def walk(problem: Problem, state: State, *, show: bool = False,
         desc: str | None = None) -> tuple[torch.Tensor, State]:
    """Step from ``t_0`` to the end; return the outputs at ``ts`` (stacked) and the final state.

    An adaptive problem (``problem.controller``) whose grid is not yet grown is walked
    under error control (:func:`revsde.adaptive.walk_adaptive`), growing its grid."""
    if problem.controller is not None and problem.steps == 0:
        from .adaptive import walk_adaptive

        return walk_adaptive(problem, state, problem.controller, problem.first, show=show)
    start = state
    ys = [state[0]]
    outs = iter(problem.out_idx[1:])
    nxt: int | None = next(outs)  # the next output's index; None once all are taken
    n = 0
    try:
        for n in progress(range(problem.steps), show, desc or problem.solver.name):
            state = problem.step(n, state)
            if n + 1 == nxt:
                ys.append(state[0])
                nxt = next(outs, None)
        out = torch.stack(ys)
    except RuntimeError as err:
        _diagnose(problem, n, state, err, ys[0].shape)
        raise
    _check_shapes(problem, start, state)
    return out, state


def walk_inverse(problem: Problem, state: State, *, show: bool = False,
                 desc: str | None = None) -> tuple[torch.Tensor, State]:
    """Invert the steps from the end back to ``t_0``; return the outputs at ``ts`` and the
    state at ``ts[0]``."""
    start = state
    ys = [state[0]]
    outs = iter(reversed(problem.out_idx[:-1]))
    nxt: int | None = next(outs)  # the next output's index; None once all are taken
    n = problem.steps - 1
    try:
        for n in progress(range(problem.steps - 1, -1, -1), show, desc or problem.solver.name):
            state = problem.inverse(n, state)
            if n == nxt:
                ys.append(state[0])
                nxt = next(outs, None)
        out = torch.stack(ys[::-1])
    except RuntimeError as err:
        _diagnose(problem, n, state, err, ys[0].shape)
        raise
    _check_shapes(problem, start, state)
    return out, state


# -- NaN and inf -------------------------------------------------------------------------------
def all_finite(ys: torch.Tensor, state: State) -> bool:
    """Whether the outputs and the final ``y`` are finite.

    The walks' outputs hold the final ``y`` (:func:`walk` ends on the last output
    time, :func:`walk_inverse` on the first), so ``ys`` alone is tested: first by its
    sum, finite only if every entry is (one reduction, one sync); a sum that is not
    finite (an entry that is not, or finite entries whose sum overflows) is decided
    entry by entry.
    """
    return bool(torch.isfinite(ys.sum())) or bool(torch.isfinite(ys).all())


def _locate_non_finite(problem: Problem, state: State,
                       backward: bool) -> tuple[int | None, float | None]:
    order: Sequence[int] = (range(problem.steps - 1, -1, -1) if backward
                            else range(problem.steps))
    with torch.no_grad():
        for n in order:
            state = problem.inverse(n, state) if backward else problem.step(n, state)
            if not all(torch.isfinite(s).all() for s in state):
                t = problem.grid.times[n if backward else n + 1]
                return n, t
    return None, None


def raise_non_finite(problem: Problem, state0: State, backward: bool) -> None:
    """Raise :class:`NonFiniteError` naming the first step that produced NaN or inf.

    A start that is not finite is the input's fault, and is reported as such
    (:class:`NonFiniteInputError`).
    """
    direction = "inverse solve" if backward else "solve"
    for i, s in enumerate(state0):
        bad = ~torch.isfinite(s.detach())
        if bad.any():
            first = tuple(int(k) for k in bad.nonzero()[0])
            what = ("y0" if i == 0 else f"state[{i}]") if not backward else f"state[{i}]"
            raise NonFiniteInputError(
                f"the {direction} cannot start: its input {what} holds NaN or inf "
                f"({int(bad.sum())} of {s.numel()} entries, the first at index {first}); "
                f"pass a finite {what}"
            )
    n, t = _locate_non_finite(problem, state0, backward)
    where = f"at step {n} (t={t:.6g})" if n is not None else "(the step could not be located)"
    raise NonFiniteError(
        f"the {direction} produced NaN or inf {where} with method {problem.solver.name!r}; "
        "reduce dt, check f and g for overflow, or use float64"
    )


# -- replay ------------------------------------------------------------------------------------
def _known_replayable(bm) -> bool:
    if isinstance(bm, BrownianGrid):
        return True
    try:
        from torchsde import BrownianInterval
    except ImportError:  # pragma: no cover - torchsde is a dependency
        return False
    return isinstance(bm, BrownianInterval)


def check_replayable(problem: Problem) -> None:
    """Raise if the Brownian motion returns different bits for the same query.

    The user's path is never perturbed by the probe: a ``BrownianGrid`` or a
    ``torchsde.BrownianInterval`` answers a repeated query with the same bits by
    construction and is not probed (an interval built without ``dt`` would
    otherwise rebuild its tree one query earlier and change its path); any
    other noise is probed on a deep copy, with the global random state restored.
    """
    bm = problem.bm
    if bm is None or _known_replayable(bm):
        return
    try:
        probe = copy.deepcopy(bm)
    except Exception:  # noqa: BLE001 - an object that cannot be copied is not probed
        return
    grid = problem.grid
    devices = [grid.device] if grid.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        a, b = (increment(probe, grid.times[0], grid.times[1], problem.levy) for _ in range(2))
    if not all(x is None or (y is not None and torch.equal(x, y)) for x, y in zip(a, b)):
        raise ValueError(
            "the Brownian motion returned different increments for the same interval, so "
            "it cannot be replayed backwards; use torchsde.BrownianInterval or "
            "revsde.BrownianGrid with a fixed entropy"
        )
