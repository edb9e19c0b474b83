"""The lifted drift's coefficients on a clock grid, computed once and read by index.

The coefficients of the lifted drift at a clock (``κ``, ``t``, ``α_t``, ``σ_t``,
``ς^drift_power``: :meth:`~revsde.diffusion.samplers.lifted.LiftedODE.coefficients`)
cost about forty small tensor operations.  A solve evaluates them at the clocks of
its grid and, for a Runge–Kutta base, at the stage clocks ``t_k + c·h_k`` (forward
steps) and ``t_{k+1} - c·h_k`` (the backward half-steps of the McCallum–Foster
wrapper, docs/mathematics.md (McCallum–Foster)).

* :class:`DriftTable`: the coefficients at every clock of a lifted problem's grid
  (the whole grid at once) and at its stage clocks (a row per stage ``c`` and
  direction, built at its first request), read by grid index and stage.
* :class:`GridDrift`: a table as a solve's grid reads it (``LiftedODE.prepare``): the
  solve's step ``n`` and stage ``c`` of a :class:`~revsde.grid.Point` mapped to the
  table's, the grid times matched to the table's clocks by value (a solve may run on
  the table's grid, on part of it, or the other way round).
* :class:`Tables`: tables kept between problems by the caller that holds it (a
  sampler: every batch of a run has the same grid), matched by value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...grid import Grid, Point
from ..schedules import VE, FlowMatching, VPCosine, VPDiscrete, VPLinear, VPScaledLinear

__all__ = ["DriftTable", "GridDrift", "KEPT_SCHEDULES", "Tables"]

#: schedules (by exact type: a subclass may compute from more than its attributes) whose
#: numbers are a function of their attributes alone, so that :class:`Tables` may keep them
KEPT_SCHEDULES = (VPLinear, VPCosine, VE, VPDiscrete, VPScaledLinear, FlowMatching)

#: ``coefficients(clocks, like)``: the drift's coefficients at clocks (0-d or 1-D)
Coefficients = Callable[[torch.Tensor, torch.Tensor], tuple]


def _rows(coefficients: tuple, n: int, batch: int | None) -> list[tuple]:
    """Row ``k``: the coefficients at clock ``k`` as 0-d views (one ``unbind`` per
    coefficient), ``None`` where a coefficient is ``None``; with ``batch``, the network's
    time ``t`` as a view expanded to ``(batch,)``, as the network takes it."""
    cols = list(coefficients)
    if batch is not None:
        cols[1] = cols[1].unsqueeze(1).expand(n, batch)
    return list(zip(*[(None,) * n if v is None else v.unbind() for v in cols]))


class DriftTable:
    """The lifted drift's coefficients on one clock grid and at its stage clocks.

    ``coefficients(clocks, like)`` is the drift's (a pure function of the clocks);
    ``vector_stages``: whether the schedule's operations give the same bits on a whole
    vector of clocks as on one (else a stage clock's coefficients are computed on its
    own, as an evaluation without a table would, and kept).  The grid's rows are
    computed for the whole grid at once either way.
    """

    def __init__(self, clocks: torch.Tensor, coefficients: Coefficients,
                 vector_stages: bool, batch: int | None = None) -> None:
        self.clocks = clocks
        self.dtype, self.device = clocks.dtype, clocks.device
        self.batch = batch
        self.coefficients = coefficients
        self.vector_stages = vector_stages
        n = clocks.numel()
        self._grid = _rows(coefficients(clocks, clocks), n, batch)
        self.times = clocks.tolist()  # once per table: the steps as the driver loop has them
        #: clock value -> its index (a solve's grid times are matched by value: :class:`GridDrift`)
        self.where = {t: k for k, t in enumerate(self.times)}
        self._steps = [b - a for a, b in zip(self.times[:-1], self.times[1:])]
        #: (c, forward) -> (stage clocks as 0-d views, their rows)
        self._stages: dict[tuple[float, bool], tuple[tuple, list]] = {}
        #: (k, c, forward) -> (stage clock, its row), computed one at a time
        self._single: dict[tuple[int, float, bool], tuple[torch.Tensor, tuple]] = {}

    def row(self, k: int) -> tuple:
        """``(κ, t, α, σ, factor)`` at ``clocks[k]``."""
        return self._grid[k]

    def stage(self, k: int, c: float, forward: bool) -> tuple[torch.Tensor, tuple]:
        """``(clock, row)`` of the stage clock ``t_k + c·h_k`` (``forward``) or
        ``t_{k+1} - c·h_k``: the clock with the bits of the solver's own ``t + c * h``
        (``c * h`` rounded to the clocks' dtype before one addition) and its coefficients."""
        if not self.vector_stages:
            hit = self._single.get((k, c, forward))
            if hit is None:
                base = self.clocks[k if forward else k + 1]
                s = base + c * (self._steps[k] if forward else -self._steps[k])
                rows = _rows(tuple(None if v is None else v.reshape(1)
                                   for v in self.coefficients(s, s)), 1, self.batch)
                hit = self._single[(k, c, forward)] = (s, rows[0])
            return hit
        stage = self._stages.get((c, forward))
        if stage is None:
            ch = [c * h for h in self._steps] if forward else [c * -h for h in self._steps]
            base = self.clocks[:-1] if forward else self.clocks[1:]
            offsets = torch.tensor(ch, dtype=torch.float64, device=self.device).to(self.dtype)
            clocks = base + offsets
            rows = _rows(self.coefficients(clocks, clocks), clocks.numel(), self.batch)
            stage = self._stages[(c, forward)] = (clocks.unbind(), rows)
        return stage[0][k], stage[1][k]

    def for_grid(self, grid: Grid) -> GridDrift | None:
        """The table as ``grid`` reads it (``None``: another dtype or device, computed)."""
        if grid.dtype is not self.dtype or grid.device != self.device:
            return None
        return GridDrift(self).extend(grid)


class GridDrift:
    """A :class:`DriftTable` read at a solve grid's points.

    ``index[n]`` is the table's clock index of the solve's time ``t_n`` (``None``: not one
    of the table's clocks), matched by value; a stage of the solve's step ``n`` is a stage
    of the table's step between ``index[n]`` and ``index[n+1]`` (either direction).
    Every other point gets ``None``, and the drift computes its coefficients.
    """

    def __init__(self, table: DriftTable) -> None:
        self.table = table
        self._where = table.where
        self.index: list[int | None] = []

    def extend(self, grid: Grid) -> GridDrift:
        """This view, with the times ``grid`` has gained since (or without those it has
        lost: a step taken back)."""
        if len(self.index) > len(grid.times):
            del self.index[len(grid.times):]
        self.index += [self._where.get(t) for t in grid.times[len(self.index):]]
        return self

    def _stage(self, at: Point) -> tuple[torch.Tensor, tuple] | None:
        """The table's stage clock and row of the point ``at`` (``c != 0``)."""
        i, j = self.index[at.n], self.index[at.n + 1]
        if i is None or j is None:
            return None
        if at.back:  # t_{n+1} - c·h_n: from j towards i
            i, j = j, i
        if j == i + 1:
            return self.table.stage(i, at.c, True)
        if j == i - 1:
            return self.table.stage(j, at.c, False)
        return None

    def row(self, at: Point, y: torch.Tensor) -> tuple | None:
        """``(κ, t, α_t, σ_t, factor)`` at the point ``at`` for the state ``y`` (``None``:
        not in the table, or ``y`` of another dtype, device or batch size)."""
        table = self.table
        if (y.dtype is not table.dtype or y.device != table.device
                or (table.batch is not None and (not y.dim() or y.shape[0] != table.batch))):
            return None
        if at.c == 0.0:
            k = self.index[at.n]
            return None if k is None else table._grid[k]  # table.row(k), without its call
        hit = self._stage(at)
        return None if hit is None else hit[1]

    def clock(self, at: Point) -> torch.Tensor | None:
        """The stage clock of the point ``at`` (``c != 0``) if the table holds it."""
        hit = self._stage(at)
        return None if hit is None else hit[0]


class Tables:
    """Drift tables kept by the caller that holds this object, for its next problems.

    A sampler called again with the same schedule, lifted case, time grid, dtype,
    device and batch size (every batch of a generation run) needs the same clocks and
    the same :class:`DriftTable`: a few hundred microseconds of small tensor operations
    per solve, as much as the steps of a 50-step solve of a small network.  They are
    pure functions of those inputs, matched here by value: the key (numbers) and the
    schedule's attributes (numbers, strings and tensors, compared by value).  The last
    :data:`KEEP` are kept.
    """

    #: tables kept (the oldest is dropped first)
    KEEP = 8

    def __init__(self) -> None:
        self._entries: list[tuple[tuple, dict[str, Any], Any]] = []

    def get(self, key: tuple, schedule: Any, build: Callable[[], Any]) -> Any:
        """The value kept for ``key`` and a schedule equal to ``schedule``, else ``build()``
        (kept when the schedule's attributes can be compared by value)."""
        state = _state(schedule)
        if state is not None:
            for k, s, value in self._entries:
                if k == key and _same(s, state):
                    return value
        value = build()
        if state is not None:
            self._entries = [*self._entries[-(self.KEEP - 1):], (key, state, value)]
        return value


def _state(schedule: Any) -> dict[str, Any] | None:
    """The schedule's class and attributes, copied (``None``: not one of
    :data:`KEPT_SCHEDULES`, or an attribute that is not a number, string, ``None`` or
    tensor without a gradient)."""
    if type(schedule) not in KEPT_SCHEDULES:
        return None
    memos = getattr(type(schedule), "_memo_attributes", ())
    out: dict[str, Any] = {"": type(schedule)}
    for name, value in vars(schedule).items():
        if name in memos:
            continue
        if torch.is_tensor(value) and not value.requires_grad:
            out[name] = value.clone()
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            return None
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two schedule states are equal, tensors by dtype, device, shape and values."""
    if a.keys() != b.keys() or a[""] is not b[""]:
        return False
    for name, x in a.items():
        y = b[name]
        if torch.is_tensor(x):
            if not (torch.is_tensor(y) and x.dtype == y.dtype and x.device == y.device
                    and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif torch.is_tensor(y) or type(x) is not type(y) or x != y:
            return False
    return True
