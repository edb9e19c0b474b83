"""The one-step method contract: explicit state in, explicit state out.

Every solver is an immutable object.  Per-step data never lives on ``self``,
so the same object serves forward steps, inverse steps and adjoint passes.

* ``init(sde, t0, y0)`` builds the state at ``t0`` (a tuple of tensors whose
  first entry is ``y``; reversible solvers also carry the auxiliary ``ŷ``).
* ``step(sde, t0, t1, h, state, dw)`` returns the state at ``t1``; ``dw`` is the
  pair ``(W, H)`` over the step (``None`` for an ODE), already oriented.
* ``inverse(sde, t0, t1, h, state, dw)`` (reversible solvers) returns the state
  at ``t0`` from the state at ``t1``, reusing the same ``dw``.

``t0`` and ``t1`` are 0-d tensors in the state's dtype and device; the step
size ``h = t1 - t0`` is passed as a python float (computed in float64 by the
driver) and may be negative.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ..sde import NOISE_TYPES, SDEAdapter


class SolverError(ValueError):
    """A solver cannot handle the SDE it was given."""


class Solver:
    """Base class of all one-step methods, with capabilities as class data."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reversible: ClassVar[bool] = False
    #: sde types on which it converges for non-additive noise (additive noise
    #: makes Itô and Stratonovich coincide, so any method may take it).
    sde_types: ClassVar[tuple[str, ...]] = ("ito", "stratonovich")
    #: noise types it supports; empty for ODE-only methods.
    noise_types: ClassVar[tuple[str, ...]] = NOISE_TYPES
    strong_order: ClassVar[dict[str, float]] = {}
    weak_order: ClassVar[float | None] = None
    ode_order: ClassVar[float] = 1.0
    #: drift evaluations per step.
    nfe_per_step: ClassVar[int] = 1
    needs_levy_area: ClassVar[bool] = False
    # -- what a driver of the solver needs to know (read by the diffusion samplers) ---------
    #: evaluations made once, by ``init`` (a solver that caches f(ŷ) in its state: 1).
    init_nfe: ClassVar[int] = 0
    #: takes a coupling ``zeta`` in (0, 1] (the McCallum–Foster wrapper).
    uses_zeta: ClassVar[bool] = False
    #: has the bit-exact fixed-point mode of MATH.md §7 (a ``quantum`` option).
    exact_mode: ClassVar[bool] = False
    #: its time variable must stay positive, with a drift smooth in log t (exponential weights).
    needs_positive_clock: ClassVar[bool] = False

    # -- capabilities -------------------------------------------------------------
    def check(self, sde: SDEAdapter) -> None:
        """Raise :class:`SolverError` naming both sides if ``sde`` is unsupported."""
        if sde.is_ode:
            return
        if not self.noise_types:
            raise SolverError(
                f"{self.name} is an ODE method; this SDE has {sde.describe()}. "
                "Pick an SDE method (see revsde.list_solvers())."
            )
        if sde.noise_type not in self.noise_types:
            raise SolverError(
                f"{self.name} needs {' or '.join(self.noise_types)} noise; this SDE has "
                f"{sde.noise_type} noise. Pick another method (see revsde.list_solvers())."
            )
        if sde.noise_type != "additive" and sde.sde_type not in self.sde_types:
            raise SolverError(
                f"{self.name} solves {' or '.join(self.sde_types)} SDEs; this SDE is "
                f"{sde.sde_type} with {sde.noise_type} noise. Convert the SDE or pick "
                "another method (see revsde.list_solvers())."
            )

    def info(self) -> dict:
        return {
            "name": self.name,
            "reversible": self.reversible,
            "sde_types": list(self.sde_types) if self.noise_types else [],
            "noise_types": list(self.noise_types),
            "strong_order": dict(self.strong_order),
            "weak_order": self.weak_order,
            "ode_order": self.ode_order,
            "nfe_per_step": self.nfe_per_step,
            "needs_levy_area": self.needs_levy_area,
            "description": self.description,
        }

    # -- stepping -------------------------------------------------------------------
    def init(self, sde, t0, y0, yhat0=None):
        return (y0,)

    def step(self, sde, t0, t1, h, state, dw):
        raise NotImplementedError

    def inverse(self, sde, t0, t1, h, state, dw):
        raise SolverError(
            f"{self.name} is not reversible, so it has no inverse step; use a reversible "
            "method such as 'reversible_heun' or an 'mcf_*' wrapper."
        )


def check_quantum(quantum):
    """Validate a fixed-point grid spacing (MATH.md §7): a positive power of two."""
    if quantum is None:
        return None
    q = float(quantum)
    if not (q > 0 and math.isfinite(q)) or math.frexp(q)[0] != 0.5:
        raise ValueError(f"quantum must be a positive power of two (e.g. 2**-40); got {quantum!r}")
    return q


def check_quantum_fits(y, quantum) -> None:
    """Refuse a grid too fine for ``y``'s dtype: exactness needs ``|y|/quantum < 2^(p-2)``."""
    if quantum is None or y.numel() == 0:
        return
    bits = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}.get(
        y.dtype, 24)
    peak = float(y.detach().abs().max())
    if peak / quantum >= 2.0 ** (bits - 2):
        need = 2.0 ** math.ceil(math.log2(max(peak, 1e-300)) - (bits - 4))
        raise ValueError(
            f"quantum={quantum:g} is too fine for {y.dtype} values of magnitude {peak:.3g}: "
            f"the grid must stay within {bits} significant bits. Use quantum >= {need:g} "
            "(or float64)."
        )


def quantize(x, quantum):
    """Round ``x`` to the grid ``quantum·Z`` (exact for a power-of-two quantum)."""
    if quantum is None:
        return x
    return (x * (1.0 / quantum)).round() * quantum
