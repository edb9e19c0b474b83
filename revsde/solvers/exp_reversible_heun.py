"""Reversible Heun with exponential-integrator weights, for the lifted diffusion equations.

In every lifted case of docs/mathematics.md §4.2 but ``sde_eps``, the clock is ``s = e^{cλ}``
and the drift is the model's prediction (``x_θ`` or ``ε_θ``).  DPM-Solver and
DPM-Solver++ are built on the observation that the prediction is nearly linear
in λ, i.e. in ``u = log s``.  If ``F`` is linear in ``u`` on a step from ``s0``
to ``s1 = s0 + h``, ``H = log(s1/s0)``, then

    ∫_{s0}^{s1} F ds = w0 F(s0) + w1 F(s1),
    w0 = s0 (e^H - 1 - H)/H = s0 H φ2(H),   w1 = h - w0 = s0 (H e^H - e^H + 1)/H,

with ``φ2(H) = (e^H - 1 - H)/H²`` (Hochbruck & Ostermann 2010, eq. 2.10;
DPM-Solver, Lu et al. 2022, eq. 3.3, written in the clock ``s = e^λ``).  As
``H -> 0``, ``w0, w1 -> h/2``: the trapezoid weights of Reversible Heun.

**The step.**  Reversible Heun (docs/mathematics.md §2) with weights ``(w0, w1)`` and the
auxiliary state reflected through ``m`` with the stretch ``w1/w0``:

    m  = y0 + w0 f(ŷ0)              (+ (w0/h) g W)
    ŷ1 = m + (w1/w0) (m - ŷ0)
    y1 = m + w1 f(ŷ1)               (+ (w1/h) g W)

and its algebraic inverse, which evaluates ``f`` at the same ``ŷ0``:

    m  = y1 - w1 f(ŷ1)              (- (w1/h) g W)
    ŷ0 = m - (w0/w1) (ŷ1 - m)
    y0 = m - w0 f(ŷ0)               (- (w0/h) g W)

With ``w0 = w1 = h/2`` this is Reversible Heun exactly (``ŷ1 = 2m - ŷ0``).  The
stretch makes the predictor the exponential Euler step (DPM-Solver++(1) in the
``ode_x0`` case): from ``ŷ0 = y0``, ``ŷ1 = y0 + h f0 + g W``.  The plain
reflection ``ŷ1 = 2m - ŷ0`` with unequal weights would instead kick the
parasitic mode ``e = y - ŷ`` by ``(w1 - w0) f`` (first order in the step) each
step, and measurably ruins the samples (docs/diffusion.md); with the stretch
the kick is ``w1 (f1 - f0)``, as in Reversible Heun.

The parasitic mode is multiplied by ``-w1/w0 ≈ -e^{H/3}`` per step, so over a
whole solve by about ``e^{ΔU/3}`` in size, where ``ΔU = Σ H`` is the total change
of ``log s`` (independent of the number of steps): it grows in the direction in
which the clock increases (sampling in the ``x0`` cases, encoding in the ``ε``
case) and decays in the other.  On VPLinear (λ from -5 to 4.6) that factor is
about 25, so round-off in a round trip grows at most about that much.

Exact mode (docs/mathematics.md §7) is not available: the stretch ``w1/w0 ≠ 1`` is not a
sum on a fixed-point grid, and no rounding of it is invertible bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..grid import Grid, Point, Step
from ..sde import SDEAdapter
from .arithmetic import arithmetic
from .base import Solver, State, cache_at, cached_state_names, check_compensated
from .scalars import StepRows

__all__ = ["ExponentialReversibleHeun", "Weights", "exp_weights", "phi2", "weight_rows"]

F64 = torch.float64
#: Below this |H| the closed form of φ2 loses digits to cancellation; use its series.
_SERIES_BELOW = 0.25
#: 1/(k+2)! for k = 0..12: the series of φ2 to ~1e-20 relative at |H| = 0.25.
_PHI2_SERIES = []
_f = 2.0
for _k in range(13):
    _PHI2_SERIES.append(1.0 / _f)
    _f *= _k + 3
del _f, _k


def phi2(H: torch.Tensor) -> torch.Tensor:
    """``φ2(H) = (e^H - 1 - H)/H²``, with ``φ2(0) = 1/2`` (Hochbruck & Ostermann 2010, eq. 2.10).

    ``(expm1(H) - H)/H²`` for ``|H| >= 0.25``; the Taylor series
    ``Σ_k H^k/(k+2)!`` (13 terms) below, where the closed form cancels.
    """
    H = torch.as_tensor(H)
    small = H.abs() < _SERIES_BELOW
    series = torch.full_like(H, _PHI2_SERIES[-1])
    for c in reversed(_PHI2_SERIES[:-1]):
        series = series * H + c
    Hs = torch.where(small, torch.ones_like(H), H)
    closed = (torch.expm1(Hs) - Hs) / (Hs * Hs)
    return torch.where(small, series, closed)


def exp_weights(s0: torch.Tensor | float, h: torch.Tensor | float,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w0, w1)``, float64: exact weights of ``∫_{s0}^{s0+h} F ds`` for F linear in ``log s``.

    ``H = log1p(h/s0)``, ``w0 = s0 H φ2(H)``, ``w1 = h - w0`` (module docstring).
    ``s0`` must be positive and ``s0 + h > 0``; ``h`` may be negative.
    """
    s0 = torch.as_tensor(s0, dtype=F64)
    # h·(1/s0), not h/s0: torch computes a python float over a tensor so, and written
    # out it gives a tensor h (a whole grid, weight_rows) the same numbers as a float
    H = torch.log1p(s0.reciprocal() * h)
    w0 = s0 * H * phi2(H)
    return w0, h - w0


