"""The step grid: output times, with uniform sub-steps no longer than ``dt``.

Output times are hit exactly (no interpolation), so an inverse solve replays
the very same grid.
"""

from __future__ import annotations

import math


def step_grid(ts: list[float], dt: float | None) -> tuple[list[float], list[int]]:
    """Return ``(grid, out_index)``: all step times and where each output lies."""
    grid = [ts[0]]
    out = [0]
    for a, b in zip(ts[:-1], ts[1:]):
        n = 1 if dt is None else max(1, math.ceil(abs(b - a) / dt - 1e-9))
        for k in range(1, n):
            grid.append(a + (b - a) * (k / n))
        grid.append(b)
        out.append(len(grid) - 1)
    return grid, out
