"""The McCallum–Foster reversible wrapper around any explicit base (MATH.md §3).

McCallum & Foster (2024), "Efficient, accurate and stable gradients for neural
ODEs": with coupling ``ζ ∈ (0, 1]`` and auxiliary state ``ŷ``,

  ``y1 = ζ y0 + (1-ζ) ŷ0 + Ψ_h(t0, ŷ0; W, H)``
  ``ŷ1 = ŷ0 - Ψ_{-h}(t1, y1; -W, H)``

and the inverse

  ``ŷ0 = ŷ1 + Ψ_{-h}(t1, y1; -W, H)``
  ``y0 = (y1 - (1-ζ) ŷ0 - Ψ_h(t0, ŷ0; W, H)) / ζ``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from ..brownian import Increment
from ..checks import check_real
from ..grid import Grid, Point, Step
from ..sde import SDEAdapter
from . import compensated as cw
from .base import (
    LOW_NAMES,
    Solver,
    State,
    check_compensated,
    check_quantum,
    check_quantum_fits,
    quantize,
)
from .explicit import BaseMethod
from .scalars import as_tensors, keeps_tensors


class CouplingData(NamedTuple):
    """The wrapper's per-grid data: its base method's, and ``(ζ, 1-ζ)`` as multiplied."""

    base: Any
    coupling: tuple


class McCallumFoster(Solver):
    """Reversible wrapper of a base method; it has the base's order.

    Args:
        base: a :class:`BaseMethod` instance.
        zeta: coupling in ``(0, 1]``; the inverse divides by it, so round-off
            grows like ``ζ^-N`` (MATH.md §3).  Default 0.999.
        quantum: power-of-two grid spacing for bit-exact reversal (MATH.md §7);
            needs ``zeta = 1``.
        compensated: carry ``y`` and ``ŷ`` as ``hi + lo`` pairs
            (:mod:`revsde.solvers.compensated`); the increments are evaluated at ``hi``,
            and the inverse rebuilds ``hi`` bit for bit where plain sums lose it.
    """

    reversible = True
    uses_zeta = True
    exact_mode = True
    compensated_mode = True

    def __init__(self, base: BaseMethod, zeta: float = 0.999, quantum: float | None = None,
                 compensated: bool = False):
        if not isinstance(base, BaseMethod):
            raise TypeError(f"base must be a BaseMethod instance; got {type(base).__name__}")
        zeta = check_real(zeta, "zeta", "a number in (0, 1]")
        if not (0.0 < zeta <= 1.0) or not math.isfinite(zeta):
            raise ValueError(
                f"zeta must lie in (0, 1]; got {zeta}. Values near 1 (default 0.999) keep "
                "the inverse accurate; zeta=1 makes both updates purely additive."
            )
        self.base = base
        self.zeta = zeta
        self.quantum = check_quantum(quantum)
        self.compensated = check_compensated(compensated, self.quantum)
        if self.quantum is not None and zeta != 1.0:
            raise ValueError(
                f"quantum (bit-exact mode) needs zeta=1 so that both updates are additive; "
                f"got zeta={zeta}"
            )
        self.name = "mcf_" + base.name
        self.description = f"McCallum–Foster reversible wrapper of {base.name}"
        self.sde_types = base.sde_types
        self.noise_types = base.noise_types
        self.strong_order = dict(base.strong_order)
        if base.sde_types == ("ito",):
            # Measured (tests/test_orders.py::test_mcf_euler_multiplicative_diverges): with
            # an Itô base and multiplicative noise the wrapper converges to neither the Itô
            # nor the Stratonovich solution (GBM error stays ~0.4 from N=256 to 4096), so
            # only additive noise, where both calculi agree, is declared.
            self.noise_types = tuple(n for n in base.noise_types if n == "additive")
            self.sde_types = ("ito", "stratonovich")
            self.strong_order = {"additive": base.strong_order["additive"]}
            self.description += "; additive noise only (an Itô base is not time-symmetric)"
        self.weak_order = base.weak_order
        self.ode_order = base.ode_order
        self.nfe_per_step = 2 * base.nfe_per_step
        self.needs_levy_area = base.needs_levy_area

    def options(self) -> dict[str, Any]:
        return {"zeta": self.zeta, "quantum": self.quantum, "compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ)``; compensated: ``(y, ŷ, y·lo, ŷ·lo)``."""
        return ("y", "ŷ") + LOW_NAMES if self.compensated else ("y", "ŷ")

    @staticmethod
    def base_step(step: Step) -> Step:
        """``step`` as the base method sees it (with the base's per-grid data)."""
        return step if step.data is None else step._replace(data=step.data.base)

    def forward_increment(self, sde: SDEAdapter, step: Step, yhat0: torch.Tensor,
                          dw: Increment | None) -> torch.Tensor:
        """``Ψ_h(t0, ŷ0; W, H)`` over the base's ``step``, rounded to the grid in exact mode."""
        return quantize(self.base.increment(sde, step, yhat0, dw), self.quantum)

    def backward_increment(self, sde: SDEAdapter, step: Step, y1: torch.Tensor,
                           dw: Increment | None) -> torch.Tensor:
        """``Ψ_{-h}(t1, y1; -W, H)`` over the base's ``step``, rounded to the grid in exact
        mode."""
        return quantize(self.base.increment(sde, step, y1, dw, back=True), self.quantum)

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        check_quantum_fits(y0, self.quantum)
        y0 = quantize(y0, self.quantum)
        state = (y0, y0 if yhat0 is None else quantize(yhat0, self.quantum))
        return state + cw.low_parts(*state) if self.compensated else state

    def prepare(self, grid: Grid, prior: Any = None) -> Any:
        """The base method's per-grid data (its increments run on the same grid), with the
        coupling's ``ζ`` and ``1-ζ`` as 0-d tensors (:mod:`revsde.solvers.scalars`)."""
        if prior is not None:
            return prior._replace(base=self.base.prepare(grid, prior.base))
        coupling = ((self.zeta, 1.0 - self.zeta) if not keeps_tensors(grid)
                    else tuple(as_tensors((self.zeta, 1.0 - self.zeta), grid)))
        return CouplingData(self.base.prepare(grid), coupling)

    def couple(self, y0: torch.Tensor, yhat0: torch.Tensor, step: Step) -> torch.Tensor:
        """``ζ y0 + (1-ζ) ŷ0`` (the factors as the solve's 0-d tensors: the same products)."""
        if self.zeta == 1.0:
            return y0
        zeta, rest = step.data.coupling if step.data is not None else (self.zeta, 1.0 - self.zeta)
        return zeta * y0 + rest * yhat0

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        if self.compensated:
            return self._step_pairs(sde, step, state, dw)
        y0, yh0 = state
        bs = self.base_step(step)
        y1 = self.couple(y0, yh0, step) + self.forward_increment(sde, bs, yh0, dw)
        yh1 = yh0 - self.backward_increment(sde, bs, y1, dw)
        return (y1, yh1)

    def inverse(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        if self.compensated:
            return self._inverse_pairs(sde, step, state, dw)
        y1, yh1 = state
        bs = self.base_step(step)
        yh0 = yh1 + self.backward_increment(sde, bs, y1, dw)
        a = self.forward_increment(sde, bs, yh0, dw)
        if self.zeta == 1.0:
            return (y1 - a, yh0)
        rest = step.data.coupling[1] if step.data is not None else 1.0 - self.zeta
        return ((y1 - rest * yh0 - a) / self.zeta, yh0)

    # -- compensated mode: the same step on (hi, lo) pairs ------------------------------
    def _couple_pairs(self, y0: cw.Pair, yh0: cw.Pair) -> cw.Pair:
        if self.zeta == 1.0:
            return y0
        return cw.add_pair(cw.scale(y0, self.zeta), cw.scale(yh0, 1.0 - self.zeta))

    def _step_pairs(self, sde, step, state, dw) -> State:
        y0, yh0, _ = cw.unpack(state)
        bs = self.base_step(step)
        y1 = cw.add(self._couple_pairs(y0, yh0), self.forward_increment(sde, bs, yh0[0], dw))
        yh1 = cw.add(yh0, -self.backward_increment(sde, bs, y1[0], dw))
        return cw.pack(y1, yh1)

    def _inverse_pairs(self, sde, step, state, dw) -> State:
        y1, yh1, _ = cw.unpack(state)
        bs = self.base_step(step)
        yh0 = cw.add(yh1, self.backward_increment(sde, bs, y1[0], dw))
        y0 = cw.add(y1, -self.forward_increment(sde, bs, yh0[0], dw))
        if self.zeta != 1.0:
            y0 = cw.divide(cw.sub_pair(y0, cw.scale(yh0, 1.0 - self.zeta)), self.zeta)
        return cw.pack(y0, yh0)
