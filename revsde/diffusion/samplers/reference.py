"""Non-reversible reference samplers, written directly in x with ``expm1`` coefficients.

Each runs on a t-grid ``ts`` from noise (``ts[0]``) to data (``ts[-1]``) and
returns ``SampleResult(x, nfe)``.  With ``h = λ_t - λ_s > 0`` per step:

* DDIM (η = 0; Song et al. 2021): ``x_t = (α_t/α_s) x_s - σ_t expm1(h) ε_θ``;
* DPM-Solver++(1) (Lu et al. 2022b): ``x_t = (σ_t/σ_s) x_s - α_t expm1(-h) x_θ``;
* DPM-Solver++(2M): the same with ``D = (1 + 1/(2r)) x_θ(s) - 1/(2r) x_θ(prev)``,
  ``r = h_prev/h``, after one explicit first-order warm-up step;
* SDE-DPM-Solver++(1) (MATH.md §4.4):
  ``x_t = (σ_t/σ_s) e^{-h} x_s - α_t expm1(-2h) x_θ + σ_t sqrt(-expm1(-2h)) z``.

These are the anchors for the identities of MATH.md §4.4 (Euler in the lifted
equations reproduces them to round-off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from ..checks import check_grid, check_model, check_tensor, draw_seed
from ..models import DiffusionModel
from ..schedules import as_time

__all__ = [
    "SampleResult",
    "sample_ddim",
    "sample_dpmpp_1",
    "sample_dpmpp_2m",
    "sample_sde_dpmpp_1",
    "ReferenceSampler",
]


class SampleResult(NamedTuple):
    """Final state at ``ts[-1]`` and the number of network evaluations."""

    x: torch.Tensor
    nfe: int


def _grid(model: DiffusionModel, ts):
    check_model(model)
    ts = check_grid(ts)
    s = model.schedule
    return ts, s.log_alpha(ts), s.log_sigma(ts), s.lambda_(ts)


def _run(model, x_T, ts, cond, callback, step: Callable):
    """Shared loop: ``step(n, x, coefs, state) -> (x_next, state, denoised)``."""
    ts, la, ls, lam = _grid(model, ts)
    cond = dict(cond or {})
    x, state = x_T, None
    for n in range(ts.numel() - 1):
        x, state, den = step(n, x, (ts, la, ls, lam), state, cond)
        if callback is not None:
            callback({"i": n, "t": ts[n], "t_next": ts[n + 1], "x": x, "denoised": den})
    return SampleResult(x, ts.numel() - 1)


def _c(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype)


def sample_ddim(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                cond: dict | None = None, callback: Callable[[dict],
                None] | None=None) -> SampleResult:
    """DDIM (η = 0): ``x_t = e^{log α_t - log α_s} x_s - σ_t expm1(h) ε_θ(x_s, s)`` (§4.4)."""

    def step(n, x, c, state, cond: dict | None):
        ts, la, ls, lam = c
        h = lam[n + 1] - lam[n]
        eps = model.eps(x, ts[n], **cond)
        x_next = _c(torch.exp(la[n + 1] - la[n]), x) * x - _c(
            torch.exp(ls[n + 1]) * torch.expm1(h), x) * eps
        return x_next, None, eps

    return _run(model, x_T, ts, cond, callback, step)


def _dpmpp_update(x, d, c, n):
    """x_t = (σ_t/σ_s) x_s - α_t expm1(-h) D."""
    ts, la, ls, lam = c
    h = lam[n + 1] - lam[n]
    return _c(torch.exp(ls[n + 1] - ls[n]), x) * x - _c(
        torch.exp(la[n + 1]) * torch.expm1(-h), x) * d


def sample_dpmpp_1(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                   cond: dict | None = None, callback: Callable[[dict],
                   None] | None=None) -> SampleResult:
    """DPM-Solver++(1): ``x_t = (σ_t/σ_s) x_s - α_t expm1(-h) x_θ(x_s, s)`` (§4.4)."""

    def step(n, x, c, state, cond: dict | None):
        d = model.x0(x, c[0][n], **cond)
        return _dpmpp_update(x, d, c, n), None, d

    return _run(model, x_T, ts, cond, callback, step)


def sample_dpmpp_2m(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                    cond: dict | None = None, callback: Callable[[dict], None] | None = None,
                    lower_order_final: bool = False) -> SampleResult:
    """DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2), with an explicit first-order first step.

    ``D = (1 + 1/(2r)) x_θ(x_s, s) - 1/(2r) x_θ(prev)``, ``r = (λ_s - λ_prev)/(λ_t - λ_s)``.
    ``lower_order_final=True`` also makes the last step first order.
    """
    last = as_time(ts).numel() - 2

    def step(n, x, c, state, cond: dict | None):
        ts, la, ls, lam = c
        d = model.x0(x, ts[n], **cond)
        if state is None or (lower_order_final and n == last):
            dd = d
        else:
            r = _c((lam[n] - lam[n - 1]) / (lam[n + 1] - lam[n]), x)
            dd = (1.0 + 0.5 / r) * d - (0.5 / r) * state
        return _dpmpp_update(x, dd, c, n), d, d

    return _run(model, x_T, ts, cond, callback, step)


def _noise_fn(noise, generator):
    """Normalise a noise source to ``z(n, t_s, t_t, like)``."""
    if noise is None:
        def draw(n, ts: torch.Tensor, tt, like):
            return torch.randn(like.shape, generator=generator, dtype=like.dtype,
                               device=like.device)
        return draw
    if callable(noise):
        return lambda n, ts, tt, like: noise(ts, tt)
    return lambda n, ts, tt, like: noise[n]


def sample_sde_dpmpp_1(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                       noise: Callable | Sequence | torch.Tensor | None = None,
                       generator: torch.Generator | None = None,
                       cond: dict | None = None,
                       callback: Callable[[dict], None] | None = None) -> SampleResult:
    """SDE-DPM-Solver++(1) (MATH.md §4.4; Lu et al. 2022b, SDE-DPM-Solver++ with one step).

    ``x_t = (σ_t/σ_s) e^{-h} x_s - α_t expm1(-2h) x_θ + σ_t sqrt(-expm1(-2h)) z``.

    ``noise`` gives the standard normal ``z`` of each step: a callable
    ``noise(t_s, t_t)`` (as k-diffusion's noise sampler), a sequence/tensor
    indexed by step (``noise[n]``), or ``None`` to draw from ``generator``.
    """
    draw = _noise_fn(noise, generator)

    def step(n, x, c, state, cond: dict | None):
        ts, la, ls, lam = c
        h = lam[n + 1] - lam[n]
        d = model.x0(x, ts[n], **cond)
        z = draw(n, ts[n], ts[n + 1], x)
        e2 = torch.expm1(-2.0 * h)
        x_next = (_c(torch.exp(ls[n + 1] - ls[n] - h), x) * x
                  - _c(torch.exp(la[n + 1]) * e2, x) * d
                  + _c(torch.exp(ls[n + 1]) * torch.sqrt(-e2), x) * z)
        return x_next, None, d

    return _run(model, x_T, ts, cond, callback, step)


@dataclass(frozen=True)
class ReferenceSampler:
    """A non-reversible sampler: one of the loops above, with its registry metadata."""

    name: str
    fn: Callable[..., SampleResult]
    prediction: str
    stochastic: bool
    order: float
    description: str

    reversible: ClassVar[bool] = False
    nfe_per_step: ClassVar[int] = 1
    init_nfe: ClassVar[int] = 0

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` (SDE: Gaussian noise from ``seed``)."""
        check_model(model)
        x_T = check_tensor(x_T, "x_T")
        ts = check_grid(ts)
        if self.stochastic:
            gen = torch.Generator(device=x_T.device).manual_seed(draw_seed(seed))
            return self.fn(model, x_T, ts, generator=gen, cond=cond).x
        return self.fn(model, x_T, ts, cond=cond).x

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reversible": False,
            "stochastic": self.stochastic,
            "nfe_per_step": self.nfe_per_step,
            "init_nfe": self.init_nfe,
            "case": None,
            "cases": [],
            "prediction": self.prediction,
            "base": None,
            "solver": None,
            "order": self.order,
            "order_kind": "strong" if self.stochastic else "ode",
            "options": {},
            "description": self.description,
        }
