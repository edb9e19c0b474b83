"""Compensated (double-word) arithmetic on tensors: a reversible state wider than its dtype.

A reversible step is exact in real arithmetic; in floating point its inverse
reconstructs the earlier state only to the rounding of the forward sums.  Where
the step contracts (the lifted SDEs of docs/mathematics.md §4.6: ``Y1 ≈ Y0 + x_θ Δρ`` with
``|Y1| ≫ |Y0|``), the low bits of the earlier state are simply not in the later
one, and the inverse hands the network an input that differs in its last bits.
A trained network turns that into round-trip errors of 1e-10 (float64) to 1e-1
(float32).  Keeping each state tensor as an unevaluated sum ``hi + lo`` (Dekker
1971; Knuth's TwoSum; Hida, Li & Bailey's double-double) carries about twice the
significand, so the inverse recovers ``hi`` bit for bit and the network sees the
very same inputs both ways.  The network and the increments still run on ``hi``
in the state's own dtype: only the reversible sums are widened.

A pair is a tuple ``(hi, lo)`` with ``hi = fl(hi + lo)``.  Every operation uses
only additions, subtractions and products that are correctly rounded in IEEE
arithmetic (no fused multiply-add is assumed), on the CPU as on CUDA.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["Pair", "SPLITTERS", "two_sum", "split", "two_prod", "add", "add_pair", "sub_pair",
           "scale", "divide", "check_dtype", "unpack", "pack"]

#: ``(hi, lo)``: the value ``hi + lo``.
Pair = tuple[torch.Tensor, torch.Tensor]

#: Veltkamp's splitter ``2^ceil(p/2) + 1`` for a ``p``-bit significand.
SPLITTERS = {torch.float64: 134217729.0, torch.float32: 4097.0}


def check_dtype(dtype: torch.dtype) -> None:
    """Refuse a dtype without a splitter (compensated arithmetic needs float32 or float64)."""
    if dtype not in SPLITTERS:
        raise ValueError(f"a compensated state needs float64 or float32 tensors; got {dtype}. "
                         "Pass compensated=False, or a float64 state (dtype=torch.float64)")


def two_sum(a: torch.Tensor, b: torch.Tensor) -> Pair:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth), any order."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a: torch.Tensor) -> Pair:
    """Veltkamp's split: ``a = hi + lo`` with both halves of half the significand."""
    c = a * SPLITTERS[a.dtype]
    hi = c - (c - a)
    return hi, a - hi


def _split_number(b: float, dtype: torch.dtype) -> tuple[float, float, float]:
    """``(b, hi, lo)`` for a python number: ``b`` rounded to ``dtype`` and its split, made
    in that dtype's arithmetic on the host (no tensor, so no device transfer per step)."""
    kind = np.float64 if dtype == torch.float64 else np.float32
    v = kind(b)
    c = v * kind(SPLITTERS[dtype])
    hi = c - (c - v)
    return float(v), float(hi), float(v - hi)


def two_prod(a: torch.Tensor, b: torch.Tensor | float) -> Pair:
    """``(p, e)`` with ``p = fl(a·b)`` and ``p + e = a·b`` exactly (Dekker); ``b`` is a
    tensor that broadcasts or a python number (taken in ``a``'s dtype)."""
    ah, al = split(a)
    bh: torch.Tensor | float
    bl: torch.Tensor | float
    if isinstance(b, torch.Tensor):
        bh, bl = split(b)
    else:
        b, bh, bl = _split_number(b, a.dtype)
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _normal(s: torch.Tensor, e: torch.Tensor) -> Pair:
    return two_sum(s, e)


def add(x: Pair, v: torch.Tensor) -> Pair:
    """``x + v`` for a plain tensor ``v``."""
    s, e = two_sum(x[0], v)
    return _normal(s, e + x[1])


def add_pair(x: Pair, y: Pair) -> Pair:
    """``x + y``."""
    s, e = two_sum(x[0], y[0])
    return _normal(s, e + (x[1] + y[1]))


def sub_pair(x: Pair, y: Pair) -> Pair:
    """``x - y``."""
    return add_pair(x, (-y[0], -y[1]))


def scale(x: Pair, c: torch.Tensor | float) -> Pair:
    """``c·x`` for a scalar ``c``: a python number (taken in the pair's dtype) or a tensor
    that broadcasts."""
    if not isinstance(c, torch.Tensor):
        c = _split_number(c, x[0].dtype)[0]
    p, e = two_prod(x[0], c)
    return _normal(p, e + x[1] * c)


def divide(x: Pair, c: torch.Tensor | float) -> Pair:
    """``x / c`` for a nonzero scalar ``c``: one quotient, its exact remainder, a correction."""
    if not isinstance(c, torch.Tensor):
        c = _split_number(c, x[0].dtype)[0]
    q = x[0] / c
    p, e = two_prod(q, c)  # q·c = p + e exactly
    r = ((x[0] - p) - e) + x[1]
    return _normal(q, r / c)


# -- the layout of a compensated solver state: (y, ŷ, ...caches, y·lo, ŷ·lo) ----------------
def unpack(state: tuple) -> tuple[Pair, Pair, tuple]:
    """``(y, ŷ, caches)`` of a compensated state, ``y`` and ``ŷ`` as pairs."""
    k = len(state) - 2
    return (state[0], state[k]), (state[1], state[k + 1]), tuple(state[2:k])


def pack(y: Pair, yhat: Pair, caches: tuple = ()) -> tuple:
    """The state ``(y, ŷ, ...caches, y·lo, ŷ·lo)`` (inverse of :func:`unpack`)."""
    return (y[0], yhat[0]) + tuple(caches) + (y[1], yhat[1])
