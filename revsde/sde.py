"""The equation: adapters for torchsde-style SDE objects and plain ODE drifts.

An SDE is any object with ``f(t, y)`` (drift), ``g(t, y)`` (diffusion), a
``noise_type`` in {scalar, diagonal, additive, general} and an ``sde_type`` in
{ito, stratonovich}, as in torchsde.  An ODE is an object with ``f`` and no
``g``, or a plain callable ``f(t, y)``.

Noise contraction ``g · dW`` (docs/mathematics.md §0):

* ``g`` has the shape of ``y``: elementwise product with ``dW`` (shape of ``y``);
  this is diagonal noise, and also allowed for additive noise.
* ``g`` has shape ``(*y.shape, m)``: matrix product with ``dW`` of shape
  ``(batch, m)``; this is general, additive and scalar (``m = 1``) noise.

An equation with per-grid data (revsde.diffusion's lifted drift, whose
coefficients at the grid's clocks are computed once) defines
``prepare(grid, prior=None)``: the driver loop calls it once per solve, and its
``f``, ``g`` (and ``f_and_g``, ``stage_time``) then receive, as a last argument,
the :class:`~revsde.grid.Point` they are evaluated at, carrying that data.  A
torchsde-style equation without ``prepare`` keeps ``f(t, y)`` and ``g(t, y)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .checks import call_unmodified, check_sde
from .grid import Grid, Point

NOISE_TYPES = ("scalar", "diagonal", "additive", "general")
SDE_TYPES = ("ito", "stratonovich")


class SDEOutputError(ValueError):
    """``f`` or ``g`` returned something the solve cannot use (type, shape, dtype, device)."""


def _check_output(name: str, out: Any, y: torch.Tensor, exact_shape: tuple | None) -> None:
    """Refuse an output of ``f``/``g`` that does not fit the state ``y`` (first call only).

    ``exact_shape``: the shape ``out`` must have; ``None``: any shape that broadcasts
    to ``y``'s without growing it; ``()``: no shape check.
    """
    if not torch.is_tensor(out):
        raise SDEOutputError(
            f"{name}(t, y) returned a {type(out).__name__}; it must return a torch.Tensor "
            f"of {y.dtype} on {y.device} (y has shape {tuple(y.shape)})"
        )
    if out.dtype != y.dtype:
        raise SDEOutputError(
            f"{name}(t, y) returned {out.dtype} for a {y.dtype} state; return y's dtype "
            f"(e.g. build constants with dtype=y.dtype, or cast with .to(y.dtype))"
        )
    if out.device != y.device:
        raise SDEOutputError(
            f"{name}(t, y) returned a tensor on {out.device} for a state on {y.device}; "
            "create its tensors on y.device"
        )
    if exact_shape == ():
        return  # g before configure_noise: its shape is checked there
    if exact_shape is not None:
        if tuple(out.shape) != exact_shape:
            raise SDEOutputError(
                f"{name}(t, y) returned shape {tuple(out.shape)} but {exact_shape} at its "
                f"first evaluation (the state y has shape {tuple(y.shape)}); {name} must "
                "keep one output shape"
            )
        return
    try:  # y's own shape (the usual case) needs no broadcasting rule
        ok = out.shape == y.shape or torch.broadcast_shapes(out.shape, y.shape) == y.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise SDEOutputError(
            f"{name}(t, y) returned shape {tuple(out.shape)} for a state y of shape "
            f"{tuple(y.shape)}; the drift must have y's shape (or broadcast to it without "
            "growing it)"
        )


class SDEAdapter:
    """Uniform view of a user's SDE or ODE, counting evaluations.

    ``nfe`` counts drift evaluations and ``nge`` diffusion evaluations.  The
    first output of ``f`` and of ``g`` is checked against the state (type,
    dtype, device, shape: :class:`SDEOutputError` names the function and both
    shapes); later evaluations are not checked.

    An object with a diffusion ``g`` must declare ``noise_type`` and
    ``sde_type`` (as torchsde requires): no default could be right for both
    Itô and Stratonovich users.  An object with only ``f``, or a plain callable
    ``f(t, y)``, is an ODE.

    An SDE whose diffusion is the identity (``g(t, y) = 1``, additive or
    diagonal noise, e.g. the lifted diffusion equations) may say so with a class
    attribute ``unit_diffusion = True``: its ``g`` is then not called (every
    evaluation returns one tensor of ones of ``y``'s shape, made once) and
    ``g · dW`` is ``dW`` itself, the same numbers without the work.
    """

    def __init__(self, sde: Any):
        if isinstance(sde, SDEAdapter):
            sde = sde.base
        check_sde(sde)
        #: the user's equation object (or plain drift callable) this adapter wraps
        self.base: Any = sde
        if hasattr(sde, "f"):
            self._f: Callable = sde.f
        elif callable(sde):
            self._f = sde
        else:
            raise TypeError(
                "sde must have a method f(t, y) (and g(t, y) for an SDE), or be a "
                f"callable f(t, y) for an ODE; got {type(sde).__name__}"
            )
        if not callable(self._f):
            raise TypeError(f"sde.f must be a method f(t, y); got {type(self._f).__name__}")
        self._g: Callable | None = getattr(sde, "g", None)
        if self._g is not None and not callable(self._g):
            raise TypeError(f"sde.g must be a method g(t, y); got {type(self._g).__name__}")
        self._f_and_g: Callable | None = getattr(sde, "f_and_g", None)
        self._stage_time: Callable | None = getattr(sde, "stage_time", None)
        self._prepare: Callable | None = getattr(sde, "prepare", None)
        #: the equation takes the evaluation point (it has per-grid data: ``prepare``)
        self.keyed = callable(self._prepare)
        self.is_ode = self._g is None
        noise_type = getattr(sde, "noise_type", None)
        sde_type = getattr(sde, "sde_type", None)
        if not self.is_ode:
            for attr, value, valid in (("noise_type", noise_type, NOISE_TYPES),
                                       ("sde_type", sde_type, SDE_TYPES)):
                if value is None:
                    raise ValueError(
                        f"this SDE has a diffusion g but no {attr}; set sde.{attr} to one of "
                        f"{valid} (as torchsde requires: the solve depends on it)"
                    )
                if not isinstance(value, str) or value not in valid:
                    raise ValueError(f"sde.{attr} must be one of {valid}; got {value!r}")
        self.noise_type: str | None = noise_type if not self.is_ode else None
        self.sde_type: str | None = sde_type if not self.is_ode else None
        self.elementwise = noise_type == "diagonal"
        unit = getattr(sde, "unit_diffusion", False)
        if unit is not False:
            if unit is not True:
                raise TypeError(f"sde.unit_diffusion must be True or False; got {unit!r}")
            if self.is_ode or noise_type not in ("additive", "diagonal"):
                raise ValueError(
                    "unit_diffusion=True (g(t, y) = 1 of y's shape) needs an SDE with g and "
                    f"noise_type 'additive' or 'diagonal'; this is {self.describe()}"
                )
        #: ``g = 1`` (``unit_diffusion``): ``g`` is :attr:`_ones`, and ``g · dW`` is ``dW``
        self.unit: bool = unit is True
        if self.unit:
            self.elementwise = True  # g has y's shape (what configure_noise finds)
        self._ones: torch.Tensor | None = None
        self.nfe = 0
        self.nge = 0
        #: output shapes of the first evaluations (``None`` until then).
        self.f_shape: tuple[int, ...] | None = None
        self.g_shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        """The kind of equation, in words (for error messages)."""
        if self.is_ode:
            return "an ODE (no diffusion)"
        return f"{self.noise_type} noise ({self.sde_type})"

    def prepare(self, grid: Grid, prior: Any = None) -> Any:
        """The equation's data of ``grid`` (its ``prepare``; ``None`` without one), once
        per solve; ``prior``: the data of the same grid before it grew."""
        if self._prepare is None or not self.keyed:
            return None
        return self._prepare(grid, prior)

    # evaluations -----------------------------------------------------------------
    def base_f(self, t: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> Any:
        """The user's drift, uncounted and unchecked (for diagnostics)."""
        return self._f(t, y, at) if self.keyed else self._f(t, y)

    def base_g(self, t: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> Any:
        """The user's diffusion, uncounted and unchecked (for diagnostics)."""
        g = self._g
        if g is None:
            raise TypeError(f"this equation is {self.describe()}: it has no g(t, y) to evaluate")
        return g(t, y, at) if self.keyed else g(t, y)

    def _first(self, name: str, out: Any, y: torch.Tensor) -> None:
        if name == "f":
            _check_output("f", out, y, None)
            self.f_shape = tuple(out.shape)
        else:
            _check_output("g", out, y, ())
            self.g_shape = tuple(out.shape)

    def f(self, t: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> torch.Tensor:
        """The drift ``f(t, y)`` (at the point ``at`` of the grid)."""
        self.nfe += 1
        if self.f_shape is None:  # the first evaluation: checked
            out = call_unmodified(lambda t, y: self.base_f(t, y, at), t, y, "f",
                                  SDEOutputError)
            self._first("f", out, y)
            return out
        return self._f(t, y, at) if self.keyed else self._f(t, y)  # base_f, without its call

    def _unit(self, y: torch.Tensor) -> torch.Tensor:
        """Ones of ``y``'s shape, dtype, device and layout: one tensor while they stay the same
        (a unit diffusion, never written to: the solvers' sums are out of place).  One that
        left a solve as an output of an autograd function (the adjoint's final state
        holds it) has a graph by then, and is made anew."""
        o = self._ones
        if (o is None or o.requires_grad or o.shape != y.shape or o.dtype != y.dtype
                or o.device != y.device or o.stride() != y.stride()):
            o = self._ones = torch.ones_like(y)
            self.g_shape = tuple(y.shape)
        return o

    def g(self, t: torch.Tensor, y: torch.Tensor, at: Point | None = None) -> torch.Tensor:
        """The diffusion ``g(t, y)`` (at the point ``at`` of the grid)."""
        self.nge += 1
        if self.unit:
            return self._unit(y)
        if self.g_shape is None:  # the first evaluation: checked
            out = call_unmodified(lambda t, y: self.base_g(t, y, at), t, y, "g",
                                  SDEOutputError)
            self._first("g", out, y)
            return out
        return self.base_g(t, y, at)

    def f_and_g(self, t: torch.Tensor, y: torch.Tensor,
                at: Point | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(t, y), g(t, y))``, through the SDE's own ``f_and_g`` if it has one."""
        self.nfe += 1
        self.nge += 1
        if self.unit:
            if self.f_shape is None:  # the first evaluation: checked
                f = call_unmodified(lambda t, y: self.base_f(t, y, at), t, y, "f",
                                    SDEOutputError)
                self._first("f", f, y)
                return f, self._unit(y)
            return (self._f(t, y, at) if self.keyed else self._f(t, y)), self._unit(y)
        first = self.f_shape is None or self.g_shape is None  # checked: see f and g
        if self._f_and_g is not None:
            fg = self._f_and_g

            def both(t, y):
                return fg(t, y, at) if self.keyed else fg(t, y)

            out = call_unmodified(both, t, y, "f_and_g", SDEOutputError) if first else both(t, y)
            if self.f_shape is None or self.g_shape is None:
                if not isinstance(out, (tuple, list)) or len(out) != 2:
                    raise SDEOutputError(
                        f"f_and_g(t, y) must return a pair (f, g); got {type(out).__name__}"
                    )
            f, g = out
        elif first:
            f = call_unmodified(lambda t, y: self.base_f(t, y, at), t, y, "f", SDEOutputError)
            g = call_unmodified(lambda t, y: self.base_g(t, y, at), t, y, "g", SDEOutputError)
        else:
            f, g = self.base_f(t, y, at), self.base_g(t, y, at)
        if self.f_shape is None:
            self._first("f", f, y)
        if self.g_shape is None:
            self._first("g", g, y)
        return f, g

    def stage_time(self, t: torch.Tensor, c: float, h: float, at: Point) -> torch.Tensor:
        """``t + c·h``, the time of a Runge–Kutta stage (the point ``at``); an equation
        with per-grid data and its own ``stage_time(t, c, h, at)`` gives it (the same
        number, which it may hold already: revsde.diffusion's lifted drift)."""
        if self._stage_time is None or not self.keyed:
            return t + c * h
        return self._stage_time(t, c, h, at)

    # noise -----------------------------------------------------------------------
    def configure_noise(self, g0: torch.Tensor, y0: torch.Tensor) -> tuple[int, ...]:
        """Inspect ``g`` at the start and return the Brownian motion's size."""
        if g0.shape == y0.shape:
            if self.noise_type in ("general", "scalar"):
                raise SDEOutputError(
                    f"{self.noise_type} noise needs g(t, y) of shape (*y.shape, m); got "
                    f"{tuple(g0.shape)} (the shape of y). Use noise_type='diagonal' for "
                    "elementwise noise."
                )
            self.elementwise = True
            return tuple(y0.shape)
        if g0.shape[:-1] == y0.shape:
            if self.noise_type == "diagonal":
                raise SDEOutputError(
                    f"diagonal noise needs g(t, y) of the shape of y {tuple(y0.shape)}; got "
                    f"{tuple(g0.shape)}. Use noise_type='general' for a matrix diffusion."
                )
            m = g0.shape[-1]
            if self.noise_type == "scalar" and m != 1:
                raise SDEOutputError(
                    f"scalar noise needs g(t, y) of shape (*y.shape, 1); got {tuple(g0.shape)}"
                )
            self.elementwise = False
            return (y0.shape[0], m)
        raise SDEOutputError(
            f"g(t, y) returned shape {tuple(g0.shape)}, which fits neither y's shape "
            f"{tuple(y0.shape)} (diagonal) nor (*y.shape, m) (general/additive/scalar)"
        )

    def prod(self, g: torch.Tensor, dw: torch.Tensor) -> torch.Tensor:
        """The contraction ``g · dW`` (``dW`` itself for the unit diffusion: ``1 · dW = dW``)."""
        if g is self._ones:
            return dw
        if self.elementwise:
            return g * dw
        if g.dim() == 3:
            return torch.bmm(g, dw.unsqueeze(-1)).squeeze(-1)
        shape = (dw.shape[0],) + (1,) * (g.dim() - 2) + (dw.shape[-1],)
        return (g * dw.reshape(shape)).sum(-1)

