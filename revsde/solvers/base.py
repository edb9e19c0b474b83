"""The one-step method contract: explicit state in, explicit state out.

Every solver is an immutable object.  Per-step data never lives on ``self``,
so the same object serves forward steps, inverse steps and adjoint passes.

* ``prepare(grid)`` computes what the solver needs of a whole grid (0-d tensors
  of its step sizes, exponential weights) once per solve; the driver loop hands
  it back with every step (``step.data``), read at the step index ``step.n``.
  For a grid that grows step by step, ``prepare(grid, prior)`` extends ``prior``
  with the new steps, by the same computation.
* ``init(sde, t0, y0)`` builds the state at ``t0`` (a tuple of tensors whose
  first entry is ``y``; reversible solvers also carry the auxiliary ``ŷ``).
* ``step(sde, step, state, dw)`` returns the state at ``step.t1``; ``dw`` is the
  pair ``(W, H)`` over the step (``None`` for an ODE), already oriented.
* ``inverse(sde, step, state, dw)`` (reversible solvers) returns the state at
  ``step.t0`` from the state at ``step.t1``, reusing the same ``dw``.

A :class:`~revsde.grid.Step` holds ``n``, ``t0`` and ``t1`` (0-d tensors in the
state's dtype and device) and the step size ``h = t1 - t0`` as a python float
(computed in float64 by the driver), which may be negative.  The equation is
evaluated at a :class:`~revsde.grid.Point` of the step (``step.start``,
``step.end``, ``step.at(c)``), which tells an equation with per-grid data where
it is.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..brownian import Increment
from ..checks import check_real
from ..grid import Grid, Point, Step
from ..sde import NOISE_TYPES, SDEAdapter

#: A solver's full state: ``(y, ...auxiliaries)``, a tuple of tensors.
State = tuple[torch.Tensor, ...]


class SolverError(ValueError):
    """A solver cannot handle the SDE (or the state) it was given."""


#: the names of the low parts of ``y`` and ``ŷ`` that end a compensated state.
LOW_NAMES = ("y·lo", "ŷ·lo")


def check_compensated(compensated: object, quantum: float | None) -> bool:
    """Validate the ``compensated`` option (a bool, not with exact mode's ``quantum``)."""
    if not isinstance(compensated, bool):
        raise TypeError(f"compensated must be True or False; got {compensated!r}")
    if compensated and quantum is not None:
        raise ValueError("compensated=True and quantum= (exact mode) exclude each other: exact "
                         "mode's fixed-point sums are already exact; pass one of them")
    return compensated


def cached_state_names(sde: SDEAdapter) -> tuple[str, ...]:
    """The plain layout of a solver that caches ``f`` and ``g`` at ``ŷ`` (Reversible Heun and
    its exponential variant): ``(y, ŷ, f(ŷ), g(ŷ))``, no ``g(ŷ)`` for an ODE."""
    return ("y", "ŷ", "f(ŷ)") if sde.is_ode else ("y", "ŷ", "f(ŷ)", "g(ŷ)")


def cache_at(sde: SDEAdapter, t: torch.Tensor, yhat: torch.Tensor,
             at: Point | None = None) -> State:
    """The cache ``(f, g)`` at ``ŷ`` (``g`` absent for an ODE): one evaluation at ``t``
    (the point ``at``)."""
    if sde.is_ode:
        return (sde.f(t, yhat, at),)
    return tuple(sde.f_and_g(t, yhat, at))


def _layout(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(names) + ")"


class Solver:
    """Base class of all one-step methods, with capabilities as class data.

    The metadata from ``name`` to ``needs_levy_area`` is class data of a method, read
    from an instance; a wrapper whose metadata follows the method it wraps (the
    McCallum–Foster wrapper) sets it on the instance, so it is not ``ClassVar``.
    """

    name: str = ""
    description: str = ""
    reversible: ClassVar[bool] = False
    #: sde types on which it converges for non-additive noise (additive noise
    #: makes Itô and Stratonovich coincide, so any method may take it).
    sde_types: tuple[str, ...] = ("ito", "stratonovich")
    #: noise types it supports; empty for ODE-only methods.
    noise_types: tuple[str, ...] = NOISE_TYPES
    strong_order: dict[str, float] = {}
    weak_order: float | None = None
    ode_order: float = 1.0
    #: drift evaluations per step.
    nfe_per_step: int = 1
    needs_levy_area: bool = False
    # -- what a driver of the solver needs to know (read by the diffusion samplers) ---------
    #: evaluations made once, by ``init`` (a solver that caches f(ŷ) in its state: 1).
    init_nfe: ClassVar[int] = 0
    #: takes a coupling ``zeta`` in (0, 1] (the McCallum–Foster wrapper).
    uses_zeta: ClassVar[bool] = False
    #: has the bit-exact fixed-point mode of docs/mathematics.md §7 (a ``quantum`` option).
    exact_mode: ClassVar[bool] = False
    #: its time variable must stay positive, with a drift smooth in log t (exponential weights).
    needs_positive_clock: ClassVar[bool] = False
    #: has a compensated mode (a ``compensated`` option): ``y`` and ``ŷ`` carried as
    #: ``hi + lo`` pairs (:mod:`revsde.solvers.compensated`), so that the inverse rebuilds
    #: the network's inputs bit for bit where a step contracts.
    compensated_mode: ClassVar[bool] = False
    #: this instance runs in compensated mode (its state ends with ``y·lo, ŷ·lo``).
    compensated: bool = False
    #: gives a local error estimate with its step (:meth:`step_with_error`), so that it
    #: can take error-controlled steps (``sdeint(..., adaptive=True)``, docs/mathematics.md §11).
    has_error_estimate: bool = False

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

    def info(self) -> dict[str, Any]:
        """The solver's metadata, as printed by ``revsde solvers``."""
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

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (what an inverse must match)."""
        return {}

    # -- state ----------------------------------------------------------------------
    def state_names(self, sde: SDEAdapter) -> tuple[str, ...] | None:
        """The names of the state's entries for ``sde`` (``None``: not declared)."""
        return None

    def check_state(self, sde: SDEAdapter, state: State) -> None:
        """Refuse a state that is not this solver's layout, naming both layouts.

        ``y`` and ``ŷ`` (if any) must be tensors of one shape, dtype and device;
        the other entries are caches of ``f`` and ``g`` and must broadcast to
        ``y`` (``f``) or have ``g``'s shape.
        """
        names = self.state_names(sde)
        if names is None:
            return
        if len(state) != len(names):
            raise SolverError(
                f"{self.name}'s state is {_layout(names)} for {sde.describe()}, {len(names)} "
                f"tensor(s); got {len(state)}. Pass the state of a {self.name} solve "
                "(Solution.state), or solver.init(...)"
            )
        y = state[0]
        for name, s in zip(names, state):
            if not torch.is_tensor(s):
                raise SolverError(
                    f"state entry {name!r} must be a tensor; got {type(s).__name__}"
                )
            if s.dtype != y.dtype or s.device != y.device:
                raise SolverError(
                    f"state entry {name!r} is {s.dtype} on {s.device} but y is {y.dtype} on "
                    f"{y.device}; every entry of a state has y's dtype and device"
                )
            if name in ("ŷ",) + LOW_NAMES and s.shape != y.shape:
                raise SolverError(
                    f"state entry {name!r} has shape {tuple(s.shape)} but y has "
                    f"{tuple(y.shape)}"
                )
            if name == "f(ŷ)":
                try:
                    ok = (s.shape == y.shape
                          or torch.broadcast_shapes(s.shape, y.shape) == y.shape)
                except RuntimeError:
                    ok = False
                if not ok:
                    raise SolverError(
                        f"state entry 'f(ŷ)' has shape {tuple(s.shape)}, which does not "
                        f"broadcast to y's {tuple(y.shape)}"
                    )
            if name == "g(ŷ)" and sde.g_shape is not None and tuple(s.shape) != sde.g_shape:
                raise SolverError(
                    f"state entry 'g(ŷ)' has shape {tuple(s.shape)} but g(t, y) has shape "
                    f"{sde.g_shape}"
                )

    # -- stepping -------------------------------------------------------------------
    def prepare(self, grid: Grid, prior: Any = None) -> Any:
        """The solver's data of ``grid``'s steps, computed once per solve (``None``: none).

        ``prior``: the data of an earlier, shorter state of the same grid (one that grows
        step by step), to be extended with the new steps only.
        """
        return None

    def data_key(self) -> tuple:
        """What :meth:`prepare`'s data depends on besides the grid: the solver's kind (its
        class and a wrapped base's) and options, as values (``Grid.keep``)."""
        base = getattr(self, "base", None)
        return (type(self), type(base), self.name, tuple(sorted(self.options().items())))

    def init(self, sde: SDEAdapter, t0: torch.Tensor, y0: torch.Tensor,
             yhat0: torch.Tensor | None = None, at: Point | None = None) -> State:
        """The state at ``t0`` from ``y0`` (and the auxiliary ``yhat0``, default ``y0``);
        ``at``: the point of the grid that ``t0`` is (for an equation with per-grid data)."""
        return (y0,)

    def step(self, sde: SDEAdapter, step: Step, state: State,
             dw: Increment | None) -> State:
        """The state at ``step.t1`` from the state at ``step.t0``."""
        raise NotImplementedError

    def step_with_error(self, sde: SDEAdapter, step: Step, state: State, dw: Increment | None
                        ) -> tuple[State, tuple[torch.Tensor, ...]]:
        """:meth:`step` (the same bits) and its local error estimates, each of ``y``'s shape
        (docs/mathematics.md §11); only for solvers with ``has_error_estimate``."""
        raise SolverError(
            f"{self.name} has no error estimate, so it cannot take adaptive steps; use one "
            "of 'reversible_heun', 'mcf_bs3', 'mcf_dopri5', 'mcf_tsit5' (or a fixed grid)"
        )

    def error_order(self, sde: SDEAdapter) -> float:
        """``k`` with the error estimate of a step of size ``h`` of order ``h^k`` (the
        controller's exponent is ``1/k``, docs/mathematics.md §11)."""
        raise SolverError(f"{self.name} has no error estimate")

    def inverse(self, sde: SDEAdapter, step: Step, state: State,
                dw: Increment | None) -> State:
        """The state at ``step.t0`` from the state at ``step.t1`` (reversible solvers)."""
        raise SolverError(
            f"{self.name} is not reversible, so it has no inverse step; use a reversible "
            "method such as 'reversible_heun' or an 'mcf_*' wrapper."
        )


class Tape:
    """The evaluations of one inverse step, made on fresh leaves for the adjoint
    (:mod:`revsde.adjoint.rules`): ``leaves[i]`` is the input of ``outputs[i]``, which
    carries its graph; the step itself goes on with the outputs detached, so that its
    states hold no graph."""

    def __init__(self) -> None:
        self.leaves: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def leaf(self, x: torch.Tensor) -> torch.Tensor:
        """A detached copy of ``x`` that starts a fresh graph (recorded)."""
        out = x.detach().requires_grad_()
        self.leaves.append(out)
        return out

    def record(self, out: torch.Tensor) -> torch.Tensor:
        """``out`` recorded with its graph; returned detached."""
        self.outputs.append(out)
        return out.detach()


def check_quantum(quantum: float | None) -> float | None:
    """Validate a fixed-point grid spacing (docs/mathematics.md §7): a positive power of two."""
    if quantum is None:
        return None
    q = check_real(quantum, "quantum", "a positive power of two (e.g. 2**-40) or None")
    if not (q > 0 and math.isfinite(q)) or math.frexp(q)[0] != 0.5:
        raise ValueError(f"quantum must be a positive power of two (e.g. 2**-40); got {quantum!r}")
    return q


def check_quantum_fits(y: torch.Tensor, quantum: float | None) -> None:
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


def quantize(x: torch.Tensor, quantum: float | None) -> torch.Tensor:
    """Round ``x`` to the grid ``quantum·Z`` (exact for a power-of-two quantum)."""
    if quantum is None:
        return x
    return (x * (1.0 / quantum)).round() * quantum
