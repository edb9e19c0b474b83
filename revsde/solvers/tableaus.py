"""Butcher tableaus as data.  Each entry cites its source.

``StratRK`` tableaus apply one tableau to ``f dt + g ∘ dW`` together (stage
``z_i = y + Σ_j a_ij (h f_j + g_j W)``, increment ``Σ_i b_i (h f_i + g_i W)``).

``AdditiveSRK`` tableaus (Foster, dos Reis & Strange 2023; Rößler 2010) use the
space-time Lévy area: stage ``z_i = y + h Σ_j a_ij f_j + g (aW_i W + aH_i H)``,
increment ``h Σ_i b_i f_i + g W``, with ``g`` evaluated at ``t0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Rows against ``c`` and weights against one agree to this (absolute) tolerance:
#: float64 round-off of fractions such as 1/6, with a wide margin.
TOL = 1e-12


class TableauError(ValueError):
    """A Butcher tableau that is not consistent (rows against ``c``, weights against one)."""


def _check_rk(name: str, a, b, c, extra: dict[str, tuple[float, ...]] | None = None) -> int:
    """Check an explicit tableau; return its number of stages.

    ``a`` must be strictly lower triangular (row ``i`` has ``i`` entries), every
    row must sum to its node (``Σ_j a_ij = c_i``) and the weights to one
    (``Σ_i b_i = 1``), within :data:`TOL`; every number must be finite.
    """
    s = len(b)
    if s == 0:
        raise TableauError(f"{name}: a tableau needs at least one stage; b is empty")
    vectors = {"c": c, **(extra or {})}
    for key, v in vectors.items():
        if len(v) != s:
            raise TableauError(f"{name}: {key} has {len(v)} entries but b has {s} (stages)")
    if len(a) != s:
        raise TableauError(f"{name}: a has {len(a)} rows but b has {s} entries (stages)")
    for i, row in enumerate(a):
        if len(row) != i:
            raise TableauError(
                f"{name}: row {i} of a has {len(row)} entries; an explicit tableau's row i "
                f"has i entries (strictly lower triangular)"
            )
    numbers = [x for row in a for x in row] + list(b) + [x for v in vectors.values() for x in v]
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
        raise TableauError(f"{name}: every coefficient must be a finite number")
    for i, (row, ci) in enumerate(zip(a, c)):
        if abs(math.fsum(row) - ci) > TOL:
            raise TableauError(
                f"{name}: row {i} of a sums to {math.fsum(row)!r} but c[{i}] = {ci!r}; "
                "each row must sum to its node"
            )
    if abs(math.fsum(b) - 1.0) > TOL:
        raise TableauError(f"{name}: the weights b sum to {math.fsum(b)!r}, not 1")
    return s


def _check_embedded(name: str, b, b_hat) -> None:
    """Check embedded weights: one per stage, finite, summing to one, not ``b`` itself."""
    if len(b_hat) != len(b):
        raise TableauError(f"{name}: b_hat has {len(b_hat)} entries but b has {len(b)} (stages)")
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in b_hat):
        raise TableauError(f"{name}: every embedded weight b_hat must be a finite number")
    if abs(math.fsum(b_hat) - 1.0) > TOL:
        raise TableauError(f"{name}: the embedded weights b_hat sum to {math.fsum(b_hat)!r}, not 1")
    if tuple(b_hat) == tuple(b):
        raise TableauError(f"{name}: b_hat equals b, so the error estimate would be zero; "
                           "give the weights of a lower-order solution")


@dataclass(frozen=True)
class RKTableau:
    """An explicit Runge–Kutta tableau, checked on construction.

    Attributes:
        a: strictly lower triangular rows, row ``i`` has ``i`` entries.
        b: weights, summing to one.
        c: nodes, ``c_i = Σ_j a_ij``.
        name: a label for error messages.
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    name: str = "tableau"
    #: embedded weights ``b̂`` of a lower-order solution on the same stages (an embedded
    #: pair, docs/mathematics.md §11), or ``None``; they sum to one as ``b`` does.
    b_hat: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_rk(self.name, self.a, self.b, self.c)
        if self.b_hat is not None:
            _check_embedded(self.name, self.b, self.b_hat)

    @property
    def stages(self) -> int:
        """The number of stages (evaluations of an error-controlled step)."""
        return len(self.b)

    @property
    def used_stages(self) -> int:
        """The stages a step without an error estimate evaluates: up to the last nonzero
        weight of ``b`` (a first-same-as-last stage of weight zero is skipped)."""
        return max(i for i, w in enumerate(self.b) if w) + 1

    @property
    def error_weights(self) -> tuple[float, ...] | None:
        """``e = b - b̂`` (``None`` without embedded weights): the error estimate of a step
        is ``Σ_i e_i K_i``."""
        if self.b_hat is None:
            return None
        return tuple(x - y for x, y in zip(self.b, self.b_hat))


