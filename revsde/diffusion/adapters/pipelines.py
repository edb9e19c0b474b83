"""``from_pipeline``: a whole diffusers pipeline, prompts included, as a revsde model.

The pipeline's own ``encode_prompt`` turns the prompts into the network's conditioning
once, when the model is built; the model keeps the denoiser (UNet or transformer), its
VAE and those embeddings (not the text encoders: drop the pipeline to free them).  Each
family is conditioned as its pipeline's ``__call__`` conditions it:

* ``StableDiffusionPipeline`` (SD 1.x, 2.x; v-prediction from the scheduler config):
  ``encoder_hidden_states``; classifier-free guidance when ``guidance_scale > 1``, the
  unconditional half from ``negative_prompt`` (default the empty prompt);
* ``StableDiffusionXLPipeline``: also ``added_cond_kwargs`` = the pooled embedding
  ``text_embeds`` and the micro-conditioning ``time_ids`` = (original size, crop
  corner, target size); by default both sizes are the picture's own, read from the
  latent at each call (``height``/``width`` or ``original_size``/``target_size`` fix
  them); a missing negative prompt is zeros when the pipeline's config says
  ``force_zeros_for_empty_prompt``;
* ``StableDiffusion3Pipeline``: ``encoder_hidden_states`` and ``pooled_projections``
  from its three text encoders; guidance as SD's;
* ``FluxPipeline``: ``guidance_scale`` is the guidance *input* of a guidance-distilled
  transformer (FLUX.1-dev; default 3.5, the pipeline's), and true classifier-free
  guidance is ``true_cfg_scale > 1`` with a ``negative_prompt``; the dynamic shift's μ
  comes from the picture size (``height``, ``width``, default the pipeline's default
  size) as the pipeline computes it.

A pipeline without a text encoder (``DDPMPipeline``, an unconditional latent model)
takes no prompt.  The latents of ``encode`` record the prompts and guidance
(``model.pipeline_record``): ``decode`` with another prompt or guidance scale says which
one to change.

Precision and memory follow diffusers' conventions: ``pipe.to(dtype)`` (bfloat16 or
float16) runs the network and VAE in that dtype while the reversible state stays
float64 (the network sees a cast of it); batches are a picture batch with one prompt
or a list of prompts, one per picture.  Model CPU offloading
(``enable_model_cpu_offload``) is not supported: the weights must be on the latents'
device (:mod:`.determinism` for the attention backends).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from .base import DiffusersModel, _config
from .determinism import check_attention
from .diffusers import from_diffusers
from .errors import DiffusersAdapterError

__all__ = ["PIPELINE_FAMILIES", "from_pipeline", "pipeline_family"]

#: the pipelines from_pipeline conditions (module docstring), by family
PIPELINE_FAMILIES = {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline",
                     "sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline"}
_FLUX_DEFAULT_GUIDANCE = 3.5


def pipeline_family(pipe) -> str | None:
    """``"sd"``, ``"sdxl"``, ``"sd3"``, ``"flux"``, or ``None`` for an unconditional pipeline
    (no text encoder); an unsupported text-conditioned pipeline is an error."""
    name = type(pipe).__name__
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    if denoiser is None:
        raise DiffusersAdapterError(
            f"{name} has neither a unet nor a transformer; from_pipeline takes "
            f"{', '.join(PIPELINE_FAMILIES.values())} or an unconditional pipeline")
    kind = type(denoiser).__name__
    texts = getattr(pipe, "text_encoder", None) is not None or \
        getattr(pipe, "text_encoder_2", None) is not None
    if kind == "SD3Transformer2DModel":
        return "sd3"
    if kind == "FluxTransformer2DModel":
        return "flux"
    if kind == "UNet2DConditionModel" and texts:
        if _config(denoiser).get("addition_embed_type") == "text_time":
            return "sdxl"
        if _config(denoiser).get("addition_embed_type"):
            raise DiffusersAdapterError(
                f"{name}'s UNet takes added conditioning "
                f"{_config(denoiser)['addition_embed_type']!r}, which from_pipeline does not "
                f"make; it takes {', '.join(PIPELINE_FAMILIES.values())}")
        return "sd"
    if not texts and kind in ("UNet2DModel", "UNet2DConditionModel"):
        return None
    raise DiffusersAdapterError(
        f"{name} ({kind}) is not supported; from_pipeline takes "
        f"{', '.join(PIPELINE_FAMILIES.values())} or an unconditional UNet pipeline (use "
        "from_diffusers with the network and your own cond= for others)")


def _scale(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise DiffusersAdapterError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _prompt(value, name: str):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise DiffusersAdapterError(f"{name} must be a string or a list of strings (one per "
                                f"picture); got {value!r}")


def _encode(pipe, call_options: dict, **kwargs):
    """The pipeline's own ``encode_prompt`` with ``kwargs`` and the user's extra options."""
    fn = getattr(pipe, "encode_prompt", None)
    if not callable(fn):
        raise DiffusersAdapterError(f"{type(pipe).__name__} has no encode_prompt; pass the "
                                    "network to from_diffusers with your own cond=")
    accepted = inspect.signature(fn).parameters
    unknown = sorted(k for k in call_options if k not in accepted)
    if unknown:
        raise DiffusersAdapterError(
            f"{type(pipe).__name__}.encode_prompt does not take {unknown}; it takes "
            f"{[k for k in accepted if k not in ('self', 'device')]}")
    kwargs.update(call_options)
    with torch.no_grad():
        return fn(**{k: v for k, v in kwargs.items() if k in accepted})


def _device(pipe):
    device = getattr(pipe, "device", None)
    return device if device is not None else torch.device("cpu")


def _latent_factor(pipe) -> int:
    factor = getattr(pipe, "vae_scale_factor", None)
    if factor is None:
        vae = getattr(pipe, "vae", None)
        factor = 2 ** (len(_config(vae).get("block_out_channels", (0,))) - 1) if vae else 1
    return int(factor)


def _default_size(pipe, height, width) -> tuple[int, int]:
    """``(height, width)`` in pixels: given, else the pipeline's default size."""
    if height is None or width is None:
        default = getattr(pipe, "default_sample_size", None)
        if default is None:
            raise DiffusersAdapterError(
                f"{type(pipe).__name__} needs the picture size: pass height= and width= (in "
                "pixels)")
        size = int(default) * _latent_factor(pipe)
        height = size if height is None else height
        width = size if width is None else width
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise DiffusersAdapterError(f"{name} must be a positive number of pixels; got {v!r}")
    return int(height), int(width)


