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

    def __post_init__(self) -> None:
        _check_rk(self.name, self.a, self.b, self.c)

    @property
    def stages(self) -> int:
        """The number of stages (evaluations per step)."""
        return len(self.b)


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
