"""The four baselines of docs/mathematics.md §5 as step/inverse pairs (levels as in
:mod:`.baselines`).

Notation: ``Φ(x, ε; i→j)`` is the DDIM map (``Levels.phi``), ``ε_i(x) = ε_θ(x, t_i)``.
"""

from __future__ import annotations

import torch

from ..models import DiffusionModel
from .baselines import Baseline, Levels, check_unit_interval

__all__ = ["DDIMInversion", "EDICT", "BDIA", "OBELM"]


class DDIMInversion(Baseline):
    """DDIM sampling and DDIM inversion (docs/mathematics.md §5), inexact.

    * step ``i → i-1``: ``x_{i-1} = Φ(x_i, ε_i(x_i); i→i-1)``;
    * inversion ``i-1 → i``: ``x_i = Φ(x_{i-1}, ε_{i-1}(x_{i-1}); i-1→i)``, i.e. ε taken
      at the less-noisy point, the only one known.  This is not the inverse of
      the step, which is why the round trip is inexact.
    """

    name = "ddim"
    exact = False

    def step(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        (x,) = state
        return (lv.phi(x, self.eps(model, lv, i, x, cond), i, i - 1),)

    def inverse(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        (x,) = state
        return (lv.phi(x, self.eps(model, lv, i - 1, x, cond), i - 1, i),)


class EDICT(Baseline):
    """EDICT (Wallace et al. 2023, eqs. 14-15 and their reference code), docs/mathematics.md §5.

    With ``a = α_{i-1}/α_i`` and ``b = σ_{i-1} - a σ_i = α_{i-1}(χ_{i-1} - χ_i)``
    the denoising step ``i → i-1`` is
    ``x' = a x + b ε_i(y)``, ``y' = a y + b ε_i(x')``,
    ``x_{i-1} = p x' + (1-p) y'``, ``y_{i-1} = p y' + (1-p) x_{i-1}``;
    the inverse undoes these in reverse order.

    ``swap=True`` (the default) reproduces the reference code's ``leapfrog_steps``:
    on every odd denoising step (counting from the noise end, k = N - i) the two
    half-steps trade roles, ``y' = a y + b ε_i(x)``, ``x' = a x + b ε_i(y')``; the
    mixing layer keeps its order.  Inversion uses the same parity, so the
    round trip stays exact either way.  ``p`` must lie in (0, 1]; the inverse
    divides by ``p`` twice per step.
    """

    name = "edict"
    nfe_per_step = 2
    n_states = 2

    def __init__(self, p: float = 0.93, swap: bool = True):
        self.p = check_unit_interval("EDICT p", p, what="the mixing weight; 0.93 in the paper")
        if not isinstance(swap, bool):
            raise ValueError(f"EDICT swap must be True or False; got {swap!r}")
        self.swap = swap

    @property
    def options(self) -> dict:
        return {"p": self.p, "swap": self.swap}

    def init_invert(self, model: DiffusionModel, lv: Levels, x0: torch.Tensor,
                    cond: dict) -> tuple[tuple, int]:
        return (x0, x0.clone()), 0

    def init_generate(self, model: DiffusionModel, lv: Levels, x_n: torch.Tensor,
                      cond: dict) -> tuple:
        return (x_n, x_n.clone())

    def _coefs(self, lv: Levels, i, x):
        a = lv.c(lv.ratio(i - 1, i), x)
        b = lv.c(lv.alpha[i - 1] * (lv.chi[i - 1] - lv.chi[i]), x)
        p = lv.c(self.p, x)
        q = lv.c(1.0 - self.p, x)
        return a, b, p, q

    def _swapped(self, lv: Levels, i) -> bool:
        return self.swap and (lv.n - i) % 2 == 1

    def step(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        x, y = state
        a, b, p, q = self._coefs(lv, i, x)
        u, v = (y, x) if self._swapped(lv, i) else (x, y)
        u1 = a * u + b * self.eps(model, lv, i, v, cond)
        v1 = a * v + b * self.eps(model, lv, i, u1, cond)
        x1, y1 = (v1, u1) if self._swapped(lv, i) else (u1, v1)
        x_new = p * x1 + q * y1
        y_new = p * y1 + q * x_new
        return x_new, y_new

    def inverse(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        x_new, y_new = state
        a, b, p, q = self._coefs(lv, i, x_new)
        y1 = (y_new - q * x_new) / p
        x1 = (x_new - q * y1) / p
        u1, v1 = (y1, x1) if self._swapped(lv, i) else (x1, y1)
        v = (v1 - b * self.eps(model, lv, i, u1, cond)) / a
        u = (u1 - b * self.eps(model, lv, i, v, cond)) / a
        return (v, u) if self._swapped(lv, i) else (u, v)


class _TwoStep(Baseline):
    """State ``(z_{i+1}, z_i)``; the first denoising step and the first inversion step are DDIM."""

    lag = 1
    min_steps = 2
    n_states = 2

    def init_invert(self, model: DiffusionModel, lv: Levels, x0: torch.Tensor,
                    cond: dict) -> tuple[tuple, int]:
        z1 = lv.phi(x0, self.eps(model, lv, 0, x0, cond), 0, 1)
        return (z1, x0), 1

    def init_generate(self, model: DiffusionModel, lv: Levels, x_n: torch.Tensor,
                      cond: dict) -> tuple:
        n = lv.n
        return (x_n, lv.phi(x_n, self.eps(model, lv, n, x_n, cond), n, n - 1))

    def output(self, state: tuple) -> torch.Tensor:
        return state[1]


class BDIA(_TwoStep):
    """BDIA-DDIM (Zhang, Lewis & Kleijn 2024, eq. 21), docs/mathematics.md §5.

    * step: ``z_{i-1} = γ z_{i+1} + Φ(z_i; i→i-1) - γ Φ(z_i; i→i+1)``, both Φ with ``ε_i(z_i)``;
    * inverse: ``z_{i+1} = (z_{i-1} - Φ(z_i; i→i-1))/γ + Φ(z_i; i→i+1)``.

    The first denoising step is plain DDIM (from a noise tensor); the inversion
    starts with one DDIM-inversion step ``z_1 = Φ(z_0, ε_0(z_0); 0→1)`` and keeps
    the pair, so the round trip is exact.  ``γ ∈ (0, 1]`` multiplies ``z_{i+1}``
    (the BDIA README writes the same family with ``1-γ``).  The inversion divides
    by γ each step, so its latent carries a parasitic mode growing like
    ``(-1/γ)^k``; decoding undoes it in exact arithmetic, but in float32 it
    swamps the latent after a few dozen steps at γ = 0.5 (the BELM comparison
    code's default; measured in docs/baselines.md).  The default γ = 1 (the
    time-symmetric, second-order member) keeps that mode bounded.
    """

    name = "bdia"

    def __init__(self, gamma: float = 1.0):
        self.gamma = check_unit_interval("BDIA gamma", gamma,
                                         what="the weight of z_{i+1}; 1 is time-symmetric")

    @property
    def options(self) -> dict:
        return {"gamma": self.gamma}

    def step(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        z_up, z = state
        e = self.eps(model, lv, i, z, cond)
        g = lv.c(self.gamma, z)
        return z, g * z_up + lv.phi(z, e, i, i - 1) - g * lv.phi(z, e, i, i + 1)

    def inverse(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        z, z_down = state
        e = self.eps(model, lv, i, z, cond)
        g = lv.c(self.gamma, z)
        return (z_down - lv.phi(z, e, i, i - 1)) / g + lv.phi(z, e, i, i + 1), z


class OBELM(_TwoStep):
    """O-BELM (Wang et al. 2024, eq. 15), docs/mathematics.md §5, with ``h_i = χ_i - χ_{i-1}``.

    * step: ``x_{i-1} = (h_i²/h_{i+1}²)(α_{i-1}/α_{i+1}) x_{i+1}
      + ((h_{i+1}²-h_i²)/h_{i+1}²)(α_{i-1}/α_i) x_i - (h_i(h_i+h_{i+1})/h_{i+1}) α_{i-1} ε_i(x_i)``;
    * inverse: ``x_{i+1} = (h_{i+1}²/h_i²)(α_{i+1}/α_{i-1}) x_{i-1}
      + ((h_i²-h_{i+1}²)/h_i²)(α_{i+1}/α_i) x_i + (h_{i+1}(h_i+h_{i+1})/h_i) α_{i+1} ε_i(x_i)``.

    First denoising step and first inversion step: DDIM, as in the reference code.
    """

    name = "obelm"

    @staticmethod
    def _h(lv: Levels, i):
        return lv.chi[i] - lv.chi[i - 1], lv.chi[i + 1] - lv.chi[i]

    def step(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        x_up, x = state
        h0, h1 = self._h(lv, i)
        c_up = lv.c(h0 * h0 / (h1 * h1) * lv.ratio(i - 1, i + 1), x)
        c_x = lv.c((h1 * h1 - h0 * h0) / (h1 * h1) * lv.ratio(i - 1, i), x)
        c_e = lv.c(h0 * (h0 + h1) / h1 * lv.alpha[i - 1], x)
        return x, c_up * x_up + c_x * x - c_e * self.eps(model, lv, i, x, cond)

    def inverse(self, model: DiffusionModel, lv: Levels, i: int, state: tuple, cond: dict) -> tuple:
        x, x_down = state
        h0, h1 = self._h(lv, i)
        c_down = lv.c(h1 * h1 / (h0 * h0) * lv.ratio(i + 1, i - 1), x)
        c_x = lv.c((h0 * h0 - h1 * h1) / (h0 * h0) * lv.ratio(i + 1, i), x)
        c_e = lv.c(h1 * (h0 + h1) / h0 * lv.alpha[i + 1], x)
        return c_down * x_down + c_x * x + c_e * self.eps(model, lv, i, x, cond), x
