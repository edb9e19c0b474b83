"""The equation: adapters for torchsde-style SDE objects and plain ODE drifts.

An SDE is any object with ``f(t, y)`` (drift), ``g(t, y)`` (diffusion), a
``noise_type`` in {scalar, diagonal, additive, general} and an ``sde_type`` in
{ito, stratonovich}, as in torchsde.  An ODE is an object with ``f`` and no
``g``, or a plain callable ``f(t, y)``.

Noise contraction ``g · dW`` (MATH.md §0):

* ``g`` has the shape of ``y``: elementwise product with ``dW`` (shape of ``y``);
  this is diagonal noise, and also allowed for additive noise.
* ``g`` has shape ``(*y.shape, m)``: matrix product with ``dW`` of shape
  ``(batch, m)``; this is general, additive and scalar (``m = 1``) noise.
"""

from __future__ import annotations

import torch

NOISE_TYPES = ("scalar", "diagonal", "additive", "general")
SDE_TYPES = ("ito", "stratonovich")


class SDEAdapter:
    """Uniform view of a user's SDE or ODE, counting evaluations.

    ``nfe`` counts drift evaluations and ``nge`` diffusion evaluations.
    """

    def __init__(self, sde):
        if isinstance(sde, SDEAdapter):
            sde = sde.base
        self.base = sde
        if hasattr(sde, "f"):
            self._f = sde.f
        elif callable(sde):
            self._f = sde
        else:
            raise TypeError(
                "sde must have a method f(t, y) (and g(t, y) for an SDE), or be a "
                f"callable f(t, y) for an ODE; got {type(sde).__name__}"
            )
        self._g = getattr(sde, "g", None)
        self._f_and_g = getattr(sde, "f_and_g", None)
        self.is_ode = self._g is None
        noise_type = getattr(sde, "noise_type", "diagonal" if not self.is_ode else None)
        sde_type = getattr(sde, "sde_type", "stratonovich" if not self.is_ode else None)
        if not self.is_ode:
            if noise_type not in NOISE_TYPES:
                raise ValueError(
                    f"sde.noise_type must be one of {NOISE_TYPES}; got {noise_type!r}"
                )
            if sde_type not in SDE_TYPES:
                raise ValueError(f"sde.sde_type must be one of {SDE_TYPES}; got {sde_type!r}")
        self.noise_type = noise_type
        self.sde_type = sde_type
        self.elementwise = noise_type == "diagonal"
        self.nfe = 0
        self.nge = 0

    def describe(self) -> str:
        if self.is_ode:
            return "an ODE (no diffusion)"
        return f"{self.noise_type} noise ({self.sde_type})"

    # evaluations -----------------------------------------------------------------
    def f(self, t, y):
        self.nfe += 1
        return self._f(t, y)

    def g(self, t, y):
        self.nge += 1
        return self._g(t, y)

    def f_and_g(self, t, y):
        self.nfe += 1
        self.nge += 1
        if self._f_and_g is not None:
            return self._f_and_g(t, y)
        return self._f(t, y), self._g(t, y)

    # noise -----------------------------------------------------------------------
    def configure_noise(self, g0: torch.Tensor, y0: torch.Tensor) -> tuple[int, ...]:
        """Inspect ``g`` at the start and return the Brownian motion's size."""
        if g0.shape == y0.shape:
            if self.noise_type in ("general", "scalar"):
                raise ValueError(
                    f"{self.noise_type} noise needs g(t, y) of shape (*y.shape, m); got "
                    f"{tuple(g0.shape)} (the shape of y). Use noise_type='diagonal' for "
                    "elementwise noise."
                )
            self.elementwise = True
            return tuple(y0.shape)
        if g0.shape[:-1] == y0.shape:
            if self.noise_type == "diagonal":
                raise ValueError(
                    f"diagonal noise needs g(t, y) of the shape of y {tuple(y0.shape)}; got "
                    f"{tuple(g0.shape)}. Use noise_type='general' for a matrix diffusion."
                )
            m = g0.shape[-1]
            if self.noise_type == "scalar" and m != 1:
                raise ValueError(
                    f"scalar noise needs g(t, y) of shape (*y.shape, 1); got {tuple(g0.shape)}"
                )
            self.elementwise = False
            return (y0.shape[0], m)
        raise ValueError(
            f"g(t, y) returned shape {tuple(g0.shape)}, which fits neither y's shape "
            f"{tuple(y0.shape)} (diagonal) nor (*y.shape, m) (general/additive/scalar)"
        )

    def prod(self, g: torch.Tensor, dw: torch.Tensor) -> torch.Tensor:
        """The contraction ``g · dW``."""
        if self.elementwise:
            return g * dw
        if g.dim() == 3:
            return torch.bmm(g, dw.unsqueeze(-1)).squeeze(-1)
        shape = (dw.shape[0],) + (1,) * (g.dim() - 2) + (dw.shape[-1],)
        return (g * dw.reshape(shape)).sum(-1)


def as_sde(sde) -> SDEAdapter:
    """Wrap ``sde`` (torchsde-style object, or plain ``f``) in an :class:`SDEAdapter`."""
    return sde if isinstance(sde, SDEAdapter) else SDEAdapter(sde)
