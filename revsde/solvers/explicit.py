"""Explicit (non-reversible) one-step methods, written as increments.

A base method defines its increment ``Ψ_h(t, y; W, H)``; its own step is
``y1 = y0 + Ψ_h`` (MATH.md §3).  The McCallum–Foster wrapper reuses the same
increment with ``h -> -h``, ``W -> -W``, ``H -> H`` for its backward half-step.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..brownian import Increment
from ..sde import SDEAdapter
from . import tableaus as tb
from .base import Solver, State
from .scalars import MAX_STEPS, Scalars, plain, scalars_of


class BaseMethod(Solver):
    """A method given by an increment ``Ψ_h(t, y; W, H)``; its state is ``(y,)``."""

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y,)``."""
        return ("y",)

    def increment(self, sde: SDEAdapter, t: torch.Tensor, h: float, y: torch.Tensor,
                  dw: Increment | None) -> torch.Tensor:
        """``Ψ_h(t, y; W, H)``: the step's change of ``y``."""
        raise NotImplementedError

    def step(self, sde: SDEAdapter, t0: torch.Tensor, t1: torch.Tensor, h: float,
             state: State, dw: Increment | None) -> State:
        y = state[0]
        return (y + self.increment(sde, t0, h, y, dw),)


class _TableauMethod(BaseMethod):
    """A base method driven by a tableau: its evaluations per step are the stages."""

    tableau: ClassVar[tb.RKTableau | tb.AdditiveTableau]
    tableau_type: ClassVar[type] = tb.RKTableau

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        tab = cls.__dict__.get("tableau")
        if tab is None:
            return
        if not isinstance(tab, cls.tableau_type):
            raise TypeError(
                f"{cls.__name__}.tableau must be a {cls.tableau_type.__name__}; got "
                f"{type(tab).__name__}"
            )
        if "nfe_per_step" not in cls.__dict__:
            cls.nfe_per_step = tab.stages

    def tabulate(self, times: torch.Tensor, grid: list[float]) -> Scalars | None:
        """The steps ``±h_n`` and the tableau's weights as 0-d tensors, once per solve
        (:mod:`revsde.solvers.scalars`: the same products, without a python number
        wrapped in a new tensor at every operation)."""
        tab = self.tableau
        return Scalars.for_grid(times, grid, [*(a for row in tab.a for a in row), *tab.b])


def _combine(y: torch.Tensor, coeffs: tuple[float, ...], ks: list[torch.Tensor],
             num=plain) -> torch.Tensor:
    """``y + Σ_j a_j k_j`` (a weight of one adds ``k_j`` itself: ``1.0 * k`` is ``k``;
    ``num``: the solve's :class:`~revsde.solvers.scalars.Scalars`)."""
    z = y
    for a, k in zip(coeffs, ks):
        if a:
            z = z + (k if a == 1.0 else num(a) * k)
    return z


class StratRK(_TableauMethod):
    """Runge–Kutta applied to ``f dt + g ∘ dW`` with one tableau (Stratonovich).

    Stage ``z_i = y + Σ_j a_ij K_j`` with ``K_j = h f(t_j, z_j) + g(t_j, z_j) W``,
    increment ``Σ_i b_i K_i`` (Rümelin 1982; torchsde's heun and midpoint).
    """

    tableau: ClassVar[tb.RKTableau]
    tableau_type = tb.RKTableau

    def increment(self, sde: SDEAdapter, t: torch.Tensor, h: float, y: torch.Tensor,
                  dw: Increment | None) -> torch.Tensor:
        tab = self.tableau
        num = scalars_of(sde)
        ks = []
        for row, c in zip(tab.a, tab.c):
            z = _combine(y, row, ks, num)
            ti = t if c == 0.0 else sde.stage_time(t, c, h)
            if dw is None:
                ks.append(sde.f(ti, z) * num(h))
            else:
                f, g = sde.f_and_g(ti, z)
                ks.append(torch.add(sde.prod(g, dw[0]), f, alpha=h))
        out = None
        for b, k in zip(tab.b, ks):
            if b:
                term = k if b == 1.0 else num(b) * k
                out = term if out is None else out + term
        return out


