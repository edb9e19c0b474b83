"""Reversible Heun (Kidger, Foster, Li & Lyons 2021), docs/mathematics.md (Reversible Heun).

State ``(y, ŷ, f(ŷ), g(ŷ))``: the drift and diffusion at ``ŷ`` are cached so
that each step costs one evaluation of ``f`` and ``g``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ..brownian import Increment
from ..grid import Point, Step
from ..sde import SDEAdapter
from .arithmetic import arithmetic
from .base import Solver, State, cache_at, cached_state_names, check_compensated, check_quantum


def half_tensor(sde: SDEAdapter, cache: State, h: float,
                dw: Increment | tuple | None) -> torch.Tensor:
    """``R = f h + g·W`` of one cache ``(f, g)``, as one tensor."""
    if dw is None:
        return cache[0] * h
    return torch.add(sde.prod(cache[1], dw[0]), cache[0], alpha=h)


def half_added(x: torch.Tensor, c: float, sde: SDEAdapter, cache: State, h: float,
               dw: Increment | tuple | None) -> torch.Tensor:
    """``x + c R``, ``R = f h + g·W`` of one cache ``(f, g)`` (``c = ±½``), in two fused
    operations."""
    out = torch.add(x, cache[0], alpha=c * h)
    if dw is None:
        return out
    if sde.elementwise:
        return out.addcmul_(cache[1], dw[0], value=c)
    return out.add_(sde.prod(cache[1], dw[0]), alpha=c)


class Half(NamedTuple):
    """The increment ``c·R``, ``R = f h + g·W``, of one cache ``(f, g)`` (``c = ±½``), as a
    :class:`~revsde.solvers.arithmetic.Delta` (the step itself adds it through its
    arithmetic's :meth:`~revsde.solvers.arithmetic.Plain.adder` of :func:`half_added` and
    :func:`half_tensor`: the same operations, and no object per step)."""

    sde: SDEAdapter
    cache: State
    h: float
    dw: Increment | tuple | None
    c: float

    def tensor(self) -> torch.Tensor:
        """``R = f h + g·W`` as one tensor."""
        return half_tensor(self.sde, self.cache, self.h, self.dw)

    def added_to(self, x: torch.Tensor) -> torch.Tensor:
        """``x + c R`` in two fused operations."""
        return half_added(x, self.c, self.sde, self.cache, self.h, self.dw)


class ReversibleHeun(Solver):
    """Reversible Heun, Stratonovich, one evaluation per step, exact inverse.

    Forward (docs/mathematics.md (Reversible Heun)), through the midpoint ``m``:
      ``m = y0 + ½R(f0, g0)``, ``ŷ1 = 2m - ŷ0``, ``y1 = m + ½R(f1, g1)``,
    with ``R = f h + g W`` and ``(f1, g1)`` evaluated at ``(t1, ŷ1)``.  The inverse is
    the same walk with ``-½`` and ``t0``: ``m = y1 - ½R(f1, g1)``, ``ŷ0 = 2m - ŷ1``,
    ``y0 = m - ½R(f0, g0)``.  Written once, in any arithmetic
    (:mod:`revsde.solvers.arithmetic`).

    Args:
        quantum: optional power-of-two grid spacing for bit-exact reversal
            (docs/mathematics.md (Exact mode)).  Increments ``R`` are rounded to the
            grid and ``y`` advances by ``½R`` twice, so ``y`` lives on the half grid and
            every addition is exact.
        compensated: carry ``y`` and ``ŷ`` as ``hi + lo`` pairs
            (:mod:`revsde.solvers.compensated`; the state ends with ``y·lo, ŷ·lo``):
            ``f`` and ``g`` are evaluated at ``hi``, and the inverse rebuilds ``hi`` bit
            for bit where plain sums lose it.
    """

    name = "reversible_heun"
    description = "Reversible Heun (Kidger et al. 2021), 1 evaluation per step"
    reversible = True
    sde_types = ("stratonovich",)
    strong_order = {"scalar": 1.0, "diagonal": 1.0, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 2.0
    nfe_per_step = 1
    init_nfe = 1
    exact_mode = True
    compensated_mode = True
    has_error_estimate = True

    def __init__(self, quantum: float | None = None, compensated: bool = False):
        self.quantum = check_quantum(quantum)
        self.compensated = check_compensated(compensated, self.quantum)
        self.arith = arithmetic(self.quantum, self.compensated)
        #: ``x + c R`` of one cache in the arithmetic: ``half(x, c, sde, cache, h, dw)``
        self.half = self.arith.adder(half_added, half_tensor)

    def options(self) -> dict[str, Any]:
        return {"quantum": self.quantum, "compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ, f(ŷ), g(ŷ))``; an ODE's has no ``g(ŷ)``; compensated: then ``y·lo, ŷ·lo``."""
        return self.arith.names(cached_state_names(sde))

    def evaluate(self, sde: SDEAdapter, t: torch.Tensor, yhat: torch.Tensor,
                 at: Point | None = None) -> State:
        """The cache ``(f, g)`` at ``ŷ`` (``g`` absent for an ODE), at ``t`` (the point ``at``)."""
        return cache_at(sde, t, yhat, at)

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        ar = self.arith
        y = ar.start(y0)
        yhat = ar.start(y0 if yhat0 is None else yhat0)
        return ar.pack(y, yhat, self.evaluate(sde, t0, ar.hi(yhat), at))

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        return self.walk(sde, step.t1, step.end, step.h, state, dw, 0.5)

    def inverse(self, sde: SDEAdapter, step: Step, state: State,
                dw: Increment | None) -> State:
        return self.walk(sde, step.t0, step.start, step.h, state, dw, -0.5)

    def walk(self, sde: SDEAdapter, t: torch.Tensor, at: Point, h: float, state: State,
             dw: Increment | None, c: float) -> State:
        """A forward (``c = ½``, to ``t = t1``) or inverse (``c = -½``, to ``t = t0``) step:
        the two are the same walk ``m = y + c R(start)``, ``ŷ' = 2m - ŷ``,
        ``y' = m + c R(end)``."""
        ar, half = self.arith, self.half
        y, yhat, cache = ar.unpack(state)
        m = half(y, c, sde, cache, h, dw)
        yhat1 = ar.mirror(yhat, m)
        cache1 = self.evaluate(sde, t, ar.hi(yhat1), at)
        return ar.pack(half(m, c, sde, cache1, h, dw), yhat1, cache1)

    # -- error-controlled steps (docs/mathematics.md §11) ----------------------------------
    def step_with_error(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None
                        ) -> tuple[State, tuple[torch.Tensor, ...]]:
        """:meth:`step` (its very bits) and the embedded error estimate
        ``½(R(f1, g1) - R(f0, g0))``: the step's trapezoidal increment less the left-point
        (Euler) one, from the two caches the step holds anyway (docs/mathematics.md §11);
        no extra evaluation."""
        out = self.step(sde, step, state, dw)
        f0 = self.arith.unpack(state)[2]
        f1 = self.arith.unpack(out)[2]
        h = step.h
        err = (f1[0] - f0[0]) * (0.5 * h)
        if dw is not None:
            err = err + 0.5 * sde.prod(f1[1] - f0[1], dw[0])
        if err.shape != out[0].shape:  # a drift broadcast against the state
            err = err.expand_as(out[0])
        return out, (err,)

    def error_order(self, sde: SDEAdapter) -> float:
        """2 for an ODE (an Euler step's local error, ``O(h²)``); for an SDE ``1.5`` with
        additive noise and ``1`` otherwise (Euler–Maruyama's strong order plus ½)."""
        if sde.is_ode:
            return 2.0
        return 1.5 if sde.noise_type == "additive" else 1.0
