"""Gradients of the discrete solve: ``"reversible"`` (docs/mathematics.md §6) and ``"backprop"``.

Both differentiate the very steps that produce the sample.  ``"reversible"``
runs the sampler's lifted equation through :func:`revsde.sdeint` with
``adjoint=True``: the forward pass keeps no graph, the backward pass rebuilds
each state by the sampler's inverse step on the same Brownian path and takes
one vector–Jacobian product per step, so memory does not grow with the number
of steps.  ``"backprop"`` lets autograd record the whole solve (memory linear
in the number of steps); it is the reference.
"""

from __future__ import annotations

import torch

from ..samplers import RexSampler, Sampler
from .errors import GradientError
from .problem import GradientProblem, scalar_loss

__all__ = ["reversible_gradient", "backprop_gradient", "check_reversible"]


def check_reversible(sampler: Sampler, method: str) -> RexSampler:
    """``sampler``, refused unless it has an exact inverse (and no exact mode, which has no
    gradient)."""
    if not isinstance(sampler, RexSampler):
        raise GradientError(
            f"method {method!r} rebuilds the states with the sampler's inverse, and "
            f"{sampler.name!r} is not reversible; use a reversible sampler (rev_heun, "
            "rev_heun_sde, rex_rk4, rex_em, ...: see list_samplers()) or method='backprop'"
        )
    if getattr(sampler, "quantum", None) is not None:
        raise GradientError(
            f"sampler {sampler.name!r} is in exact mode (quantum={sampler.quantum!r}); "
            "rounding to its fixed-point grid has zero gradient. Build the sampler without "
            "quantum for gradients"
        )
    return sampler


def _grads(loss, pb: GradientProblem) -> list:
    return list(torch.autograd.grad(loss, pb.inputs, allow_unused=True))


def reversible_gradient(pb: GradientProblem):
    """Exact gradients of the discrete solve in O(1) memory (docs/mathematics.md §6)."""
    s = check_reversible(pb.sampler, "reversible")
    run = s.prepare(pb.model, pb.ts, pb.x_T, cond=pb.cond, seed=pb.seed)
    with torch.enable_grad():
        # Only the two ends are outputs (the steps are the grid): memory flat in the steps.
        sol = run.solve(run.start(pb.x_T, 0), adjoint=True,
                        params=[*pb.cond_tensors, *pb.params, *pb.extra])
        x0 = run.unlift(sol.state[0], -1)
        loss = scalar_loss(pb.loss_fn, x0)
        grads = _grads(loss, pb)
    return x0.detach(), loss.detach(), grads


def backprop_gradient(pb: GradientProblem):
    """Autograd through the whole sampler (any sampler): the reference, O(N) memory."""
    s = pb.sampler
    with torch.enable_grad():
        if getattr(s, "stochastic", False):
            x0 = s.sample(pb.model, pb.x_T, pb.ts, seed=pb.seed, cond=pb.cond)
        else:
            x0 = s.sample(pb.model, pb.x_T, pb.ts, cond=pb.cond)
        loss = scalar_loss(pb.loss_fn, x0)
        grads = _grads(loss, pb)
    return x0.detach(), loss.detach(), grads
