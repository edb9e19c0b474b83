"""A solution knows how it was made: the state ``sdeint`` returns records its setup.

:class:`SolverState` is still a tuple of tensors (``y, ...auxiliaries``), so code
that indexes or unpacks a state keeps working; its :attr:`~SolverState.provenance`
records the solver, its options, the output times, the step grid and the noise.
:func:`revsde.sdeint_inverse` compares that record with its own arguments and
refuses a mismatch, naming the difference: an inverse run with another
``entropy``, ``dt``, ``ts`` or solver would return a wrong start with no error.

A plain tuple (built by hand, or loaded from a file) carries no record; it is
still accepted, and checked against the solver's state layout only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .brownian import BrownianGrid
from .solvers import Solver, SolverError

if TYPE_CHECKING:
    from .loop import Problem


@dataclass(frozen=True, eq=False)
class Provenance:
    """How a state was made.

    Attributes:
        solver: the solver's name.
        options: the solver's options (``Solver.options()``).
        ts: the output times of the solve.
        grid: its step grid.
        dt: the ``dt`` it was given.
        noise: ``"grid"``/``"interval"`` (built from ``entropy``), ``"user"``
            (the object ``bm``) or ``None`` (an ODE).
        entropy: the seed of a noise built from one.
        bm: the Brownian motion itself (``None`` for an ODE).
        inverse: made by :func:`revsde.sdeint_inverse` (the state at ``ts[0]``)
            rather than by :func:`revsde.sdeint` (at ``ts[-1]``).
        adaptive: an adaptive solve's controller options (``rtol``, ``atol``,
            ``max_steps``); ``grid`` is then its accepted grid.  ``None``: a given grid.
    """

    solver: str
    options: dict[str, Any]
    ts: list[float]
    grid: list[float]
    dt: float | None
    noise: str | None
    entropy: int | None
    bm: Any
    inverse: bool = False
    adaptive: dict[str, Any] | None = None


class SolverState(tuple):
    """A solver's state (a tuple of tensors) that remembers how it was made."""

    provenance: Provenance | None

    def __new__(cls, items: Iterable[torch.Tensor] = (), provenance: Provenance | None = None):
        self = super().__new__(cls, items)
        self.provenance = provenance
        return self

    def __repr__(self) -> str:
        made = "" if self.provenance is None else f", solver={self.provenance.solver!r}"
        return f"SolverState({tuple.__repr__(self)}{made})"

    def __reduce__(self) -> tuple:
        """Pickled and copied without its record, which holds the live Brownian motion and
        stays with the process.  (``torch.load(weights_only=True)`` admits only plain
        containers: save ``tuple(state)``, or the tensors, as ``Latents`` does.)"""
        return (SolverState, (tuple(self),))


def record(problem: Problem, state: tuple, inverse: bool = False) -> SolverState:
    """``state`` as a :class:`SolverState` recording ``problem``'s setup."""
    return SolverState(state, Provenance(
        solver=problem.solver.name, options=dict(problem.solver.options()), ts=problem.ts,
        grid=list(problem.grid.times), dt=problem.dt, noise=problem.noise, entropy=problem.entropy,
        bm=problem.bm, inverse=inverse,
        adaptive=None if problem.controller is None else problem.controller.options(),
    ))


def provenance_of(state: Any) -> Provenance | None:
    """The record of ``state``, if it has one."""
    return getattr(state, "provenance", None) if isinstance(state, SolverState) else None


def check_solver(prov: Provenance | None, solver: Solver, call: str) -> None:
    """Refuse a state made by another solver, naming both."""
    if prov is not None and prov.solver != solver.name:
        raise SolverError(
            f"this state was made by {prov.solver!r} but {call} was given method "
            f"{solver.name!r}; pass method={prov.solver!r} (a state's layout and caches "
            "belong to its solver)"
        )


def _close(a: list[float], b: list[float]) -> bool:
    if len(a) != len(b):
        return False
    scale = max((abs(x) for x in a), default=1.0)
    tol = 1e-12 * max(1.0, scale)
    return all(math.isclose(x, y, rel_tol=0.0, abs_tol=tol) for x, y in zip(a, b))


def _span(ts: list[float]) -> str:
    return f"{len(ts)} times from {ts[0]:.6g} to {ts[-1]:.6g}"


