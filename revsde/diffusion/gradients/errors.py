"""The exception of :mod:`revsde.diffusion.gradients`."""

from __future__ import annotations

__all__ = ["GradientError"]


class GradientError(ValueError):
    """A :func:`~revsde.diffusion.gradient` call that cannot be carried out as asked.

    The message says what to change (the loss, the params, the method or the sampler).
    """
