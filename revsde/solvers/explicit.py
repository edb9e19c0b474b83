"""Explicit (non-reversible) one-step methods, written as increments.

A base method defines its increment ``Ψ_h(t, y; W, H)``; its own step is
``y1 = y0 + Ψ_h`` (docs/mathematics.md §3).  The McCallum–Foster wrapper reuses the same
increment with ``h -> -h``, ``W -> -W``, ``H -> H`` for its backward half-step.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch

from ..brownian import Increment
from ..grid import Grid, Step
from ..sde import SDEAdapter
from . import tableaus as tb
from .base import Solver, SolverError, State
from .scalars import StepRows, as_tensors, keeps_tensors


class BaseMethod(Solver):
    """A method given by an increment ``Ψ_h(t, y; W, H)``; its state is ``(y,)``."""

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y,)``."""
        return ("y",)

    def increment(self, sde: SDEAdapter, step: Step, y: torch.Tensor, dw: Increment | None,
                  back: bool = False) -> torch.Tensor:
        """``Ψ_h(t_n, y; W, H)``: the change of ``y`` over ``step``; ``back``: the backward
        half-step ``Ψ_{-h}(t_{n+1}, y; -W, H)`` of the McCallum–Foster wrapper."""
        raise NotImplementedError

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None) -> State:
        y = state[0]
        return (y + self.increment(sde, step, y, dw),)

    #: the order of an embedded solution (a method with an error estimate sets it)
    embedded_order: ClassVar[float] = 0.0

    def increment_and_error(self, sde: SDEAdapter, step: Step, y: torch.Tensor,
                            dw: Increment | None, back: bool = False
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """The increment and its error estimate (methods with ``has_error_estimate``)."""
        raise SolverError(f"{self.name} has no error estimate")

    def step_with_error(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None
                        ) -> tuple[State, tuple[torch.Tensor, ...]]:
        y = state[0]
        inc, err = self.increment_and_error(sde, step, y, dw)
        return (y + inc,), (err,)

    def error_order(self, sde: SDEAdapter) -> float:
        """The estimate's local order (docs/mathematics.md §11): ``p̂ + 1`` for an ODE; for
        an SDE that of the Euler difference, ``1.5`` with additive noise, else ``1``."""
        if sde.is_ode:
            return self.embedded_order + 1.0
        return 1.5 if sde.noise_type == "additive" else 1.0


def oriented(step: Step, dw: Increment | None, back: bool
             ) -> tuple[torch.Tensor, float, Increment | None]:
    """``(t, h, dw)`` of a half-step: ``(t0, h, (W, H))``, or ``(t1, -h, (-W, H))`` ``back``."""
    if not back:
        return step.t0, step.h, dw
    return step.t1, -step.h, None if dw is None else Increment(-dw[0], dw[1])


class TableauNumbers(NamedTuple):
    """A tableau's weights and each step's numbers as 0-d tensors (docs/mathematics.md
    (Runge–Kutta bases)): ``a``, ``b`` (and ``a_w``, ``a_h`` of an additive SRK) shaped as
    the tableau's; ``steps[n]`` the row of step ``n`` for the forward and the backward
    half-step (``(h_n, -h_n)``, or the products ``a_ij·(±h_n)``, ``b_i·(±h_n)``)."""

    a: tuple
    b: tuple
    steps: StepRows
    a_w: tuple = ()
    a_h: tuple = ()


def _shaped(values: list, shape: tuple) -> tuple:
    """``values`` cut into rows of the lengths of the rows of ``shape``."""
    out, k = [], 0
    for row in shape:
        out.append(tuple(values[k:k + len(row)]))
        k += len(row)
    return tuple(out)


class _TableauMethod(BaseMethod):
    """A base method driven by a tableau: its evaluations per step are the stages."""

    tableau: ClassVar[tb.RKTableau | tb.AdditiveTableau]
    tableau_type: ClassVar[type[tb.RKTableau] | type[tb.AdditiveTableau]] = tb.RKTableau

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
            cls.nfe_per_step = getattr(tab, "used_stages", tab.stages)
        # a tableau with embedded weights gives an error estimate (docs/mathematics.md §11)
        cls.has_error_estimate = getattr(tab, "b_hat", None) is not None

    def prepare(self, grid: Grid, prior: Any = None) -> TableauNumbers | None:
        """The tableau's weights and every step's numbers as 0-d tensors, once per solve
        (:mod:`revsde.solvers.scalars`: the same products, without a python number
        wrapped in a new tensor at every operation); ``None`` where numbers stay python
        numbers."""
        if prior is not None:
            return prior._replace(steps=prior.steps.extend(grid))
        if not keeps_tensors(grid):
            return None
        tab = self.tableau
        a = _shaped(as_tensors([w for row in tab.a for w in row], grid), tab.a)
        return TableauNumbers(a, tuple(as_tensors(tab.b, grid)),
                              StepRows(self.step_numbers).extend(grid))

    def step_numbers(self, grid: Grid, lo: int, hi: int) -> list:
        """The rows ``(h_n, -h_n)`` of steps ``lo … hi-1`` as 0-d tensors."""
        vals = as_tensors([v for n in range(lo, hi) for v in (grid.h(n), -grid.h(n))], grid)
        return [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]


def _combine(y: torch.Tensor, coeffs: tuple[float, ...], ks: list[torch.Tensor],
             factors: tuple) -> torch.Tensor:
    """``y + Σ_j a_j k_j`` with ``factors`` the weights ``a_j`` as multiplied (0-d tensors
    or the numbers themselves); a weight of one adds ``k_j`` itself (``1.0 * k`` is ``k``)."""
    z = y
    for a, f, k in zip(coeffs, factors, ks):
        if a:
            z = z + (k if a == 1.0 else f * k)
    return z


class StratRK(_TableauMethod):
    """Runge–Kutta applied to ``f dt + g ∘ dW`` with one tableau (Stratonovich).

    Stage ``z_i = y + Σ_j a_ij K_j`` with ``K_j = h f(t_j, z_j) + g(t_j, z_j) W``,
    increment ``Σ_i b_i K_i`` (Rümelin 1982; torchsde's heun and midpoint).
    """

    tableau: ClassVar[tb.RKTableau]
    tableau_type = tb.RKTableau

    def stages(self, sde: SDEAdapter, step: Step, y: torch.Tensor, dw: Increment | None,
               back: bool, count: int) -> list[torch.Tensor]:
        """The first ``count`` stage increments ``K_i = h f(t_i, z_i) + g(t_i, z_i) W``."""
        tab, nums = self.tableau, step.data
        t, h, dw = oriented(step, dw, back)
        a, hh = (tab.a, h) if nums is None else (nums.a, nums.steps[step.n][back])
        ks: list[torch.Tensor] = []
        for row, factors, c in zip(tab.a[:count], a, tab.c):
            z = _combine(y, row, ks, factors)
            at = step.at(c, back)
            ti = t if c == 0.0 else sde.stage_time(t, c, h, at)
            if dw is None:
                ks.append(sde.f(ti, z, at) * hh)
            else:
                f, g = sde.f_and_g(ti, z, at)
                ks.append(torch.add(sde.prod(g, dw[0]), f, alpha=h))
        return ks

    def weigh(self, step: Step, ks: list[torch.Tensor]) -> torch.Tensor:
        """The increment ``Σ_i b_i K_i`` of the stages ``ks``."""
        tab, nums = self.tableau, step.data
        b = tab.b if nums is None else nums.b
        out = None
        for w, factor, k in zip(tab.b, b, ks):
            if w:
                term = k if w == 1.0 else factor * k
                out = term if out is None else out + term
        assert out is not None, "a tableau's weights b sum to one, so one of them is nonzero"
        return out

    def increment(self, sde: SDEAdapter, step: Step, y: torch.Tensor, dw: Increment | None,
                  back: bool = False) -> torch.Tensor:
        return self.weigh(step, self.stages(sde, step, y, dw, back, self.tableau.used_stages))

    def increment_and_error(self, sde: SDEAdapter, step: Step, y: torch.Tensor,
                            dw: Increment | None, back: bool = False
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """The increment (the bits of :meth:`increment`) and its error estimate
        (docs/mathematics.md §11): for an ODE the embedded ``Σ_i (b_i - b̂_i) K_i`` over every
        stage; for an SDE the difference from the Euler step of the first stage,
        ``Σ_i b_i K_i - K_1``, whose size is that of the terms both embedded solutions
        miss (no Lévy area)."""
        e = self.tableau.error_weights
        if e is None:
            raise SolverError(f"{self.name} has no embedded weights, so no error estimate")
        if dw is not None:
            ks = self.stages(sde, step, y, dw, back, self.tableau.used_stages)
            inc = self.weigh(step, ks)
            return inc, inc - ks[0]
        ks = self.stages(sde, step, y, dw, back, self.tableau.stages)
        err = None
        for w, k in zip(e, ks):
            if w:
                err = k * w if err is None else err.add_(k, alpha=w)
        assert err is not None, "b_hat differs from b (checked by the tableau)"
        return self.weigh(step, ks), err


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


class BS3(StratRK):
    name = "bs3"
    description = ("Bogacki–Shampine 3(2) (Stratonovich for SDEs); embedded error estimate "
                   "for adaptive steps")
    tableau = tb.BS3
    sde_types = ("stratonovich",)
    strong_order = {"scalar": 1.0, "diagonal": 1.0, "general": 0.5, "additive": 1.0}
    weak_order = 1.0
    ode_order = 3.0
    #: the order of the embedded solution (its local error is ``O(h^(p̂+1))``)
    embedded_order = 2.0


class Dopri5(StratRK):
    name = "dopri5"
    description = "Dormand–Prince 5(4), for ODEs only; embedded error estimate"
    tableau = tb.DOPRI5
    noise_types = ()
    strong_order = {}
    weak_order = None
    ode_order = 5.0
    embedded_order = 4.0


class Tsit5(StratRK):
    name = "tsit5"
    description = "Tsitouras 5(4), for ODEs only; embedded error estimate"
    tableau = tb.TSIT5
    noise_types = ()
    strong_order = {}
    weak_order = None
    ode_order = 5.0
    embedded_order = 4.0


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

    def increment(self, sde: SDEAdapter, step: Step, y: torch.Tensor, dw: Increment | None,
                  back: bool = False) -> torch.Tensor:
        t, h, dw = oriented(step, dw, back)
        at = step.at(0.0, back)
        if dw is None:
            return sde.f(t, y, at) * h
        f, g = sde.f_and_g(t, y, at)
        gw = sde.prod(g, dw[0])
        g2 = sde.g(t, y + gw, at)
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

    def prepare(self, grid: Grid, prior: Any = None) -> TableauNumbers | None:
        """The noise weights ``a_w``, ``a_h`` and every step's products ``a_ij·(±h_n)``,
        ``b_i·(±h_n)`` (as the increment computes them) as 0-d tensors, once per solve."""
        if prior is not None:
            return prior._replace(steps=prior.steps.extend(grid))
        if not keeps_tensors(grid):
            return None
        tab = self.tableau
        return TableauNumbers((), (), StepRows(self.step_numbers).extend(grid),
                              tuple(as_tensors(tab.a_w, grid)), tuple(as_tensors(tab.a_h, grid)))

    def step_numbers(self, grid: Grid, lo: int, hi: int) -> list:
        """Rows ``((a·h, b·h), (a·(-h), b·(-h)))`` of steps ``lo … hi-1``: the products
        shaped as the tableau's ``a`` and ``b``, as 0-d tensors."""
        tab = self.tableau
        weights = [*(w for row in tab.a for w in row), *tab.b]
        k = len(weights)
        values = as_tensors([w * v for n in range(lo, hi) for v in (grid.h(n), -grid.h(n))
                             for w in weights], grid)
        nb = len(tab.b)
        return [tuple((_shaped(values[j:j + k - nb], tab.a), tuple(values[j + k - nb:j + k]))
                      for j in (i, i + k)) for i in range(0, len(values), 2 * k)]

    def increment(self, sde: SDEAdapter, step: Step, y: torch.Tensor, dw: Increment | None,
                  back: bool = False) -> torch.Tensor:
        tab, nums = self.tableau, step.data
        t, h, dw = oriented(step, dw, back)
        if nums is None:
            ah = tuple(tuple(a * h for a in row) for row in tab.a)
            bh, a_w, a_h = tuple(b * h for b in tab.b), tab.a_w, tab.a_h
        else:
            (ah, bh), a_w, a_h = nums.steps[step.n][back], nums.a_w, nums.a_h
        if dw is None:
            gw = gh = None
        else:
            if dw[1] is None:
                raise SolverError(
                    f"{self.name} needs the space-time Lévy area H of every step "
                    "(needs_levy_area); got an increment (W, None): pass (W, H), e.g. "
                    "revsde.brownian.increment(bm, t0, t1, levy_area=True)"
                )
            g = sde.g(t, y, step.at(0.0, back))
            gw = sde.prod(g, dw[0])
            gh = sde.prod(g, dw[1])
        fs: list[torch.Tensor] = []
        for row, factors, c, aw, fw, ahh, fh in zip(tab.a, ah, tab.c, tab.a_w, a_w, tab.a_h, a_h):
            z = y
            for a, f, fj in zip(row, factors, fs):
                if a:
                    z = z + f * fj
            if gw is not None:
                if aw:
                    z = z + fw * gw
                if ahh:
                    z = z + fh * gh
            at = step.at(c, back)
            fs.append(sde.f(t if c == 0.0 else sde.stage_time(t, c, h, at), z, at))
        out = None
        for b, f, fi in zip(tab.b, bh, fs):
            if b:
                term = f * fi
                out = term if out is None else out + term
        assert out is not None, "a tableau's weights b sum to one, so one of them is nonzero"
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


BASE_METHODS = (Euler, EulerHeun, Heun, Midpoint, RK4, SEA, ShARK, SRA1, BS3, Dopri5, Tsit5)
