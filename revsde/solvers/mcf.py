"""The McCallum–Foster reversible wrapper around any explicit base (docs/mathematics.md
(McCallum–Foster)).

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
from .arithmetic import Shift, arithmetic
from .base import Solver, State, Tape, check_compensated, check_quantum
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
            grows like ``ζ^-N`` (docs/mathematics.md §3).  Default 0.999.
        quantum: power-of-two grid spacing for bit-exact reversal (docs/mathematics.md §7);
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
        self.arith = arithmetic(self.quantum, self.compensated)
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
        self.has_error_estimate = base.has_error_estimate

    def options(self) -> dict[str, Any]:
        return {"zeta": self.zeta, "quantum": self.quantum, "compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ)``; compensated: ``(y, ŷ, y·lo, ŷ·lo)``."""
        return self.arith.names(("y", "ŷ"))

    @staticmethod
    def base_step(step: Step) -> Step:
        """``step`` as the base method sees it (with the base's per-grid data)."""
        if step.data is None:
            return step
        return Step(step.n, step.t0, step.t1, step.h, step.data.base, step.eq)

    def increment(self, sde: SDEAdapter, step: Step, x: torch.Tensor, dw: Increment | None,
                  back: bool = False, tape: Tape | None = None) -> torch.Tensor:
        """``A = Ψ_h(t0, x; W, H)`` or (``back``) ``B = Ψ_{-h}(t1, x; -W, H)`` over the base's
        ``step``; with a ``tape``, evaluated on a fresh leaf and recorded there."""
        if tape is None:
            return self.base.increment(sde, step, x, dw, back)
        leaf = tape.leaf(x)
        return tape.record(self.base.increment(sde, step, leaf, dw, back))

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        ar = self.arith
        return ar.pack(ar.start(y0), ar.start(y0 if yhat0 is None else yhat0))

    def prepare(self, grid: Grid, prior: Any = None) -> Any:
        """The base method's per-grid data (its increments run on the same grid), with the
        coupling's ``ζ`` and ``1-ζ`` as 0-d tensors (:mod:`revsde.solvers.scalars`)."""
        if prior is not None:
            return prior._replace(base=self.base.prepare(grid, prior.base))
        coupling = ((self.zeta, 1.0 - self.zeta) if not keeps_tensors(grid)
                    else tuple(as_tensors((self.zeta, 1.0 - self.zeta), grid)))
        return CouplingData(self.base.prepare(grid), coupling)

    def coupling(self, step: Step) -> tuple:
        """``(ζ, 1-ζ)`` as the step multiplies by them (the solve's 0-d tensors)."""
        if step.data is None:
            return (self.zeta, 1.0 - self.zeta)
        return step.data.coupling

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        """``y1 = ζ y0 + (1-ζ) ŷ0 + A(ŷ0)``, ``ŷ1 = ŷ0 - B(y1)`` (module docstring)."""
        ar, bs, base = self.arith, self.base_step(step), self.base
        y0, yhat0, _ = ar.unpack(state)
        y1 = ar.add(ar.couple(y0, yhat0, self.zeta, self.coupling(step)),
                    Shift(1.0, base.increment(sde, bs, ar.hi(yhat0), dw)))
        yhat1 = ar.add(yhat0, Shift(-1.0, base.increment(sde, bs, ar.hi(y1), dw, True)))
        return ar.pack(y1, yhat1)

    def inverse(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None,
                tape: Tape | None = None) -> State:
        """``ŷ0 = ŷ1 + B(y1)``, ``y0 = (y1 - (1-ζ) ŷ0 - A(ŷ0))/ζ`` (module docstring); with
        a ``tape`` (the adjoint), ``B`` and ``A`` are evaluated on fresh leaves and
        recorded there, and the states stay free of their graphs."""
        ar, bs = self.arith, self.base_step(step)
        y1, yhat1, _ = ar.unpack(state)
        yhat0 = ar.add(yhat1, Shift(1.0, self.increment(sde, bs, ar.hi(y1), dw, True, tape)))
        a = self.increment(sde, bs, ar.hi(yhat0), dw, False, tape)
        y0 = ar.uncouple(y1, yhat0, Shift(-1.0, a), self.zeta, self.coupling(step))
        return ar.pack(y0, yhat0)

    def step_with_error(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None
                        ) -> tuple[State, tuple[torch.Tensor, ...]]:
        """:meth:`step`, bit for bit, with the error estimates of its two increments ``A``
        and ``B`` (the errors that ``y_1`` and ``ŷ_1`` take on) and its round-trip defect
        ``A + B``, which grows with the coupling's parasitic component
        (docs/mathematics.md §11)."""
        ar, bs, base = self.arith, self.base_step(step), self.base
        y0, yhat0, _ = ar.unpack(state)
        a, err_a = base.increment_and_error(sde, bs, ar.hi(yhat0), dw)
        y1 = ar.add(ar.couple(y0, yhat0, self.zeta, self.coupling(step)), Shift(1.0, a))
        b, err_b = base.increment_and_error(sde, bs, ar.hi(y1), dw, True)
        yhat1 = ar.add(yhat0, Shift(-1.0, b))
        return ar.pack(y1, yhat1), (err_a, err_b, a + b)

    def error_order(self, sde: SDEAdapter) -> float:
        """The base method's (the two increments are the base's steps)."""
        return self.base.error_order(sde)
