"""The exact-inversion baselines as samplers: grid levels, the base class and its loops.

Levels are numbered from data to noise: level ``i = 0`` is ``ts[-1]`` (data)
and level ``N`` is ``ts[0]`` (noise).  A method's *state at level i* is one
tensor (DDIM), a pair ``(x_i, y_i)`` (EDICT) or the pair ``(z_{i+1}, z_i)``
(BDIA, O-BELM, which look one level back).  ``step(i)`` maps the state at
level ``i`` to level ``i-1`` (towards data) and ``inverse(i)`` maps level
``i-1`` to level ``i``; the loops here run them, so every method is only its
formulas (state in, state out, nothing per step on ``self``).

A baseline is a :class:`~revsde.diffusion.samplers.base.Sampler`: ``sample`` runs the
denoising steps from a noise tensor, ``encode_state`` the inversion steps from the data
and ``decode_state`` / ``decode`` the denoising steps from an encoded state.  Its state
is in data coordinates (no lifted case).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..checks import check_grid, check_model, check_tensor
from ..models import DiffusionModel
from .base import Encoded, Sampler

__all__ = ["Levels", "Baseline"]


class Levels:
    """α, σ, χ = σ/α and the times of a grid, indexed from data (0) to noise (N).

    Everything is float64 on the CPU; :meth:`c` casts a coefficient to a state's
    dtype and device.  ``ts`` must run from noise to data (strictly decreasing).
    """

    def __init__(self, model: DiffusionModel, ts: torch.Tensor) -> None:
        check_model(model)
        ts = check_grid(ts)
        self.ts = ts
        self.t = ts.flip(0)
        self.n = ts.numel() - 1
        s = model.schedule
        self.log_alpha = s.log_alpha(self.t)
        self.alpha = torch.exp(self.log_alpha)
        self.chi = torch.exp(s.log_sigma(self.t) - self.log_alpha)

    @staticmethod
    def c(v: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A float64 coefficient in ``x``'s dtype and device."""
        return torch.as_tensor(v, dtype=torch.float64).to(device=x.device, dtype=x.dtype)

    def ratio(self, j: int, i: int) -> torch.Tensor:
        """α_j/α_i = exp(log α_j - log α_i)."""
        return torch.exp(self.log_alpha[j] - self.log_alpha[i])

    def phi(self, x: torch.Tensor, eps: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """DDIM map Φ(x, ε; i→j) = (α_j/α_i) x + α_j (χ_j - χ_i) ε (docs/mathematics.md §5)."""
        return (self.c(self.ratio(j, i), x) * x
                + self.c(self.alpha[j] * (self.chi[j] - self.chi[i]), x) * eps)


class Baseline(Sampler):
    """Base class.  Subclasses set the class data and define ``step``/``inverse``."""

    name: str = ""
    reversible: ClassVar[bool] = True
    stochastic = False
    #: whether ``decode(encode(x))`` returns ``x`` up to round-off
    exact: bool = True
    #: network evaluations per step, in each direction
    nfe_per_step: int = 1
    init_nfe = 0
    #: 1 when the state is ``(z_{i+1}, z_i)`` (a two-step method), else 0
    lag: int = 0
    min_steps: int = 1
    #: tensors in the state
    n_states: int = 1

    @property
    def options(self) -> dict:
        """The constructor options of this instance (saved in the latents)."""
        return {}

    def decode_nfe(self, steps: int) -> int:
        """Network evaluations of a decode on a grid of ``steps`` steps."""
        return (steps - self.lag) * self.nfe_per_step

    def info(self) -> dict[str, Any]:
        """Registry metadata (the keys every registry entry has, plus ``exact``, ``min_steps``)."""
        doc = (type(self).__doc__ or "").strip().splitlines()
        return {"name": self.name, "reversible": True, "exact": self.exact,
                "stochastic": False, "nfe_per_step": self.nfe_per_step,
                "min_steps": self.min_steps, "options": self.options,
                "description": doc[0] if doc else self.name}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"

    @staticmethod
    def eps(model: DiffusionModel, lv: Levels, i: int, x: torch.Tensor, cond: dict) -> torch.Tensor:
        """ε_θ(x, t_i)."""
        return model.eps(x, lv.t[i], **cond)

    # -- per-method formulas ------------------------------------------------------------
    def init_invert(self, model: DiffusionModel, lv: Levels, x0: torch.Tensor,
                    cond: dict) -> tuple[tuple, int]:
        """State at level 0 from the data, and the evaluations it took."""
        return (x0,), 0

    def init_generate(self, model: DiffusionModel, lv: Levels, x_n: torch.Tensor,
                      cond: dict) -> tuple:
        """State at the top level from a noise tensor ``x_N`` (sampling)."""
        return (x_n,)

    def output(self, state: tuple) -> torch.Tensor:
        """The data sample from the state at level 0."""
        return state[0]

    def step(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        """State at level ``i`` -> level ``i-1`` (towards data)."""
        raise NotImplementedError

    def inverse(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        """State at level ``i-1`` -> level ``i`` (towards noise)."""
        raise NotImplementedError

    # -- driver loops: the sampler protocol ----------------------------------------------
    def _levels(self, model: DiffusionModel, ts: torch.Tensor) -> Levels:
        lv = Levels(model, ts)
        if lv.n < self.min_steps:
            raise ValueError(f"{self.name} needs at least {self.min_steps} steps; got {lv.n}")
        return lv

    def _denoise(self, model: DiffusionModel, lv: Levels, state: tuple, cond: dict) -> tuple:
        for i in range(lv.n - self.lag, 0, -1):
            state = self.step(model, lv, i, state, cond)
        return state

    def encode_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                     seed: int | None = None, cond: dict | None = None) -> Encoded:
        """The inversion steps from the data ``x0`` (at ``ts[-1]``) to the state at ``ts[0]``."""
        lv = self._levels(model, ts)
        check_tensor(x0, "x0")
        cond = dict(cond or {})
        state, nfe = self.init_invert(model, lv, x0, cond)
        for i in range(1, lv.n - self.lag + 1):
            state = self.inverse(model, lv, i, state, cond)
            nfe += self.nfe_per_step
        return Encoded(tuple(state), nfe, decode_nfe=self.decode_nfe(lv.n))

    def decode_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                     seed: int | None = None, cond: dict | None = None) -> tuple:
        """The denoising steps from the encoded ``state`` at ``ts[0]`` to level 0."""
        lv = Levels(model, ts)
        if len(state) != self.n_states:
            raise ValueError(f"a {self.name} state has {self.n_states} tensor(s); got "
                             f"{len(state)}")
        return self._denoise(model, lv, tuple(state), dict(cond or {}))

    def decode(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None,
               residual: torch.Tensor | None = None) -> torch.Tensor:
        """The data from the encoded ``state`` at ``ts[0]`` (a baseline has no residual)."""
        if residual is not None:
            raise ValueError(f"{self.name} has no exact mode, so no residual")
        return self.output(self.decode_state(model, state, ts, cond=cond))

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None) -> torch.Tensor:
        """Sample from a noise tensor ``x_T`` at ``ts[0]``: BDIA and O-BELM start with one
        DDIM step and EDICT with ``y_N = x_N``, as in their reference code."""
        if not (torch.is_tensor(x_T) and x_T.is_floating_point()):
            raise ValueError("x_T must be a floating noise tensor")
        lv = self._levels(model, ts)
        cond = dict(cond or {})
        return self.output(self._denoise(model, lv, self.init_generate(model, lv, x_T, cond),
                                         cond))


def check_unit_interval(name: str, value, *, what: str) -> float:
    """``value`` as a float in (0, 1], or a ValueError naming ``what`` it controls."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1] ({what}); got {value!r}") from None
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1] ({what}); got {value!r}")
    return v
