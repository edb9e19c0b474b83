"""The network and model classes of the diffusers adapter (:mod:`.diffusers` builds them).

:class:`DiffusersNet` calls a diffusers UNet as ``net(x, t, **cond)`` (the scheduler's
timestep, classifier-free guidance, a pipeline's default conditioning);
:class:`DiffusersModel` is the :class:`DiffusionModel` over it, with its fingerprint;
:mod:`.transformers` subclasses both for the flow-matching transformers.
"""

from __future__ import annotations

import hashlib
import json
import math

import torch

from ..models import DiffusionModel
from .errors import DiffusersAdapterError
from .guidance import broadcast_inputs, guidance_batch, guided
from .latent import LatentCodec

__all__ = ["DiffusersNet", "DiffusersModel", "PREDICTION_TYPES"]

#: diffusers' prediction_type -> revsde's prediction
PREDICTION_TYPES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}


def _config(module) -> dict:
    config = getattr(module, "config", None)
    return dict(config) if config is not None else {}


class DiffusersNet(torch.nn.Module):
    """``net(x, t, **cond)`` over a diffusers UNet: continuous t to the scheduler's timestep.

    Args:
        unet: ``UNet2DModel`` or ``UNet2DConditionModel`` (any module called as
            ``unet(sample, timestep, **inputs)`` whose output's first item is the prediction).
        num_train_timesteps: N of the scheduler; ``timestep = t·N - 1``.
        guidance_scale: classifier-free guidance scale s, or ``None`` for no guidance.
        uncond: default unconditional inputs (a dict like ``cond``), used when a call's
            ``cond`` has no ``"uncond"`` entry.
        learned_variance: the UNet also outputs a variance (``variance_type`` learned):
            keep the first half of its channels.
    """

    def __init__(self, unet, num_train_timesteps: int, guidance_scale: float | None = None,
                 uncond: dict | None = None, learned_variance: bool = False):
        super().__init__()
        if not callable(unet):
            raise DiffusersAdapterError(
                f"unet must be a diffusers UNet2DModel or UNet2DConditionModel; got "
                f"{type(unet).__name__}")
        if guidance_scale is not None:
            if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) \
                    or not math.isfinite(guidance_scale):
                raise DiffusersAdapterError(
                    f"guidance_scale must be a finite number (or None for no guidance); got "
                    f"{guidance_scale!r}")
            guidance_scale = float(guidance_scale)
        if uncond is not None and not isinstance(uncond, dict):
            raise DiffusersAdapterError(
                "uncond must be a dict of the network's unconditional keyword inputs, e.g. "
                f"{{'encoder_hidden_states': empty_prompt_embedding}}; got {type(uncond).__name__}")
        if uncond is not None and guidance_scale is None:
            raise DiffusersAdapterError("uncond was given without guidance_scale; pass "
                                        "guidance_scale=s to use classifier-free guidance")
        self.unet = unet
        self.num_train_timesteps = int(num_train_timesteps)
        self.guidance_scale = guidance_scale
        self.uncond = dict(uncond) if uncond is not None else None
        self.learned_variance = bool(learned_variance)
        #: the conditioning used when a call gives none (from_pipeline: the prompt's)
        self.default_cond: dict | None = None
        #: SDXL's micro-conditioning (original size, crop corner, target size) in pixels;
        #: a ``None`` size is the picture's own (the latent's size times ``pixel_factor``)
        self.size_conditioning: tuple | None = None
        self.pixel_factor = 1
        config = _config(unet)
        self.conditional = "cross_attention_dim" in config or type(unet).__name__ == \
            "UNet2DConditionModel"

    def timestep(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The scheduler's timestep ``t·N - 1`` as a float tensor (at least float32)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        return (t.to(torch.float64) * self.num_train_timesteps - 1.0).to(dtype)

    def _dtype(self) -> torch.dtype | None:
        for p in self.unet.parameters():
            if p.is_floating_point():
                return p.dtype
        return None

    def raw(self, x: torch.Tensor, timestep: torch.Tensor, inputs: dict) -> torch.Tensor:
        """One UNet call at the scheduler's ``timestep``; the prediction, variance dropped."""
        if self.conditional and inputs.get("encoder_hidden_states") is None:
            raise DiffusersAdapterError(
                f"{type(self.unet).__name__} needs its text conditioning: pass "
                "cond={'encoder_hidden_states': tensor (batch or 1, tokens, "
                f"{_config(self.unet).get('cross_attention_dim', 'dim')})}}")
        dtype = self._dtype()
        if dtype is not None and x.dtype != dtype:
            # a wider reversible state: the network sees a cast of it, in its own precision
            out = self.unet(x.to(dtype), timestep, **_cast(inputs, dtype),
                            return_dict=False)[0].to(x.dtype)
        else:
            out = self.unet(x, timestep, **inputs, return_dict=False)[0]
        if out.shape[1] != x.shape[1]:
            if self.learned_variance and out.shape[1] == 2 * x.shape[1]:
                return out[:, : x.shape[1]]
            raise DiffusersAdapterError(
                f"the UNet returns {out.shape[1]} channels for a {x.shape[1]}-channel input; "
                "only a scheduler with variance_type 'learned'/'learned_range' explains twice "
                "as many")
        return out

    def forward(self, x: torch.Tensor, t: torch.Tensor, **cond) -> torch.Tensor:
        """The (guided) network output at continuous times ``t`` (shape ``(batch,)``)."""
        uncond = cond.pop("uncond", None)
        batch = x.shape[0]
        if not cond and self.default_cond is not None:
            cond = dict(self.default_cond)
        cond = broadcast_inputs(cond, batch)
        if self.size_conditioning is not None:
            cond = self._with_time_ids(cond, x)
        timestep = self.timestep(t, x)
        if self.guidance_scale is None:
            if uncond is not None:
                raise DiffusersAdapterError(
                    "cond has an 'uncond' entry but the model has no guidance_scale; build it "
                    "with from_diffusers(..., guidance_scale=s)")
            return self.raw(x, timestep, cond)
        uncond = self.uncond if uncond is None else uncond
        if uncond is None:
            raise DiffusersAdapterError(
                "classifier-free guidance needs unconditional inputs: pass uncond={...} to "
                "from_diffusers, or cond={..., 'uncond': {...}} to the call")
        if not isinstance(uncond, dict):
            raise DiffusersAdapterError(f"cond['uncond'] must be a dict of keyword inputs; got "
                                        f"{type(uncond).__name__}")
        x2, t2, inputs = guidance_batch(x, timestep, cond, broadcast_inputs(uncond, batch))
        return guided(self.raw(x2, t2, inputs), self.guidance_scale)

    def _with_time_ids(self, cond: dict, x: torch.Tensor) -> dict:
        """SDXL: ``added_cond_kwargs['time_ids']`` = (original size, crop corner, target
        size), the sizes the picture's own where not fixed (its pipeline's rule)."""
        added = cond.get("added_cond_kwargs")
        if not isinstance(added, dict) or "time_ids" in added:
            return cond
        assert self.size_conditioning is not None
        original, crop, target = self.size_conditioning
        own = (int(x.shape[-2]) * self.pixel_factor, int(x.shape[-1]) * self.pixel_factor)
        ids = list(original or own) + list(crop) + list(target or own)
        time_ids = torch.tensor([ids], dtype=torch.float32, device=x.device)
        return {**cond, "added_cond_kwargs": {
            **added, "time_ids": time_ids.expand(x.shape[0], len(ids))}}

    def extra_repr(self) -> str:
        return (f"unet={type(self.unet).__name__}, num_train_timesteps="
                f"{self.num_train_timesteps}, guidance_scale={self.guidance_scale}")


def _cast(v, dtype):
    """Floating tensors (nested in dicts) cast to ``dtype``; everything else unchanged."""
    if torch.is_tensor(v):
        return v.to(dtype) if v.is_floating_point() else v
    if isinstance(v, dict):
        return {k: _cast(w, dtype) for k, w in v.items()}
    return v


def _call_args(record: dict, keys=None) -> str:
    """``prompt='...', guidance_scale=...``: the from_pipeline arguments of a record."""
    skip = {"pipeline", "height", "width", "size_conditioning"}
    names = [k for k in (keys or record) if k not in skip and record.get(k) is not None]
    if keys is not None:
        names += [k for k in ("height", "width") if k in keys and record.get(k) is not None]
    return ", ".join(f"{k}={record[k]!r}" for k in names)


def _digest(obj) -> str:
    h = hashlib.sha256()

    def feed(v):
        if torch.is_tensor(v):
            h.update(f"{v.dtype}{tuple(v.shape)}".encode())
            h.update(v.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
        elif isinstance(v, dict):
            for k in sorted(v):
                h.update(str(k).encode())
                feed(v[k])
        else:
            h.update(json.dumps(v, sort_keys=True, default=str).encode())

    feed(obj)
    return h.hexdigest()


class DiffusersModel(DiffusionModel):
    """A :class:`DiffusionModel` over a diffusers UNet (built by :func:`from_diffusers`).

    ``autoencoder`` is a :class:`~.latent.LatentCodec` for latent diffusion (``encode``
    and ``decode`` then take pictures) or ``None``; ``scheduler_config`` is the
    scheduler's config with diffusers' defaults filled in.
    """

    net: DiffusersNet

    def __init__(self, net: DiffusersNet, schedule, prediction: str, scheduler_config: dict,
                 autoencoder: LatentCodec | None = None):
        super().__init__(net, schedule, prediction)
        self.scheduler_config = scheduler_config
        self.autoencoder = autoencoder
        #: from_pipeline: the prompts and guidance (JSON values) that encode stores with
        #: the latents, so that decode can say which one differs; ``None`` otherwise
        self.pipeline_record: dict | None = None

    @property
    def batched_conditioning(self) -> bool:
        """Whether the model holds conditioning of one entry per picture (a list of prompts,
        :func:`from_pipeline`): its network must then see the whole batch at once."""
        held = self.net.default_cond or {}
        return any(torch.is_tensor(v) and v.dim() > 0 and v.shape[0] > 1
                   for v in held.values())

    def conditioning_error(self, stored: dict | None) -> str | None:
        """The one-line error for latents whose stored prompt record (``stored``) differs
        from this model's, or ``None`` when they agree."""
        here = self.pipeline_record
        if stored == here:
            return None
        if here is None:
            return (f"these latents were encoded by a {stored.get('pipeline')} model with "
                    f"prompt {stored.get('prompt')!r}; decode with from_pipeline(pipe, "
                    f"{_call_args(stored)})") if isinstance(stored, dict) else None
        if not isinstance(stored, dict):
            return ("these latents were encoded without a pipeline's prompt; decode with the "
                    "model that encoded them, not one built by from_pipeline")
        keys = [k for k in sorted(set(stored) | set(here)) if stored.get(k) != here.get(k)]
        diff = ", ".join(f"{k}={stored.get(k)!r} (this model: {here.get(k)!r})" for k in keys)
        return (f"these latents were encoded with {diff}; build the model with "
                f"from_pipeline(pipe, {_call_args(stored, keys)}) to decode them")

    def _conditioning_parts(self) -> dict:
        """The default conditioning of a from_pipeline model, for the fingerprint."""
        parts: dict[str, object] = {}
        if self.net.default_cond is not None:
            parts["cond"] = self.net.default_cond
        if self.net.size_conditioning is not None:
            parts["size_conditioning"] = [list(v) if v is not None else None
                                          for v in self.net.size_conditioning]
        return parts

    def _net(self, x, tb, **cond):
        """The UNet wrapper casts ``x`` and ``cond`` to the UNet's dtype itself, and makes the
        timestep from the wide ``t`` (a bfloat16 t would round it by several timesteps)."""
        return self.net(x, tb, **cond)

    @property
    def guidance_scale(self) -> float | None:
        return self.net.guidance_scale

    def fingerprint_parts(self) -> dict[str, object]:
        """What :meth:`fingerprint` hashes besides the autoencoder: the UNet's config and
        weights, the scheduler config, the guidance scale and the default inputs."""
        return {
            "unet": _config(self.net.unet), "scheduler": self.scheduler_config,
            "prediction": self.prediction, "guidance_scale": self.net.guidance_scale,
            "uncond": self.net.uncond or {}, "weights": dict(self.state_dict()),
            **self._conditioning_parts()}

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`fingerprint_parts` and the autoencoder (its config and latent
        scale; its weights are in the state dict): decoding with anything else is refused."""
        parts = self.fingerprint_parts()
        if self.autoencoder is not None:
            parts["vae"] = _config(self.autoencoder.vae)
            parts["latent_scale"] = [self.autoencoder.scaling_factor,
                                     self.autoencoder.shift_factor]
        return _digest(parts)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", guidance_scale={self.guidance_scale!r}"
