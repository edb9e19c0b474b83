"""Gradients through diffusion sampling (docs/mathematics.md §6 and §8).

* :func:`gradient` and its :class:`GradientResult` (:mod:`.api`);
* the methods registry (:mod:`.methods`): ``"reversible"`` (:mod:`.exact`),
  ``"adjointdeis-1"`` / ``"adjointdeis-2m"`` (the paper's scheme) and
  ``"adjointdeis-vp1"`` / ``"adjointdeis-vp2m"`` (exact VP weights) and
  ``"adjointdeis-lin1"`` / ``"adjointdeis-lin2m"`` / ``"adjointdeis-lin2s"`` (exact linear
  part; 2S the single-step Heun form) and ``"adjointdeis-linvp1"`` /
  ``"adjointdeis-linvp2s"`` (the same with the VP factor α² in the weight)
  (:mod:`.adjoint_deis`),
  ``"backprop"`` (:mod:`.exact`) and ``"greedy"`` (:mod:`.greedy`);
* :class:`GradientError`, raised for a call that cannot be carried out as asked;
* :class:`GradientAccuracyWarning`, for a call outside a method's measured valid range
  (:mod:`.accuracy`, docs/gradient-map.md).
"""

from .api import GradientResult, gradient
from .errors import GradientError
from .methods import (
    GRADIENT_METHODS,
    GradientAccuracyWarning,
    GradientMethod,
    get_gradient_method,
    list_gradient_methods,
)

__all__ = [
    "gradient",
    "GradientResult",
    "GradientError",
    "GradientMethod",
    "GradientAccuracyWarning",
    "GRADIENT_METHODS",
    "get_gradient_method",
    "list_gradient_methods",
]
