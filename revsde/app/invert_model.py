"""The job behind ``revsde invert IMAGE --model DIR``: a round trip with a local diffusers model.

The picture keeps its own colour (converted to the channels the model takes) and its
size (the long side capped at ``max_size``, 256 px by default); it is padded by
reflection to the model's downsampling factor and cropped back exactly.  A latent
model (with a VAE) reports the latent error of the exact inversion and, separately,
the pixel error, which is the autoencoder's own reconstruction error (not invertible).
A conditional UNet without a given conditioning is run with a null conditioning (zero
text embeddings of one token, class 0): the round trip is exact for any fixed one.  A
text-to-image pipeline folder (SD, SDXL, SD3, FLUX.1: its ``model_index.json`` lists a
text encoder) is loaded whole and conditioned by :func:`revsde.diffusion.from_pipeline`
on ``prompt`` (default the empty prompt), ``negative_prompt`` and ``guidance_scale``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

from ..diffusion.adapters import (
    DiffusersAdapterError,
    DiffusersModel,
    from_pipeline,
    load_diffusers,
    load_pipeline,
    pipeline_family,
)
from ..diffusion.adapters.loading import text_encoders
from ..diffusion.inversion import decode, encode
from .images import DEFAULT_PICTURE, load_picture

__all__ = ["null_cond", "invert_with_diffusers", "format_diffusers_report"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
           "float16": torch.float16}


def null_cond(model: DiffusersModel, batch: int = 1) -> dict:
    """A fixed null conditioning for a conditional UNet (``{}`` for an unconditional one)."""
    unet = model.net.unet
    config = dict(getattr(unet, "config", {}))
    p = next(unet.parameters())
    cond: dict = {}
    if model.pipeline_record is not None or model.net.default_cond is not None:
        return cond  # from_pipeline: the prompt's conditioning is the model's own
    if "Transformer" in type(unet).__name__:
        raise DiffusersAdapterError(
            f"this {type(unet).__name__} needs text conditioning: give a pipeline folder with "
            "its text encoders and --prompt (or use the Python API with cond={...})")
    if config.get("addition_embed_type"):
        raise DiffusersAdapterError(
            f"this UNet takes added conditioning ({config['addition_embed_type']!r}, e.g. "
            "SDXL's text_embeds/time_ids); use the Python API with cond={...}")
    if config.get("cross_attention_dim") is not None:
        dim = config["cross_attention_dim"]
        dim = dim[0] if isinstance(dim, (list, tuple)) else dim
        cond["encoder_hidden_states"] = torch.zeros(batch, 1, int(dim), dtype=p.dtype,
                                                    device=p.device)
    if config.get("num_class_embeds") is not None or config.get("class_embed_type"):
        cond["class_labels"] = torch.zeros(batch, dtype=torch.long, device=p.device)
    return cond


def _factor(model: DiffusersModel) -> int:
    config = dict(getattr(model.net.unet, "config", {}))
    family = getattr(model.net, "family", None)
    if family is not None:  # a transformer: its patches (FLUX: 2×2 packing)
        f = 2 if family.ids else int(config.get("patch_size") or 1)
    else:
        f = 2 ** (len(config.get("block_out_channels", (0,))) - 1)
    return f * (model.autoencoder.factor if model.autoencoder is not None else 1)


def invert_with_diffusers(model_dir, image: str | None = None, *, steps: int = 10,
                          sampler: str | None = None, dtype: str = "float32",
                          max_size: int | None = 256, seed: int = 0,
                          state_dtype: str | None = None, progress: bool = False,
                          prompt: str | None = None, negative_prompt: str | None = None,
                          guidance_scale: float | None = None) -> dict:
    """Round trip of a picture through noise with the diffusers model in ``model_dir``.

    ``image`` is a picture file or a bundled name (:func:`revsde.app.images.load_picture`;
    default its default picture); ``dtype`` is the network's, ``state_dtype`` the reversible
    state's (default float64, :func:`revsde.diffusion.encode`).  The picture's range comes
    from its file, so the encoder's guess from the values (``check_range``) is not made.
    ``progress`` shows a count of network evaluations on stderr.  ``prompt``,
    ``negative_prompt`` and ``guidance_scale`` condition a text-to-image pipeline folder
    (module docstring).
    """
    from tqdm.auto import tqdm

    for name in (dtype, state_dtype or "float64"):
        if name not in _DTYPES:
            raise DiffusersAdapterError(f"dtype must be one of {list(_DTYPES)}; got {name!r}")
    image = DEFAULT_PICTURE if image is None else image
    wide = torch.float64 if dtype == "float64" else torch.float32
    texts = {"prompt": prompt, "negative_prompt": negative_prompt,
             "guidance_scale": guidance_scale}
    if any(v is not None for v in texts.values()) or text_encoders(model_dir):
        if not text_encoders(model_dir):
            given = sorted(k for k, v in texts.items() if v is not None)
            raise DiffusersAdapterError(
                f"{model_dir} has no text encoder, so its model is unconditional: drop "
                f"{', '.join('--' + k.replace('_', '-') for k in given)}")
        pipe = load_pipeline(model_dir, dtype=_DTYPES[dtype])
        x: torch.Tensor = load_picture(image, max_side=max_size,
                                       channels=int(pipe.vae.config.in_channels), dtype=wide)
        model = None
    else:
        model = load_diffusers(model_dir, dtype=_DTYPES[dtype])
        codec = model.autoencoder
        channels = codec.in_channels if codec is not None else \
            int(dict(model.net.unet.config)["in_channels"])
        x = load_picture(image, max_side=max_size, channels=channels, dtype=wide)
    h, w = x.shape[-2:]
    if model is None:
        size: dict[str, Any] = {}
        if pipeline_family(pipe) == "flux":  # its shift is made for the (padded) size
            f = 2 * int(pipe.vae_scale_factor)
            size = {"height": h + (-h) % f, "width": w + (-w) % f}
        model = from_pipeline(pipe, prompt, negative_prompt, guidance_scale, **size)
    codec = model.autoencoder
    channels = int(x.shape[1])
    f = _factor(model)
    ph, pw = (-h) % f, (-w) % f
    if ph or pw:
        if ph >= h or pw >= w:
            raise DiffusersAdapterError(f"picture {h}x{w} is smaller than the model's "
                                        f"downsampling factor {f}")
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
    cond = null_cond(model)
    # encode's own defaults (its sampler, a float64 state) unless given
    options: dict[str, Any] = {} if sampler is None else {"sampler": sampler}
    if state_dtype is not None:
        options["dtype"] = _DTYPES[state_dtype]
    bar = tqdm(desc="invert", unit="NFE", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, leave=False)
    unet = model.net.unet
    hook = unet.register_forward_hook(lambda *_: bar.update(1)) if progress and isinstance(
        unet, torch.nn.Module) else None
    start = time.perf_counter()
    try:
        with torch.no_grad():
            lat = encode(model, x, steps=steps, seed=seed, cond=cond or None, verify=True,
                         check_range=False, **options)
            back = decode(model, lat, cond=cond or None)
            vae_only = codec.decode(codec.encode(x)) if codec is not None else None
    finally:
        if hook is not None:
            hook.remove()
        bar.close()
    seconds = time.perf_counter() - start
    crop = (..., slice(0, h), slice(0, w))
    pixel = float((back[crop].to(torch.float64) - x[crop].to(torch.float64)).abs().max())
    report = {
        "model": str(model_dir), "unet": type(model.net.unet).__name__,
        "latent_diffusion": codec is not None, "image": str(image),
        "size": [int(h), int(w)], "channels": channels, "padded_to": list(x.shape[-2:]),
        "sampler": lat.sampler, "steps": steps, "nfe": lat.nfe, "dtype": dtype,
        "state_dtype": str(lat.dtype).replace("torch.", ""),
        "prediction": model.prediction, "conditioning": sorted(cond) or None,
        "prompt": prompt, "negative_prompt": negative_prompt, "guidance_scale": guidance_scale,
        "latent_error": lat.verify_error if codec is not None else None,
        "pixel_error": pixel,
        "autoencoder_error": None if vae_only is None else float(
            (vae_only[crop].to(torch.float64) - x[crop].to(torch.float64)).abs().max()),
        "seconds": seconds,
    }
    return report


def format_diffusers_report(report: dict) -> str:
    """Plain-text lines of :func:`invert_with_diffusers`'s report."""
    lines = [f"model {report['model']} ({report['unet']}"
             f"{', latent diffusion' if report['latent_diffusion'] else ''}), picture "
             f"{report['image']} {report['size'][0]}x{report['size'][1]}x{report['channels']}",
             f"{report['sampler']}, {report['steps']} steps, {report['nfe']} NFE per direction, "
             f"network {report['dtype']}, state {report['state_dtype']}, "
             f"{report['seconds']:.2f} s"]
    if report.get("prompt") is not None or report.get("guidance_scale") is not None:
        lines.append(f"prompt {report.get('prompt')!r}, negative prompt "
                     f"{report.get('negative_prompt')!r}, guidance scale "
                     f"{report.get('guidance_scale')}")
    if report["latent_diffusion"]:
        lines.append(f"latent round-trip error (exact inversion): {report['latent_error']:.3g}")
        lines.append(f"pixel error: {report['pixel_error']:.3g} (the autoencoder alone: "
                     f"{report['autoencoder_error']:.3g}; a VAE is not invertible)")
    else:
        lines.append(f"round-trip error (max abs): {report['pixel_error']:.3g}")
    return "\n".join(lines)
