"""Reversible Heun (Kidger, Foster, Li & Lyons 2021), MATH.md §2.

State ``(y, ŷ, f(ŷ), g(ŷ))``: the drift and diffusion at ``ŷ`` are cached so
that each step costs one evaluation of ``f`` and ``g``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..brownian import Increment
from ..grid import Point, Step
from ..sde import SDEAdapter
from . import compensated as cw
from .base import (
    Solver,
    State,
    cache_at,
    cached_state_names,
    check_compensated,
    check_quantum,
    check_quantum_fits,
    quantize,
)


class ReversibleHeun(Solver):
    """Reversible Heun, Stratonovich, one evaluation per step, exact inverse.

    Forward (MATH.md §2):
      ``ŷ1 = 2 y0 - ŷ0 + f(t0,ŷ0) h + g(t0,ŷ0) W``,
      ``y1 = y0 + ½(f0 + f1) h + ½(g0 + g1) W``.
    Inverse:
      ``ŷ0 = 2 y1 - ŷ1 - f(t1,ŷ1) h - g(t1,ŷ1) W``,
      ``y0 = y1 - ½(f0 + f1) h - ½(g0 + g1) W``.

    Args:
        quantum: optional power-of-two grid spacing for bit-exact reversal
            (MATH.md §7).  Increments ``R_n = f_n h + g_n W`` are rounded to the
            grid and ``y`` advances by ``½(R_0 + R_1)``, so ``y`` lives on the
            half grid and every addition is exact.
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

    def __init__(self, quantum: float | None = None, compensated: bool = False):
        self.quantum = check_quantum(quantum)
        self.compensated = check_compensated(compensated, self.quantum)

    def options(self) -> dict[str, Any]:
        return {"quantum": self.quantum, "compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ, f(ŷ), g(ŷ))``; an ODE's has no ``g(ŷ)``; compensated: then ``y·lo, ŷ·lo``."""
        return cached_state_names(sde, self.compensated)

    def evaluate(self, sde: SDEAdapter, t: torch.Tensor, yhat: torch.Tensor,
                 at: Point | None = None) -> State:
        """The cache ``(f, g)`` at ``ŷ`` (``g`` absent for an ODE), at ``t`` (the point ``at``)."""
        return cache_at(sde, t, yhat, at)

    def _r(self, sde: SDEAdapter, cache: State, h: float, dw: Increment | None) -> torch.Tensor:
        """The rounded increment ``R = f h + g W`` of one cache."""
        if dw is None:
            r = cache[0] * h
        else:
            r = torch.add(sde.prod(cache[1], dw[0]), cache[0], alpha=h)
        return quantize(r, self.quantum)

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        check_quantum_fits(y0, self.quantum)
        y0 = quantize(y0, self.quantum)
        yhat0 = y0 if yhat0 is None else quantize(yhat0, self.quantum)
        check_quantum_fits(yhat0, self.quantum)
        state = (y0, yhat0) + self.evaluate(sde, t0, yhat0, at)
        return state + cw.low_parts(y0, yhat0) if self.compensated else state

    @staticmethod
    def half(sde: SDEAdapter, base: torch.Tensor, cache: State, h: float,
             dw: Increment | tuple | None, c: float) -> torch.Tensor:
        """``base + c R`` with ``R = f h + g W`` of one cache (``c = ±½``), in two ops."""
        out = torch.add(base, cache[0], alpha=c * h)
        if dw is None:
            return out
        if sde.elementwise:
            return out.addcmul_(cache[1], dw[0], value=c)
        return out.add_(sde.prod(cache[1], dw[0]), alpha=c)

    @staticmethod
    def reflect(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``2m - x`` in one op: ``lerp(x, m, 2) = m + (m - x)``, the same bits as the
        two-op ``(m - x) + m`` (a weight of 2 takes lerp's ``end - (end - start)(1 - w)``
        branch, whose product is exact)."""
        return torch.lerp(x, m, 2.0)

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        t1, h, end = step.t1, step.h, step.end
        if self.compensated:
            return self._step_pairs(sde, t1, end, h, state, dw, 1.0)
        y0, yh0, cache0 = state[0], state[1], state[2:]
        if self.quantum is None:
            # m = y0 + ½R0 is the midpoint of y0 and the reflection: ŷ1 = 2m - ŷ0.
            m = self.half(sde, y0, cache0, h, dw, 0.5)
            yh1 = self.reflect(yh0, m)
            cache1 = self.evaluate(sde, t1, yh1, end)
            return (self.half(sde, m, cache1, h, dw, 0.5), yh1) + cache1
        r0 = self._r(sde, cache0, h, dw)
        yh1 = torch.add(r0, y0, alpha=2.0) - yh0
        cache1 = self.evaluate(sde, t1, yh1, end)
        r1 = self._r(sde, cache1, h, dw)
        y1 = torch.add(y0, r0 + r1, alpha=0.5)
        return (y1, yh1) + cache1

    def inverse(self, sde: SDEAdapter, step: Step, state: State,
                dw: Increment | None) -> State:
        t0, h, start = step.t0, step.h, step.start
        if self.compensated:
            return self._step_pairs(sde, t0, start, h, state, dw, -1.0)
        y1, yh1, cache1 = state[0], state[1], state[2:]
        if self.quantum is None:
            m = self.half(sde, y1, cache1, h, dw, -0.5)  # = y0 + ½R0 of the forward step
            yh0 = self.reflect(yh1, m)
            cache0 = self.evaluate(sde, t0, yh0, start)
            return (self.half(sde, m, cache0, h, dw, -0.5), yh0) + cache0
        r1 = self._r(sde, cache1, h, dw)
        yh0 = torch.add(-r1, y1, alpha=2.0) - yh1
        cache0 = self.evaluate(sde, t0, yh0, start)
        r0 = self._r(sde, cache0, h, dw)
        y0 = torch.add(y1, r0 + r1, alpha=-0.5)
        return (y0, yh0) + cache0

    # -- compensated mode -----------------------------------------------------------
    def _step_pairs(self, sde: SDEAdapter, t: torch.Tensor, at: Point, h: float, state: State,
                    dw: Increment | None, sign: float) -> State:
        """A forward (``sign = 1``, to ``t = t1``) or inverse (``sign = -1``, to ``t = t0``)
        step on pairs; the two are the same walk: ``m = y + ½R(start)``,
        ``ŷ' = 2m - ŷ``, ``y' = m + ½R(end)``, with ``R = ±(f h + g W)``."""
        y, yh, cache = cw.unpack(state)
        m = cw.add(y, self._r(sde, cache, h, dw) * (0.5 * sign))
        yh1 = cw.sub_pair((m[0] * 2.0, m[1] * 2.0), yh)
        cache1 = self.evaluate(sde, t, yh1[0], at)
        y1 = cw.add(m, self._r(sde, cache1, h, dw) * (0.5 * sign))
        return cw.pack(y1, yh1, cache1)