class Weights(NamedTuple):
    """One step's numbers ``(w0, w1, w1/w0, w0/w1, w0/h, w1/h)``: ``floats`` as python
    floats (the plain step's factors), and ``columns[i][k]`` the same numbers as 0-d
    float64 tensors (the compensated step's, read only there).  It is the step's stretch
    ratio ``w1/w0`` (:class:`~revsde.solvers.arithmetic.Ratio`)."""

    floats: tuple[float, ...]
    columns: tuple[torch.Tensor, ...]
    k: int

    def tensor_at(self, i: int) -> torch.Tensor:
        """Number ``i`` as a 0-d float64 tensor."""
        return self.columns[i][self.k]

    @property
    def value(self) -> float:
        return self.floats[2]

    @property
    def inverse(self) -> float:
        return self.floats[3]

    @property
    def tensor(self) -> torch.Tensor:
        return self.tensor_at(2)


def weight_rows(s0: torch.Tensor, hs: list[float]) -> list[Weights]:
    """The :class:`Weights` of the steps from the clocks ``s0`` (1-D) by ``hs``, computed
    for all of them at once (every operation is elementwise, so the same numbers as
    step by step, checked in tests/test_sampler_overhead.py); each number is the same
    division a step would make of its 0-d weights."""
    if not hs:
        return []
    h = torch.tensor(hs, dtype=F64, device=s0.device)
    w0, w1 = exp_weights(s0, h)
    cols = (w0, w1, w1 / w0, w0 / w1, w0 / h, w1 / h)
    # one read of the whole range, not one per step
    return [Weights(row, cols, k) for k, row in enumerate(zip(*torch.stack(cols).tolist()))]


def part_tensor(sde: SDEAdapter, cache: State, dw: tuple | None, weights: Weights,
                i: int) -> torch.Tensor:
    """``w f + (w/h) g·W`` of one cache with the weight ``w = w_i`` (``i = 0, 1``), the
    weights as 0-d float64 tensors."""
    r = cache[0] * weights.tensor_at(i)
    if dw is not None:
        r = r + sde.prod(cache[1], dw[0]) * weights.tensor_at(4 + i)
    return r


def part_added(y: torch.Tensor, c: float, sde: SDEAdapter, cache: State, dw: tuple | None,
               weights: Weights, i: int) -> torch.Tensor:
    """``y + c (w f + (w/h) g·W)`` (``w = w_i``; ``c = 1`` forward, ``-1`` undone) in fused
    sums; undone in reverse order."""
    w, wh = weights.floats[i], weights.floats[4 + i]
    if c == 1.0:
        out = torch.add(y, cache[0], alpha=w)
        return out if dw is None else out.add_(sde.prod(cache[1], dw[0]), alpha=wh)
    if dw is not None:
        y = torch.add(y, sde.prod(cache[1], dw[0]), alpha=-wh)
    return torch.add(y, cache[0], alpha=-w)


def grid_weight_rows(grid: Grid, lo: int, hi: int) -> list:
    """:func:`weight_rows` of steps ``lo … hi-1`` of ``grid``."""
    return weight_rows(grid.span(lo, hi), [grid.h(n) for n in range(lo, hi)])