def _same_noise(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, BrownianGrid) and isinstance(b, BrownianGrid):
        return (a.times == b.times and a.entropy == b.entropy and a.size == b.size
                and a.levy_area == b.levy_area and a.dtype == b.dtype and a.chunk == b.chunk)
    return False


def state_time(prov: Provenance) -> float:
    """The time the recorded state is at: the end of a forward solve, the start of an inverse."""
    return prov.grid[0] if prov.inverse else prov.grid[-1]


def _check_grid(prov: Provenance, problem: Problem) -> None:
    """The inverse must start at the state's time and replay the forward solve's steps.

    Where the inverse reaches further back than the recorded solve (a state
    continued from an earlier one), only the overlap can be compared.
    """
    t = state_time(prov)
    end = problem.grid.times[-1]
    if not _close([end], [t]):
        if not prov.inverse and _close(problem.ts[::-1], prov.ts):
            raise ValueError(
                "ts is reversed: pass the forward solve's ts in its own order "
                f"({prov.ts[0]:.6g} -> {prov.ts[-1]:.6g}); sdeint_inverse walks them "
                "backwards itself"
            )
        raise ValueError(
            f"ts ends at {end:.6g} but this state is at t={t:.6g}; sdeint_inverse runs from "
            "the state's time, ts[-1], back to ts[0]: pass the ts of the solve that made it "
            "(Solution.ts)"
        )
    if prov.inverse:
        return
    k = min(len(problem.grid.times), len(prov.grid))
    if _close(problem.grid.times[-k:], prov.grid[-k:]):
        return
    if prov.adaptive is not None:
        raise ValueError(
            f"this state comes from an adaptive solve ({len(prov.grid) - 1} accepted steps); "
            "its inverse replays that grid: leave dt and grid out (or pass "
            "grid=solution.grid)"
        )
    if problem.dt != prov.dt:
        raise ValueError(
            f"dt differs from the forward solve's: got dt={problem.dt!r} "
            f"({problem.steps} steps), the forward solve used dt={prov.dt!r} "
            f"({len(prov.grid) - 1} steps over {_span(prov.ts)}); pass the same dt"
        )
    raise ValueError(
        f"the steps differ from the forward solve's: ts has {_span(problem.ts)}, the forward "
        f"solve had {_span(prov.ts)} (dt={prov.dt!r}); pass the same ts (Solution.ts)"
    )


def check_inverse(prov: Provenance, problem: Problem, bm_arg: Any, entropy_arg: int | None) -> None:
    """Refuse an inverse set up differently from the forward solve that made the state.

    ``problem`` is the inverse's set-up; ``bm_arg``/``entropy_arg`` are what the
    caller passed for the noise.  Each message names the difference.
    """
    solver = problem.solver
    check_solver(prov, solver, "sdeint_inverse")
    options = solver.options()
    diff = sorted(k for k in set(options) | set(prov.options)
                  if options.get(k) != prov.options.get(k))
    if diff:
        said = ", ".join(f"{k}={options.get(k)!r}" for k in diff)
        was = ", ".join(f"{k}={prov.options.get(k)!r}" for k in diff)
        raise SolverError(
            f"{solver.name} options differ from the forward solve's: got {said}, the forward "
            f"solve used {was}; pass the same options"
        )
    _check_grid(prov, problem)
    if prov.noise is None or problem.bm is None:
        return
    if bm_arg is not None and not isinstance(bm_arg, str):
        if not _same_noise(bm_arg, prov.bm):
            raise ValueError(
                "bm is not the Brownian motion of the forward solve; pass bm=solution.bm "
                "(the same object): another path gives a wrong start with no error"
            )
        return
    if prov.noise == "user":
        raise ValueError(
            "the forward solve used your Brownian motion bm; pass the same object, "
            "bm=solution.bm (entropy cannot rebuild it)"
        )
    if prov.noise != "grid":
        raise ValueError(
            f"the forward solve built its noise with bm={prov.noise!r}; pass bm=solution.bm "
            "(entropy rebuilds only the default grid noise)"
        )
    if entropy_arg != prov.entropy:
        raise ValueError(
            f"entropy={entropy_arg!r} but the forward solve used entropy={prov.entropy}; pass "
            f"entropy={prov.entropy} (or bm=solution.bm)"
        )
