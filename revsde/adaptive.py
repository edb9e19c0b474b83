"""Error-controlled steps whose accepted grid is recorded and replayed (docs/mathematics.md §11).

An adaptive solve grows its grid one step at a time (:meth:`revsde.loop.Problem.extend`):
the solver proposes a step with an embedded error estimate (``Solver.step_with_error``),
the :class:`Controller` accepts or rejects it and chooses the next step size, and a
rejected step is taken back (:meth:`revsde.loop.Problem.retract`).  What remains is an
ordinary grid: the inverse (:func:`revsde.sdeint_inverse`) and the reversible adjoint walk
it backwards with no controller, so they meet the forward solve's states exactly.

Every accepted time is a number of the state's dtype (rounded once, when proposed), so the
grid stored as a tensor in that dtype (``Solution.grid``, ``Latents``) is the grid itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .checks import check_int, check_real
from .solvers import Solver, SolverError
from .solvers.base import State

#: a :class:`revsde.loop.Problem` (not imported: the loop imports this module)
Problem = Any

__all__ = ["Controller", "StepBudgetError", "check_adaptive", "error_ratio", "walk_adaptive"]

#: the largest number of attempted steps (accepted and rejected) of an adaptive solve
MAX_STEPS = 10_000


class StepBudgetError(RuntimeError):
    """An adaptive solve ran out of its step budget (``max_steps``) or its step size fell
    below the resolution of the time; the message says how far it got."""


@dataclass(frozen=True)
class Controller:
    """A PI step-size controller (docs/mathematics.md §11).

    With ``ε_n`` the error ratio of step ``n`` (:func:`error_ratio`; accepted when
    ``ε_n ≤ 1``) and ``k`` the order of the error estimate (``Solver.error_order``), the
    next step is ``h · clip(safety · ε_n^{-(β1)/k} · ε_{n-1}^{β2/k}, factor_min, factor_max)``
    after an accepted step (Gustafsson 1991; Hairer & Wanner, *Solving ODEs II*, §IV.2,
    with ``β1 = 0.7``, ``β2 = 0.4``), and ``h · clip(safety · ε_n^{-1/k}, factor_min, 1)``
    after a rejected one (no growth right after a rejection).

    Args:
        rtol, atol: relative and absolute tolerances (positive).
        max_steps: the budget of attempted steps (accepted and rejected).
        safety, factor_min, factor_max: the usual safety factor and step-ratio bounds.
        beta1, beta2: the PI coefficients (``beta2 = 0``: the elementary I controller).
    """

    rtol: float = 1e-3
    atol: float = 1e-6
    max_steps: int = MAX_STEPS
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0
    beta1: float = 0.7
    beta2: float = 0.4

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = check_real(getattr(self, name), name, "a positive number")
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number; got {value!r} "
                                 f"(an adaptive solve needs a tolerance > 0, e.g. {name}=1e-6)")
        steps = check_int(self.max_steps, "max_steps", "a positive integer")
        if steps < 1:
            raise ValueError(f"max_steps must be a positive integer; got {steps}")
        if not (0 < self.factor_min < 1 < self.factor_max and 0 < self.safety <= 1):
            raise ValueError("the controller needs 0 < factor_min < 1 < factor_max and "
                             f"0 < safety <= 1; got factor_min={self.factor_min}, "
                             f"factor_max={self.factor_max}, safety={self.safety}")

    def options(self) -> dict[str, Any]:
        """What an inverse would compare: the tolerances and the budget."""
        return {"rtol": self.rtol, "atol": self.atol, "max_steps": self.max_steps}

    def factor(self, eps: float, prev: float | None, order: float, accepted: bool) -> float:
        """The ratio of the next step size to this one."""
        if not math.isfinite(eps):
            return self.factor_min
        eps = max(eps, 1e-10)  # an error of zero: grow by factor_max
        if not accepted:
            return min(1.0, max(self.factor_min, self.safety * eps ** (-1.0 / order)))
        fac = self.safety * eps ** (-self.beta1 / order)
        if prev is not None and self.beta2:
            fac *= max(prev, 1e-10) ** (self.beta2 / order)
        return min(self.factor_max, max(self.factor_min, fac))


def error_ratio(errors: tuple[torch.Tensor, ...], y0: torch.Tensor, y1: torch.Tensor,
                rtol: float, atol: float) -> float:
    """``ε = max_e RMS(e / (atol + rtol · max(|y0|, |y1|)))`` over the estimates ``e``
    (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4, eq. (4.11)), over the whole batch:
    one controller for the batch.  Non-finite: ``inf`` (the step is rejected)."""
    scale = torch.maximum(y0.detach().abs(), y1.detach().abs()).mul_(rtol).add_(atol)
    worst = 0.0
    for e in errors:
        r = (e.detach() / scale).square().mean().sqrt()
        value = float(r)
        if not math.isfinite(value):
            return math.inf
        worst = max(worst, value)
    return worst


def check_adaptive(solver: Solver, sde: Any) -> None:
    """Refuse a solver without an error estimate, saying what to use instead."""
    if not solver.has_error_estimate:
        from .registry import SOLVERS

        able = [n for n in SOLVERS if SOLVERS.get(n).has_error_estimate]
        raise SolverError(
            f"adaptive=True needs a solver with an error estimate, and {solver.name!r} has "
            f"none; use one of {', '.join(repr(n) for n in able)}, or drop adaptive=True"
        )


def _in_dtype(t: float, dtype: torch.dtype) -> float:
    """``t`` rounded to ``dtype`` (the grid is stored in the state's dtype)."""
    return float(torch.tensor(t, dtype=torch.float64).to(dtype))


def _where(problem: Problem, accepted: int, rejected: int) -> str:
    t = problem.grid.times[-1]
    return (f"reached t={t:.6g} of [{problem.ts[0]:.6g}, {problem.ts[-1]:.6g}] with "
            f"{accepted} accepted and {rejected} rejected steps")


def walk_adaptive(problem: Problem, state: State, controller: Controller, first: float,
                  show: bool = False) -> tuple[torch.Tensor, State]:
    """Step from ``ts[0]`` to ``ts[-1]`` under error control, growing ``problem``'s grid by
    the accepted steps; every output time is a step time.  Returns the outputs at ``ts``
    (stacked) and the final state; ``problem.out_idx`` and ``problem.rejected`` are set.

    ``first``: the size of the first step tried (positive).
    """
    solver, sde, grid = problem.solver, problem.sde, problem.grid
    dtype = grid.dtype
    order = solver.error_order(sde)
    rtol, atol = controller.rtol, controller.atol
    sign = 1.0 if problem.ts[-1] > problem.ts[0] else -1.0
    h = abs(first)
    ys = [state[0]]
    out_idx = [0]
    accepted = rejected = 0
    prev: float | None = None
    after_reject = False
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"{solver.name} (adaptive)")
    for target in problem.ts[1:]:
        while grid.times[-1] != target:
            if accepted + rejected >= controller.max_steps:
                raise StepBudgetError(
                    f"the adaptive solve used its budget of max_steps={controller.max_steps} "
                    f"steps: it {_where(problem, accepted, rejected)}; raise max_steps, or "
                    f"loosen rtol={rtol:g}/atol={atol:g}"
                )
            t = grid.times[-1]
            left = abs(target - t)
            t_new = target if h >= left * 0.99 else _in_dtype(t + sign * h, dtype)
            if t_new == t or (t_new - t) * sign <= 0:
                raise StepBudgetError(
                    f"the step size {h:.3g} fell below the resolution of {dtype} times: the "
                    f"adaptive solve {_where(problem, accepted, rejected)}; loosen "
                    f"rtol={rtol:g}/atol={atol:g} or solve in float64"
                )
            problem.extend(t_new)
            n = problem.steps - 1
            new, errors = solver.step_with_error(sde, problem.step_at(n), state, problem.dw(n))
            eps = error_ratio(errors, state[0], new[0], rtol, atol)
            ok = eps <= 1.0
            size = abs(t_new - t)
            fac = controller.factor(eps, prev, order, ok)
            if ok:
                state = new
                accepted += 1
                prev = eps
                if after_reject:  # no growth right after a rejection (Hairer & Wanner)
                    fac = min(fac, 1.0)
                after_reject = False
                if bar is not None:
                    bar.update(1)
            else:
                problem.retract()
                rejected += 1
                after_reject = True
            h = size * fac
        ys.append(state[0])
        out_idx.append(problem.steps)
    if bar is not None:
        bar.close()
    problem.out_idx = out_idx
    problem.rejected = rejected
    return torch.stack(ys), state
