"""A solve's python numbers as 0-d tensors, made once per solve (issue 9, sampler overhead).

``x * 0.5`` costs about twice ``x * c`` for a 0-d tensor ``c`` on the CPU: the python
number is wrapped in a new tensor at every operation.  The product is the same bits:
a float32 or float64 operation rounds the python number to the tensor's dtype first,
as ``c`` holds it (checked by the bit-identity tests).  Not for float16/bfloat16,
which compute in float32 with the number unrounded: no table is made for them.

:class:`Scalars` maps each number of a solve (its steps ``±h_n``, a tableau's
weights) to such a tensor; :func:`scalars_of` finds the solve's table on the
adapter (``sde.step_data``, made by ``Solver.tabulate``) or gives the numbers back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["MAX_STEPS", "Scalars", "plain", "scalars_of"]

#: longer grids keep python numbers: a 0-d tensor per step would cost more memory
#: (a few hundred bytes each) than it saves time
MAX_STEPS = 10_000


def plain(v: float) -> float:
    """The number itself (no table)."""
    return v


class Scalars:
    """Python numbers as 0-d tensors of one dtype and device; any other number is given back.

    Zero is left out (``0.0`` and ``-0.0`` are one key but not one factor).
    """

    def __init__(self, values: Iterable[float], dtype: torch.dtype,
                 device: torch.device) -> None:
        vs = list(dict.fromkeys(v for v in values if v != 0.0))
        ts = torch.tensor(vs, dtype=torch.float64).to(dtype=dtype, device=device).unbind()
        self._t = dict(zip(vs, ts))

    def with_values(self, values: Iterable[float]) -> Scalars:
        """A table with ``values`` added (in the same dtype and on the same device)."""
        some = next(iter(self._t.values()), None)
        if some is None:
            return self
        extra = Scalars(values, some.dtype, some.device)
        out = Scalars((), some.dtype, some.device)
        out._t = {**self._t, **extra._t}
        return out

    def __call__(self, v: float) -> torch.Tensor | float:
        """``v`` as a 0-d tensor if it is one of the table's numbers, else ``v``."""
        return self._t.get(v, v)

    @classmethod
    def for_grid(cls, times: torch.Tensor, grid: list[float],
                 constants: Iterable[float]) -> Scalars | None:
        """The steps ``±h_n`` of ``grid`` and ``constants``, in ``times``' dtype and device
        (``None`` for a dtype other than float32/float64 or more than MAX_STEPS steps)."""
        if times.dtype not in (torch.float32, torch.float64) or len(grid) - 1 > MAX_STEPS:
            return None
        hs = [b - a for a, b in zip(grid[:-1], grid[1:])]
        return cls([*hs, *(-h for h in hs), *constants], times.dtype, times.device)


def scalars_of(sde: Any) -> Scalars | Any:
    """The solve's :class:`Scalars` (``sde.step_data``), or :func:`plain`."""
    table = getattr(sde, "step_data", None)
    return table if isinstance(table, Scalars) else plain
