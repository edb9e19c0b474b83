"""The lifted drift's coefficients, tabulated once per solve (issue 9, sampler overhead).

The coefficients of the lifted drift at a clock (``κ``, ``t``, ``α_t``, ``σ_t``,
``ς^drift_power``: :meth:`~revsde.diffusion.samplers.lifted.LiftedODE.coefficients`)
cost about forty small tensor operations.  A solve evaluates them at the clocks of
its grid and, for a Runge–Kutta base, at stage times ``t + c·h``.  This module
computes them once per solve for whole vectors of clocks and finds a clock in them
from its memory address: no value is read, so a lookup never synchronises a device.

* :class:`ClockRows`: one 1-D tensor of clocks and the coefficients at each of them.
* :class:`DriftTable`: the grid's rows, and the rows of the stage times
  ``t_n + c·h_n`` (forward steps) and ``t_{n+1} - c·h_n`` (the backward half-steps of
  the McCallum–Foster wrapper), each built at its first request, with the same
  numbers as the solver's own ``t + c * h`` (one elementwise addition of the same
  operands, checked in tests/test_sampler_overhead.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ClockRows", "DriftTable"]

#: ``coefficients(clocks, like)``: the drift's coefficients at a vector of clocks
Coefficients = Callable[[torch.Tensor, torch.Tensor], tuple]


class ClockRows:
    """The coefficients at every element of one 1-D clock tensor (immutable).

    :meth:`index` finds an element of ``clocks`` from its address (a 0-d view of
    that very tensor, as the driver loop's times are); a tensor written to since
    (its version changed) is not found.  The rows are 0-d views of the coefficient
    vectors, made once here (one ``unbind`` per coefficient: cheaper than one per row);
    with ``batch``, the network's time ``t`` is a view expanded to ``(batch,)``, as the
    network takes it.
    """

    def __init__(self, clocks: torch.Tensor, coefficients: tuple,
                 batch: int | None = None) -> None:
        self.clocks = clocks
        self._ptr = clocks.data_ptr()
        self._item = clocks.element_size()
        self._size = clocks.numel() * self._item
        self._version = clocks._version
        n = clocks.numel()
        cols = list(coefficients)
        if batch is not None:
            cols[1] = cols[1].unsqueeze(1).expand(n, batch)
        # row n: (κ, t, α, σ, factor) at clocks[n]; None where a coefficient is None
        self._rows = list(zip(*[(None,) * n if v is None else v.unbind() for v in cols]))
        self.views: tuple[torch.Tensor, ...] = ()

    def index(self, s: torch.Tensor) -> int | None:
        """``n`` if ``s`` is ``clocks[n]`` (by address, unwritten since); else ``None``."""
        off = s.data_ptr() - self._ptr
        if off < 0 or off >= self._size or s._version != self._version:
            return None
        return off // self._item

    def row(self, n: int) -> tuple:
        """``(κ, t, α, σ, factor)`` at ``clocks[n]``, as 0-d tensors (``t``: ``(batch,)``
        with a batch size; ``None`` where :meth:`LiftedODE.coefficients` gives ``None``)."""
        return self._rows[n]

    def fresh(self, s: torch.Tensor) -> bool:
        """Whether ``clocks`` (of which ``s`` is a view) is unwritten since the rows were made."""
        return s._version == self._version


class DriftTable:
    """The lifted drift's coefficients on one clock grid and its stage times.

    Built once per problem from its clock grid (the coefficients of the whole grid at
    once: the same numbers as clock by clock, to the caveat written at
    :meth:`~revsde.diffusion.samplers.lifted.LiftedODE.coefficients`).  :meth:`at`
    answers for an element of ``clocks`` (found by address) or a stage clock that
    :meth:`stage_time` gave (found by identity); :meth:`stage_time` gives ``t + c·h``
    for a grid clock ``t`` and a step ``h`` of the grid as an element of a stage row
    (built at its first request: the coefficients of the whole row).  Any other clock,
    or a grid written to since, gets ``None`` (the caller computes); so does a state
    ``y`` of another batch size than ``batch`` (the time ``t`` is held expanded to it).
    """

    def __init__(self, clocks: torch.Tensor, coefficients: tuple,
                 batch: int | None = None) -> None:
        self.clocks = clocks
        self.dtype, self.device = clocks.dtype, clocks.device
        self.batch = batch
        self._grid = ClockRows(clocks, coefficients, batch)
        self._stages: dict[tuple[float, bool], ClockRows] = {}
        #: id of a stage clock's 0-d view -> (the view, its rows, its index)
        self._stage_clocks: dict[int, tuple[torch.Tensor, ClockRows, int]] = {}
        self._steps: list[float] | None = None  # h_n = grid[n+1] - grid[n], python floats

    def at(self, s: torch.Tensor, y: torch.Tensor) -> tuple | None:
        """``(κ, t, α_t, σ_t, factor)`` as 0-d tensors (``t``: ``(batch,)`` with a batch
        size; ``None`` for the coefficients that :meth:`LiftedODE.coefficients` gives as
        ``None``) if ``s`` is an element of the grid or a stage clock and ``y`` has their
        dtype and device (and batch size); else ``None``."""
        if (y.dtype is not self.dtype or y.device != self.device
                or (self.batch is not None and (not y.dim() or y.shape[0] != self.batch))):
            return None
        hit = self._stage_clocks.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1].row(hit[2]) if hit[1].fresh(s) else None
        if s.dim() or s.dtype is not self.dtype or s.device != self.device:
            return None
        n = self._grid.index(s)
        return None if n is None else self._grid.row(n)

    def stage_time(self, t: torch.Tensor, c: float, h: float,
                   coefficients: Coefficients) -> torch.Tensor | None:
        """``t + c·h`` as an element of a stage row, if ``t`` is the grid clock ``t_n``
        and ``h`` is ``t_{n+1} - t_n`` or ``t_{n-1} - t_n`` (python floats of the grid,
        as the driver loop computes them); else ``None``.  A new row's coefficients are
        ``coefficients(row, row)`` (the drift's, passed in: the table holds only tensors)."""
        if t.dim() or t.dtype is not self.dtype or t.device != self.device:
            return None
        n = self._grid.index(t)
        if n is None:
            return None
        if self._steps is None:
            grid = self.clocks.tolist()  # once per table: the steps as the loop has them
            self._steps = [b - a for a, b in zip(grid[:-1], grid[1:])]
        hs = self._steps
        if n < len(hs) and h == hs[n]:
            forward, k = True, n
        elif n > 0 and h == -hs[n - 1]:
            forward, k = False, n - 1
        else:
            return None
        rows = self._stages.get((c, forward))
        if rows is None:
            rows = self._stage_rows(c, forward, coefficients)
        return rows.views[k]

    def _stage_rows(self, c: float, forward: bool, coefficients: Coefficients) -> ClockRows:
        """The row ``t_k + c·h_k`` (forward) or ``t_{k+1} + c·(-h_k)`` (backward), k < N,
        and its coefficients.  ``c * h`` is rounded to the clocks' dtype before the
        addition, as the one-element ``t + c * h`` of a 0-d tensor and a python float is."""
        hs = self._steps
        ch = [c * h for h in hs] if forward else [c * -h for h in hs]
        base = self.clocks[:-1] if forward else self.clocks[1:]
        offsets = torch.tensor(ch, dtype=torch.float64, device=self.device).to(self.dtype)
        clocks = base + offsets
        rows = self._stages[(c, forward)] = ClockRows(clocks, coefficients(clocks, clocks),
                                                      self.batch)
        rows.views = clocks.unbind()  # one 0-d view per stage clock, kept: found by identity
        for k, v in enumerate(rows.views):
            self._stage_clocks[id(v)] = (v, rows, k)
        return rows
