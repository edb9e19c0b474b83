"""The shared parts of the baselines: grid levels, the latent type and the driver loops.

Levels are numbered from data to noise: level ``i = 0`` is ``ts[-1]`` (data)
and level ``N`` is ``ts[0]`` (noise).  A method's *state at level i* is one
tensor (DDIM), a pair ``(x_i, y_i)`` (EDICT) or the pair ``(z_{i+1}, z_i)``
(BDIA, O-BELM, which look one level back).  ``step(i)`` maps the state at
level ``i`` to level ``i-1`` (towards data) and ``inverse(i)`` maps level
``i-1`` to level ``i``; the loops here run them, so every method is only its
formulas (STYLE.md: state in, state out, nothing per step on ``self``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import check_grid, check_model, check_tensor
from ..models import DiffusionModel

__all__ = ["Levels", "BaselineLatent", "Baseline"]


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
        """DDIM map Φ(x, ε; i→j) = (α_j/α_i) x + α_j (χ_j - χ_i) ε (MATH.md §5)."""
        return (self.c(self.ratio(j, i), x) * x
                + self.c(self.alpha[j] * (self.chi[j] - self.chi[i]), x) * eps)


@dataclass(frozen=True)
class BaselineLatent:
    """A baseline's state at the noise end of ``ts`` and what is needed to decode it.

    ``states``: ``(x_N,)`` for DDIM, ``(x_N, y_N)`` for EDICT, ``(z_N, z_{N-1})``
    for BDIA and O-BELM.  ``ts`` runs from noise to data (float64).  ``nfe`` is
    the number of network evaluations the inversion took.
    """

    method: str
    states: tuple
    ts: torch.Tensor
    options: dict = field(default_factory=dict)
    nfe: int = 0

    @property
    def x(self) -> torch.Tensor:
        """The primary latent at the noise end (``states[0]``)."""
        return self.states[0]


class Baseline:
    """Base class.  Subclasses set the class data and define ``step``/``inverse``."""

    name: str = ""
    #: whether ``generate(invert(x))`` returns ``x`` up to round-off
    exact: bool = True
    #: network evaluations per step, in each direction
    nfe_per_step: int = 1
    #: 1 when the state is ``(z_{i+1}, z_i)`` (a two-step method), else 0
    lag: int = 0
    min_steps: int = 1
    #: tensors in the state
    n_states: int = 1

    def options(self) -> dict:
        """The constructor options of this instance (saved in the latent)."""
        return {}

    @classmethod
    def default_options(cls) -> dict:
        return cls().options()

    def decode_nfe(self, steps: int) -> int:
        """Network evaluations of a decode on a grid of ``steps`` steps."""
        return (steps - self.lag) * self.nfe_per_step

    def info(self) -> dict[str, Any]:
        """Registry metadata (the keys every registry entry has, plus ``exact``, ``min_steps``)."""
        doc = (type(self).__doc__ or "").strip().splitlines()
        return {"name": self.name, "reversible": True, "exact": self.exact,
                "stochastic": False, "nfe_per_step": self.nfe_per_step,
                "min_steps": self.min_steps, "options": self.options(),
                "description": doc[0] if doc else self.name}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"

    @staticmethod
    def eps(model: DiffusionModel, lv: Levels, i: int, x: torch.Tensor, cond: dict) -> torch.Tensor:
        """ε_θ(x, t_i)."""
        return model.eps(x, lv.t[i], **cond)

    # -- per-method formulas ------------------------------------------------------------
    def init_invert(self, model: DiffusionModel, lv: Levels, x0: torch.Tensor,
                    cond: dict | None) -> tuple[tuple, int]:
        """State at level 0 from the data, and the evaluations it took."""
        return (x0,), 0

    def init_generate(self, model: DiffusionModel, lv: Levels, x_n: torch.Tensor,
                      cond: dict | None) -> tuple:
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

    # -- driver loops ---------------------------------------------------------------------
    def _check_steps(self, lv: Levels):
        if lv.n < self.min_steps:
            raise ValueError(f"{self.name} needs at least {self.min_steps} steps; got {lv.n}")

    def invert(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor | None, *,
               cond: dict | None = None) -> BaselineLatent:
        """Encode data ``x0`` (at ``ts[-1]``) to the latent at ``ts[0]``."""
        lv = Levels(model, ts)
        self._check_steps(lv)
        check_tensor(x0, "x0")
        cond = dict(cond or {})
        state, nfe = self.init_invert(model, lv, x0, cond)
        for i in range(1, lv.n - self.lag + 1):
            state = self.inverse(model, lv, i, state, cond)
            nfe += self.nfe_per_step
        return BaselineLatent(self.name, tuple(state), lv.ts, self.options(), nfe)

    def generate(self, model: DiffusionModel, latent: BaselineLatent | torch.Tensor,
                 ts: torch.Tensor | None = None, *, cond: dict | None = None) -> torch.Tensor:
        """Decode a :class:`BaselineLatent` (or sample from a noise tensor on grid ``ts``)."""
        cond = dict(cond or {})
        if isinstance(latent, BaselineLatent):
            if latent.method != self.name:
                raise ValueError(f"latent was made by {latent.method!r}, not {self.name!r}")
            if latent.options != self.options():
                raise ValueError(f"latent was made with options {latent.options}, but this "
                                 f"{self.name} has {self.options()}")
            if ts is not None:
                raise ValueError("a BaselineLatent carries its own grid; do not pass ts")
            lv = Levels(model, latent.ts)
            if len(latent.states) != self.n_states:
                raise ValueError(f"a {self.name} latent has {self.n_states} state tensor(s); "
                                 f"got {len(latent.states)}")
            state = tuple(latent.states)
        else:
            if not (torch.is_tensor(latent) and latent.is_floating_point()):
                raise ValueError("latent must be a BaselineLatent or a floating noise tensor")
            if ts is None:
                raise ValueError("sampling from a noise tensor needs the grid ts")
            lv = Levels(model, ts)
            self._check_steps(lv)
            state = self.init_generate(model, lv, latent, cond)
        for i in range(lv.n - self.lag, 0, -1):
            state = self.step(model, lv, i, state, cond)
        return self.output(state)


def check_unit_interval(name: str, value, *, what: str) -> float:
    """``value`` as a float in (0, 1], or a ValueError naming ``what`` it controls."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1] ({what}); got {value!r}") from None
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1] ({what}); got {value!r}")
    return v