class ExponentialReversibleHeun(Solver):
    """Reversible Heun with exponential weights: 1 evaluation per step, exact inverse.

    For the lifted diffusion equations (:mod:`revsde.diffusion.lifted`): the time
    variable is a positive clock ``s`` and the drift is assumed nearly linear in
    ``log s`` (module docstring for the step, its inverse and the parasitic
    mode).  Noise must be additive (the lifted SDEs have ``g = 1``); it is split
    between the two half-updates in the ratio ``w0 : w1``, so that the predictor
    is the exponential Euler–Maruyama step and ``y`` gets the whole ``g W``.

    Args:
        compensated: carry ``y`` and ``ŷ`` as ``hi + lo`` pairs
            (:mod:`revsde.solvers.compensated`; the state ends with ``y·lo, ŷ·lo``), so
            that the inverse rebuilds the drift's inputs bit for bit.
    """

    name = "exp_reversible_heun"
    description = ("Reversible Heun with exponential-integrator weights (drift linear in "
                   "log-clock), 1 evaluation per step")
    reversible = True
    noise_types = ("additive",)
    strong_order = {"additive": 1.0}
    weak_order = 1.0
    ode_order = 2.0
    nfe_per_step = 1
    init_nfe = 1
    needs_positive_clock = True
    compensated_mode = True

    def __init__(self, compensated: bool = False):
        self.compensated = check_compensated(compensated, None)
        self.arith = arithmetic(None, self.compensated)
        #: ``y + c (w f + (w/h) g·W)`` of one cache in the arithmetic (module docstring):
        #: ``part(y, c, sde, cache, dw, weights, i)``
        self.part = self.arith.adder(part_added, part_tensor)

    def options(self) -> dict:
        return {"compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ, f(ŷ), g(ŷ))``; an ODE's has no ``g(ŷ)``; compensated: then ``y·lo, ŷ·lo``."""
        return self.arith.names(cached_state_names(sde))

    def evaluate(self, sde: SDEAdapter, t: torch.Tensor, yhat: torch.Tensor,
                 at: Point | None = None) -> State:
        """The cache ``(f, g)`` at ``ŷ`` (``g`` absent for an ODE): one evaluation."""
        return cache_at(sde, t, yhat, at)

    def prepare(self, grid: Grid, prior: StepRows | None = None) -> StepRows | None:
        """The weights of every step of the grid (:func:`weight_rows`), for a grid of
        positive clocks (else ``None``: :meth:`init` refuses it)."""
        if prior is not None:
            return prior.extend(grid)
        if not min(grid.times) > 0:
            return None
        return StepRows(grid_weight_rows).extend(grid)

    @staticmethod
    def weights(step: Step) -> Weights:
        """Step ``n``'s :class:`Weights` (computed here for a step without data)."""
        if step.data is not None:
            return step.data[step.n]
        return weight_rows(step.t0.reshape(1), [step.h])[0]

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        if not float(t0) > 0:
            raise ValueError(
                f"{self.name} runs in a positive clock s (its weights assume a drift linear "
                f"in log s); got t0={float(t0)}. Use it on a lifted diffusion equation "
                "(revsde.diffusion.LiftedProblem), or reversible_heun elsewhere."
            )
        ar = self.arith
        y = ar.start(y0)
        yhat = ar.start(y0 if yhat0 is None else yhat0)
        return ar.pack(y, yhat, self.evaluate(sde, t0, ar.hi(yhat), at))

    def step(self, sde: SDEAdapter, step: Step, state: State, dw: tuple | None) -> State:
        """``m = y0 + w0 f0 (+ (w0/h) g W)``, ``ŷ1 = m + (w1/w0)(m - ŷ0)``,
        ``y1 = m + w1 f1 (+ (w1/h) g W)`` (module docstring)."""
        ar, part, w = self.arith, self.part, self.weights(step)
        y0, yhat0, cache0 = ar.unpack(state)
        m = part(y0, 1.0, sde, cache0, dw, w, 0)
        yhat1 = ar.stretch(yhat0, m, w)
        cache1 = self.evaluate(sde, step.t1, ar.hi(yhat1), step.end)
        return ar.pack(part(m, 1.0, sde, cache1, dw, w, 1), yhat1, cache1)

    def inverse(self, sde: SDEAdapter, step: Step, state: State, dw: tuple | None) -> State:
        """``m = y1 - w1 f1 (- (w1/h) g W)``, ``ŷ0 = m - (w0/w1)(ŷ1 - m)``,
        ``y0 = m - w0 f0 (- (w0/h) g W)`` (module docstring)."""
        ar, part, w = self.arith, self.part, self.weights(step)
        y1, yhat1, cache1 = ar.unpack(state)
        m = part(y1, -1.0, sde, cache1, dw, w, 1)
        yhat0 = ar.unstretch(yhat1, m, w)
        cache0 = self.evaluate(sde, step.t0, ar.hi(yhat0), step.start)
        return ar.pack(part(m, -1.0, sde, cache0, dw, w, 0), yhat0, cache0)
