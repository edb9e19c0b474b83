"""The registry of gradient methods: name -> entry with printable metadata.

``order`` is the convergence order of the gradient to the continuous one
(``None`` for the exact gradient of the discrete solve, and for the one-step
estimate, which does not converge); ``memory`` is how peak memory grows with
the number of steps N; ``nfe_per_step`` counts the network evaluations of the
backward pass per step, besides the forward solve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ...registry import Registry
from .adjoint_deis import adjoint_deis_gradient
from .errors import GradientError
from .exact import backprop_gradient, reversible_gradient
from .greedy import greedy_gradient

__all__ = ["GradientMethod", "GRADIENT_METHODS", "get_gradient_method", "list_gradient_methods"]


@dataclass(frozen=True)
class GradientMethod:
    """One way of differentiating a loss of the sample, built with its options:
    ``method(problem) -> (sample, loss, grads)`` runs ``fn(problem, **options)``."""

    name: str
    fn: Callable = field(repr=False)
    exact: bool
    order: float | None
    memory: str
    nfe_per_step: str
    needs_reversible: bool
    description: str
    options: dict = field(default_factory=dict)

    def __call__(self, problem: Any) -> tuple:
        return self.fn(problem, **self.options)

    def info(self) -> dict:
        return {"name": self.name, "exact": self.exact, "order": self.order,
                "memory": self.memory, "nfe_per_step": self.nfe_per_step,
                "needs_reversible": self.needs_reversible, "options": dict(self.options),
                "description": self.description}


def _reversible() -> GradientMethod:
    return GradientMethod(
        "reversible", reversible_gradient, True, None, "O(1)",
        "inverse step + one re-run with a VJP (2 x the sampler's NFE/step)", True,
        "exact gradient of the discrete solve; states rebuilt by the sampler's inverse "
        "on the same Brownian path (docs/mathematics.md §6)")


def _adjointdeis_1(prediction: str = "eps") -> GradientMethod:
    return GradientMethod(
        "adjointdeis-1", partial(adjoint_deis_gradient, order=1), False, 1.0, "O(1)",
        "inverse step (sampler's NFE/step) + 1 VJP of eps", True,
        "continuous adjoint by a first-order exponential integrator, PF-ODE (c=1) or "
        "diffusion SDE (c=2), noise prediction (docs/mathematics.md §8)",
        {"prediction": prediction})


def _adjointdeis_2m(prediction: str = "eps") -> GradientMethod:
    return GradientMethod(
        "adjointdeis-2m", partial(adjoint_deis_gradient, order=2), False, 2.0, "O(1)",
        "inverse step (sampler's NFE/step) + 1 VJP of eps", True,
        "continuous adjoint by a second-order multistep exponential integrator "
        "(docs/mathematics.md §8)", {"prediction": prediction})


def _backprop() -> GradientMethod:
    return GradientMethod(
        "backprop", backprop_gradient, True, None, "O(N)",
        "autograd through every step (the sampler's NFE/step, recorded)", False,
        "autograd through the whole sampler: the reference")


def _greedy() -> GradientMethod:
    return GradientMethod(
        "greedy", greedy_gradient, False, None, "O(1)",
        "none per step: 1 VJP at x_T in all", False,
        "one-step gradient of the loss at the Tweedie estimate x0_hat(x_T) (DPS, "
        "FreeDoM; 'Greed is Good'): an estimate, not the gradient of the solve")


#: the gradient methods, in the one Registry type (like the solvers and the samplers)
GRADIENT_METHODS: Registry[GradientMethod] = Registry(
    "gradient method", GradientMethod,
    "build it with get_gradient_method(name, **options) instead")
for _name, _build in (("reversible", _reversible), ("adjointdeis-1", _adjointdeis_1),
                      ("adjointdeis-2m", _adjointdeis_2m), ("backprop", _backprop),
                      ("greedy", _greedy)):
    GRADIENT_METHODS.register(_name, _build)
del _name, _build


def get_gradient_method(name: str | GradientMethod, **options: Any) -> GradientMethod:
    """The method registered as ``name``, built with ``options`` (an instance is returned
    unchanged); a :class:`GradientError` names the valid names or options."""
    if isinstance(name, str) and name not in GRADIENT_METHODS:
        raise GradientError(
            f"unknown gradient method {name!r}; valid ones are {sorted(GRADIENT_METHODS)}"
        )
    try:
        return GRADIENT_METHODS.get(name, **options)
    except GradientError:
        raise
    except ValueError as e:
        raise GradientError(str(e)) from None


def list_gradient_methods() -> list[dict]:
    """The metadata of every gradient method, in registry order."""
    return GRADIENT_METHODS.list()
