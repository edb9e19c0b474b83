"""What every gradient method receives: the checked inputs of one ``gradient`` call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..checks import check_loss_uses
from ..models import DiffusionModel
from ..samplers import Sampler
from .errors import GradientError

__all__ = ["GradientProblem", "scalar_loss", "NetCounter"]


@dataclass
class GradientProblem:
    """The inputs of one call, checked.

    ``x_T`` and the tensors of ``cond`` are fresh leaves that require grad (copies
    of the caller's); ``params`` are the caller's own tensors (they require grad);
    ``extra`` are the model's other trainable tensors, which the network reads
    but whose gradients are not asked for (the reversible adjoint must still be
    told about them).  ``ts`` is the float64 t-grid, noise to data.
    """

    loss_fn: Callable
    model: DiffusionModel
    x_T: torch.Tensor
    cond: dict
    cond_keys: list
    params: list
    extra: list
    ts: torch.Tensor
    sampler: Sampler
    seed: int | None

    @property
    def cond_tensors(self) -> list:
        return [self.cond[k] for k in self.cond_keys]

    @property
    def inputs(self) -> list:
        """``[x_T, *cond tensors, *params]``: what the gradients are taken of."""
        return [self.x_T, *self.cond_tensors, *self.params]


def scalar_loss(loss_fn: Callable, x0: torch.Tensor) -> torch.Tensor:
    """``loss_fn(x0)``, refused unless it is a real scalar tensor."""
    loss = loss_fn(x0)
    if not torch.is_tensor(loss):
        raise GradientError(
            f"loss_fn must return a scalar tensor; it returned a {type(loss).__name__}"
        )
    if loss.numel() != 1 or not loss.is_floating_point():
        raise GradientError(
            f"loss_fn must return a scalar (one-element, floating) tensor; it returned shape "
            f"{tuple(loss.shape)} ({loss.dtype}). Reduce it, e.g. loss.sum() or loss.mean()"
        )
    if not (loss.requires_grad and check_loss_uses(loss, x0)):
        raise GradientError(
            "loss_fn's value does not depend on the sample it was given (its autograd graph "
            "does not reach x0); "
            "compute the loss from its argument x0 with differentiable torch operations"
        )
    return loss.reshape(())


class NetCounter:
    """Counts the network's evaluations while active (a forward hook on ``model.net``)."""

    def __init__(self, model: DiffusionModel):
        self.net = model.net if isinstance(model.net, torch.nn.Module) else None
        self.count = 0
        self._handle = None

    def _hook(self, module, args, output):
        self.count += 1

    def __enter__(self):
        if self.net is not None:
            self._handle = self.net.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()
        return False

    @property
    def nfe(self) -> int | None:
        return self.count if self.net is not None else None
