"""Work-precision: error against network (drift) evaluations, fixed grids beside adaptive
ones (docs/mathematics.md §11).

A *run* is a function of one setting (a number of steps for a fixed grid, a tolerance
for an adaptive solve) that returns the solution and the evaluations it cost.
:func:`work_precision` runs each over its settings and measures the error against a
reference; :meth:`WorkPrecision.at_error` reads the evaluations (and the time) a run needs
for a given error, interpolating log-linearly between the two settings that bracket it,
which is how fixed and adaptive grids are compared at equal error.
:func:`solver_runs` builds the runs of core solvers on one equation and one noise path;
:func:`plot_work_precision` draws the curves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["Run", "WorkPoint", "WorkPrecision", "plot_work_precision", "solver_runs",
           "strong_error", "work_precision"]

#: ``run(setting) -> (output, evaluations)``: one solve at one setting
Run = Callable[[float], tuple[torch.Tensor, int]]


def strong_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """The mean over the batch (dimension 0) of the largest absolute error of a sample:
    docs/mathematics.md §10's strong error, on one path per sample."""
    diff = (out.detach().to(torch.float64) - ref.detach().to(torch.float64)).abs()
    value = float(diff.reshape(diff.shape[0], -1).amax(1).mean())
    return value if math.isfinite(value) else math.inf  # a solve that blew up


@dataclass(frozen=True)
class WorkPoint:
    """One solve: its run, kind (``"fixed"``/``"adaptive"``), setting, evaluations,
    error and seconds; ``failed``: why a solve gave no answer (its error is ``inf``)."""

    run: str
    kind: str
    setting: float
    nfe: int
    error: float
    seconds: float
    failed: str | None = None


@dataclass
class WorkPrecision:
    """The points of one problem; ``problem`` names it."""

    problem: str
    points: list[WorkPoint] = field(default_factory=list)

    def curve(self, run: str) -> list[WorkPoint]:
        """The points of ``run``, fewest evaluations first."""
        return sorted((p for p in self.points if p.run == run), key=lambda p: p.nfe)

    def runs(self) -> list[str]:
        """The runs, in the order they were measured."""
        return list(dict.fromkeys(p.run for p in self.points))

    def at_error(self, run: str, error: float) -> dict[str, float] | None:
        """The evaluations and seconds ``run`` needs for ``error``: log-linear between the
        two points whose errors bracket it (``None``: not bracketed by the points)."""
        pts = [p for p in self.curve(run)
               if p.error > 0 and math.isfinite(p.error) and p.failed is None]
        for a, b in zip(pts, pts[1:]):
            lo, hi = sorted((a.error, b.error))
            if lo <= error <= hi and lo < hi:
                w = (math.log(error) - math.log(a.error)) / (math.log(b.error) - math.log(a.error))
                nfe = math.exp(math.log(a.nfe) + w * (math.log(b.nfe) - math.log(a.nfe)))
                sec = math.exp(math.log(max(a.seconds, 1e-9))
                               + w * (math.log(max(b.seconds, 1e-9))
                                      - math.log(max(a.seconds, 1e-9))))
                return {"nfe": nfe, "seconds": sec}
            if lo == hi == error:
                return {"nfe": float(a.nfe), "seconds": a.seconds}
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the problem and every point."""
        return {"problem": self.problem, "points": [p.__dict__ for p in self.points]}


def work_precision(runs: dict[str, tuple[str, Run, Sequence[float]]], reference: torch.Tensor,
                   problem: str, error: Callable[[torch.Tensor, torch.Tensor], float]
                   = strong_error) -> WorkPrecision:
    """Run each ``name: (kind, run, settings)`` over its settings; measure ``error(output,
    reference)``, the evaluations and the time of each solve.  A solve that stops on
    :class:`~revsde.StepBudgetError` or :class:`~revsde.NonFiniteError` is a point with
    error ``inf``, no evaluations counted, and the reason in ``failed``."""
    from ..adaptive import StepBudgetError
    from ..loop import NonFiniteError

    out = WorkPrecision(problem)
    for name, (kind, run, settings) in runs.items():
        if kind not in ("fixed", "adaptive"):
            raise ValueError(f"a run's kind is 'fixed' or 'adaptive'; got {kind!r} for {name}")
        for s in settings:
            start = time.perf_counter()
            try:
                y, nfe = run(s)
            except (StepBudgetError, NonFiniteError) as err:
                out.points.append(WorkPoint(name, kind, float(s), 0, math.inf,
                                            time.perf_counter() - start, str(err)))
                continue
            seconds = time.perf_counter() - start
            out.points.append(WorkPoint(name, kind, float(s), int(nfe), error(y, reference),
                                        seconds))
    return out


def solver_runs(sde: Any, y0: torch.Tensor, ts: torch.Tensor, methods: Iterable[str], *,
                steps: Sequence[int], tolerances: Sequence[float], bm: Any = None,
                atol_ratio: float = 1.0, label: str = "", **options: Any
                ) -> dict[str, tuple[str, Run, Sequence[float]]]:
    """Fixed-grid (``"<method><label>"``, over ``steps`` per output interval) and adaptive
    (``"<method><label> adaptive"``, over ``tolerances``: ``rtol = tol``,
    ``atol = atol_ratio·tol``) runs of core solvers with solver ``options`` (e.g.
    ``zeta``) on ``sde`` from ``y0`` over ``ts``, all on the noise ``bm`` (a path that
    answers any interval, e.g. :func:`revsde.make_brownian`; ``None``: an ODE).  A method
    without an error estimate gets its fixed run only; empty ``steps`` or ``tolerances``
    leave that kind out."""
    from ..integrate import sdeint
    from ..registry import get_solver

    span = abs(float(ts[-1] - ts[0]))
    intervals = ts.numel() - 1
    out: dict[str, tuple[str, Run, Sequence[float]]] = {}
    for m in methods:
        def fixed(n: float, m: str = m) -> tuple[torch.Tensor, int]:
            # (a fixed grid too coarse for a stiff problem may blow up: error inf)
            sol = sdeint(sde, y0, ts, method=m, dt=span / (n * intervals), bm=bm,
                         check_finite=False, **options)
            return sol.ys[-1], sol.stats["nfe"]

        if steps:
            out[m + label] = ("fixed", fixed, steps)
        if tolerances and get_solver(m, **options).has_error_estimate:
            def adaptive(tol: float, m: str = m) -> tuple[torch.Tensor, int]:
                sol = sdeint(sde, y0, ts, method=m, adaptive=True, rtol=tol,
                             atol=atol_ratio * tol, bm=bm, **options)
                return sol.ys[-1], sol.stats["nfe"]

            out[f"{m}{label} adaptive"] = ("adaptive", adaptive, tolerances)
    return out


def plot_work_precision(wp: WorkPrecision, path: str | Path, *, title: str | None = None
                        ) -> list[str]:
    """Error against evaluations, log-log: fixed grids solid, adaptive ones dashed.
    Returns the files written (``path``; matplotlib's format from its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name in wp.runs():
        pts = [p for p in wp.curve(name) if p.failed is None and math.isfinite(p.error)]
        if not pts:
            continue
        kind = pts[0].kind
        ax.loglog([p.nfe for p in pts], [max(p.error, 1e-300) for p in pts],
                  "--o" if kind == "adaptive" else "-s", label=name, markersize=4)
    ax.set_xlabel("network (drift) evaluations")
    ax.set_ylabel("error against the reference")
    ax.set_title(title or f"work-precision: {wp.problem}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return [str(path)]
