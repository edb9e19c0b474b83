"""``gradient(loss_fn, model, x_T, ...)``: gradients of a loss of the generated sample.

The sample is ``x0 = sampler(model, x_T, cond)`` on a grid of ``steps`` steps;
the loss is ``loss_fn(x0)``, a scalar.  The result holds its gradients with
respect to the starting noise ``x_T``, the floating-point tensors of the
conditioning ``cond`` (keyword arguments of the network) and the tensors
``params`` (e.g. the network's parameters), computed by one of the methods of
:data:`~revsde.diffusion.gradients.methods.GRADIENT_METHODS`.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from ...solvers.compensated import SPLITTERS
from ..checks import check_gradient_call
from ..models import DiffusionModel
from ..samplers import Sampler, check_model, get_sampler
from ..schedules import time_grid
from .errors import GradientError
from .methods import get_gradient_method
from .problem import GradientProblem, NetCounter

__all__ = ["gradient", "GradientResult"]


@dataclass
class GradientResult:
    """What :func:`gradient` returns (the same fields for every method).

    Attributes:
        loss: ``loss_fn(sample)``, a detached 0-d tensor.
        sample: the generated ``x0`` (detached).
        grad_x_T: ``∂loss/∂x_T``, shaped like ``x_T``.
        grad_cond: ``{name: ∂loss/∂cond[name]}`` for every floating tensor of ``cond``.
        grad_params: ``∂loss/∂p`` for each tensor of ``params``, in order.
        method: the gradient method's name.
        steps: the number of sampler steps.
        nfe: network evaluations of the whole call (``None`` for a network that is not
            an ``nn.Module``, which cannot be counted).
        seconds: wall time of the call.
    """

    loss: torch.Tensor
    sample: torch.Tensor
    grad_x_T: torch.Tensor
    grad_cond: dict = field(default_factory=dict)
    grad_params: list = field(default_factory=list)
    method: str = ""
    steps: int = 0
    nfe: int | None = None
    seconds: float = 0.0


def _check_x_T(x_T) -> torch.Tensor:
    if not torch.is_tensor(x_T) or not x_T.is_floating_point():
        got = x_T.dtype if torch.is_tensor(x_T) else type(x_T).__name__
        raise GradientError(f"x_T must be a floating-point tensor (batch, ...); got {got}")
    if x_T.dim() < 1:
        raise GradientError("x_T needs a leading batch dimension; use x_T[None]")
    return x_T.detach().requires_grad_(True)


def _check_cond(cond) -> tuple[dict, list]:
    if cond is None:
        return {}, []
    if not isinstance(cond, dict):
        raise GradientError(
            "cond must be a dict of the network's keyword arguments, e.g. "
            f"{{'label': onehot}}; got {type(cond).__name__}"
        )
    out, keys = {}, []
    for k, v in cond.items():
        if torch.is_tensor(v) and v.is_floating_point():
            out[k] = v.detach().requires_grad_(True)
            keys.append(k)
        else:
            out[k] = v
    return out, keys


def _check_params(params, model) -> tuple[list, list]:
    if params is None:
        params = []
    elif torch.is_tensor(params):
        params = [params]
    elif isinstance(params, Iterable):
        params = list(params)
    else:
        raise GradientError(
            f"params must be a list of tensors, e.g. list(model.parameters()); got "
            f"{type(params).__name__}"
        )
    seen = set()
    for i, p in enumerate(params):
        if not torch.is_tensor(p):
            raise GradientError(f"params[{i}] is a {type(p).__name__}, not a tensor")
        if not p.requires_grad:
            raise GradientError(
                f"params[{i}] (shape {tuple(p.shape)}) does not require grad; call "
                "p.requires_grad_(True) on it (a pretrained model is loaded frozen: "
                "model.requires_grad_(True)), or leave it out of params"
            )
        if id(p) in seen:
            raise GradientError(f"params[{i}] appears twice in params")
        seen.add(id(p))
    extra = []
    if isinstance(model, torch.nn.Module):
        extra = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    return params, extra


def gradient(loss_fn: Callable, model: DiffusionModel, x_T: torch.Tensor, *,
             cond: dict | None = None, params: Iterable[torch.Tensor] | None = None,
             steps: int = 50, sampler: str | Sampler = "rev_heun", seed: int | None = None,
             method: str = "reversible", grid: str = "uniform_lambda",
             **options: object) -> GradientResult:
    """Gradients of ``loss_fn(sample)`` with respect to ``x_T``, ``cond`` and ``params``.

    Args:
        loss_fn: ``loss_fn(x0) -> scalar tensor``, differentiable in ``x0``.
        model: a :class:`~revsde.diffusion.DiffusionModel`.
        x_T: the starting noise, ``(batch, ...)``.
        cond: the network's conditioning keyword arguments; each floating tensor gets
            a gradient (others are passed through).
        params: tensors to differentiate besides ``x_T`` and ``cond`` (they must
            require grad), e.g. ``list(model.parameters())``.
        steps: number of sampler steps on a ``grid`` of the model's schedule.
        sampler: a sampler name or instance (:func:`~revsde.diffusion.list_samplers`).
        seed: the Brownian path of a stochastic sampler (required for those).
        method: ``"reversible"``, ``"adjointdeis-1"``, ``"adjointdeis-2m"``,
            ``"adjointdeis-vp1"``, ``"adjointdeis-vp2m"``, ``"adjointdeis-lin1"``,
            ``"adjointdeis-lin2m"``, ``"adjointdeis-lin2s"``, ``"adjointdeis-linvp1"``,
            ``"adjointdeis-linvp2s"``, ``"backprop"`` or ``"greedy"``
            (:func:`list_gradient_methods`; their measured errors: docs/gradient-map.md).
            An AdjointDEIS method called with fewer steps than its measured valid range
            warns (:class:`~revsde.diffusion.gradients.GradientAccuracyWarning`).
        grid: time-grid kind of :func:`~revsde.diffusion.time_grid`.
        **options: method options (AdjointDEIS: ``prediction="eps"``).
    """
    if not callable(loss_fn):
        raise GradientError(f"loss_fn must be callable as loss_fn(x0); got {type(loss_fn)}")
    entry = get_gradient_method(method, **options)
    try:
        model = check_model(model)
    except ValueError as e:
        raise GradientError(str(e)) from None
    steps = check_gradient_call(model, x_T, cond, steps, GradientError)
    try:
        s = get_sampler(sampler)
    except ValueError as e:
        raise GradientError(str(e)) from None
    x = _check_x_T(x_T)
    if (isinstance(sampler, str) and getattr(s, "stochastic", False)
            and "compensated" in s.options and x.dtype in SPLITTERS):
        # a stochastic sampler named by the caller runs with the compensated state (as
        # encode does): its reversible adjoint then equals backprop to round-off, where
        # plain sums leave 1e-9 to 1e-8 (docs/mathematics.md §4.6)
        s = get_sampler(sampler, compensated=True)
    cond_t, keys = _check_cond(cond)
    params, extra = _check_params(params, model)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise GradientError(f"steps must be a positive integer (the sampler's steps); got "
                            f"{steps!r}")
    try:
        ts = time_grid(model.schedule, int(steps), grid)
    except ValueError as e:
        raise GradientError(str(e)) from None
    if getattr(s, "stochastic", False) and seed is None:
        raise GradientError(
            f"sampler {s.name!r} is stochastic: pass seed=<int>; every method then follows "
            "the same Brownian path"
        )
    entry.check_steps(int(steps), bool(getattr(s, "stochastic", False)))
    pb = GradientProblem(loss_fn, model, x, cond_t, keys, params, extra, ts, s, seed)
    start = time.perf_counter()
    with NetCounter(model) as counter:
        sample, loss, grads = entry(pb)
    seconds = time.perf_counter() - start
    grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, pb.inputs)]
    k = len(keys)
    return GradientResult(
        loss=loss, sample=sample, grad_x_T=grads[0],
        grad_cond=dict(zip(keys, grads[1:1 + k])), grad_params=list(grads[1 + k:]),
        method=entry.name, steps=int(steps), nfe=counter.nfe, seconds=seconds)