class Euler(StratRK):
    name = "euler"
    description = "Euler–Maruyama (Itô); Euler for ODEs"
    tableau = tb.EULER
    sde_types = ("ito",)
    strong_order = {"scalar": 0.5, "diagonal": 0.5, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 1.0


class Midpoint(StratRK):
    name = "midpoint"
    description = "explicit midpoint (Stratonovich)"
    tableau = tb.MIDPOINT
    sde_types = ("stratonovich",)
    strong_order = {"scalar": 1.0, "diagonal": 1.0, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 2.0


class Heun(StratRK):
    name = "heun"
    description = "Heun / explicit trapezoidal (Stratonovich)"
    tableau = tb.HEUN
    sde_types = ("stratonovich",)
    strong_order = {"scalar": 1.0, "diagonal": 1.0, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 2.0


class RK4(StratRK):
    name = "rk4"
    description = "classical fourth-order Runge–Kutta, for ODEs only"
    tableau = tb.RK4
    noise_types = ()
    strong_order = {}
    weak_order = None
    ode_order = 4.0


class EulerHeun(BaseMethod):
    """Euler–Heun (Stratonovich): ``Ψ = h f(y) + ½ (g(y) + g(y + g(y) W)) W``."""

    name = "euler_heun"
    description = "Euler–Heun (Stratonovich), one drift evaluation per step"
    sde_types = ("stratonovich",)
    # ½(g(y) + g(y + gW))W = gW + ½ g'g W² + O(W³) carries the Milstein term, so the
    # order is 1.0 for commutative noise (measured in tests/test_orders.py).
    strong_order = {"scalar": 1.0, "diagonal": 1.0, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 1.0
    nfe_per_step = 1

    def increment(self, sde: SDEAdapter, t: torch.Tensor, h: float, y: torch.Tensor,
                  dw: Increment | None) -> torch.Tensor:
        if dw is None:
            return sde.f(t, y) * h
        f, g = sde.f_and_g(t, y)
        gw = sde.prod(g, dw[0])
        g2 = sde.g(t, y + gw)
        return f * h + 0.5 * (gw + sde.prod(g2, dw[0]))


class AdditiveSRK(_TableauMethod):
    """Stochastic Runge–Kutta for additive noise using space-time Lévy area.

    Stage ``z_i = y + h Σ_j a_ij f_j + g (aW_i W + aH_i H)``, increment
    ``h Σ_i b_i f_i + g W``, with ``g`` taken at ``t0`` (tableaus in
    :mod:`revsde.solvers.tableaus`).  Strong orders assume ``g`` does not
    depend on ``t``; a time-dependent additive ``g`` gives strong order 1.
    """

    tableau: ClassVar[tb.AdditiveTableau]
    tableau_type = tb.AdditiveTableau
    noise_types = ("additive",)
    needs_levy_area = True

    def tabulate(self, times: torch.Tensor, grid: list[float]) -> Scalars | None:
        """The products ``a_ij·(±h_n)``, ``b_i·(±h_n)`` of every step (as the increment
        computes them) and the noise weights, as 0-d tensors once per solve."""
        tab = self.tableau
        if len(grid) - 1 > MAX_STEPS:
            return None
        hs = [b - a for a, b in zip(grid[:-1], grid[1:])]
        hs += [-h for h in hs]
        weights = [*(a for row in tab.a for a in row), *tab.b]
        products = [w * h for w in weights if w for h in hs]
        return Scalars.for_grid(times, grid, [*products, *tab.a_w, *tab.a_h])

    def increment(self, sde: SDEAdapter, t: torch.Tensor, h: float, y: torch.Tensor,
                  dw: Increment | None) -> torch.Tensor:
        tab = self.tableau
        num = scalars_of(sde)
        if dw is None:
            gw = gh = None
        else:
            g = sde.g(t, y)
            gw = sde.prod(g, dw[0])
            gh = sde.prod(g, dw[1])
        fs = []
        for row, c, aw, ah in zip(tab.a, tab.c, tab.a_w, tab.a_h):
            z = y
            for a, fj in zip(row, fs):
                if a:
                    z = z + num(a * h) * fj
            if gw is not None:
                if aw:
                    z = z + num(aw) * gw
                if ah:
                    z = z + num(ah) * gh
            fs.append(sde.f(t if c == 0.0 else sde.stage_time(t, c, h), z))
        out = None
        for b, fi in zip(tab.b, fs):
            if b:
                term = num(b * h) * fi
                out = term if out is None else out + term
        return out if gw is None else out + gw


class SEA(AdditiveSRK):
    name = "sea"
    description = "shifted Euler for additive noise (Foster, dos Reis & Strange 2023)"
    tableau = tb.SEA
    strong_order = {"additive": 1.0}
    weak_order = 1.0
    ode_order = 1.0


class ShARK(AdditiveSRK):
    name = "shark"
    description = "shifted additive-noise Runge–Kutta (Foster, dos Reis & Strange 2023)"
    tableau = tb.SHARK
    strong_order = {"additive": 1.5}
    weak_order = 2.0
    ode_order = 2.0


class SRA1(AdditiveSRK):
    name = "sra1"
    description = "SRA1 for additive noise (Rößler 2010)"
    tableau = tb.SRA1
    strong_order = {"additive": 1.5}
    weak_order = 2.0
    ode_order = 2.0


BASE_METHODS = (Euler, EulerHeun, Heun, Midpoint, RK4, SEA, ShARK, SRA1)
