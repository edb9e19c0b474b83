"""Oracles with known answers (docs/mathematics.md §9), usable as ``net`` in a DiffusionModel.

* :class:`GaussianOracle`: data ``N(μ, s² I)``; exact ε*, exact PF-ODE map.
* :class:`GaussianMixtureOracle`: isotropic mixture; closed-form score, exact
  samples and log-density (nonlinear, so it suits order tests).
* :class:`IdealDenoiser`: the optimal denoiser of a finite image set.

Each is called as ``oracle(x, t)`` with ``x`` of shape ``(batch, *shape)`` and
``t`` a scalar or ``(batch,)`` tensor, and returns its ``prediction`` ("eps"
or "x0", or "v").  All computations happen in ``x``'s dtype and device.
``oracle.model()`` wraps it in a :class:`DiffusionModel`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .models import DiffusionModel, batch_time, per_sample
from .schedules import NoiseSchedule
from .schedules.base import TimeLike

__all__ = ["GaussianOracle", "GaussianMixtureOracle", "IdealDenoiser"]


def _tensor(v) -> torch.Tensor:
    v = v.detach() if torch.is_tensor(v) else torch.as_tensor(v, dtype=torch.float64)
    return v if v.is_floating_point() else v.to(torch.float64)


class _Oracle:
    """Shared plumbing: prediction dispatch and coefficients at ``t``."""

    schedule: NoiseSchedule
    #: the conditioning keywords taken (none: an oracle is unconditional, and a ``cond=``
    #: given to it is refused by the checks rather than silently ignored)
    cond_keys: tuple[str, ...] = ()

    def __init__(self, schedule: NoiseSchedule, prediction: str):
        if prediction not in ("eps", "x0", "v"):
            raise ValueError(f"oracle prediction must be 'eps', 'x0' or 'v'; got {prediction!r}")
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}")
        self.schedule = schedule
        self.prediction = prediction

    def _coefs(self, x: torch.Tensor, t: TimeLike) -> tuple[torch.Tensor, torch.Tensor]:
        tb = batch_time(t, x)
        return per_sample(self.schedule.alpha(tb), x), per_sample(self.schedule.sigma(tb), x)

    def __call__(self, x, t, **cond):
        if self.prediction == "eps":
            return self.eps(x, t)
        if self.prediction == "x0":
            return self.x0(x, t)
        a, s = self._coefs(x, t)
        return a * self.eps(x, t) - s * self.x0(x, t)

    def x0(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """x0* = (x - σ ε*)/α (docs/mathematics.md §4.1)."""
        a, s = self._coefs(x, t)
        return (x - s * self.eps(x, t)) / a

    def eps(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """ε* = (x - α x0*)/σ (docs/mathematics.md §4.1)."""
        a, s = self._coefs(x, t)
        return (x - a * self.x0(x, t)) / s

    def score(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """∇ log p_t(x) = -ε*/σ."""
        _, s = self._coefs(x, t)
        return -self.eps(x, t) / s

    def model(self) -> DiffusionModel:
        """This oracle as a :class:`DiffusionModel` with its own prediction type."""
        return DiffusionModel(self, self.schedule, self.prediction)


class GaussianOracle(_Oracle):
    """Data ``N(μ, s² I)`` (``s`` a scalar or broadcastable to μ), docs/mathematics.md §9."""

    def __init__(self, mu: float | torch.Tensor, s: TimeLike, schedule: NoiseSchedule,
                 prediction: str = "eps"):
        super().__init__(schedule, prediction)
        self.mu = _tensor(mu)
        self.s = _tensor(s)
        if not bool((self.s > 0).all()):
            raise ValueError("GaussianOracle needs s > 0")
        torch.broadcast_shapes(self.s.shape, self.mu.shape)

    def _params(self, x):
        return self.mu.to(x.device, x.dtype), self.s.to(x.device, x.dtype)

    def _var(self, x, t):
        a, s = self._coefs(x, t)
        _, sd = self._params(x)
        return a, s, a * a * sd * sd + s * s

    def eps(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """ε*(x, t) = σ (x - α μ)/(α² s² + σ²) (docs/mathematics.md §9)."""
        mu, _ = self._params(x)
        a, s, v = self._var(x, t)
        return s * (x - a * mu) / v

    def x0(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """x0* = μ + α s² (x - α μ)/(α² s² + σ²) (posterior mean)."""
        mu, sd = self._params(x)
        a, _, v = self._var(x, t)
        return mu + a * sd * sd * (x - a * mu) / v

    def log_prob(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """log N(x; α μ, (α² s² + σ²) I), summed over the non-batch dims."""
        mu, _ = self._params(x)
        a, _, v = self._var(x, t)
        lp = -0.5 * ((x - a * mu) ** 2 / v + torch.log(2 * math.pi * v))
        return lp.reshape(x.shape[0], -1).sum(-1)

    def pf_ode_scale(self, s: TimeLike, t: TimeLike | None, like: torch.Tensor) -> torch.Tensor:
        """sqrt(α_t² s² + σ_t²)/sqrt(α_s² s² + σ_s²): the PF-ODE map's Jacobian
        (docs/mathematics.md §9)."""
        _, _, vs = self._var(like, s)
        _, _, vt = self._var(like, t)
        return torch.sqrt(vt / vs)

    def pf_ode_map(self, x_s: torch.Tensor, s: TimeLike, t: TimeLike) -> torch.Tensor:
        """Exact PF-ODE flow from time s to t: (x - α μ)/sqrt(α² s² + σ²) is invariant
        (docs/mathematics.md §9)."""
        mu, _ = self._params(x_s)
        a_s, _ = self._coefs(x_s, s)
        a_t, _ = self._coefs(x_s, t)
        return a_t * mu + self.pf_ode_scale(s, t, x_s) * (x_s - a_s * mu)

    def sample(self, n: int, generator: torch.Generator | None = None, t: TimeLike | None = None,
               dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` exact samples of the data (``t=None``) or of the noised marginal at ``t``."""
        mu = self.mu.to(device=device, dtype=dtype)
        sd = self.s.to(device=device, dtype=dtype)
        shape = (n,) + torch.broadcast_shapes(mu.shape, sd.shape)
        z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        x0 = mu + sd * z
        if t is None:
            return x0
        a, s = self._coefs(x0, t)
        e = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return a * x0 + s * e


