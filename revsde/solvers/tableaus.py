"""Butcher tableaus as data.  Each entry cites its source.

``StratRK`` tableaus apply one tableau to ``f dt + g ∘ dW`` together (stage
``z_i = y + Σ_j a_ij (h f_j + g_j W)``, increment ``Σ_i b_i (h f_i + g_i W)``).

``AdditiveSRK`` tableaus (Foster, dos Reis & Strange 2023; Rößler 2010) use the
space-time Lévy area: stage ``z_i = y + h Σ_j a_ij f_j + g (aW_i W + aH_i H)``,
increment ``h Σ_i b_i f_i + g W``, with ``g`` evaluated at ``t0``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RKTableau:
    a: tuple[tuple[float, ...], ...]  # strictly lower triangular rows, row i has i entries
    b: tuple[float, ...]
    c: tuple[float, ...]


@dataclass(frozen=True)
class AdditiveTableau:
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    a_w: tuple[float, ...]
    a_h: tuple[float, ...]


#: Euler / Euler–Maruyama.
EULER = RKTableau(a=((),), b=(1.0,), c=(0.0,))
#: Explicit midpoint (Stratonovich midpoint for SDEs).
MIDPOINT = RKTableau(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.5))
#: Heun's method (explicit trapezoidal; Stratonovich Heun for SDEs).
HEUN = RKTableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0))
#: Classical fourth-order Runge–Kutta (Kutta 1901).
RK4 = RKTableau(
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.0, 0.5, 0.5, 1.0),
)

#: Shifted Euler for additive noise, Foster, dos Reis & Strange (2023), eq. (5.8).
SEA = AdditiveTableau(a=((),), b=(1.0,), c=(0.0,), a_w=(0.5,), a_h=(1.0,))
#: ShARK, Foster, dos Reis & Strange (2023), eq. (6.1): strong order 1.5 (additive).
SHARK = AdditiveTableau(
    a=((), (5 / 6,)), b=(0.4, 0.6), c=(0.0, 5 / 6), a_w=(0.0, 5 / 6), a_h=(1.0, 1.0)
)
#: SRA1, Rößler (2010), SIAM J. Numer. Anal. 48(3): strong order 1.5 (additive).
SRA1 = AdditiveTableau(
    a=((), (0.75,)), b=(1 / 3, 2 / 3), c=(0.0, 0.75), a_w=(0.0, 0.75), a_h=(0.0, 1.5)
)
