"""A solve's python numbers as 0-d tensors, made once per solve and read by step index.

``x * 0.5`` costs about twice ``x * c`` for a 0-d tensor ``c`` on the CPU: the python
number is wrapped in a new tensor at every operation.  The product is the same bits:
a float32 or float64 operation rounds the python number to the tensor's dtype first,
as ``c`` holds it (checked by the bit-identity tests).  Not for float16/bfloat16,
which compute in float32 with the number unrounded: there the numbers stay python
numbers, as they do for grids longer than :data:`MAX_STEPS`.

:func:`as_tensors` makes the tensors; :class:`StepRows` holds one row of them per
step of a grid, made by one function for the whole grid at once or for each step
as a growing grid adds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..grid import Grid

__all__ = ["MAX_STEPS", "StepRows", "as_tensors", "keeps_tensors"]

#: longer grids keep python numbers: a 0-d tensor per step would cost more memory
#: (a few hundred bytes each) than it saves time
MAX_STEPS = 10_000


def keeps_tensors(grid: Grid) -> bool:
    """Whether ``grid``'s numbers are kept as 0-d tensors (float32/float64, at most
    :data:`MAX_STEPS` steps)."""
    return grid.dtype in (torch.float32, torch.float64) and grid.steps <= MAX_STEPS


def as_tensors(values: Sequence[float], grid: Grid) -> list[Any]:
    """``values`` as 0-d tensors in ``grid``'s dtype and on its device (one transfer)."""
    if not values:
        return []
    t = torch.tensor(list(values), dtype=torch.float64)
    return list(t.to(dtype=grid.dtype, device=grid.device).unbind())


class StepRows:
    """One row of numbers per step of a grid: ``rows[n]`` for step ``n``.

    ``make(grid, lo, hi)`` gives the rows of steps ``lo … hi-1``; :meth:`extend` calls
    it for the steps the grid has gained (all of them the first time).
    """

    def __init__(self, make: Callable[[Grid, int, int], list]) -> None:
        self.make = make
        self.rows: list = []

    def extend(self, grid: Grid) -> StepRows:
        """These rows, with those of the steps ``grid`` has gained since (or without those
        of the steps it has lost: a step taken back, :meth:`revsde.grid.Grid.pop`)."""
        if len(self.rows) > grid.steps:
            del self.rows[grid.steps:]
        self.rows += self.make(grid, len(self.rows), grid.steps)
        return self

    def __getitem__(self, n: int) -> Any:
        return self.rows[n]
