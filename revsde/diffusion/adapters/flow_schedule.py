"""The schedule of a diffusers flow-matching scheduler config, as a revsde :class:`FlowMatching`.

``FlowMatchEulerDiscreteScheduler`` (and ``FlowMatchHeunDiscreteScheduler``) train on
``x_σ = (1-σ)·x0 + σ·ε`` with σ ∈ [0, 1] and sample on a shifted time: with the
unshifted time t, ``σ = s·t/(1 + (s-1)·t)`` where

* ``use_dynamic_shifting`` false: ``s = shift`` (SD3: 3.0);
* ``use_dynamic_shifting`` true: ``s = e^μ`` (``time_shift_type`` "exponential") or
  ``s = μ`` ("linear"), where μ depends on the number of image tokens ``n``: diffusers'
  pipelines take ``μ = base_shift + (n - base_image_seq_len)·(max_shift - base_shift)
  / (max_image_seq_len - base_image_seq_len)`` (SD3, FLUX.1, Lumina 2), or FLUX.2's
  empirical rule, which also reads the number of steps (:func:`flux2_mu`);
* ``shift_terminal``: the stretch that ends the schedule at σ = shift_terminal
  (:class:`FlowMatching`'s ``terminal``, at the schedule's t_min).

The model's time input is σ in the transformer's own units (``σ·num_train_timesteps``
for SD3; the adapter of each family converts it, :mod:`.transformers`).  Grid options
of the scheduler (``use_karras_sigmas``, ...) only choose diffusers' own sampling
grid: revsde's samplers take their ``grid`` argument instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..schedules import FlowMatching
from .errors import DiffusersAdapterError

__all__ = ["FLOW_DEFAULTS", "flow_scheduler_config", "linear_mu", "flux2_mu",
           "flow_shift", "flow_schedule_from_config"]

#: diffusers' defaults for the keys a FlowMatchEulerDiscreteScheduler config may omit.
FLOW_DEFAULTS = {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": False,
                 "base_shift": 0.5, "max_shift": 1.15, "base_image_seq_len": 256,
                 "max_image_seq_len": 4096, "invert_sigmas": False, "shift_terminal": None,
                 "time_shift_type": "exponential"}


def flow_scheduler_config(scheduler, family: str = "a flow-matching transformer") -> dict:
    """The config of a flow-matching scheduler (or its config mapping), defaults filled in."""
    config = getattr(scheduler, "config", scheduler)
    if not isinstance(config, Mapping):
        raise DiffusersAdapterError(
            f"scheduler must be a diffusers FlowMatchEulerDiscreteScheduler or its config dict; "
            f"got {type(scheduler).__name__}")
    name = str(config.get("_class_name", type(scheduler).__name__))
    if "FlowMatch" not in name and "shift" not in config:
        raise DiffusersAdapterError(
            f"{name} is not a flow-matching scheduler; {family} needs its "
            "FlowMatchEulerDiscreteScheduler (e.g. pipe.scheduler, or "
            "FlowMatchEulerDiscreteScheduler.from_pretrained(DIR, subfolder='scheduler'))")
    out = dict(FLOW_DEFAULTS)
    out.update({k: config[k] for k in config if not str(k).startswith("_")})
    out["_class_name"] = name
    if out["invert_sigmas"]:
        raise DiffusersAdapterError(
            "invert_sigmas=True (σ running from 0 to 1) is not supported; use the scheduler "
            "config with invert_sigmas=False")
    if out["time_shift_type"] not in ("exponential", "linear"):
        raise DiffusersAdapterError(f"time_shift_type must be 'exponential' or 'linear'; got "
                                    f"{out['time_shift_type']!r}")
    return out


def linear_mu(config: Mapping, image_seq_len: int) -> float:
    """μ linear in the number of image tokens (diffusers' ``calculate_shift``)."""
    keys = ("base_shift", "max_shift", "base_image_seq_len", "max_image_seq_len")
    if any(config.get(k) is None for k in keys):
        raise DiffusersAdapterError(
            f"the scheduler config lacks {[k for k in keys if config.get(k) is None]} for its "
            "dynamic shift; pass mu= to from_diffusers")
    b0, b1 = float(config["base_shift"]), float(config["max_shift"])
    n0, n1 = float(config["base_image_seq_len"]), float(config["max_image_seq_len"])
    if n1 == n0:
        raise DiffusersAdapterError("base_image_seq_len equals max_image_seq_len; pass mu=")
    slope = (b1 - b0) / (n1 - n0)
    return image_seq_len * slope + (b0 - slope * n0)


def flux2_mu(image_seq_len: int, steps: int) -> float:
    """FLUX.2's empirical μ (its pipeline's rule): linear in the tokens, and for at most
    4300 tokens also linear in the number of steps, through fits at 10 and 200 steps."""
    a10, b10 = 8.73809524e-05, 1.89833333
    a200, b200 = 0.00016927, 0.45666666
    m200 = a200 * image_seq_len + b200
    if image_seq_len > 4300:
        return float(m200)
    m10 = a10 * image_seq_len + b10
    slope = (m200 - m10) / 190.0
    return float(slope * steps + (m200 - 200.0 * slope))


def flow_shift(config: Mapping, mu: float | None) -> float:
    """The shift s of the config: ``shift``, or from μ when the shift is dynamic."""
    if not config["use_dynamic_shifting"]:
        if mu is not None:
            raise DiffusersAdapterError(
                f"the scheduler's shift is fixed (use_dynamic_shifting=False, shift="
                f"{config['shift']}); drop mu/image_seq_len")
        return float(config["shift"])
    if mu is None:
        raise DiffusersAdapterError(
            "the scheduler uses dynamic shifting (its shift depends on the image size): pass "
            "image_seq_len= (the image tokens: latent height/2 × width/2 for SD3 and FLUX) or "
            "mu= to from_diffusers")
    if config["time_shift_type"] == "exponential":
        return math.exp(mu)
    if not mu > 0:
        raise DiffusersAdapterError(f"a linear time shift needs mu > 0; got {mu}")
    return float(mu)


def flow_schedule_from_config(config: Mapping, mu: float | None = None) -> FlowMatching:
    """:class:`FlowMatching` with the config's shift (and ``shift_terminal``) (module docstring)."""
    shift = flow_shift(config, mu)
    terminal = config.get("shift_terminal")
    try:
        return FlowMatching(shift=shift, terminal=terminal if terminal else None)
    except ValueError as err:
        raise DiffusersAdapterError(f"unusable flow-matching scheduler config: {err}") from None
