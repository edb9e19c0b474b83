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
    (its version changed) is not found.  A row's 0-d views are made at its first
    read and kept (a McCallum–Foster step reads each grid clock twice).
    """

    def __init__(self, clocks: torch.Tensor, coefficients: tuple) -> None:
        self.clocks = clocks
        self._ptr = clocks.data_ptr()
        self._item = clocks.element_size()
        self._size = clocks.numel() * self._item
        self._version = clocks._version
        # one row per clock: (κ, t, α, σ, factor), zeros where a coefficient is None
        self._rows = torch.stack([torch.zeros_like(clocks) if v is None else v
                                  for v in coefficients], dim=1)
        self._read: list[tuple | None] = [None] * clocks.numel()
        self._views: tuple[torch.Tensor, ...] | None = None

    def index(self, s: torch.Tensor) -> int | None:
        """``n`` if ``s`` is ``clocks[n]`` (by address, unwritten since); else ``None``."""
        off = s.data_ptr() - self._ptr
        if off < 0 or off >= self._size or s._version != self._version:
            return None
        return off // self._item

    def row(self, n: int) -> tuple:
        """``(κ, t, α, σ, factor)`` at ``clocks[n]``, as 0-d tensors."""
        r = self._read[n]
        if r is None:
            r = self._read[n] = self._rows[n].unbind()
        return r

    def clock(self, n: int) -> torch.Tensor:
        """``clocks[n]``: one 0-d view per element, made once (so it is found by address)."""
        if self._views is None:
            self._views = self.clocks.unbind()
        return self._views[n]


class DriftTable:
    """The lifted drift's coefficients on one clock grid and its stage times.

    Built once per problem from its clock grid (the coefficients of the whole grid at
    once: the same numbers as clock by clock, to the caveat written at
    :meth:`~revsde.diffusion.samplers.lifted.LiftedODE.coefficients`).  :meth:`at`
    answers for an element of ``clocks`` or of a stage row; :meth:`stage_time` gives
    ``t + c·h`` for a grid clock ``t`` and a step ``h`` of the grid as an element of a
    stage row (built at its first request: ``coefficients`` of the whole row).  Any
    other clock, or a grid written to since, gets ``None`` (the caller computes).
    """

    def __init__(self, clocks: torch.Tensor, coefficients: tuple) -> None:
        self.clocks = clocks
        self.dtype, self.device = clocks.dtype, clocks.device
        self._grid = ClockRows(clocks, coefficients)
        self._segments = [self._grid]
        self._stages: dict[tuple[float, bool], ClockRows] = {}
        self._steps: list[float] | None = None  # h_n = grid[n+1] - grid[n], python floats

    def at(self, s: torch.Tensor, y: torch.Tensor) -> tuple | None:
        """``(κ, t, α_t, σ_t, factor)`` as 0-d tensors (zeros for the coefficients that
        :meth:`LiftedODE.coefficients` gives as ``None``) if ``s`` is an element of the
        grid or of a stage row and ``y`` has their dtype and device; else ``None``."""
        if (s.dim() or s.dtype is not self.dtype or y.dtype is not self.dtype
                or s.device != self.device or y.device != self.device):
            return None
        for seg in self._segments:
            n = seg.index(s)
            if n is not None:
                return seg.row(n)
        return None

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
        return rows.clock(k)

    def _stage_rows(self, c: float, forward: bool, coefficients: Coefficients) -> ClockRows:
        """The row ``t_k + c·h_k`` (forward) or ``t_{k+1} + c·(-h_k)`` (backward), k < N,
        and its coefficients.  ``c * h`` is rounded to the clocks' dtype before the
        addition, as the one-element ``t + c * h`` of a 0-d tensor and a python float is."""
        hs = self._steps
        ch = [c * h for h in hs] if forward else [c * -h for h in hs]
        base = self.clocks[:-1] if forward else self.clocks[1:]
        offsets = torch.tensor(ch, dtype=torch.float64, device=self.device).to(self.dtype)
        clocks = base + offsets
        rows = self._stages[(c, forward)] = ClockRows(clocks, coefficients(clocks, clocks))
        self._segments.append(rows)
        return rows
