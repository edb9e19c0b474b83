"""Non-reversible reference samplers, written directly in x with ``expm1`` coefficients.

Each runs on a t-grid ``ts`` from noise (``ts[0]``) to data (``ts[-1]``) and
returns ``SampleResult(x, nfe)``.  With ``h = λ_t - λ_s > 0`` per step:

* DDIM (η = 0; Song et al. 2021): ``x_t = (α_t/α_s) x_s - σ_t expm1(h) ε_θ``;
* DPM-Solver++(1) (Lu et al. 2022b): ``x_t = (σ_t/σ_s) x_s - α_t expm1(-h) x_θ``;
* DPM-Solver++(2M): the same with ``D = (1 + 1/(2r)) x_θ(s) - 1/(2r) x_θ(prev)``,
  ``r = h_prev/h``, after one explicit first-order warm-up step;
* SDE-DPM-Solver++(1) (docs/mathematics.md §4.4):
  ``x_t = (σ_t/σ_s) e^{-h} x_s - α_t expm1(-2h) x_θ + σ_t sqrt(-expm1(-2h)) z``.

These are the anchors for the identities of docs/mathematics.md §4.4 (Euler in the lifted
equations reproduces them to round-off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from ...brownian import KeyedNormal
from ..checks import check_grid, check_model, check_tensor, draw_seed
from ..models import DiffusionModel
from .base import Sampler

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


class _Grid:
    """One call's grid: ``ts``, ``log α``, ``log σ``, ``λ`` and the steps ``h`` (float64),
    and the network's prediction of kind ``kind`` at each grid time.

    Every coefficient a loop needs is computed here once for all steps, elementwise on
    the whole grid (the same numbers as step by step), moved to the state's dtype and
    device once and split into per-step 0-d views once (:meth:`c`: a step reads
    ``c[n]`` from a tuple, not by indexing a tensor); the network's dtype is read once.
    """

    def __init__(self, model: DiffusionModel, ts, like: torch.Tensor, kind: str) -> None:
        check_model(model)
        ts = check_grid(ts)
        sch = model.schedule
        self.ts = ts
        self.la, self.ls, self.lam = sch.log_alpha(ts), sch.log_sigma(ts), sch.lambda_(ts)
        self.h = self.lam[1:] - self.lam[:-1]
        self.steps = ts.numel() - 1
        self._like = like
        self._model = model
        self._call = model.net_for_solve()
        #: the times as the network gets them (``batch_time``: in the state's dtype)
        tb = self.on(ts)
        self._tb = tb.unbind()
        self._convert = model.prediction != kind
        self._pick = 0 if kind == "eps" else 1
        if self._convert:
            self._a, self._s = (v.unbind() for v in sch.alpha_sigma(tb))

    def on(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` in the state's dtype and on its device."""
        return v.to(device=self._like.device, dtype=self._like.dtype)

    def c(self, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``v`` in the state's dtype and on its device, as one 0-d view per element."""
        return self.on(v).unbind()

    def predict(self, x: torch.Tensor, n: int, cond: dict) -> torch.Tensor:
        """The model's prediction (ε or x0) at ``(x, ts[n])``: one network evaluation."""
        out = self._call(x, self._tb[n].expand(x.shape[0]), cond)
        if self._convert:
            out = self._model.convert(x, out, self._a[n], self._s[n])[self._pick]
        return out


def _run(g: _Grid, x_T, cond, callback, step: Callable):
    """Shared loop: ``step(n, x, state, cond) -> (x_next, state, denoised)``."""
    cond = dict(cond or {})
    x, state, ts = x_T, None, g.ts
    for n in range(g.steps):
        x, state, den = step(n, x, state, cond)
        if callback is not None:
            callback({"i": n, "t": ts[n], "t_next": ts[n + 1], "x": x, "denoised": den})
    return SampleResult(x, g.steps)


def sample_ddim(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                cond: dict | None = None, callback: Callable[[dict],
                None] | None=None) -> SampleResult:
    """DDIM (η = 0): ``x_t = e^{log α_t - log α_s} x_s - σ_t expm1(h) ε_θ(x_s, s)``
    (docs/mathematics.md §4.4)."""
    g = _Grid(model, ts, x_T, "eps")
    ca = g.c(torch.exp(g.la[1:] - g.la[:-1]))
    ce = g.c(torch.exp(g.ls[1:]) * torch.expm1(g.h))

    def step(n, x, state, cond: dict):
        eps = g.predict(x, n, cond)
        return ca[n] * x - ce[n] * eps, None, eps

    return _run(g, x_T, cond, callback, step)


def _dpmpp_coefs(g: _Grid) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Per step: ``σ_t/σ_s`` and ``α_t expm1(-h)``, in the state's dtype."""
    return g.c(torch.exp(g.ls[1:] - g.ls[:-1])), g.c(torch.exp(g.la[1:]) * torch.expm1(-g.h))


def sample_dpmpp_1(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                   cond: dict | None = None, callback: Callable[[dict],
                   None] | None=None) -> SampleResult:
    """DPM-Solver++(1): ``x_t = (σ_t/σ_s) x_s - α_t expm1(-h) x_θ(x_s, s)``
    (docs/mathematics.md §4.4)."""
    g = _Grid(model, ts, x_T, "x0")
    cs, cd = _dpmpp_coefs(g)

    def step(n, x, state, cond: dict):
        d = g.predict(x, n, cond)
        return cs[n] * x - cd[n] * d, None, d

    return _run(g, x_T, cond, callback, step)


def sample_dpmpp_2m(model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                    cond: dict | None = None, callback: Callable[[dict], None] | None = None,
                    lower_order_final: bool = False) -> SampleResult:
    """DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2), with an explicit first-order first step.

    ``D = (1 + 1/(2r)) x_θ(x_s, s) - 1/(2r) x_θ(prev)``, ``r = (λ_s - λ_prev)/(λ_t - λ_s)``.
    ``lower_order_final=True`` also makes the last step first order.
    """
    g = _Grid(model, ts, x_T, "x0")
    cs, cd = _dpmpp_coefs(g)
    last = g.steps - 1
    # r at step n >= 1 is at index n - 1; 1/(2r) and 1 + 1/(2r) in the state's dtype
    ratio = 0.5 / g.on(g.h[:-1] / g.h[1:])
    half_r, one_half_r = ratio.unbind(), (1.0 + ratio).unbind()

    def step(n, x, state, cond: dict):
        d = g.predict(x, n, cond)
        if state is None or (lower_order_final and n == last):
            dd = d
        else:
            dd = one_half_r[n - 1] * d - half_r[n - 1] * state
        return cs[n] * x - cd[n] * dd, d, d

    return _run(g, x_T, cond, callback, step)


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
    """SDE-DPM-Solver++(1) (docs/mathematics.md §4.4; Lu et al. 2022b, SDE-DPM-Solver++ with
    one step).

    ``x_t = (σ_t/σ_s) e^{-h} x_s - α_t expm1(-2h) x_θ + σ_t sqrt(-expm1(-2h)) z``.

    ``noise`` gives the standard normal ``z`` of each step: a callable
    ``noise(t_s, t_t)`` (as k-diffusion's noise sampler), a sequence/tensor
    indexed by step (``noise[n]``), or ``None`` to draw from ``generator``.
    """
    draw = _noise_fn(noise, generator)
    g = _Grid(model, ts, x_T, "x0")
    e2 = torch.expm1(-2.0 * g.h)
    cx = g.c(torch.exp(g.ls[1:] - g.ls[:-1] - g.h))
    cd = g.c(torch.exp(g.la[1:]) * e2)
    cz = g.c(torch.exp(g.ls[1:]) * torch.sqrt(-e2))
    ts = g.ts

    def step(n, x, state, cond: dict):
        d = g.predict(x, n, cond)
        z = draw(n, ts[n], ts[n + 1], x)
        return cx[n] * x - cd[n] * d + cz[n] * z, None, d

    return _run(g, x_T, cond, callback, step)


@dataclass(frozen=True)
class ReferenceSampler(Sampler):
    """A non-reversible sampler: one of the loops above, with its registry metadata."""

    name: str
    fn: Callable[..., SampleResult]
    prediction: str
    stochastic: bool
    order: float
    description: str

    reversible: ClassVar[bool] = False
    # class data here, instance data on Sampler (a Rex sampler reads them from its solver):
    # mypy cannot express "read-only, however a family provides it" across both
    nfe_per_step: ClassVar[int] = 1  # type: ignore[misc]
    init_nfe: ClassVar[int] = 0  # type: ignore[misc]

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` (SDE: Gaussian noise from ``seed``, sample ``i``'s
        from ``(seed, i)``: :class:`revsde.brownian.KeyedNormal`)."""
        check_model(model)
        x_T = check_tensor(x_T, "x_T")
        ts = check_grid(ts)
        if self.stochastic:
            # each sample's normals from (seed, its index, step): the same alone or in a batch
            noise = KeyedNormal(draw_seed(seed), range(x_T.shape[0]), x_T.shape,
                                dtype=x_T.dtype, device=x_T.device)
            return self.fn(model, x_T, ts, noise=noise, cond=cond).x
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
