"""Editing by exact inversion: ``edit(model, x0, source=..., target=...)``.

An edit inverts ``x0`` under the *source* conditioning with a reversible sampler (the
inverse steps of :func:`~revsde.diffusion.encode`) and regenerates it under the *target*
conditioning with the same sampler's forward steps on the same grid (as
:func:`~revsde.diffusion.decode` does, but with the target's conditioning).  Decoding
the latent under the source instead gives ``x0`` back, up to round-off: the edit starts
from the picture's own noise, not from an approximation of it.

**Strength.**  The grid is the full ``steps``-step grid of ``grid`` (noise ``ts[0]`` to
data ``ts[-1]``); an edit of strength ``s`` in (0, 1] inverts only its last
``k = max(1, round(s·steps))`` steps, to the intermediate time ``ts[steps - k]``, and
regenerates those ``k`` steps (SDEdit's knob, Meng et al. 2022): ``s = 1`` inverts to
the noise end, smaller ones keep more of the source.

**Guidance.**  ``guidance_scale`` applies classifier-free guidance
(:func:`revsde.diffusion.guidance.classifier_free`) in both directions: the inversion
under the source and the regeneration under the target use the same guided model, so
the inversion stays exact (the guided model is a deterministic function of the state).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from ...brownian import Seeds, check_keys
from ...solvers.compensated import SPLITTERS
from ..checks import (
    check_cond,
    check_data,
    check_data_tensor,
    check_model,
    check_seed_or_none,
    check_steps,
)
from ..guidance import classifier_free
from ..models import DiffusionModel
from ..samplers import Sampler, get_encoder
from ..schedules import time_grid
from .encode import (
    DEFAULT_GRID,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    _check_input,
    _decode,
    _encode_state,
    decode,
    latents_of,
    model_fingerprint,
    state_dtype,
)
from .latents import Latents
from .reproducible import Evaluation, evaluated, evaluating, evaluation_of, for_model

__all__ = ["edit", "regenerate", "EditResult", "EditError", "EDIT_DEFAULTS",
           "ENCODE_DEFAULTS"]

#: encode's defaults of the knobs an edit shares with it
ENCODE_DEFAULTS: dict[str, Any] = {"steps": DEFAULT_STEPS, "sampler": DEFAULT_SAMPLER,
                                   "grid": DEFAULT_GRID}
#: edit's own defaults, chosen by ``benchmarks/bench_editing.py`` (docs/howto-edit.md):
#: at equal network evaluations the data-prediction reversible Heun edits stably and
#: reaches the target (as encode's rev_heun_exp does, whose float64 round-off shows as one
#: float32 rounding in the source's reconstruction); a noise-prediction lifted case blows
#: up on large edits, and a high-order sampler has too few steps to find the picture's noise
EDIT_DEFAULTS: dict[str, Any] = {"steps": 24, "sampler": "rev_heun", "grid": "uniform_lambda"}


class EditError(ValueError):
    """Bad input to :func:`edit` (a ``ValueError``), saying what to change."""


class EditResult(NamedTuple):
    """What :func:`edit` returns.

    ``edited``: the regenerated pictures (``x0``'s shape and dtype); ``latents``: the
    source's encoding at ``t_start`` (:class:`Latents`; ``decode`` of it with the guided
    model (``classifier_free(model, guidance_scale)``) and ``cond=source`` gives ``x0``
    back); ``t_start``: the time the edit inverts to; ``steps_regenerated``: the grid
    steps inverted and regenerated; ``nfe``: model evaluations of the inversion and the
    regeneration together (each costs two network calls under guidance);
    ``reconstruction_error``: with ``verify=True``, the largest ``|decode under source -
    x0|`` (the exactness check), else ``None``.
    """

    edited: torch.Tensor
    latents: Latents
    t_start: float
    steps_regenerated: int
    nfe: int
    reconstruction_error: float | None


def _strength_steps(strength: object, steps: int) -> int:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not (
            math.isfinite(strength) and 0.0 < strength <= 1.0):
        raise EditError(f"strength must be a number in (0, 1] (the fraction of the {steps} "
                        f"grid steps that is inverted and regenerated; 1 = from pure "
                        f"noise); got {strength!r}")
    return max(1, min(steps, round(float(strength) * steps)))


def _check_conds(model: DiffusionModel, source: object, target: object
                 ) -> tuple[dict | None, dict]:
    if target is None:
        raise EditError("edit needs target=: the conditioning to regenerate under, a dict of "
                        "the network's keyword inputs (e.g. {'label': onehot})")
    for name, c in (("source", source), ("target", target)):
        if c is not None and not isinstance(c, dict):
            raise EditError(f"{name} must be a dict of the network's keyword inputs (e.g. "
                            f"{{'label': onehot}}); got {type(c).__name__}")
    return check_cond(model, source), check_cond(model, target)  # type: ignore[return-value]


def edit(model: DiffusionModel, x0: torch.Tensor, *, source: dict | None = None,
         target: dict | None = None, strength: float = 1.0, guidance_scale: float = 1.0,
         uncond: dict | None = None, steps: int | None = None,
         sampler: str | Sampler | None = None, grid: str | None = None,
         seed: int | None = 0, dtype: torch.dtype | None = None, verify: bool = False,
         keys=None, reproducible: bool | Evaluation = True, **options: object) -> EditResult:
    """Edit ``x0``: invert it under ``source`` and regenerate it under ``target``.

    Args:
        model: a :class:`~revsde.diffusion.DiffusionModel` (a pixel-space one).
        x0: the pictures, ``(batch, ...)``, in the model's data range.
        source: the conditioning ``x0`` is inverted under (a dict of the network's
            keyword inputs, as ``encode(..., cond=)`` takes; ``None``: unconditional).
        target: the conditioning it is regenerated under (required).
        strength: in (0, 1]: the fraction of the grid's steps inverted and regenerated
            (``round(strength·steps)``, at least one); 1 inverts to the noise end.
        guidance_scale: classifier-free guidance scale (1: none), applied in both
            directions (:func:`revsde.diffusion.guidance.classifier_free`).
        uncond: the unconditional inputs of the guidance (default: none).
        steps, sampler, grid: the grid and the reversible sampler, as for
            :func:`~revsde.diffusion.encode` (``None``: :data:`EDIT_DEFAULTS`, 24 steps of
            ``rev_heun`` on a ``uniform_lambda`` grid); a baseline name (``ddim``,
            ``edict``, ``bdia``, ``obelm``) edits with that baseline's inversion.
        seed, keys: the Brownian path of an SDE sampler (as for ``encode``).
        dtype: the state's dtype (default as ``encode``: float64 for a model with a
            network and a Rex sampler).
        verify: also decode the latent under ``source`` and report the largest error
            against ``x0`` (``reconstruction_error``; costs one more regeneration).
        reproducible: as for ``encode``.
        **options: sampler options (``case``, ``zeta``, ...), as for ``encode``.
    """
    model = check_model(model)
    if getattr(model, "autoencoder", None) is not None:
        raise EditError("edit works on a pixel-space model; this one has an autoencoder "
                        "(latent diffusion): encode/decode its latents directly")
    source, target = _check_conds(model, source, target)
    steps = check_steps(EDIT_DEFAULTS["steps"] if steps is None else steps)
    method: str | Sampler = EDIT_DEFAULTS["sampler"] if sampler is None else sampler
    kind: str = EDIT_DEFAULTS["grid"] if grid is None else grid
    k = _strength_steps(strength, steps)
    seed = check_seed_or_none(seed)
    guided = classifier_free(model, guidance_scale, uncond)
    check_data_tensor(x0, "x0")
    probe = get_encoder(method, **options)
    if not probe.reversible:
        raise EditError(f"{probe.name} cannot invert; edit needs a reversible sampler or an "
                        "inversion baseline (ddim, edict, bdia, obelm)")
    x_dtype = x0.dtype
    if probe.wide_state or dtype is not None:
        x0 = x0.to(state_dtype(model, x0, dtype))
    x0 = _check_input(model, x0, "x0")
    check_data(model, x0, "x0")
    if (isinstance(method, str) and "compensated" not in options
            and "compensated" in probe.options and x0.dtype in SPLITTERS):
        options["compensated"] = True  # as encode: the inverse sees the forward's inputs
    s = get_encoder(method, **options)
    if s.stochastic and seed is None:
        raise EditError(f"{s.name} is stochastic: edit needs an integer seed for its "
                        "Brownian path")
    seed = seed if s.stochastic else None
    ids = tuple(range(x0.shape[0])) if keys is None else check_keys(keys, x0.shape[0])
    ts = time_grid(model.schedule, steps, kind)[steps - k:]
    mode = for_model(guided, evaluation_of(reproducible))
    net = evaluated(guided, mode)
    noise = None if seed is None else Seeds(seed, ids)
    with evaluating(mode):
        enc = _encode_state(s, net, x0, ts, noise, source)
    lat = latents_of(guided, s, enc, ts, x0, x_dtype=x_dtype,
                     grid={"kind": kind, "steps": k, "of": steps}, cond=source, seed=seed,
                     keys=ids, mode=mode)
    lat.extra["guidance_scale"] = float(guidance_scale)
    with evaluating(mode):
        edited = _decode(s, net, lat, target)
    error = None
    if verify:
        back = decode(guided, lat, cond=source)
        error = float((back.to(torch.float64) - x0.to(torch.float64)).abs().max())
    nfe = int(enc.nfe) + int(lat.decode_nfe or enc.nfe)
    return EditResult(edited.to(x_dtype), lat, float(ts[0]), k, nfe, error)


def regenerate(model: DiffusionModel, latents: Latents, target: dict, *,
               guidance_scale: float = 1.0, uncond: dict | None = None) -> torch.Tensor:
    """Regenerate the latents of an edit (``EditResult.latents``) under another ``target``.

    The same sampler, grid, noise path and evaluation mode as the edit; ``model``,
    ``guidance_scale`` and ``uncond`` must be the edit's (checked through the guided
    model's fingerprint).  Inverting once and regenerating under many targets costs one
    inversion in all.  Returns the pictures in the dtype of the edit's ``x0``.
    """
    model = check_model(model)
    if not isinstance(latents, Latents):
        raise EditError(f"latents must be the Latents of an edit (EditResult.latents); got "
                        f"{type(latents).__name__}")
    if target is None or not isinstance(target, dict):
        raise EditError("regenerate needs target=: a dict of the network's keyword inputs "
                        "(e.g. {'label': onehot})")
    target_cond = check_cond(model, target)
    guided = classifier_free(model, guidance_scale, uncond)
    stored = latents.extra.get("guidance_scale") if isinstance(latents.extra, dict) else None
    if model_fingerprint(guided) != latents.model_fingerprint:
        said = "" if stored is None else f" (the edit used guidance_scale={stored:g})"
        raise EditError("these latents come from another model or another guidance scale or "
                        f"unconditional input{said}; regenerate with the edit's model, "
                        "guidance_scale and uncond")
    s = get_encoder(latents.sampler, **latents.options)
    mode = Evaluation.from_dict(latents.run) if isinstance(latents.run, dict) else \
        evaluation_of(False)
    with evaluating(mode):
        x = _decode(s, evaluated(guided, mode), latents, target_cond)
    return x.to(getattr(torch, latents.x_dtype))
