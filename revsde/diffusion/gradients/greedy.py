"""``"greedy"``: the one-step gradient at the Tweedie estimate (DPS, FreeDoM).

The loss is differentiated at the data prediction of the noise itself,
``∇ L(x̂0(x_T, T))`` with ``x̂0 = (x_T - σ_T ε_θ(x_T, T))/α_T`` (Tweedie's formula
for a VP model; Chung et al. 2023, DPS, eq. 10; Yu et al. 2023, FreeDoM):
one network evaluation and one vector–Jacobian product, whatever the number of
steps.  Blasingame & Liu ("Greed is Good", 2025) read it as the first-order,
one-step discretisation of the end-to-end gradient ``∇ L(x0(x_T))``: it is an
estimate, not the gradient of the solve.  The sample and loss returned are
those of the sampler's own (graph-free) solve.
"""

from __future__ import annotations

import torch

from .problem import GradientProblem, scalar_loss

__all__ = ["greedy_gradient"]


def greedy_gradient(pb: GradientProblem):
    """``(sample, loss, grads)``: the sample's loss and the gradient of ``L(x̂0(x_T))``."""
    s = pb.sampler
    with torch.no_grad():
        if getattr(s, "stochastic", False):
            x0 = s.sample(pb.model, pb.x_T, pb.ts, seed=pb.seed, cond=pb.cond)
        else:
            x0 = s.sample(pb.model, pb.x_T, pb.ts, cond=pb.cond)
    with torch.enable_grad():
        loss = scalar_loss(pb.loss_fn, x0.detach().requires_grad_())
        x0_hat = pb.model.x0(pb.x_T, pb.ts[0].item(), **pb.cond)
        one_step = scalar_loss(pb.loss_fn, x0_hat)
        grads = list(torch.autograd.grad(one_step, pb.inputs, allow_unused=True))
    return x0, loss.detach(), grads
