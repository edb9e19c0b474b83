"""Reversible Heun with exponential-integrator weights, for the lifted diffusion equations.

In every lifted case of MATH.md §4.2 but ``sde_eps``, the clock is ``s = e^{cλ}``
and the drift is the model's prediction (``x_θ`` or ``ε_θ``).  DPM-Solver and
DPM-Solver++ are built on the observation that the prediction is nearly linear
in λ, i.e. in ``u = log s``.  If ``F`` is linear in ``u`` on a step from ``s0``
to ``s1 = s0 + h``, ``H = log(s1/s0)``, then

    ∫_{s0}^{s1} F ds = w0 F(s0) + w1 F(s1),
    w0 = s0 (e^H - 1 - H)/H = s0 H φ2(H),   w1 = h - w0 = s0 (H e^H - e^H + 1)/H,

with ``φ2(H) = (e^H - 1 - H)/H²`` (Hochbruck & Ostermann 2010, eq. 2.10;
DPM-Solver, Lu et al. 2022, eq. 3.3, written in the clock ``s = e^λ``).  As
``H -> 0``, ``w0, w1 -> h/2``: the trapezoid weights of Reversible Heun.

**The step.**  Reversible Heun (MATH.md §2) with weights ``(w0, w1)`` and the
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

Exact mode (MATH.md §7) is not available: the stretch ``w1/w0 ≠ 1`` is not a
sum on a fixed-point grid, and no rounding of it is invertible bit for bit.
"""

from __future__ import annotations

import torch

from ..sde import SDEAdapter
from . import compensated as cw
from .base import Solver, State, cache_at, cached_state_names, check_compensated

__all__ = ["ExponentialReversibleHeun", "ExpWeightsTable", "exp_weights", "phi2"]

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
    # out it gives a tensor h (a whole grid, ExpWeightsTable) the same numbers as a float
    H = torch.log1p(s0.reciprocal() * h)
    w0 = s0 * H * phi2(H)
    return w0, h - w0