class GaussianMixtureOracle(_Oracle):
    """Mixture ``Σ_k w_k N(m_k, s_k² I)`` (docs/mathematics.md §9).

    ``weights`` (K,), ``means`` (K, *shape), ``stds`` (K,) or a scalar.
    """

    def __init__(self, weights: torch.Tensor | Sequence[float], means: torch.Tensor | Sequence,
                 stds: torch.Tensor | Sequence[float], schedule: NoiseSchedule,
                 prediction: str = "eps"):
        super().__init__(schedule, prediction)
        w = _tensor(weights)
        self.means = _tensor(means)
        k = self.means.shape[0]
        self.stds = _tensor(stds).reshape(-1).expand(k).clone()
        if w.shape != (k,):
            raise ValueError(f"weights must have shape (K,) = ({k},); got {tuple(w.shape)}")
        if not bool((w > 0).all()) or not bool((self.stds > 0).all()):
            raise ValueError("GaussianMixtureOracle needs positive weights and stds")
        self.weights = w / w.sum()
        self.event_shape = tuple(self.means.shape[1:])

    def _posterior(self, x, t):
        """Responsibilities r_k, diffs x - α m_k, variances v_k = α² s_k² + σ²."""
        dt, dev = x.dtype, x.device
        m = self.means.to(dev, dt)
        sd = self.stds.to(dev, dt)
        logw = torch.log(self.weights.to(dev, dt))
        tb = batch_time(t, x)
        a = self.schedule.alpha(tb)[:, None]
        s = self.schedule.sigma(tb)[:, None]
        v = a * a * sd[None] ** 2 + s * s  # (B, K)
        xf = x.reshape(x.shape[0], 1, -1)
        diff = xf - a[..., None] * m.reshape(1, m.shape[0], -1)  # (B, K, D)
        d = diff.shape[-1]
        logits = logw[None] - 0.5 * (diff * diff).sum(-1) / v - 0.5 * d * torch.log(
            2 * math.pi * v
        )
        return logits, diff, v, a, s

    def log_prob(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """log p_t(x) = logsumexp_k [log w_k + log N(x; α m_k, v_k I)] (docs/mathematics.md §9)."""
        logits, *_ = self._posterior(x, t)
        return torch.logsumexp(logits, dim=-1)

    def eps(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """ε* = -σ ∇ log p_t = σ Σ_k r_k (x - α m_k)/v_k (docs/mathematics.md §9)."""
        logits, diff, v, _, s = self._posterior(x, t)
        r = torch.softmax(logits, dim=-1)
        e = ((r / v)[..., None] * diff).sum(1)
        return (s * e).reshape(x.shape)

    def x0(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """x0* = Σ_k r_k (m_k + α s_k² (x - α m_k)/v_k) (posterior mean)."""
        logits, diff, v, a, _ = self._posterior(x, t)
        r = torch.softmax(logits, dim=-1)
        m = self.means.to(x.device, x.dtype).reshape(1, self.means.shape[0], -1)
        sd2 = (self.stds.to(x.device, x.dtype) ** 2)[None]
        post = m + (a * sd2 / v)[..., None] * diff
        return (r[..., None] * post).sum(1).reshape(x.shape)

    def sample(self, n: int, generator: torch.Generator | None = None, t: TimeLike | None = None,
               dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` exact samples of the data (``t=None``) or of the noised marginal at ``t``."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        shape = (n,) + self.event_shape
        z = torch.randn(shape, generator=generator, dtype=torch.float64)
        x0 = self.means[k].to(torch.float64) + per_sample(self.stds[k].to(torch.float64), z) * z
        if t is not None:
            a, s = self._coefs(x0, t)
            x0 = a * x0 + s * torch.randn(shape, generator=generator, dtype=torch.float64)
        return x0.to(device=device, dtype=dtype)


class IdealDenoiser(_Oracle):
    """Optimal denoiser of a finite set ``images`` (M, *shape) (docs/mathematics.md §9).

    ``x0*(x_t) = Σ_i w_i x_i`` with ``w = softmax(-‖x_t - α x_i‖²/(2σ²))``, computed
    in chunks of images (online softmax) so that memory stays below
    ``max_elements`` per chunk.
    """

    def __init__(self, images: torch.Tensor, schedule: NoiseSchedule, prediction: str = "x0",
                 max_elements: int = 2**24):
        super().__init__(schedule, prediction)
        self.images = _tensor(images)
        if self.images.dim() < 2 or self.images.shape[0] < 1:
            raise ValueError("IdealDenoiser needs images of shape (M, *shape) with M >= 1")
        self.max_elements = int(max_elements)

    def x0(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """x0* = Σ_i softmax_i(-‖x - α x_i‖²/(2σ²)) x_i (docs/mathematics.md §9)."""
        imgs = self.images.to(x.device, x.dtype).reshape(self.images.shape[0], -1)
        if x.shape[1:] != self.images.shape[1:]:
            raise ValueError(
                f"x has sample shape {tuple(x.shape[1:])} but the images have "
                f"{tuple(self.images.shape[1:])}"
            )
        tb = batch_time(t, x)
        a = self.schedule.alpha(tb)[:, None, None]
        s = self.schedule.sigma(tb)[:, None]
        xf = x.reshape(x.shape[0], 1, -1)
        b, d = xf.shape[0], xf.shape[-1]
        chunk = max(1, self.max_elements // max(1, b * d))
        run_max = torch.full((b,), -math.inf, dtype=x.dtype, device=x.device)
        run_sum = torch.zeros((b,), dtype=x.dtype, device=x.device)
        acc = torch.zeros((b, d), dtype=x.dtype, device=x.device)
        for lo in range(0, imgs.shape[0], chunk):
            block = imgs[lo:lo + chunk]
            diff = xf - a * block[None]
            logits = -0.5 * (diff * diff).sum(-1) / (s * s)  # (B, chunk)
            new_max = torch.maximum(run_max, logits.max(-1).values)
            scale = torch.exp(run_max - new_max)
            p = torch.exp(logits - new_max[:, None])
            run_sum = run_sum * scale + p.sum(-1)
            acc = acc * scale[:, None] + p @ block
            run_max = new_max
        return (acc / run_sum[:, None]).reshape(x.shape)