def from_pipeline(pipe, prompt: str | list[str] | None = None,
                  negative_prompt: str | list[str] | None = None,
                  guidance_scale: float | None = None, *,
                  true_cfg_scale: float | None = None, height: int | None = None,
                  width: int | None = None, max_sequence_length: int | None = None,
                  original_size: tuple[int, int] | None = None,
                  crops_coords_top_left: tuple[int, int] = (0, 0),
                  target_size: tuple[int, int] | None = None,
                  check_determinism: bool = True, **prompt_options: Any) -> DiffusersModel:
    """A :class:`~.diffusers.DiffusersModel` conditioned on prompts by the pipeline's own
    text encoders, with its VAE (module docstring for each family).

    Args:
        pipe: a ``StableDiffusionPipeline``, ``StableDiffusionXLPipeline``,
            ``StableDiffusion3Pipeline``, ``FluxPipeline`` (or a pipeline of the same
            components), or an unconditional pipeline (no text encoder, no prompt).
        prompt: the prompt, or one per picture of the batch (default the empty prompt).
        negative_prompt: the unconditional half of classifier-free guidance (default the
            empty prompt; SDXL: zeros where its config says so).
        guidance_scale: classifier-free guidance scale, used when > 1 as the pipelines do
            (None: no guidance); FLUX: the guidance input of a guidance-distilled
            transformer (default 3.5).
        true_cfg_scale: FLUX only: classifier-free guidance (> 1, with ``negative_prompt``).
        height, width: the picture size in pixels: FLUX's dynamic shift (default the
            pipeline's default size; the model then refuses other sizes, saying which
            size to build it for); SDXL's time ids (default: each picture's own size).
        max_sequence_length: the T5 tokens of SD3 and FLUX (default the pipeline's).
        original_size, crops_coords_top_left, target_size: SDXL's micro-conditioning, as in
            its pipeline.
        check_determinism: warn when the attention backend cannot promise the same result
            for the same input (:func:`.determinism.check_attention`).
        **prompt_options: passed to the pipeline's ``encode_prompt`` (``prompt_2``,
            ``negative_prompt_2``, ``prompt_3``, ``clip_skip``, ...).

    Returns:
        the model; ``model.pipeline_record`` holds the prompts and guidance that
        ``encode`` stores with the latents.
    """
    prompt, negative_prompt = _prompt(prompt, "prompt"), _prompt(negative_prompt,
                                                                 "negative_prompt")
    guidance_scale = _scale(guidance_scale, "guidance_scale")
    true_cfg_scale = _scale(true_cfg_scale, "true_cfg_scale")
    family = pipeline_family(pipe)
    name = type(pipe).__name__
    vae = getattr(pipe, "vae", None)
    scheduler = getattr(pipe, "scheduler", None)
    if scheduler is None:
        raise DiffusersAdapterError(f"{name} has no scheduler; set pipe.scheduler")
    denoiser = getattr(pipe, "transformer", None) or pipe.unet
    if check_determinism:
        check_attention(denoiser)
    if family is None:
        given = {k: v for k, v in (("prompt", prompt), ("negative_prompt", negative_prompt),
                                   ("guidance_scale", guidance_scale),
                                   ("true_cfg_scale", true_cfg_scale)) if v is not None}
        given.update(prompt_options)
        if given:
            raise DiffusersAdapterError(
                f"{name} is unconditional ({type(denoiser).__name__} without a text encoder): "
                f"drop {sorted(given)}")
        return from_diffusers(denoiser, scheduler, vae=vae)
    if vae is None:
        raise DiffusersAdapterError(f"{name} has no VAE (pipe.vae is None); load the pipeline "
                                    "with its vae")
    if true_cfg_scale is not None and family != "flux":
        raise DiffusersAdapterError(f"true_cfg_scale is FLUX's; for {name} use guidance_scale=")
    if max_sequence_length is not None:
        prompt_options["max_sequence_length"] = int(max_sequence_length)
    if family != "sdxl" and (original_size is not None or target_size is not None
                             or tuple(crops_coords_top_left) != (0, 0)):
        raise DiffusersAdapterError("original_size, crops_coords_top_left and target_size are "
                                    "SDXL's micro-conditioning; drop them")
    text = "" if prompt is None else prompt
    device = _device(pipe)
    record: dict[str, Any] = {
        "pipeline": name, "prompt": text, "negative_prompt": negative_prompt,
        "guidance_scale": guidance_scale,
        **{k: v for k, v in prompt_options.items() if isinstance(v, (str, int, float, list))}}
    if family == "flux":
        return _flux(pipe, denoiser, vae, scheduler, text, negative_prompt, guidance_scale,
                     true_cfg_scale, height, width, device, prompt_options, record)
    cfg = guidance_scale is not None and guidance_scale > 1
    if negative_prompt is not None and not cfg:
        raise DiffusersAdapterError(
            f"negative_prompt is the unconditional half of classifier-free guidance, used "
            f"when guidance_scale > 1 (got {guidance_scale}); pass guidance_scale= or drop "
            "negative_prompt")
    common = dict(device=device, num_images_per_prompt=1, do_classifier_free_guidance=cfg,
                  negative_prompt=negative_prompt)
    cond: dict[str, Any]
    uncond: dict[str, Any] | None = None
    extra: dict[str, Any] = {}
    if family == "sd":
        if height is not None or width is not None:
            raise DiffusersAdapterError("SD's conditioning does not depend on the picture size; "
                                        "drop height/width")
        pe, npe = _encode(pipe, prompt_options, prompt=text, **common)
        cond = {"encoder_hidden_states": pe}
        if cfg:
            uncond = {"encoder_hidden_states": npe}
    elif family == "sdxl":
        pe, npe, ppe, nppe = _encode(pipe, prompt_options, prompt=text, **common)
        cond = {"encoder_hidden_states": pe, "added_cond_kwargs": {"text_embeds": ppe}}
        if cfg:
            uncond = {"encoder_hidden_states": npe, "added_cond_kwargs": {"text_embeds": nppe}}
        if height is not None or width is not None:
            size = _default_size(pipe, height, width)
            original_size = original_size or size
            target_size = target_size or size
        extra["size_conditioning"] = (
            None if original_size is None else tuple(int(v) for v in original_size),
            tuple(int(v) for v in crops_coords_top_left),
            None if target_size is None else tuple(int(v) for v in target_size))
        _check_time_ids(denoiser, int(ppe.shape[-1]))
        record["size_conditioning"] = [None if v is None else list(v)
                                       for v in extra["size_conditioning"]]
    else:  # sd3
        if height is not None or width is not None:
            raise DiffusersAdapterError("SD3's shift does not depend on the size; drop "
                                        "height/width")
        pe, npe, ppe, nppe = _encode(pipe, prompt_options, prompt=text, prompt_2=None,
                                     prompt_3=None, **common)
        cond = {"encoder_hidden_states": pe, "pooled_projections": ppe}
        if cfg:
            uncond = {"encoder_hidden_states": npe, "pooled_projections": nppe}
    model = from_diffusers(denoiser, scheduler, vae=vae,
                           guidance_scale=guidance_scale if cfg else None,
                           uncond=uncond)
    model.net.default_cond = cond
    if "size_conditioning" in extra:
        model.net.size_conditioning = extra["size_conditioning"]
        model.net.pixel_factor = _latent_factor(pipe)
    model.pipeline_record = record
    return model


