"""The registry of gradient methods: name -> entry with printable metadata.

``order`` is the convergence order of the gradient to the continuous one
(``None`` for the exact gradient of the discrete solve, and for the one-step
estimate, which does not converge); ``memory`` is how peak memory grows with
the number of steps N; ``nfe_per_step`` counts the network evaluations of the
backward pass per step, besides the forward solve.

``accuracy`` is, for ODE and for SDE samplers (``"ode"``, ``"sde"``), the measured
relative error of ``∂loss/∂x_T`` against the continuous gradient at each measured
number of steps (the largest over the cases of the gradient map, docs/gradient-map.md,
stored in :mod:`.accuracy` by ``benchmarks/bench_gradient_map.py``), and
``valid_min_steps`` the fewest steps from which that error stays at most
:data:`~.accuracy.TOLERANCE`.  A call of a guarded method (the AdjointDEIS family)
outside its valid range warns with the error measured there
(:class:`GradientAccuracyWarning`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ...registry import Registry
from . import accuracy as _accuracy
from .adjoint_deis import adjoint_deis_gradient
from .errors import GradientError
from .exact import backprop_gradient, reversible_gradient
from .greedy import greedy_gradient

__all__ = ["GradientMethod", "GRADIENT_METHODS", "GradientAccuracyWarning", "get_gradient_method",
           "list_gradient_methods"]


class GradientAccuracyWarning(UserWarning):
    """A gradient method called outside the range where its measured error is small."""


def _measured(name: str) -> dict:
    """The stored measurement of ``name`` (:mod:`.accuracy`), ``{}`` if none."""
    return dict(_accuracy.MEASURED.get(name, {}))


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
    guarded: bool = False
    accuracy: dict = field(default_factory=dict)
    valid_min_steps: dict = field(default_factory=dict)

    def __call__(self, problem: Any) -> tuple:
        return self.fn(problem, **self.options)

    def expected_error(self, steps: int, kind: str = "ode") -> float | None:
        """The measured relative error at ``steps`` for ``kind`` ``"ode"`` or ``"sde"``
        samplers (log-log interpolation between measured step counts; beyond the last one,
        extrapolated at the method's ``order``; below the first one, the first one's error,
        a lower bound); ``None`` if not measured."""
        errs = self.accuracy.get(kind)
        if not errs:
            return None
        pts = sorted((int(k), float(v)) for k, v in errs.items())
        if steps <= pts[0][0]:
            return pts[0][1]
        for (n0, e0), (n1, e1) in zip(pts[:-1], pts[1:]):
            if n0 <= steps <= n1:
                u = math.log(steps / n0) / math.log(n1 / n0)
                return math.exp((1 - u) * math.log(e0) + u * math.log(e1))
        n1, e1 = pts[-1]
        return e1 * (n1 / steps) ** (self.order or 0.0)

    def check_steps(self, steps: int, stochastic: bool = False) -> None:
        """Warn (:class:`GradientAccuracyWarning`) if ``steps`` is outside the valid range
        measured for this kind of sampler (ODE or SDE)."""
        kind = "sde" if stochastic else "ode"
        err = self.expected_error(steps, kind)
        if not self.guarded or err is None:
            return
        lo = self.valid_min_steps.get(kind)
        if (lo is not None and steps >= lo) or err <= _accuracy.TOLERANCE:
            return
        top = max(map(int, self.accuracy[kind]))
        where = f"from {lo} steps on" if lo is not None else f"at no step count up to {top}"
        other = "" if self.name == _BEST_DEIS else f", method={_BEST_DEIS!r}"
        warnings.warn(
            f"gradient method {self.name!r} at {steps} steps ({kind.upper()} sampler): its "
            f"measured relative error of dloss/dx_T is about {err:.3g} (docs/gradient-map.md; "
            f"{_accuracy.SETTING[kind]}); it stays within {_accuracy.TOLERANCE:g} {where}. "
            f"Use more steps{other}, or method='reversible' (exact for the sampler)",
            GradientAccuracyWarning, stacklevel=3)

    def info(self) -> dict:
        return {"name": self.name, "exact": self.exact, "order": self.order,
                "memory": self.memory, "nfe_per_step": self.nfe_per_step,
                "needs_reversible": self.needs_reversible, "options": dict(self.options),
                "description": self.description, "guarded": self.guarded,
                "accuracy": {k: dict(v) for k, v in self.accuracy.items()},
                "valid_min_steps": dict(self.valid_min_steps),
                "tolerance": _accuracy.TOLERANCE}


def _with_accuracy(m: GradientMethod, guarded: bool) -> GradientMethod:
    """``m`` with its stored measurement (and, for ``guarded``, its range check)."""
    meas = _measured(m.name)
    acc = {kind: {int(k): float(e) for k, e in v["rel_err"].items()} for kind, v in meas.items()}
    valid = {kind: v["valid_min_steps"] for kind, v in meas.items()}
    return GradientMethod(
        m.name, m.fn, m.exact, m.order, m.memory, m.nfe_per_step, m.needs_reversible,
        m.description, m.options, guarded, acc, valid)


def _reversible() -> GradientMethod:
    return _with_accuracy(GradientMethod(
        "reversible", reversible_gradient, True, None, "O(1)",
        "inverse step + one re-run with a VJP (2 x the sampler's NFE/step)", True,
        "exact gradient of the discrete solve; states rebuilt by the sampler's inverse "
        "on the same Brownian path (docs/mathematics.md §6)"), False)


#: the AdjointDEIS method a guard's warning suggests (the most accurate one measured at
#: 10-20 steps, docs/gradient-map.md; generated with the measurement)
_BEST_DEIS = _accuracy.BEST

_DEIS_NFE = "inverse step (sampler's NFE/step) + 1 VJP of eps"


_DEIS_NFE_2S = "inverse step (sampler's NFE/step) + 1 eval and 2 VJPs of eps"


def _deis(name: str, order: int, weight: str, description: str,
          prediction: str, scheme: str = "multistep") -> GradientMethod:
    fn = partial(adjoint_deis_gradient, order=order, weight=weight, name=name, scheme=scheme)
    nfe = _DEIS_NFE_2S if scheme == "heun" else _DEIS_NFE
    return _with_accuracy(GradientMethod(
        name, fn, False, float(order), "O(1)", nfe, True, description,
        {"prediction": prediction}), True)


def _adjointdeis_1(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-1", 1, "paper",
                 "continuous adjoint by the paper's first-order exponential integrator (weight "
                 "e^-lambda, alpha^2 frozen), PF-ODE (c=1) or diffusion SDE (c=2), noise "
                 "prediction (docs/mathematics.md §8)", prediction)


def _adjointdeis_2m(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-2m", 2, "paper",
                 "continuous adjoint by the paper's second-order multistep exponential "
                 "integrator (docs/mathematics.md §8); unstable at few steps", prediction)


def _adjointdeis_vp1(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-vp1", 1, "vp",
                 "AdjointDEIS with the VP weight alpha^2 e^-lambda integrated exactly, only "
                 "a_x^T deps/dx frozen over a step (docs/mathematics.md §8.2)", prediction)


def _adjointdeis_vp2m(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-vp2m", 2, "vp",
                 "AdjointDEIS with the VP weight alpha^2 e^-lambda integrated exactly and "
                 "a_x^T deps/dx linear in lambda through the previous point (multistep; "
                 "docs/mathematics.md §8.3)", prediction)


def _adjointdeis_lin1(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-lin1", 1, "linear",
                 "AdjointDEIS with the linear part sigma*I of deps/dx integrated exactly "
                 "(exact for N(0, I) data) and the VP weight sigma, only b^T (deps/dx - sigma "
                 "I) frozen over a step; PF-ODE and diffusion SDE (docs/mathematics.md §8.4)",
                 prediction)


def _adjointdeis_lin2m(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-lin2m", 2, "linear",
                 "AdjointDEIS with the linear part sigma*I of deps/dx integrated exactly and "
                 "b^T (deps/dx - sigma I) linear in lambda through the previous point "
                 "(multistep); PF-ODE and diffusion SDE (docs/mathematics.md §8.4)",
                 prediction)


def _adjointdeis_lin2s(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-lin2s", 2, "linear",
                 "AdjointDEIS with the linear part sigma*I of deps/dx integrated exactly and "
                 "b^T (deps/dx - sigma I) linear in lambda between t and a first-order "
                 "prediction at s (single-step Heun, 2 VJPs a step); PF-ODE and diffusion SDE "
                 "(docs/mathematics.md §8.6)", prediction, scheme="heun")


def _adjointdeis_linvp1(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-linvp1", 1, "linvp",
                 "AdjointDEIS with the linear part sigma*I of deps/dx integrated exactly and the "
                 "VP factor alpha^2 of deps/dx - sigma I in the weight sigma*alpha^2, only "
                 "b^T (deps/dx - sigma I)/alpha^2 frozen over a step; PF-ODE and diffusion SDE "
                 "(docs/mathematics.md §8.7)", prediction)


def _adjointdeis_linvp2s(prediction: str = "eps") -> GradientMethod:
    return _deis("adjointdeis-linvp2s", 2, "linvp",
                 "AdjointDEIS with the split of adjointdeis-linvp1 and b^T (deps/dx - sigma "
                 "I)/alpha^2 linear in lambda between t and a first-order prediction at s "
                 "(single-step Heun, 2 VJPs a step); PF-ODE and diffusion SDE "
                 "(docs/mathematics.md §8.7)", prediction, scheme="heun")


def _backprop() -> GradientMethod:
    return _with_accuracy(GradientMethod(
        "backprop", backprop_gradient, True, None, "O(N)",
        "autograd through every step (the sampler's NFE/step, recorded)", False,
        "autograd through the whole sampler: the reference"), False)


def _greedy() -> GradientMethod:
    return _with_accuracy(GradientMethod(
        "greedy", greedy_gradient, False, None, "O(1)",
        "none per step: 1 VJP at x_T in all", False,
        "one-step gradient of the loss at the Tweedie estimate x0_hat(x_T) (DPS, "
        "FreeDoM; 'Greed is Good'): an estimate, not the gradient of the solve"), False)


#: the gradient methods, in the one Registry type (like the solvers and the samplers)
GRADIENT_METHODS: Registry[GradientMethod] = Registry(
    "gradient method", GradientMethod,
    "build it with get_gradient_method(name, **options) instead")
for _name, _build in (("reversible", _reversible), ("adjointdeis-1", _adjointdeis_1),
                      ("adjointdeis-2m", _adjointdeis_2m),
                      ("adjointdeis-vp1", _adjointdeis_vp1),
                      ("adjointdeis-vp2m", _adjointdeis_vp2m),
                      ("adjointdeis-lin1", _adjointdeis_lin1),
                      ("adjointdeis-lin2m", _adjointdeis_lin2m),
                      ("adjointdeis-lin2s", _adjointdeis_lin2s),
                      ("adjointdeis-linvp1", _adjointdeis_linvp1),
                      ("adjointdeis-linvp2s", _adjointdeis_linvp2s), ("backprop", _backprop),
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
