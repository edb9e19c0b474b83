"""AdjointDEIS: the continuous adjoint by exponential integrators (docs/mathematics.md §8).

Noise prediction; the probability-flow ODE has ``c = 1`` and the diffusion SDE
``c = 2`` (ODE-reduced: ``g`` does not depend on ``x``, so the adjoint of the
SDE is an ODE along the realised path; Blasingame & Liu 2024, AdjointDEIS).
Time runs from data to noise, from ``t`` to ``s > t`` with ``h = λ_s - λ_t < 0``.
With ``a_Y = α a_x`` (the adjoint of the lifted state ``Y = x/α``) the adjoint
equations are exactly (docs/mathematics.md §8.1)

* ``a_Y(s) = a_Y(t) + c ∫_{λ_t}^{λ_s} e^{-λ} α_λ² a_xᵀ ∂ε_θ/∂x dλ``;
* ``a_z(s) = a_z(t) + c ∫_{λ_t}^{λ_s} e^{-λ} α_λ a_xᵀ ∂ε_θ/∂z dλ`` (the same for θ).

Each integrand is split into a known weight ``w(λ)``, integrated exactly, and a
remainder ``q(λ)`` that is approximated, frozen over the step (order 1) or linear
in λ through the previous point (order 2, multistep).  The splits (``weight=``; the
weight of the ``x`` part is listed, the ``z`` part's has one factor ``α`` less):

* ``"paper"``: ``w = e^{-λ}``, ``q = α² a_xᵀ ∂ε/∂x`` (the scheme of the paper,
  ``adjointdeis-1`` / ``adjointdeis-2m``; its 2M step uses the paper's
  ``D = (1 + 1/(2ρ)) V(t) - 1/(2ρ) V(r)``) (docs/mathematics.md §8);
* ``"vp"``: ``w = α² e^{-λ}``, ``q = a_xᵀ ∂ε/∂x`` (docs/mathematics.md §8.2; its multistep
  form §8.3);
* ``"linear"``: the linear part ``σ I`` of ``∂ε/∂x`` integrated exactly by the factor
  ``α^{-c}``: the state ``b = α^{1-c} a_x`` obeys ``db/dλ = c σ bᵀ(∂ε/∂x - σ I)``, weight
  ``σ``, ``q = bᵀ(∂ε/∂x - σ I)``; the ``z`` part has weight ``σ α^{c-1}`` and
  ``q = bᵀ ∂ε/∂z`` (docs/mathematics.md §8.4; exact for ``N(0, I)`` data);
* ``"linvp"``: the same state ``b`` with the VP factor ``α²`` of ``∂ε/∂x - σ I`` moved into the
  weight: ``w = σ α²``, ``q = bᵀ(∂ε/∂x - σ I)/α²``; the ``z`` part ``w = σ α^c``,
  ``q = bᵀ ∂ε/∂z / α`` (docs/mathematics.md §8.7);
* ``"lifted"``: ``w = α e^{-λ}``, ``q = a_Yᵀ ∂ε/∂x`` (docs/mathematics.md §8.2);
* ``"score"``: ``w = α σ e^{-λ} = σ²``, ``q = a_Yᵀ ∂ε/∂x / σ`` (docs/mathematics.md §8.2);
* ``"hessian"``: ``w = α σ²``, ``q = a_xᵀ ∂ε/∂x / σ`` (docs/mathematics.md §8.2).

``"paper"``, ``"vp"``, ``"linear"`` and ``"linvp"`` are registered (``adjointdeis-1``/``-2m``,
``adjointdeis-vp1``/``-vp2m``, ``adjointdeis-lin1``/``-lin2m``/``-lin2s`` and
``adjointdeis-linvp1``/``-linvp2s``); the gradient
map (docs/gradient-map.md) measures the others, which are less accurate.

The second order is multistep (2M, ``scheme="multistep"``: ``q`` linear through the previous
point, docs/mathematics.md §8.3) or single-step (2S, ``scheme="heun"``: ``q`` linear between
``t`` and its value at ``s`` from a first-order prediction, docs/mathematics.md §8.6; two VJPs
a step, the graph of ``ε_θ`` at ``x_s`` kept for both).

Each step takes one vector–Jacobian product of ``ε_θ`` at ``x_t`` (``a_x``, ``a_z``
and ``a_θ`` together; 2S one more at ``x_s``).  The states ``x_t`` at the adjoint's time points are
rebuilt one step at a time by the reversible sampler's inverse on the same
Brownian path, from the final state of the forward solve: nothing is stored.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..samplers import RexSampler
from .errors import GradientError
from .exact import check_reversible
from .problem import GradientProblem, scalar_loss

__all__ = ["adjoint_deis_gradient", "ADJOINT_DEIS_PREDICTIONS", "ADJOINT_DEIS_SCHEMES",
           "ADJOINT_DEIS_WEIGHTS", "step_moments", "weight_moments"]

#: the parameterisations whose AdjointDEIS update is derived and order-tested
ADJOINT_DEIS_PREDICTIONS = ("eps",)

#: the splits of the adjoint's integrand into an exact weight and an approximated part
ADJOINT_DEIS_WEIGHTS = ("paper", "vp", "linear", "linvp", "lifted", "score", "hessian")

#: the splits that integrate the linear part ``σ I`` exactly, with the state ``b = α^{1-c} a_x``
#: (docs/mathematics.md §8.4, §8.7)
_LINEAR_PART = ("linear", "linvp")

#: the second-order schemes: multistep (2M, docs/mathematics.md §8.3) and single-step Heun
#: (2S, docs/mathematics.md §8.6)
ADJOINT_DEIS_SCHEMES = ("multistep", "heun")

#: Gauss–Legendre nodes per panel, and the longest panel in λ, for the first moments
_GL_NODES = 12
_GL_PANEL = 1.0


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


# -- the known weights (docs/mathematics.md §8.2) ------------------------------------------
def _log_alpha(lam: np.ndarray) -> np.ndarray:
    """log α_λ = -½ softplus(-2λ) on a VP schedule (docs/mathematics.md §4.1)."""
    return -0.5 * np.logaddexp(0.0, -2.0 * lam)


def _log_sigma(lam: np.ndarray) -> np.ndarray:
    return -0.5 * np.logaddexp(0.0, 2.0 * lam)


def _weight(kind: str, part: str, lam: np.ndarray) -> np.ndarray:
    """The weight ``w(λ)`` of the ``x`` or ``z`` adjoint (``part``), from λ alone."""
    la, ls = _log_alpha(lam), _log_sigma(lam)
    # x part: e^{-λ} α² = α σ, split as w · q; z part: e^{-λ} α = σ, split as w · q
    logs = {
        ("paper", "x"): -lam, ("paper", "z"): -lam,
        ("vp", "x"): la + ls, ("vp", "z"): ls,
        # "linear": b = a_x α^{1-c}, b' = c σ bᵀ(∂ε/∂x - σ I) (docs/mathematics.md §8.4); the
        # z part's weight σ α^{c-1}: σ (ODE, "z1") and α σ (SDE, "z2")
        ("linear", "x"): ls, ("linear", "z1"): ls, ("linear", "z2"): la + ls,
        # "linvp": the factor α² of ∂ε/∂x - σ I in the weight (docs/mathematics.md §8.7):
        # σ α² for x, σ α^c for z
        ("linvp", "x"): 2.0 * la + ls, ("linvp", "z1"): la + ls, ("linvp", "z2"): 2.0 * la + ls,
        ("lifted", "x"): ls, ("lifted", "z"): -lam,
        ("score", "x"): 2.0 * ls, ("score", "z"): ls - lam,
        ("hessian", "x"): la + 2.0 * ls, ("hessian", "z"): 2.0 * ls,
    }
    return np.exp(logs[(kind, part)])


def _w0_closed(kind: str, part: str, lam_t: np.ndarray, lam_s: np.ndarray) -> np.ndarray:
    """``∫_{λ_t}^{λ_s} w(λ) dλ`` in closed form, without cancellation (docs/mathematics.md §8.2).

    ``h = λ_s - λ_t``; with ``e^{-λ}``, ``asinh(e^{-λ})``, ``atan(e^λ)``, ``α`` and
    ``log α``, ``-σ`` the antiderivatives, each difference is rewritten as a function of ``h``
    (``expm1``, ``log1p``, ``sinh``) so that a short step loses no digits.
    """
    h = lam_s - lam_t
    a_t, a_s = np.exp(_log_alpha(lam_t)), np.exp(_log_alpha(lam_s))
    s_t, s_s = np.exp(_log_sigma(lam_t)), np.exp(_log_sigma(lam_s))
    key = (kind, part)
    if key in (("paper", "x"), ("paper", "z"), ("lifted", "z")):
        return np.exp(-lam_s) * np.expm1(h)  # ∫ e^{-λ} = e^{-λ_s} (e^h - 1)
    if key in (("vp", "z"), ("lifted", "x"), ("linear", "x"), ("linear", "z1")):
        return np.arcsinh(2.0 * s_t * s_s * np.sinh(h) / (s_t + s_s))  # ∫ σ dλ
    if key in (("linvp", "x"), ("linvp", "z2")):  # ∫ σ α² dλ = σ_t - σ_s (§8.7)
        return 2.0 * a_t * a_s * s_t * s_s * np.sinh(h) / (s_t + s_s)
    if key in (("vp", "x"), ("linear", "z2"), ("linvp", "z1")):  # ∫ α σ = atan(e^λ) + const
        return np.arctan(np.sinh(0.5 * h) / np.cosh(0.5 * (lam_s + lam_t)))
    if key == ("hessian", "x"):
        return 2.0 * a_t * a_s * s_t * s_s * np.sinh(h) / (a_t + a_s)  # ∫ α σ² = α_s - α_t
    if key in (("score", "x"), ("hessian", "z")):
        return -0.5 * np.log1p(s_t * s_t * np.expm1(-2.0 * h))  # ∫ σ² = log α_s - log α_t
    if key == ("score", "z"):
        return 2.0 * s_t * s_s * np.sinh(h) / (a_t + a_s)  # ∫ σ e^{-λ} = 1/α_t - 1/α_s
    raise GradientError(f"unknown AdjointDEIS weight {kind!r}")


def step_moments(kind: str, part: str, lam_t: np.ndarray,
                 lam_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W0, W1) = (∫ w dλ, ∫ w (λ - λ_t) dλ)`` from each ``λ_t`` to ``λ_s``
    (docs/mathematics.md §8.2): ``W0`` in closed form, ``W1`` by Gauss–Legendre on panels at
    most 1 long in λ (every node's term has the same sign: no cancellation; the weights
    are analytic within π/2 of the real axis, so 12 nodes a panel are exact to
    round-off)."""
    lam_t = np.asarray(lam_t, dtype=np.float64)
    lam_s = np.asarray(lam_s, dtype=np.float64)
    h = lam_s - lam_t
    x, wq = np.polynomial.legendre.leggauss(_GL_NODES)
    w1 = np.zeros_like(h)
    for i in np.ndindex(h.shape):
        panels = max(1, math.ceil(abs(float(h[i])) / _GL_PANEL))
        edges = np.linspace(0.0, 1.0, panels + 1)
        u = (edges[:-1, None] + edges[1:, None]) / 2 + (edges[1:, None] - edges[:-1, None]) / 2 * x
        du = ((edges[1:] - edges[:-1])[:, None] / 2) * wq
        w1[i] = h[i] * h[i] * np.sum(du * _weight(kind, part, lam_t[i] + u * h[i]) * u)
    return _w0_closed(kind, part, lam_t, lam_s), w1


