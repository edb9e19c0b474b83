"""The inversion baselines (DDIM inversion, EDICT, BDIA, O-BELM) as samplers that produce
:class:`~revsde.diffusion.inversion.latents.Latents`.

``encode(model, x0, sampler="edict")`` and ``decode(model, latents)`` route a
baseline name here, so one round-trip path serves Rex samplers and baselines.
A baseline's state is in data coordinates (no lifted case): ``Latents.noise``
is ``state[0]``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..baselines import BASELINES, BaselineLatent, get_baseline
from ..checks import check_tensor, grid_for
from ..models import DiffusionModel
from .latents import Latents, tensor_fingerprint

__all__ = ["is_baseline", "encode_baseline", "decode_baseline"]


def is_baseline(sampler: object) -> bool:
    """Whether ``sampler`` names a baseline of :data:`revsde.diffusion.baselines.BASELINES`."""
    return isinstance(sampler, str) and sampler in BASELINES


def encode_baseline(model: DiffusionModel, x0: torch.Tensor, steps: int, sampler: str, *,
                    grid: str, cond: dict | None, verify: bool, dtype: torch.dtype | None,
                    fingerprint: str | None, version: str, **options: Any) -> Latents:
    """Invert ``x0`` with the baseline ``sampler`` on a ``grid`` of ``steps`` steps."""
    check_tensor(x0, "x0", min_dim=2, finite=True)
    x_dtype = x0.dtype
    if dtype is not None:
        x0 = x0.to(dtype)
    method = get_baseline(sampler, **options)
    ts = grid_for(model, steps, None, grid)
    bl = method.invert(model, x0, ts, cond=cond)
    name = str(x0.dtype).replace("torch.", "")
    lat = Latents(
        state=tuple(bl.states), ts=ts, sampler=sampler, options=method.options(),
        schedule=model.schedule.to_dict(), prediction=model.prediction, seed=None,
        brownian=None, dtype=name, x_dtype=str(x_dtype).replace("torch.", ""),
        grid={"kind": grid, "steps": steps}, model_fingerprint=fingerprint,
        cond_fingerprint=tensor_fingerprint(cond) if cond else None, nfe=bl.nfe,
        base=sampler, library_version=version,
        extra={"decode_nfe": method.decode_nfe(steps)},
    )
    if verify:
        back = decode_baseline(model, lat, cond)
        lat.verify_error = float((back.to(torch.float64) - x0.to(torch.float64)).abs().max())
    return lat


def decode_baseline(model: DiffusionModel, latents: Latents, cond: dict | None) -> torch.Tensor:
    """The data from baseline :class:`Latents`: the method's denoising steps."""
    method = get_baseline(latents.sampler, **latents.options)
    bl = BaselineLatent(latents.sampler, tuple(latents.state), latents.ts,
                        dict(latents.options), int(latents.nfe or 0))
    x = method.generate(model, bl, cond=cond)
    return x.to(getattr(torch, latents.x_dtype))
