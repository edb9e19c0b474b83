"""The step grid: output times, with uniform sub-steps no longer than ``dt``.

Output times are hit exactly (no interpolation), so an inverse solve replays
the very same grid.  The driver loop walks steps ``n = 0 … N-1`` of a
:class:`Grid` as :class:`Step` objects; per-grid data (a solver's weights, an
equation's coefficients) is prepared once per solve and read by ``n``, and an
equation is told where it is evaluated by a :class:`Point`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .checks import check_grid_steps


def step_grid(ts: list[float], dt: float | None,
              steps: list[float] | None = None) -> tuple[list[float], list[int]]:
    """Return ``(grid, out_index)``: all step times and where each output lies.

    ``steps`` (already validated as a strictly monotone list) gives the step
    times explicitly: it must run from ``ts[0]`` to ``ts[-1]`` and contain every
    output time exactly, so outputs can be a few points of a long grid.
    """
    if steps is not None:
        return _explicit(ts, steps)
    check_grid_steps(ts, dt)  # refuse a huge grid before building it
    grid = [ts[0]]
    out = [0]
    for a, b in zip(ts[:-1], ts[1:]):
        n = 1 if dt is None else max(1, math.ceil(abs(b - a) / dt - 1e-9))
        for k in range(1, n):
            grid.append(a + (b - a) * (k / n))
        grid.append(b)
        out.append(len(grid) - 1)
    return grid, out


def _explicit(ts: list[float], steps: list[float]) -> tuple[list[float], list[int]]:
    """``(steps, out_index)`` for an explicit step grid that contains every time of ``ts``."""
    if steps[0] != ts[0] or steps[-1] != ts[-1]:
        raise ValueError(
            f"grid must start at ts[0] and end at ts[-1]: got grid from {steps[0]!r} to "
            f"{steps[-1]!r}, ts from {ts[0]!r} to {ts[-1]!r}"
        )
    if len(ts) == 2:  # only the two ends (a solve that keeps only its end state)
        return list(steps), [0, len(steps) - 1]
    where = {t: i for i, t in enumerate(steps)}
    out = []
    for t in ts:
        if t not in where:
            raise ValueError(
                f"every output time must be a step time: ts contains {t!r}, which grid "
                "does not (pass output times taken from the grid tensor itself)"
            )
        out.append(where[t])
    return list(steps), out


#: a :class:`Point` or :class:`Step` made from all its fields: ``tuple.__new__`` itself, half
#: the cost of the NamedTuple constructor's argument handling (the loop makes both at
#: every step)
_made = tuple.__new__


class Point(NamedTuple):
    """Where an equation is evaluated: ``t_n + c·h_n``, or ``t_{n+1} - c·h_n`` when ``back``
    (the backward half-step of docs/mathematics.md (McCallum–Foster)); ``c = 0`` and not
    ``back`` is the grid time ``t_n`` itself (``n = N`` included).

    ``data`` is what the equation's ``prepare(grid)`` made for the solve's grid (``None``
    for an equation without ``prepare``), handed on with the point as torchdiffeq hands
    ``perturb=`` to the function it evaluates: the equation reads its per-grid numbers at
    ``(n, c, back)`` instead of finding them from ``t``.
    """

    n: int
    c: float = 0.0
    back: bool = False
    data: Any = None


class Step(NamedTuple):
    """Step ``n`` of a grid: from ``t0 = t_n`` to ``t1 = t_{n+1}`` by ``h = t1 - t0``.

    ``t0``, ``t1``: 0-d tensors in the state's dtype and on its device; ``h``: a python
    float (negative backwards in time).  ``data``: the solver's per-grid data
    (``Solver.prepare``), read at ``n``; ``eq``: the equation's (:class:`Point`).
    """

    n: int
    t0: torch.Tensor
    t1: torch.Tensor
    h: float
    data: Any = None
    eq: Any = None

    @property
    def start(self) -> Point:
        """The point ``t_n``."""
        return _made(Point, (self.n, 0.0, False, self.eq))

    @property
    def end(self) -> Point:
        """The point ``t_{n+1}``."""
        return _made(Point, (self.n + 1, 0.0, False, self.eq))

    def at(self, c: float, back: bool = False) -> Point:
        """The point ``t_n + c·h_n`` (``back``: ``t_{n+1} - c·h_n``)."""
        if c == 0.0:
            return self.end if back else self.start
        return _made(Point, (self.n, c, back, self.eq))


#: the step times are made as 0-d views this many at a time (:meth:`Grid.t`)
VIEW_BLOCK = 64


class Grid:
    """The step times ``t_0 … t_N`` of one solve, as python floats and as tensors.

    A grid is known whole before a fixed-step solve, or grows one step at a time
    (:meth:`append`), as an adaptive solve proposes its steps; per-grid data
    (``Solver.prepare``, an equation's ``prepare``) is extended with it.

    A caller that solves on one ``Grid`` again (``sdeint(..., grid=grid)``: a sampler's
    next batch) reuses the solver's data of it (:meth:`keep`), made once per solver
    kind and options.

    Attributes:
        times: the step times (python floats).
        dtype, device: those of the tensors (the state's).
    """

    def __init__(self, times: list[float], dtype: torch.dtype, device: torch.device) -> None:
        self.times = list(times)
        self.dtype, self.device = dtype, device
        #: the first times as one 1-D tensor; times appended later are 0-d tensors
        self._tensor = torch.tensor(self.times, dtype=dtype, device=device)
        self._later: list[torch.Tensor] = []
        self._kept: dict[tuple, tuple[int, Any]] = {}
        #: (n, views of t_n … t_{n+VIEW_BLOCK}): the block of 0-d views last made
        self._views: tuple[int, tuple[torch.Tensor, ...]] = (0, ())

    @property
    def steps(self) -> int:
        """The number of steps ``N``."""
        return len(self.times) - 1

    def append(self, t: float) -> None:
        """Add the time ``t_{N+1}`` (one more step)."""
        self.times.append(t)
        self._later.append(torch.tensor(t, dtype=self.dtype, device=self.device))

    def pop(self) -> None:
        """Remove the last time (a step an adaptive solve proposed and rejected); only a
        time added by :meth:`append` can go, and the data kept of the grid is dropped."""
        if len(self.times) <= self._tensor.numel():
            raise ValueError("only a time added by Grid.append can be removed")
        self.times.pop()
        self._later.pop()
        self._kept.clear()

    def h(self, n: int) -> float:
        """The step size ``t_{n+1} - t_n`` (negative backwards in time)."""
        return self.times[n + 1] - self.times[n]

    def t(self, n: int) -> torch.Tensor:
        """``t_n`` as a 0-d tensor."""
        lo, block = self._views
        if 0 <= n - lo < len(block):
            return block[n - lo]
        first = self._tensor.numel()
        if n >= first:
            return self._later[n - first]
        # a step reads t_n and t_{n+1}, in either direction: a block of views from one unbind
        # (a view made per step costs more than the step's bookkeeping; a block keeps memory
        # flat in the number of steps).  One assignment: a grid shared by threads stays whole.
        lo = n - n % VIEW_BLOCK
        self._views = (lo, self._tensor[lo:lo + VIEW_BLOCK + 1].unbind())
        return self._views[1][n - lo]

    def span(self, lo: int, hi: int) -> torch.Tensor:
        """``t_lo … t_{hi-1}`` as one 1-D tensor (the starts of steps ``lo … hi-1``)."""
        first = self._tensor.numel()
        if hi <= first:
            return self._tensor[lo:hi]
        return torch.stack([self.t(n) for n in range(lo, hi)])

    def keep(self, key: tuple, make: Callable[[], Any]) -> Any:
        """``make()``, made once per ``key`` (values: a solver's kind and options) for the
        grid as it is now (a grid that has grown since makes it again)."""
        hit = self._kept.get(key)
        if hit is not None and hit[0] == self.steps:
            return hit[1]
        value = make()
        self._kept[key] = (self.steps, value)
        return value

    def step(self, n: int, data: Any = None, eq: Any = None) -> Step:
        """Step ``n``, with the solver's and the equation's per-grid data."""
        return _made(Step, (n, self.t(n), self.t(n + 1), self.h(n), data, eq))