def weight_moments(kind: str, part: str, lam_t: float, lam_s: float) -> tuple[float, float]:
    """:func:`step_moments` of one step, as floats."""
    w0, w1 = step_moments(kind, part, np.array(lam_t), np.array(lam_s))
    return float(w0), float(w1)


def _prefactor(kind: str, a: float, s: float) -> tuple[float, float]:
    """``(p_x, p_z)``: ``q = p · a_xᵀ ∂ε/∂(x, z)`` at a point with ``α = a``, ``σ = s``."""
    if kind == "vp":
        return 1.0, 1.0
    if kind == "lifted":
        return a, a
    if kind == "score":
        return a / s, a / s
    if kind == "hessian":
        return 1.0 / s, 1.0 / s
    raise GradientError(f"unknown AdjointDEIS weight {kind!r}")


def adjoint_deis_gradient(pb: GradientProblem, order: int = 1, prediction: str = "eps",
                          weight: str = "paper", name: str | None = None,
                          scheme: str = "multistep"):
    """AdjointDEIS of ``order`` 1 or 2 with the ``weight`` split of the integrand
    (:data:`ADJOINT_DEIS_WEIGHTS`): ``(sample, loss, grads)``.  The second order is
    ``scheme="multistep"`` (2M: ``q`` linear through the previous point) or ``"heun"``
    (single step: ``q`` linear between ``t`` and a first-order prediction at ``s``,
    docs/mathematics.md §8.6; not for the ``"paper"`` split)."""
    if order not in (1, 2):
        raise GradientError(f"AdjointDEIS has orders 1 and 2 (2M or 2S); got order={order!r}")
    if weight not in ADJOINT_DEIS_WEIGHTS:
        raise GradientError(
            f"AdjointDEIS weight must be one of {list(ADJOINT_DEIS_WEIGHTS)}; got {weight!r}")
    if scheme not in ADJOINT_DEIS_SCHEMES:
        raise GradientError(
            f"AdjointDEIS scheme must be one of {list(ADJOINT_DEIS_SCHEMES)}; got {scheme!r}")
    heun = scheme == "heun"
    if heun and (order != 2 or weight == "paper"):
        raise GradientError(
            "scheme='heun' is the second-order single step of an exact-weight split "
            f"(docs/mathematics.md §8.6): use order=2 and a weight other than 'paper'; got "
            f"order={order!r}, weight={weight!r}")
    method = name or ("adjointdeis-1" if order == 1 else "adjointdeis-2m")
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
    if weight != "paper":
        lam_np = lam.numpy()
        zpart = ("z1" if c == 1.0 else "z2") if weight in _LINEAR_PART else "z"
        mx = step_moments(weight, "x", lam_np[1:], lam_np[:-1])  # step n: λ_{n+1} -> λ_n
        mz = step_moments(weight, zpart, lam_np[1:], lam_np[:-1])

    def point(k: int):
        """``(x, ε_θ(x))`` at grid point ``k`` of the current state, with its graph."""
        x = run.unlift(state[0], k).detach().requires_grad_()
        with torch.enable_grad():
            return x, model.eps(x, float(ts[k]), **pb.cond)

    def vjp(x, eps, vec, keep: bool):
        with torch.enable_grad():
            return torch.autograd.grad(eps, [x, *others], grad_outputs=vec, allow_unused=True,
                                       retain_graph=keep)

    def remainder(vj, vec, k: int) -> list:
        """``q = p · vecᵀ ∂ε/∂(x, z)`` of the split at grid point ``k`` (docs/mathematics.md
        §8.2, §8.4), from the VJP ``vj`` of ``ε`` with ``vec``."""
        a_k, s_k = float(alpha[k]), float(sigma[k])
        if weight in _LINEAR_PART:
            # docs/mathematics.md §8.4: the state b = a_x α^{1-c}, q = bᵀ(∂ε/∂x - σ I);
            # §8.7: divided by α² (x) and α (z), the factors moved into the weights
            p_x = p_z = a_k ** (1.0 - c)
            if weight == "linvp":
                p_x, p_z = p_x / (a_k * a_k), p_z / a_k
            V = [(vj[0] - s_k * vec) * p_x]
        else:
            p_x, p_z = _prefactor(weight, a_k, s_k)
            V = [vj[0] * p_x]
        return V + [torch.zeros_like(o) if g is None else g * p_z for g, o in zip(vj[1:], others)]

    def advance(a_x, a_t: float, a_s: float, inc_x):
        """``a_x(s)`` from ``a_x(t)`` and the integral ``inc_x`` of ``w q_x`` over the step."""
        if weight in _LINEAR_PART:  # b(s) = b(t) + c inc, a_x = α^{c-1} b (§8.4)
            return (a_x * a_t ** (1.0 - c) + c * inc_x) * a_s ** (c - 1.0)
        return (a_t * a_x + c * inc_x) / a_s  # α_s a_x(s) = α_t a_x(t) + c inc (§8.2)

    here = None  # (x, ε) at the current point, kept from the previous Heun step
    for n in range(len(ts) - 2, -1, -1):
        t_idx = n + 1  # current point t (nearer the data); the step goes to s = ts[n]
        x_t, eps = here if here is not None else point(t_idx)
        vj = vjp(x_t, eps, a_x, False)
        here = eps = None
        a_t = float(alpha[t_idx])
        a_s, s_s = float(alpha[n]), float(sigma[n])
        if weight == "paper":
            V = [vj[0] * (a_t * a_t)]
            V += [torch.zeros_like(o) if g is None else g * a_t for g, o in zip(vj[1:], others)]
            h = float(lam[n] - lam[t_idx])
            D = V
            if order == 2 and prev is not None:
                rho = float(lam[t_idx] - lam[t_idx + 1]) / h
                k = 0.5 / rho
                D = [(1.0 + k) * v - k * p for v, p in zip(V, prev)]
            coef = c * s_s * float(torch.special.expm1(torch.tensor(h, dtype=torch.float64)))
            a_x = (a_t / a_s) * a_x + (coef / (a_s * a_s)) * D[0]
            a_o = [ao + (coef / a_s) * d for ao, d in zip(a_o, D[1:])]
            prev = V
        else:
            # docs/mathematics.md §8.2: a_Y(s) = a_Y(t) + c (W0 q(t) + W1 q'(t)), q' the slope
            # in λ through the previous point (2M, §8.3) or through a first-order prediction
            # at s (2S, §8.6), and likewise for a_z with its weight
            V = remainder(vj, a_x, t_idx)
            w0x, w1x, w0z, w1z = (float(mx[0][n]), float(mx[1][n]), float(mz[0][n]),
                                  float(mz[1][n]))
            w1 = [w1x] + [w1z] * len(others)
            inc = [w0x * V[0]] + [w0z * v for v in V[1:]]
            if order == 2 and not heun and prev is not None:
                dl = float(lam[t_idx] - lam[t_idx + 1])  # λ_t - λ_r < 0
                inc = [i + (w / dl) * (v - p) for i, w, v, p in zip(inc, w1, V, prev)]
            a_new = advance(a_x, a_t, a_s, inc[0])
            prev = V
        with torch.no_grad():
            # One inverse step on the sub-grid [ς_n, ς_{n+1}] of the same path; a plain
            # tuple, since the state's own record names the whole grid.
            state = tuple(run.solve(tuple(state), inverse=True, span=(n, n + 2)).state)
        if weight != "paper":
            if heun:
                # docs/mathematics.md §8.6: q at s from the predicted a_x(s), one VJP at the
                # grid state x_s (its graph kept for the next step's VJP there)
                x_s, eps_s = here = point(n)
                Vs = remainder(vjp(x_s, eps_s, a_new, True), a_new, n)
                h = float(lam[n] - lam[t_idx])
                inc = [i + (w / h) * (vs - v) for i, w, vs, v in zip(inc, w1, Vs, V)]
                a_new = advance(a_x, a_t, a_s, inc[0])
            a_x = a_new
            a_o = [ao + c * i for ao, i in zip(a_o, inc[1:])]
    return x0.detach(), loss.detach(), [a_x, *a_o]
