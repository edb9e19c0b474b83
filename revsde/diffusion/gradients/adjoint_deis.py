"""AdjointDEIS-1 and -2M: the continuous adjoint by exponential integrators
(docs/mathematics.md §8).

Noise prediction; the probability-flow ODE has ``c = 1`` and the diffusion SDE
``c = 2`` (ODE-reduced: ``g`` does not depend on ``x``, so the adjoint of the
SDE is an ODE along the realised path; Blasingame & Liu 2024, AdjointDEIS).
Time runs from data to noise, from ``t`` to ``s > t`` with ``h = λ_s - λ_t < 0``:

* order 1: ``a_x(s) = (α_t/α_s) a_x(t) + c σ_s (e^h - 1)/α_s² · V(t)``, with
  ``V(t) = α_t² a_x(t)ᵀ ∂ε_θ(x_t, z, t)/∂x_t``; and
  ``a_z(s) = a_z(t) + c σ_s (e^h - 1)/α_s · V_z(t)``, ``V_z(t) = α_t a_x(t)ᵀ ∂ε_θ/∂z``
  (the same for the parameters θ);
* 2M: ``V`` replaced by ``D = (1 + 1/(2ρ)) V(t) - 1/(2ρ) V(r)``, with the
  previous point ``r < t`` and ``ρ = (λ_t - λ_r)/h``; the first step is order 1.

Each step takes one vector–Jacobian product of ``ε_θ`` at ``x_t`` (``a_x``, ``a_z``
and ``a_θ`` together).  The states ``x_t`` at the adjoint's time points are
rebuilt one step at a time by the reversible sampler's inverse on the same
Brownian path, from the final state of the forward solve: nothing is stored.
"""

from __future__ import annotations

import torch

from ..samplers import RexSampler
from .errors import GradientError
from .exact import check_reversible
from .problem import GradientProblem, scalar_loss

__all__ = ["adjoint_deis_gradient", "ADJOINT_DEIS_PREDICTIONS"]

#: the parameterisations whose AdjointDEIS update is derived and order-tested
ADJOINT_DEIS_PREDICTIONS = ("eps",)


def check_adjoint_deis(pb: GradientProblem, method: str, prediction: str) -> RexSampler:
    """The problem's sampler, refused unless AdjointDEIS applies to it."""
    if prediction not in ADJOINT_DEIS_PREDICTIONS:
        raise GradientError(
            f"{method} is implemented for prediction in {list(ADJOINT_DEIS_PREDICTIONS)} (the "
            f"noise-prediction form of docs/mathematics.md §8); got prediction={prediction!r}. Its "
            "data-prediction form is not derived here: use prediction='eps' (any model works, "
            "its output is converted to ε), or method='reversible' for exact gradients"
        )
    s = check_reversible(pb.sampler, method)
    schedule = pb.model.schedule
    if not getattr(schedule, "variance_preserving", False):
        raise GradientError(
            f"{method} is written for variance-preserving schedules (α² + σ² = 1, the "
            f"setting of docs/mathematics.md §8); this model has {type(schedule).__name__}. Use "
            "method='reversible' (any schedule)"
        )
    return s


def _coefficients(schedule, ts: torch.Tensor):
    """``(α, σ, λ)`` on the grid, float64 on the CPU (cast where used)."""
    ts = ts.to(torch.float64)
    return schedule.alpha(ts), schedule.sigma(ts), schedule.lambda_(ts)


def adjoint_deis_gradient(pb: GradientProblem, order: int = 1, prediction: str = "eps"):
    """AdjointDEIS of ``order`` 1 or 2 (multistep): ``(sample, loss, grads)``."""
    if order not in (1, 2):
        raise GradientError(f"AdjointDEIS has orders 1 and 2 (2M); got order={order!r}")
    method = "adjointdeis-1" if order == 1 else "adjointdeis-2m"
    s = check_adjoint_deis(pb, method, prediction)
    model, ts = pb.model, pb.ts
    run = s.prepare(model, ts, pb.x_T, cond=pb.cond, seed=pb.seed)
    with torch.no_grad():
        state = run.solve(run.start(pb.x_T, 0)).state
        x0 = run.unlift(state[0], -1)
    with torch.enable_grad():
        x0_leaf = x0.detach().requires_grad_()
        loss = scalar_loss(pb.loss_fn, x0_leaf)
        (a_x,) = torch.autograd.grad(loss, [x0_leaf])
    c = 2.0 if s.stochastic else 1.0
    alpha, sigma, lam = _coefficients(model.schedule, ts)
    others = [*pb.cond_tensors, *pb.params]
    a_o = [torch.zeros_like(o) for o in others]
    prev = None
    for n in range(len(ts) - 2, -1, -1):
        t_idx = n + 1  # current point t (nearer the data); the step goes to s = ts[n]
        x_t = run.unlift(state[0], t_idx).detach().requires_grad_()
        with torch.enable_grad():
            eps = model.eps(x_t, float(ts[t_idx]), **pb.cond)
            vj = torch.autograd.grad(eps, [x_t, *others], grad_outputs=a_x, allow_unused=True)
        a_t = float(alpha[t_idx])
        V = [vj[0] * (a_t * a_t)]
        V += [torch.zeros_like(o) if g is None else g * a_t for g, o in zip(vj[1:], others)]
        h = float(lam[n] - lam[t_idx])
        D = V
        if order == 2 and prev is not None:
            rho = float(lam[t_idx] - lam[t_idx + 1]) / h
            k = 0.5 / rho
            D = [(1.0 + k) * v - k * p for v, p in zip(V, prev)]
        a_s, s_s = float(alpha[n]), float(sigma[n])
        coef = c * s_s * float(torch.special.expm1(torch.tensor(h, dtype=torch.float64)))
        a_x = (a_t / a_s) * a_x + (coef / (a_s * a_s)) * D[0]
        a_o = [ao + (coef / a_s) * d for ao, d in zip(a_o, D[1:])]
        prev = V
        with torch.no_grad():
            # One inverse step on the sub-grid [ς_n, ς_{n+1}] of the same path; a plain
            # tuple, since the state's own record names the whole grid.
            state = tuple(run.solve(tuple(state), inverse=True, span=(n, n + 2)).state)
    return x0.detach(), loss.detach(), [a_x, *a_o]