def _check_time_ids(unet, pooled_dim: int) -> None:
    """SDXL: the UNet's added embedding takes 6 time ids and the pooled text embedding."""
    config = _config(unet)
    linear = getattr(getattr(unet, "add_embedding", None), "linear_1", None)
    expected = getattr(linear, "in_features", None)
    passed = int(config.get("addition_time_embed_dim") or 0) * 6 + pooled_dim
    if expected is not None and expected != passed:
        raise DiffusersAdapterError(
            f"the UNet's added embedding takes {expected} features but 6 time ids and the "
            f"{pooled_dim}-dim pooled text embedding give {passed}; this UNet is not an SDXL "
            "base UNet (the refiner's aesthetic score is not supported)")


def _flux(pipe, transformer, vae, scheduler, text, negative_prompt, guidance_scale,
          true_cfg_scale, height, width, device, options, record) -> DiffusersModel:
    """FLUX.1: distilled guidance input, true CFG, μ of the dynamic shift from the size."""
    embeds = bool(_config(transformer).get("guidance_embeds", False))
    if guidance_scale is not None and not embeds:
        raise DiffusersAdapterError(
            "this FLUX transformer is not guidance-distilled (guidance_embeds=False, as "
            "FLUX.1-schnell): drop guidance_scale, or use true_cfg_scale= with "
            "negative_prompt= for classifier-free guidance")
    distilled = (_FLUX_DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale) \
        if embeds else None
    cfg = true_cfg_scale is not None and true_cfg_scale > 1
    if cfg and negative_prompt is None:
        raise DiffusersAdapterError("true_cfg_scale > 1 needs a negative_prompt= (FLUX's "
                                    "classifier-free guidance has no default one)")
    if negative_prompt is not None and not cfg:
        raise DiffusersAdapterError(
            "FLUX uses negative_prompt only with true_cfg_scale > 1; pass true_cfg_scale= or "
            "drop negative_prompt")
    h, w = _default_size(pipe, height, width)
    factor = _latent_factor(pipe)
    if h % (2 * factor) or w % (2 * factor):
        raise DiffusersAdapterError(
            f"FLUX packs the latent into 2×2 patches: height and width must be multiples of "
            f"{2 * factor} pixels; got {h}×{w}")
    seq = (h // factor // 2) * (w // factor // 2)
    pe, ppe, _ = _encode(pipe, options, prompt=text, prompt_2=None, device=device,
                         num_images_per_prompt=1)
    cond = {"encoder_hidden_states": pe, "pooled_projections": ppe}
    uncond = None
    if cfg:
        npe, nppe, _ = _encode(pipe, options, prompt=negative_prompt, prompt_2=None,
                               device=device, num_images_per_prompt=1)
        uncond = {"encoder_hidden_states": npe, "pooled_projections": nppe}
    config = _config(scheduler)
    dynamic = bool(config.get("use_dynamic_shifting", False))
    model = from_diffusers(transformer, scheduler, vae=vae,
                           guidance_scale=true_cfg_scale if cfg else None, uncond=uncond,
                           distilled_guidance=distilled,
                           image_seq_len=seq if dynamic else None)
    model.net.default_cond = cond
    record.update(guidance_scale=distilled, true_cfg_scale=true_cfg_scale, height=h, width=w)
    model.pipeline_record = record
    return model
