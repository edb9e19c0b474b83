"""``from_diffusers``: a diffusers UNet and its scheduler as a revsde :class:`DiffusionModel`.

The result is an ordinary :class:`~revsde.diffusion.DiffusionModel`, so every sampler,
``encode``/``decode``/``sample`` and the benchmarks take it:

* the schedule comes from the scheduler's config (:mod:`.schedule`): the training index
  ``i`` sits at ``t = (i+1)/N``, and the network is called with the timestep
  ``t·N - 1`` as a float tensor in the scheduler's units (a Python float given to
  ``UNet2DModel`` would be truncated to an integer);
* the prediction type is the scheduler's ``prediction_type``: ``epsilon`` → ``"eps"``,
  ``sample`` → ``"x0"``, ``v_prediction`` → ``"v"`` (v = α ε - σ x0, the same convention);
* conditioning keyword inputs (``encoder_hidden_states``, ``class_labels``,
  ``added_cond_kwargs``, ...) are the ``cond`` of every revsde call;
* ``guidance_scale`` turns on classifier-free guidance (:mod:`.guidance`), one network
  call on the batch ``[uncond; cond]``; the guided network is still a deterministic
  function, so inversion stays exact;
* ``vae`` (an ``AutoencoderKL``) makes it a latent diffusion model (:mod:`.latent`):
  ``encode``/``decode`` then take and return pictures.

diffusers is an optional dependency (``pip install 'revsde[diffusers]'``); this module
never imports it: it only calls the objects it is given.
"""

from __future__ import annotations

import torch

from .base import PREDICTION_TYPES, DiffusersModel, DiffusersNet, _config
from .errors import DiffusersAdapterError
from .latent import LatentCodec
from .schedule import schedule_from_config, scheduler_config
from .transformers import (
    FLOW_FAMILIES,
    from_flow_transformer,
    is_unsupported_transformer,
    unsupported_message,
)

__all__ = ["DiffusersNet", "DiffusersModel", "from_diffusers", "PREDICTION_TYPES"]


def from_diffusers(unet: torch.nn.Module, scheduler: object, *,
                   vae: torch.nn.Module | None = None, guidance_scale: float | None = None,
                   uncond: dict | None = None, prediction: str | None = None,
                   scaling_factor: float | None = None,
                   shift_factor: float | None = None,
                   distilled_guidance: float | None = None, mu: float | None = None,
                   image_seq_len: int | None = None,
                   steps: int | None = None) -> DiffusersModel:
    """Wrap a diffusers UNet or flow-matching transformer and its scheduler as a revsde
    :class:`DiffusionModel`.

    Args:
        unet: a ``UNet2DModel`` or ``UNet2DConditionModel`` (its weights are used as they
            are: move and cast it with ``unet.to(...)`` before or after wrapping); or a
            flow-matching transformer: ``SD3Transformer2DModel``,
            ``FluxTransformer2DModel``, ``Flux2Transformer2DModel``,
            ``Lumina2Transformer2DModel`` (:mod:`.transformers`: how each is called).
        scheduler: the scheduler it was trained with (``DDPMScheduler``, ``DDIMScheduler``,
            ...; ``FlowMatchEulerDiscreteScheduler`` for a transformer) or that scheduler's
            config dict; only its config is read.
        vae: an ``AutoencoderKL`` for latent diffusion; ``encode``/``decode`` then take and
            return pictures (the autoencoder itself is not invertible).
        guidance_scale: classifier-free guidance scale s: the network becomes
            ``uncond + s·(cond - uncond)``, batched in one call.
        uncond: the default unconditional inputs for guidance (e.g.
            ``{"encoder_hidden_states": empty_prompt_embedding}``); a call may override
            them with ``cond={..., "uncond": {...}}``.
        prediction: override the scheduler's ``prediction_type`` (``"epsilon"``,
            ``"sample"``, ``"v_prediction"`` or revsde's ``"eps"``, ``"x0"``, ``"v"``).
        scaling_factor: override the VAE config's latent scaling factor.
        shift_factor: override the VAE config's latent shift.
        distilled_guidance: transformers only: the guidance input of a guidance-distilled
            model (FLUX.1-dev, FLUX.2; ``guidance_embeds`` in its config).
        mu, image_seq_len: transformers only, with a dynamically shifted scheduler
            (``use_dynamic_shifting``): the shift's μ, or the number of image tokens it
            is computed from as the family's pipeline does (:mod:`.flow_schedule`).
        steps: FLUX.2 with ``image_seq_len``: the number of steps its μ rule reads.

    Returns:
        a :class:`DiffusersModel` (a :class:`DiffusionModel`); for a transformer a
        :class:`~.transformers.FlowDiffusersModel` (prediction ``"flow"``).
    """
    if type(unet).__name__ in FLOW_FAMILIES:
        return from_flow_transformer(
            unet, scheduler, vae=vae, guidance_scale=guidance_scale, uncond=uncond,
            prediction=prediction, scaling_factor=scaling_factor, shift_factor=shift_factor,
            distilled_guidance=distilled_guidance, mu=mu, image_seq_len=image_seq_len,
            steps=steps)
    if is_unsupported_transformer(unet):
        raise DiffusersAdapterError(unsupported_message(unet))
    flow_only = {"distilled_guidance": distilled_guidance, "mu": mu,
                 "image_seq_len": image_seq_len, "steps": steps}
    given = [k for k, v in flow_only.items() if v is not None]
    if given:
        raise DiffusersAdapterError(
            f"{given} are for flow-matching transformers; a {type(unet).__name__} does not "
            "take them: drop them")
    config = scheduler_config(scheduler)
    schedule = schedule_from_config(config)
    ptype = config["prediction_type"] if prediction is None else prediction
    pred = PREDICTION_TYPES.get(ptype, ptype if ptype in PREDICTION_TYPES.values() else None)
    if pred is None:
        raise DiffusersAdapterError(
            f"prediction type {ptype!r} is not supported; use one of "
            f"{list(PREDICTION_TYPES)} (or {list(PREDICTION_TYPES.values())})")
    learned = str(config.get("variance_type") or "").startswith("learned")
    net = DiffusersNet(unet, config["num_train_timesteps"], guidance_scale, uncond, learned)
    codec = None
    if vae is not None:
        codec = LatentCodec(vae, scaling_factor, shift_factor)
        unet_in = _config(unet).get("in_channels")
        if unet_in is not None and unet_in != codec.latent_channels:
            raise DiffusersAdapterError(
                f"the UNet takes {unet_in} channels but the VAE's latents have "
                f"{codec.latent_channels}; pass the VAE the UNet was trained with")
    elif scaling_factor is not None or shift_factor is not None:
        raise DiffusersAdapterError("scaling_factor/shift_factor need a vae=")
    return DiffusersModel(net, schedule, pred, config, codec)
