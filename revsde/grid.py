"""The step grid: output times, with uniform sub-steps no longer than ``dt``.

Output times are hit exactly (no interpolation), so an inverse solve replays
the very same grid.
"""

from __future__ import annotations

import math

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
