"""The arithmetic of a reversible state: plain, on a fixed-point grid, or compensated.

A reversible method (Reversible Heun, the McCallum–Foster wrapper, the exponential
Reversible Heun) is written once, against an :class:`Arithmetic`: it forms its
increments from evaluations of the equation, and the arithmetic says how the state
``y``, ``ŷ`` is started, packed into the solver state, advanced by an increment,
reflected, coupled and divided.  Three arithmetics:

* :class:`Plain`: the state's own dtype, with fused operations (``torch.add(alpha=)``,
  ``addcmul_``, ``lerp``) where a method provides them.
* :class:`OnGrid` (exact mode, docs/mathematics.md (Exact mode)): ``y`` and ``ŷ`` on
  the fixed-point grid ``quantum·Z`` (``quantum`` a power of two), increments rounded
  to the grid before they are added; every sum is then exact, so a step is inverted
  bit for bit (and the order of exact sums changes no bit).
* :class:`Compensated` (docs/mathematics.md (Compensated arithmetic)): ``y`` and ``ŷ``
  as unevaluated sums ``hi + lo`` (:mod:`revsde.solvers.compensated`); the equation
  sees ``hi``, the increments stay in the state's dtype, and the sums carry about twice
  the significand, so the inverse rebuilds ``hi`` bit for bit where plain sums lose it.

An increment (:class:`Delta`) is an object with ``c`` (the scale, e.g. ``±1``, ``±½``), ``tensor()``
(the unscaled increment ``R`` as one tensor: rounded to the grid, or added to a pair)
and ``added_to(x)`` (``x + c·R`` in the plain arithmetic's fused operations).  A method
whose step adds an increment of its own kind at every step asks instead, once, for the
arithmetic's :meth:`Plain.adder` of the increment's two functions: the step then passes
the increment's parts as arguments and allocates no :class:`Delta` (the plain arithmetic's
adder is the fused function itself).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, Protocol

import torch

from . import compensated as cw
from .base import LOW_NAMES, State, check_quantum_fits, quantize

__all__ = ["Arithmetic", "Compensated", "Delta", "OnGrid", "Plain", "Ratio", "Shift",
           "arithmetic"]


class Delta(Protocol):
    """``c·R``: what a method adds to ``y`` or ``ŷ``."""

    @property
    def c(self) -> float:
        """The scale ``c``."""

    def tensor(self) -> torch.Tensor:
        """``R`` as one tensor."""

    def added_to(self, x: torch.Tensor) -> torch.Tensor:
        """``x + c·R`` (plain arithmetic)."""


class Shift(NamedTuple):
    """The increment ``±R`` (``c = ±1``) of a tensor ``R`` computed already (a base
    method's ``Ψ``)."""

    c: float
    r: torch.Tensor

    def tensor(self) -> torch.Tensor:
        return self.r

    def added_to(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.r if self.c > 0 else x - self.r


class Ratio(Protocol):
    """A stretch ratio ``r = w1/w0`` as the exponential Reversible Heun computes it: the
    python number ``value``, its reciprocal ``inverse = w0/w1`` (a quotient of its own)
    and ``tensor``, ``r`` as a 0-d float64 tensor."""

    @property
    def value(self) -> float: ...

    @property
    def inverse(self) -> float: ...

    @property
    def tensor(self) -> torch.Tensor: ...


def _scaled(r: torch.Tensor, c: float) -> torch.Tensor:
    return r if c == 1.0 else -r if c == -1.0 else r * c


class Plain:
    """Plain arithmetic, and the interface of the others: a state value is a tensor."""

    def names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The state's entry names, from those of the plain state."""
        return names

    def start(self, y: torch.Tensor) -> Any:
        """``y`` as a state value."""
        return y

    def hi(self, x: Any) -> torch.Tensor:
        """The tensor the equation is evaluated at."""
        return x

    def pack(self, y: Any, yhat: Any, caches: tuple = ()) -> State:
        """The solver state ``(y, ŷ, ...caches)`` (``caches``: a tuple)."""
        return (y, yhat) + caches

    def unpack(self, state: State) -> tuple[Any, Any, tuple]:
        """``(y, ŷ, caches)`` of a solver state (inverse of :meth:`pack`)."""
        return state[0], state[1], state[2:]

    def add(self, x: Any, d: Delta) -> Any:
        """``x + c·R``."""
        return d.added_to(x)

    def adder(self, fused: Callable[..., torch.Tensor],
              tensor: Callable[..., torch.Tensor]) -> Callable[..., Any]:
        """The function ``add(x, c, *parts) = x + c·R`` of an increment given by its parts:
        ``fused(x, c, *parts)`` adds it in the plain arithmetic's fused operations and
        ``tensor(*parts)`` is ``R`` as one tensor (the :class:`Delta` protocol, unbundled).
        A solver picks it once (its ``__init__``), so that a step allocates no
        :class:`Delta`: the plain arithmetic's is ``fused`` itself, the same operations as
        :meth:`add` of a :class:`Delta` whose ``added_to`` is ``fused``."""
        return fused

    def mirror(self, x: Any, m: Any) -> Any:
        """``2m - x``, the reflection of Reversible Heun (docs/mathematics.md (Reversible
        Heun)), in one ``lerp``: ``lerp(x, m, 2) = m + (m - x)``, the bits of the two-op
        ``(m - x) + m`` (a weight of 2 takes lerp's ``end - (end - start)(1 - w)``
        branch, whose product is exact)."""
        return torch.lerp(x, m, 2.0)

    def stretch(self, x: Any, m: Any, r: Ratio) -> Any:
        """``m + r (m - x)``: the exponential Reversible Heun's reflection with the
        stretch ``r``, as ``lerp(x, m, 1 + r)``."""
        return torch.lerp(x, m, 1.0 + r.value)

    def unstretch(self, x: Any, m: Any, r: Ratio) -> Any:
        """The ``x0`` with ``stretch(x0, m, r) = x``: ``m - (x - m)/r``, as
        ``lerp(x, m, 1 + 1/r)``."""
        return torch.lerp(x, m, 1.0 + r.inverse)

    def couple(self, y: Any, yhat: Any, zeta: float, factors: tuple) -> Any:
        """``ζ y + (1-ζ) ŷ`` (the McCallum–Foster coupling; ``factors``: ``(ζ, 1-ζ)`` as
        multiplied, 0-d tensors or numbers)."""
        return y if zeta == 1.0 else factors[0] * y + factors[1] * yhat

    def uncouple(self, z: Any, yhat: Any, d: Delta, zeta: float, factors: tuple) -> Any:
        """The ``y`` with ``couple(y, ŷ) + R = z`` for the increment ``d = -R``:
        ``(z - (1-ζ) ŷ - R)/ζ``."""
        if zeta == 1.0:
            return self.add(z, d)
        return (z - factors[1] * yhat - d.tensor()) / zeta


#: any of the three arithmetics (they share :class:`Plain`'s interface)
Arithmetic = Plain


class OnGrid(Plain):
    """Exact mode: values on the grid ``quantum·Z``, increments rounded to it (``R`` is
    rounded before it is scaled by ``c``: ``c·q(R)`` stays on the grid for ``c = ±½``
    of a step that keeps ``y`` on the half grid, docs/mathematics.md (Exact mode))."""

    def __init__(self, quantum: float) -> None:
        self.quantum = quantum

    def start(self, y: torch.Tensor) -> torch.Tensor:
        check_quantum_fits(y, self.quantum)
        return quantize(y, self.quantum)

    def add(self, x: torch.Tensor, d: Delta) -> torch.Tensor:
        return self._add(d.tensor, x, d.c)

    def adder(self, fused: Callable[..., torch.Tensor],
              tensor: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        return partial(self._add, tensor)

    def _add(self, tensor: Callable[..., torch.Tensor], x: torch.Tensor, c: float,
             *parts: Any) -> torch.Tensor:
        """``x + c·q(R)``, ``R = tensor(*parts)`` (:meth:`add`, :meth:`adder`)."""
        return x + _scaled(quantize(tensor(*parts), self.quantum), c)


class Compensated(Plain):
    """``y`` and ``ŷ`` as ``(hi, lo)`` pairs (:mod:`revsde.solvers.compensated`); the state
    ends with ``y·lo, ŷ·lo``."""

    def names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return names + LOW_NAMES

    def start(self, y: torch.Tensor) -> cw.Pair:
        cw.check_dtype(y.dtype)
        return y, torch.zeros_like(y)

    def hi(self, x: cw.Pair) -> torch.Tensor:
        return x[0]

    def pack(self, y: cw.Pair, yhat: cw.Pair, caches: tuple = ()) -> State:
        return cw.pack(y, yhat, caches)

    def unpack(self, state: State) -> tuple[cw.Pair, cw.Pair, tuple]:
        return cw.unpack(state)

    def add(self, x: cw.Pair, d: Delta) -> cw.Pair:
        return self._add(d.tensor, x, d.c)

    def adder(self, fused: Callable[..., torch.Tensor],
              tensor: Callable[..., torch.Tensor]) -> Callable[..., cw.Pair]:
        return partial(self._add, tensor)

    @staticmethod
    def _add(tensor: Callable[..., torch.Tensor], x: cw.Pair, c: float,
             *parts: Any) -> cw.Pair:
        """``x + c·R`` on the pair, ``R = tensor(*parts)`` (:meth:`add`, :meth:`adder`)."""
        return cw.add(x, _scaled(tensor(*parts), c))

    def mirror(self, x: cw.Pair, m: cw.Pair) -> cw.Pair:
        return cw.sub_pair((m[0] * 2.0, m[1] * 2.0), x)

    def stretch(self, x: cw.Pair, m: cw.Pair, r: Ratio) -> cw.Pair:
        return cw.add_pair(m, cw.scale(cw.sub_pair(m, x), r.tensor.to(m[0].dtype)))

    def unstretch(self, x: cw.Pair, m: cw.Pair, r: Ratio) -> cw.Pair:
        # the stretch undone by a division by the same ratio (not a product with its
        # rounded reciprocal, which would change ŷ's last bits)
        return cw.sub_pair(m, cw.divide(cw.sub_pair(x, m), r.tensor.to(m[0].dtype)))

    def couple(self, y: cw.Pair, yhat: cw.Pair, zeta: float, factors: tuple) -> cw.Pair:
        if zeta == 1.0:
            return y
        return cw.add_pair(cw.scale(y, zeta), cw.scale(yhat, 1.0 - zeta))

    def uncouple(self, z: cw.Pair, yhat: cw.Pair, d: Delta, zeta: float,
                 factors: tuple) -> cw.Pair:
        y = self.add(z, d)
        if zeta == 1.0:
            return y
        return cw.divide(cw.sub_pair(y, cw.scale(yhat, 1.0 - zeta)), zeta)


def arithmetic(quantum: float | None = None, compensated: bool = False) -> Arithmetic:
    """The arithmetic of a solver's options (validated by the solver)."""
    if compensated:
        return Compensated()
    return Plain() if quantum is None else OnGrid(quantum)