class ExpWeightsTable:
    """The weights ``(w0, w1)`` of every step of one grid, computed once per solve.

    :func:`exp_weights` costs about thirty small tensor operations; a solve needs it at
    every step and every inverse step.  Here it is applied once to the whole grid
    (``s0 = t_n``, ``h = t_{n+1} - t_n``; every operation is elementwise, so the same
    numbers as step by step, checked in tests/test_sampler_overhead.py).  :meth:`at`
    finds a step from ``t0``'s address in the driver loop's ``times`` tensor (no value
    is read: no device synchronisation) and checks ``h``; anything else gets ``None``.
    """

    def __init__(self, times: torch.Tensor, grid: list[float]) -> None:
        self.times, self.grid = times, list(grid)  # kept: the address stays this grid's
        self._ptr = times.data_ptr()
        self._item = times.element_size()
        self._size = (times.numel() - 1) * self._item  # t_N starts no step
        self._version = times._version
        self.dtype, self.device = times.dtype, times.device
        self._h = [b - a for a, b in zip(grid[:-1], grid[1:])]
        h = torch.tensor(self._h, dtype=F64, device=times.device)
        w0, w1 = exp_weights(times[:-1], h)
        # the step's other numbers, each the same division as a step makes of its 0-d
        # weights (correctly rounded alike on a vector): the stretches w1/w0, w0/w1 and
        # the noise weights w0/h, w1/h
        self._cols = (w0, w1, w1 / w0, w0 / w1, w0 / h, w1 / h)
        # the same numbers as python floats (one read of the whole table, not one per step):
        # the plain step's scalar factors
        self._f = list(zip(*torch.stack(self._cols).tolist()))
        self._w: list[tuple[torch.Tensor, ...]] | None = None  # 0-d rows, at first request

    def holds(self, times: torch.Tensor, grid: list[float]) -> bool:
        """Whether this is the table of ``times`` (the same memory, unwritten since, in the
        same dtype and on the same device) and ``grid``."""
        return (times.data_ptr() == self._ptr and times._version == self._version
                and times.dtype is self.dtype and times.device == self.device
                and times.numel() * self._item == self._size + self._item
                and grid == self.grid)

    def _index(self, t0: torch.Tensor, h: float) -> int | None:
        """``n`` if ``t0`` is ``times[n]`` (by address, unwritten since) and ``h`` is the
        step from it; else ``None``."""
        off = t0.data_ptr() - self._ptr
        if (off < 0 or off >= self._size or t0.dim() or t0._version != self._version
                or t0.dtype is not self.dtype or t0.device != self.device):
            return None
        n = off // self._item
        return n if h == self._h[n] else None

    def row(self, t0: torch.Tensor, h: float) -> tuple[torch.Tensor, ...] | None:
        """``(w0, w1, w1/w0, w0/w1, w0/h, w1/h)`` (0-d, float64) of the step from
        ``t0 = times[n]`` by ``h``, if ``h`` is that step of the grid; else ``None``."""
        n = self._index(t0, h)
        if n is None:
            return None
        if self._w is None:  # the compensated step's 0-d factors: one unbind per column
            self._w = list(zip(*(c.unbind() for c in self._cols)))
        return self._w[n]

    def floats(self, t0: torch.Tensor, h: float) -> tuple[float, ...] | None:
        """:meth:`row` as python floats."""
        n = self._index(t0, h)
        return None if n is None else self._f[n]

    def at(self, t0: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(w0, w1)`` (0-d, float64) of the step from ``t0 = times[n]`` by ``h``, if
        ``h`` is that step of the grid; else ``None``."""
        row = self.row(t0, h)
        return None if row is None else row[:2]


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

    def options(self) -> dict:
        return {"compensated": self.compensated}

    def state_names(self, sde: SDEAdapter) -> tuple[str, ...]:
        """``(y, ŷ, f(ŷ), g(ŷ))``; an ODE's has no ``g(ŷ)``; compensated: then ``y·lo, ŷ·lo``."""
        return cached_state_names(sde, self.compensated)

    def evaluate(self, sde: SDEAdapter, t: torch.Tensor, yhat: torch.Tensor) -> State:
        """The cache ``(f, g)`` at ``ŷ`` (``g`` absent for an ODE): one evaluation."""
        return cache_at(sde, t, yhat)

    def tabulate(self, times: torch.Tensor, grid: list[float]) -> ExpWeightsTable | None:
        """The weights of every step of the grid (:class:`ExpWeightsTable`), for a grid
        of positive clocks (else ``None``: :meth:`init` refuses it)."""
        if times.dim() != 1 or not (min(grid) > 0):
            return None
        # the last grid's table again when the grid is the same (a sampler's next batch)
        last = self.__dict__.get("_last_table")
        if last is not None and last.holds(times, grid):
            return last
        table = self._last_table = ExpWeightsTable(times, grid)
        return table

    @staticmethod
    def step_numbers(sde: SDEAdapter, t0: torch.Tensor, h: float) -> tuple[torch.Tensor, ...]:
        """``(w0, w1, w1/w0, w0/w1, w0/h, w1/h)`` of the step: the solve's table row
        (``sde.step_data``) when the step is one of its grid, else computed (the same
        operations on 0-d tensors)."""
        table = getattr(sde, "step_data", None)
        row = table.row(t0, h) if isinstance(table, ExpWeightsTable) else None
        if row is not None:
            return row
        w0, w1 = exp_weights(t0, h)
        return w0, w1, w1 / w0, w0 / w1, w0 / h, w1 / h

    @classmethod
    def step_floats(cls, sde: SDEAdapter, t0: torch.Tensor, h: float) -> tuple[float, ...]:
        """:meth:`step_numbers` as python floats (from the table: no device read per step)."""
        table = getattr(sde, "step_data", None)
        row = table.floats(t0, h) if isinstance(table, ExpWeightsTable) else None
        if row is not None:
            return row
        return tuple(torch.stack(cls.step_numbers(sde, t0, h)).tolist())

    @staticmethod
    def _advance(sde: SDEAdapter, y: torch.Tensor, cache: State, w: float, wh: float,
                 dw: tuple | None) -> torch.Tensor:
        """``y + w f + (w/h) g W`` (``wh = w/h``; both signed), in one or two fused sums."""
        out = torch.add(y, cache[0], alpha=w)
        return out if dw is None else out.add_(sde.prod(cache[1], dw[0]), alpha=wh)

    @staticmethod
    def _retreat(sde: SDEAdapter, y: torch.Tensor, cache: State, w: float, wh: float,
                 dw: tuple | None) -> torch.Tensor:
        """``y - (w/h) g W - w f``: :meth:`_advance` undone, its sums in reverse order."""
        if dw is not None:
            y = torch.add(y, sde.prod(cache[1], dw[0]), alpha=-wh)
        return torch.add(y, cache[0], alpha=-w)

    @staticmethod
    def _part(sde, cache, w, wh, dw):
        """``w f + (w/h) g W``: one half-update of ``y`` (``wh = w/h``)."""
        r = cache[0] * w
        if dw is not None:
            r = r + sde.prod(cache[1], dw[0]) * wh
        return r

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None) -> State:
        if not float(t0) > 0:
            raise ValueError(
                f"{self.name} runs in a positive clock s (its weights assume a drift linear "
                f"in log s); got t0={float(t0)}. Use it on a lifted diffusion equation "
                "(revsde.diffusion.LiftedProblem), or reversible_heun elsewhere."
            )
        yhat0 = y0 if yhat0 is None else yhat0
        state = (y0, yhat0) + self.evaluate(sde, t0, yhat0)
        return state + cw.low_parts(y0, yhat0) if self.compensated else state

    def step(self, sde: SDEAdapter, t0: torch.Tensor, t1: torch.Tensor, h: float,
             state: State, dw: tuple | None) -> State:
        if self.compensated:
            return self._step_pairs(sde, t0, t1, h, state, dw)
        y0, yh0, cache0 = state[0], state[1], state[2:]
        w0, w1, r10, _, w0h, w1h = self.step_floats(sde, t0, h)
        m = self._advance(sde, y0, cache0, w0, w0h, dw)
        # ŷ1 = m + (w1/w0)(m - ŷ0) = lerp(ŷ0, m, 1 + w1/w0), one operation
        yh1 = torch.lerp(yh0, m, 1.0 + r10)
        cache1 = self.evaluate(sde, t1, yh1)
        return (self._advance(sde, m, cache1, w1, w1h, dw), yh1) + cache1

    def inverse(self, sde: SDEAdapter, t0: torch.Tensor, t1: torch.Tensor, h: float,
                state: State, dw: tuple | None) -> State:
        if self.compensated:
            return self._inverse_pairs(sde, t0, t1, h, state, dw)
        y1, yh1, cache1 = state[0], state[1], state[2:]
        w0, w1, _, r01, w0h, w1h = self.step_floats(sde, t0, h)
        m = self._retreat(sde, y1, cache1, w1, w1h, dw)
        yh0 = torch.lerp(yh1, m, 1.0 + r01)  # m - (w0/w1)(ŷ1 - m)
        cache0 = self.evaluate(sde, t0, yh0)
        return (self._retreat(sde, m, cache0, w0, w0h, dw), yh0) + cache0

    # -- compensated mode: the same step on (hi, lo) pairs --------------------------------
    def _step_pairs(self, sde, t0, t1, h, state, dw) -> State:
        y0, yh0, cache0 = cw.unpack(state)
        w0, w1, r10, _, w0h, w1h = self.step_numbers(sde, t0, h)
        m = cw.add(y0, self._part(sde, cache0, w0, w0h, dw))
        yh1 = cw.add_pair(m, cw.scale(cw.sub_pair(m, yh0), r10.to(y0[0].dtype)))
        cache1 = self.evaluate(sde, t1, yh1[0])
        y1 = cw.add(m, self._part(sde, cache1, w1, w1h, dw))
        return cw.pack(y1, yh1, cache1)

    def _inverse_pairs(self, sde, t0, t1, h, state, dw) -> State:
        y1, yh1, cache1 = cw.unpack(state)
        w0, w1, r10, _, w0h, w1h = self.step_numbers(sde, t0, h)
        m = cw.add(y1, -self._part(sde, cache1, w1, w1h, dw))
        # the forward stretch undone by a division by the same ratio (not a product with
        # its rounded reciprocal, which would change ŷ's last bits)
        yh0 = cw.sub_pair(m, cw.divide(cw.sub_pair(yh1, m), r10.to(y1[0].dtype)))
        cache0 = self.evaluate(sde, t0, yh0[0])
        y0 = cw.add(m, -self._part(sde, cache0, w0, w0h, dw))
        return cw.pack(y0, yh0, cache0)
