"""The noise schedule of a diffusers scheduler config, as a continuous revsde schedule.

A DDPM-family scheduler (``DDPMScheduler``, ``DDIMScheduler``, ``DDIMInverseScheduler``,
``PNDMScheduler``, ``EulerDiscreteScheduler``, ...) is defined by its config:
``num_train_timesteps`` N, ``beta_schedule``, ``beta_start``, ``beta_end``,
``trained_betas`` and ``rescale_betas_zero_snr``.  From these facts:

* ``linear``: β = linspace(β_start, β_end, N);
* ``scaled_linear``: β = linspace(sqrt β_start, sqrt β_end, N)²;
* ``squaredcos_cap_v2`` (Nichol & Dhariwal 2021, eq. 17): β_i = min(1 - ᾱ(t_{i+1})/ᾱ(t_i), 0.999)
  with ᾱ(t) = cos²(π/2 · (t + 0.008)/1.008), t_i = i/N;
* ``trained_betas``: the given β;
* ``rescale_betas_zero_snr`` (Lin et al. 2024, Algorithm 1): shift and scale sqrt ᾱ so
  that sqrt ᾱ_{N-1} = 0 and sqrt ᾱ_0 is unchanged;

then ``ᾱ = cumprod(1 - β)``.  The arithmetic is done in float32, as the scheduler (and
so the training run, whose ``add_noise`` reads the scheduler's float32 ``alphas_cumprod``)
does it: the noise levels are those the network was trained at.  The exact float64
product of the same betas differs from them by up to ~1e-6 relative (``scaled_linear``,
N = 1000) and ~1e-5 (``squaredcos_cap_v2``, whose betas are rounded to float32).

The continuous schedule is :class:`~revsde.diffusion.schedules.VPDiscrete`:
training index ``i`` sits at ``t = (i+1)/N`` (``timestep = t·N - 1``), ``log α`` is
piecewise linear in t between the nodes, so λ is strictly decreasing and its inverse
``t(λ)`` is exact and monotone.  A zero terminal SNR (``ᾱ_{N-1} = 0``, λ = -∞) is
floored at :data:`ZERO_SNR_FLOOR` = 2⁻²⁴, the value diffusers' Euler scheduler uses for
the same reason; every other node is the scheduler's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from ..schedules import VPDiscrete
from .errors import DiffusersAdapterError

__all__ = ["BETA_SCHEDULES", "ZERO_SNR_FLOOR", "scheduler_config", "betas_from_config",
           "alphas_cumprod_from_config", "schedule_from_config"]

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
#: ᾱ used in place of an exact zero at the last timestep (zero terminal SNR).
ZERO_SNR_FLOOR = 2.0 ** -24
#: diffusers' defaults for the keys a DDPM-family config may omit.
_DEFAULTS = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
             "beta_schedule": "linear", "trained_betas": None,
             "rescale_betas_zero_snr": False, "prediction_type": "epsilon"}


def scheduler_config(scheduler) -> dict:
    """The config of a diffusers scheduler (or a config mapping), with diffusers' defaults."""
    config = getattr(scheduler, "config", scheduler)
    if not isinstance(config, Mapping):
        raise DiffusersAdapterError(
            "scheduler must be a diffusers scheduler (e.g. DDPMScheduler, DDIMScheduler) or its "
            f"config dict; got {type(scheduler).__name__}")
    name = str(config.get("_class_name", type(scheduler).__name__))
    if "FlowMatch" in name or ("beta_schedule" not in config and "trained_betas" not in config
                               and "num_train_timesteps" not in config):
        raise DiffusersAdapterError(
            f"{name} is not a DDPM-family (beta-schedule) scheduler; from_diffusers needs a "
            "scheduler config with num_train_timesteps and beta_schedule or trained_betas "
            "(DDPMScheduler, DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, ...)")
    out = dict(_DEFAULTS)
    out.update({k: config[k] for k in config if not str(k).startswith("_")})
    out["_class_name"] = name
    return out


def _cosine_alpha_bar(t: float) -> float:
    """ᾱ(t) = cos²(π/2 · (t + 0.008)/1.008) (Nichol & Dhariwal 2021, eq. 17)."""
    return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


def _rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2024, Algorithm 1: sqrt ᾱ ← (sqrt ᾱ - sqrt ᾱ_T)·sqrt ᾱ_0/(sqrt ᾱ_0 - sqrt ᾱ_T)."""
    root = torch.cumprod(1.0 - betas, 0).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    abar = root * root
    alphas = torch.cat([abar[:1], abar[1:] / abar[:-1]])
    return 1.0 - alphas


def betas_from_config(config) -> torch.Tensor:
    """The scheduler's β (float32, length N) from its config (module docstring)."""
    c = scheduler_config(config)
    n = c["num_train_timesteps"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise DiffusersAdapterError(f"num_train_timesteps must be an integer >= 2; got {n!r}")
    if c["trained_betas"] is not None:
        betas = torch.as_tensor(c["trained_betas"], dtype=torch.float32).reshape(-1)
        if betas.numel() != n:
            raise DiffusersAdapterError(
                f"trained_betas has {betas.numel()} values but num_train_timesteps is {n}; "
                "they must agree")
    else:
        kind, b0, b1 = c["beta_schedule"], float(c["beta_start"]), float(c["beta_end"])
        if kind == "linear":
            betas = torch.linspace(b0, b1, n, dtype=torch.float32)
        elif kind == "scaled_linear":
            betas = torch.linspace(b0 ** 0.5, b1 ** 0.5, n, dtype=torch.float32) ** 2
        elif kind == "squaredcos_cap_v2":
            betas = torch.tensor(
                [min(1.0 - _cosine_alpha_bar((i + 1) / n) / _cosine_alpha_bar(i / n), 0.999)
                 for i in range(n)], dtype=torch.float32)
        else:
            raise DiffusersAdapterError(
                f"beta_schedule {kind!r} is not supported; use one of {BETA_SCHEDULES} or "
                "give trained_betas")
    if c["rescale_betas_zero_snr"]:
        betas = _rescale_zero_terminal_snr(betas)
    if not bool(((betas >= 0) & (betas <= 1)).all()):
        raise DiffusersAdapterError("the scheduler's betas must lie in [0, 1]")
    return betas


def alphas_cumprod_from_config(config) -> torch.Tensor:
    """``ᾱ = cumprod(1 - β)`` in float32 as the scheduler computes it, returned as float64."""
    return torch.cumprod(1.0 - betas_from_config(config), 0).to(torch.float64)


def schedule_from_config(config) -> VPDiscrete:
    """A :class:`VPDiscrete` through the scheduler's ᾱ at ``t = (i+1)/N`` (module docstring)."""
    ac = alphas_cumprod_from_config(config)
    if float(ac[-1]) <= 0.0:
        if ac.numel() < 2 or float(ac[-2]) <= ZERO_SNR_FLOOR:
            raise DiffusersAdapterError(
                "the scheduler's alphas_cumprod reaches zero before its last timestep; only the "
                "terminal value may be zero (rescale_betas_zero_snr)")
        ac = ac.clone()
        ac[-1] = ZERO_SNR_FLOOR
    if not bool((ac[1:] < ac[:-1]).all()) or not bool((ac < 1).all()):
        raise DiffusersAdapterError(
            "the scheduler's alphas_cumprod must be strictly decreasing and below 1 (every beta "
            "positive); check beta_start/beta_end or trained_betas")
    return VPDiscrete(alphas_cumprod=ac)