@dataclass(frozen=True)
class AdditiveTableau:
    """A stochastic Runge–Kutta tableau for additive noise, checked on construction.

    As :class:`RKTableau`, plus the stage weights ``a_w``, ``a_h`` of ``W`` and
    ``H`` (one per stage; they are free, no row condition applies to them).
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    a_w: tuple[float, ...]
    a_h: tuple[float, ...]
    name: str = "tableau"

    def __post_init__(self) -> None:
        _check_rk(self.name, self.a, self.b, self.c, {"a_w": self.a_w, "a_h": self.a_h})

    @property
    def stages(self) -> int:
        """The number of stages (drift evaluations per step)."""
        return len(self.b)


#: Euler / Euler–Maruyama.
EULER = RKTableau(a=((),), b=(1.0,), c=(0.0,), name="euler")
#: Explicit midpoint (Stratonovich midpoint for SDEs).
MIDPOINT = RKTableau(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.5), name="midpoint")
#: Heun's method (explicit trapezoidal; Stratonovich Heun for SDEs).
HEUN = RKTableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0), name="heun")
#: Classical fourth-order Runge–Kutta (Kutta 1901).
RK4 = RKTableau(
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.0, 0.5, 0.5, 1.0),
    name="rk4",
)

#: Shifted Euler for additive noise, Foster, dos Reis & Strange (2023), eq. (5.8).
SEA = AdditiveTableau(a=((),), b=(1.0,), c=(0.0,), a_w=(0.5,), a_h=(1.0,), name="sea")
#: ShARK, Foster, dos Reis & Strange (2023), eq. (6.1): strong order 1.5 (additive).
SHARK = AdditiveTableau(
    a=((), (5 / 6,)), b=(0.4, 0.6), c=(0.0, 5 / 6), a_w=(0.0, 5 / 6), a_h=(1.0, 1.0),
    name="shark",
)
#: SRA1, Rößler (2010), SIAM J. Numer. Anal. 48(3): strong order 1.5 (additive).
SRA1 = AdditiveTableau(
    a=((), (0.75,)), b=(1 / 3, 2 / 3), c=(0.0, 0.75), a_w=(0.0, 0.75), a_h=(0.0, 1.5),
    name="sra1",
)

# -- embedded pairs (docs/mathematics.md §11) ---------------------------------------------------
#: Bogacki & Shampine (1989), "A 3(2) pair of Runge-Kutta formulas", Appl. Math. Lett.
#: 2(4): order 3, embedded order 2 (the fourth stage, of weight zero in b, is the end point).
BS3 = RKTableau(
    a=((), (0.5,), (0.0, 0.75), (2 / 9, 1 / 3, 4 / 9)),
    b=(2 / 9, 1 / 3, 4 / 9, 0.0),
    c=(0.0, 0.5, 0.75, 1.0),
    b_hat=(7 / 24, 1 / 4, 1 / 3, 1 / 8),
    name="bs3",
)
#: Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", J. Comput. Appl.
#: Math. 6(1): order 5, embedded order 4 (RK5(4)7M).
DOPRI5 = RKTableau(
    a=(
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
    ),
    b=(35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0),
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    b_hat=(5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40),
    name="dopri5",
)

# Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the first column
# simplifying assumption", Comput. Math. Appl. 62(2), Table 1: the nodes, the entries of a
# right of the first column (the first column is c_i minus the rest of its row), b, and the
# error weights e = b - b_hat (e_7 = -1/66, with the sign of the published correction).
_T_C = (0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0)
_T_A = (
    (),
    (),
    (0.335480655492357,),
    (-6.359448489975075, 4.362295432869581),
    (-11.74888356406283, 7.495539342889836, -0.09249506636175525),
    (-12.92096931784711, 8.159367898576159, -0.071584973281401, -0.02826905039406838),
)
_T_B = (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742,
        -3.290069515436081, 2.324710524099774, 0.0)
_T_E = (0.001780011052226, 0.000816434459657, -0.007880878010262, 0.144711007173263,
        -0.582357165452555, 0.458082105929187, -1 / 66)
#: Tsitouras (2011): order 5, embedded order 4.
TSIT5 = RKTableau(
    a=((),) + tuple((c - math.fsum(rest),) + rest for c, rest in zip(_T_C[1:6], _T_A[1:]))
    + (_T_B[:6],),
    b=_T_B,
    c=_T_C,
    b_hat=tuple(b - e for b, e in zip(_T_B, _T_E)),
    name="tsit5",
)
