"""Flow-matching transformers of diffusers as the network of a revsde :class:`DiffusionModel`.

Each family is called as its diffusers pipeline calls it; the state revsde integrates
is the latent ``(batch, C, H, W)`` in every family (for FLUX the 2×2 packing is done
here, a permutation, so the Gaussian noise stays i.i.d.):

* ``SD3Transformer2DModel`` (SD3, SD3.5): ``hidden_states`` the latent,
  ``timestep = σ·num_train_timesteps``, ``encoder_hidden_states`` and
  ``pooled_projections`` from ``cond``;
* ``FluxTransformer2DModel`` (FLUX.1 dev/schnell): the latent packed into 2×2 patches,
  ``(batch, H/2·W/2, 4C)`` tokens, with position ids ``img_ids[i·W/2 + j] = (0, i, j)``
  and ``txt_ids`` zeros (made here); ``timestep = σ`` (the transformer multiplies by
  1000); ``encoder_hidden_states``, ``pooled_projections`` from ``cond``; a
  guidance-distilled model (``guidance_embeds``: FLUX.1-dev) takes its guidance as the
  input ``guidance`` (``distilled_guidance``);
* ``Flux2Transformer2DModel`` (FLUX.2): the same packing with four position axes,
  ``img_ids = (0, i, j, 0)``, ``txt_ids = (0, 0, 0, l)``; ``timestep = σ``; only
  ``encoder_hidden_states`` from ``cond``; ``guidance`` as for FLUX.1;
* ``Lumina2Transformer2DModel`` (Lumina-Image 2.0): time runs the other way,
  ``timestep = 1 - σ``, and the output is minus the velocity; ``encoder_hidden_states``
  and ``encoder_attention_mask`` from ``cond``.

The output is the velocity ``u = ε - x0`` (prediction ``"flow"``).  Classifier-free
guidance is :class:`~.diffusers.DiffusersNet`'s (one call on ``[uncond; cond]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schedules import FlowMatching
from .base import DiffusersModel, DiffusersNet, _cast, _config
from .errors import DiffusersAdapterError
from .flow_schedule import flow_schedule_from_config, flow_scheduler_config, flux2_mu, linear_mu
from .latent import LatentCodec

__all__ = ["FlowFamily", "FLOW_FAMILIES", "FlowTransformerNet", "FlowDiffusersModel",
           "from_flow_transformer", "is_unsupported_transformer", "pack_2x2", "unpack_2x2"]


@dataclass(frozen=True)
class FlowFamily:
    """How a transformer class is called (module docstring)."""

    label: str
    #: "scaled" σ·N, "sigma" σ, "reversed" 1 - σ
    time: str
    #: the conditioning inputs the user passes in ``cond``
    inputs: tuple[str, ...]
    #: 0: the latent as it is; 3 or 4: 2×2 packed tokens with that many position axes
    ids: int = 0
    #: the output is minus the velocity
    negated: bool = False
    #: the dynamic shift's rule: "linear" (calculate_shift) or "flux2" (also the steps)
    mu_rule: str = "linear"


FLOW_FAMILIES = {
    "SD3Transformer2DModel": FlowFamily(
        "SD3", "scaled", ("encoder_hidden_states", "pooled_projections")),
    "FluxTransformer2DModel": FlowFamily(
        "FLUX.1", "sigma", ("encoder_hidden_states", "pooled_projections"), ids=3),
    "Flux2Transformer2DModel": FlowFamily(
        "FLUX.2", "sigma", ("encoder_hidden_states",), ids=4, mu_rule="flux2"),
    "Lumina2Transformer2DModel": FlowFamily(
        "Lumina 2", "reversed", ("encoder_hidden_states", "encoder_attention_mask"),
        negated=True),
}


def pack_2x2(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, H/2·W/2, 4C)``: token ``i·W/2 + j`` holds patch (i, j),
    channel ``4c + 2a + b`` its pixel (2i+a, 2j+b) of channel c."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(
        b, (h // 2) * (w // 2), 4 * c)


def unpack_2x2(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`pack_2x2`."""
    b, _, c4 = tokens.shape
    return tokens.reshape(b, height // 2, width // 2, c4 // 4, 2, 2).permute(
        0, 3, 1, 4, 2, 5).reshape(b, c4 // 4, height, width)


def _position_ids(axes: int, h: int, w: int, text: int, device) -> tuple:
    """``(img_ids, txt_ids)`` of FLUX.1 (3 axes, float) or FLUX.2 (4 axes, integer)."""
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    if axes == 3:
        img = torch.zeros(h * w, 3, device=device)
        img[:, 1], img[:, 2] = rows.float(), cols.float()
        return img, torch.zeros(text, 3, device=device)
    img = torch.zeros(h * w, 4, dtype=torch.long, device=device)
    img[:, 1], img[:, 2] = rows, cols
    txt = torch.zeros(text, 4, dtype=torch.long, device=device)
    txt[:, 3] = torch.arange(text, device=device)
    return img, txt


class FlowTransformerNet(DiffusersNet):
    """``net(x, t, **cond)``: the velocity of a flow-matching transformer at schedule time t.

    Args:
        transformer: a transformer of :data:`FLOW_FAMILIES`.
        schedule: the :class:`FlowMatching` schedule (σ(t) gives the transformer's time).
        num_train_timesteps: N of the scheduler (SD3's timestep is σ·N).
        guidance_scale, uncond: classifier-free guidance, as in :class:`DiffusersNet`.
        distilled_guidance: the guidance input of a guidance-distilled model (FLUX.1-dev,
            FLUX.2), or ``None``.
        image_seq_len: the number of image tokens the schedule's shift was made for
            (dynamic shifting), checked at each call; ``None``: any.
    """

    def __init__(self, transformer, schedule: FlowMatching, num_train_timesteps: int,
                 guidance_scale: float | None = None, uncond: dict | None = None,
                 distilled_guidance: float | None = None, image_seq_len: int | None = None):
        super().__init__(transformer, num_train_timesteps, guidance_scale, uncond)
        name = type(transformer).__name__
        self.family = FLOW_FAMILIES[name]
        self.schedule = schedule
        self.image_seq_len = image_seq_len
        config = _config(transformer)
        self.patch = int(config.get("patch_size") or 1)
        self.in_channels = int(config.get("in_channels") or 0)
        embeds = bool(config.get("guidance_embeds", False))
        if distilled_guidance is not None:
            if not embeds:
                raise DiffusersAdapterError(
                    f"this {name} has no guidance input (guidance_embeds=False): drop "
                    "distilled_guidance (use guidance_scale= with uncond= for classifier-free "
                    "guidance)")
            distilled_guidance = float(distilled_guidance)
        elif embeds:
            raise DiffusersAdapterError(
                f"this {name} is guidance-distilled (guidance_embeds=True): pass "
                "distilled_guidance=s (FLUX.1-dev's pipeline uses 3.5, FLUX.2's 4.0)")
        self.distilled_guidance = distilled_guidance
        self.conditional = True

    @property
    def transformer(self):
        return self.unet

    def latent_channels(self) -> int:
        """The channels of the latent state (``in_channels/4`` for packed families)."""
        return self.in_channels // 4 if self.family.ids else self.in_channels

    def tokens(self, height: int, width: int) -> int:
        """The number of image tokens of a ``height × width`` latent."""
        p = 2 if self.family.ids else self.patch
        return (height // p) * (width // p)

    def timestep(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The transformer's time input from σ(t) (module docstring), in float32."""
        sigma = self.schedule.sigma(t.to(torch.float64))
        kind = self.family.time
        if kind == "scaled":
            sigma = sigma * self.num_train_timesteps
        elif kind == "reversed":
            sigma = 1.0 - sigma
        return sigma.to(torch.float32)

    def _check(self, x: torch.Tensor, inputs: dict) -> None:
        name = type(self.unet).__name__
        missing = [k for k in self.family.inputs if inputs.get(k) is None]
        extra = sorted(set(inputs) - set(self.family.inputs))
        if missing:
            raise DiffusersAdapterError(
                f"{name} needs cond={{{', '.join(repr(k) + ': tensor' for k in missing)}}} "
                f"(missing {missing}; it takes {list(self.family.inputs)})")
        if extra:
            made = " (position ids and guidance are made by revsde)" if self.family.ids else ""
            raise DiffusersAdapterError(
                f"{name} does not take {extra} in cond; pass only {list(self.family.inputs)}"
                f"{made}")
        c = self.latent_channels()
        if x.dim() != 4 or (c and x.shape[1] != c):
            raise DiffusersAdapterError(
                f"{name} takes latents of shape (batch, {c or 'C'}, H, W); got "
                f"{tuple(x.shape)}")
        p = 2 if self.family.ids else self.patch
        h, w = x.shape[-2:]
        if h % p or w % p:
            what = "packs the latent into 2×2 patches" if self.family.ids else \
                f"has patch_size {p}"
            raise DiffusersAdapterError(
                f"{name} {what}: the latent's height and width must be multiples of {p}; got "
                f"{h}×{w} (crop or resize the picture to a multiple of {p}·the VAE factor)")
        if self.image_seq_len is not None and self.tokens(h, w) != self.image_seq_len:
            raise DiffusersAdapterError(
                f"the schedule's dynamic shift was made for image_seq_len={self.image_seq_len} "
                f"but these {h}×{w} latents have {self.tokens(h, w)} image tokens; build the "
                f"model for that size: from_diffusers(..., image_seq_len="
                f"{self.tokens(h, w)}) or from_pipeline(..., height=, width=) in pixels")

    def raw(self, x: torch.Tensor, timestep: torch.Tensor, inputs: dict) -> torch.Tensor:
        """One transformer call at the family's ``timestep``: the velocity ε - x0."""
        self._check(x, inputs)
        dtype = self._dtype() or x.dtype
        h = x.to(dtype)
        kwargs = _cast(inputs, dtype)
        height, width = x.shape[-2:]
        if self.family.ids:
            h = pack_2x2(h)
            text = kwargs["encoder_hidden_states"].shape[1]
            kwargs["img_ids"], kwargs["txt_ids"] = _position_ids(
                self.family.ids, height // 2, width // 2, text, x.device)
        if self.distilled_guidance is not None:
            kwargs["guidance"] = torch.full((x.shape[0],), self.distilled_guidance,
                                            dtype=torch.float32, device=x.device)
        out = self.unet(hidden_states=h, timestep=timestep.to(x.device), **kwargs,
                        return_dict=False)[0]
        if self.family.ids:
            out = unpack_2x2(out[:, : h.shape[1]], height, width)
        if out.shape != x.shape:
            raise DiffusersAdapterError(
                f"{type(self.unet).__name__} returned shape {tuple(out.shape)} for latents "
                f"{tuple(x.shape)}; its out_channels must equal in_channels")
        out = out.to(x.dtype)
        return -out if self.family.negated else out

    def extra_repr(self) -> str:
        return (f"transformer={type(self.unet).__name__}, schedule={self.schedule!r}, "
                f"guidance_scale={self.guidance_scale}, "
                f"distilled_guidance={self.distilled_guidance}")


class FlowDiffusersModel(DiffusersModel):
    """A :class:`DiffusersModel` over a flow-matching transformer (prediction ``"flow"``)."""

    net: FlowTransformerNet

    @property
    def distilled_guidance(self) -> float | None:
        return self.net.distilled_guidance

    def fingerprint_parts(self) -> dict[str, object]:
        """The transformer's config and weights, the scheduler config, the schedule (its
        shift), both guidances and the default inputs."""
        return {
            "transformer": _config(self.net.unet), "scheduler": self.scheduler_config,
            "schedule": self.schedule.to_dict(), "guidance_scale": self.net.guidance_scale,
            "distilled_guidance": self.net.distilled_guidance, "uncond": self.net.uncond or {},
            "weights": dict(self.state_dict()), **self._conditioning_parts()}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", distilled_guidance={self.distilled_guidance!r}"


def is_unsupported_transformer(module) -> bool:
    """A diffusers transformer (DiT) class that is not one of :data:`FLOW_FAMILIES`."""
    name = type(module).__name__
    return name not in FLOW_FAMILIES and ("Transformer" in name or "DiT" in name)


def unsupported_message(module) -> str:
    return (f"{type(module).__name__} is not supported; from_diffusers takes a UNet "
            f"(UNet2DModel, UNet2DConditionModel) or a flow-matching transformer: "
            f"{', '.join(FLOW_FAMILIES)}")


def from_flow_transformer(transformer, scheduler, *, vae=None, guidance_scale=None,
                          uncond=None, prediction=None, scaling_factor=None, shift_factor=None,
                          distilled_guidance=None, mu=None, image_seq_len=None,
                          steps=None) -> FlowDiffusersModel:
    """:func:`~.diffusers.from_diffusers` for a transformer of :data:`FLOW_FAMILIES`."""
    name = type(transformer).__name__
    family = FLOW_FAMILIES[name]
    config = flow_scheduler_config(scheduler, name)
    if prediction not in (None, "flow"):
        raise DiffusersAdapterError(
            f"{name} predicts the flow velocity; drop prediction={prediction!r}")
    if image_seq_len is not None:
        if isinstance(image_seq_len, bool) or not isinstance(image_seq_len, int) or \
                image_seq_len < 1:
            raise DiffusersAdapterError(f"image_seq_len must be a positive integer (the image "
                                        f"tokens); got {image_seq_len!r}")
        if mu is not None:
            raise DiffusersAdapterError("give mu= or image_seq_len=, not both")
        if not config["use_dynamic_shifting"]:
            raise DiffusersAdapterError(
                f"the scheduler's shift is fixed (use_dynamic_shifting=False, shift="
                f"{config['shift']}); drop image_seq_len")
        if family.mu_rule == "flux2":
            if steps is None:
                raise DiffusersAdapterError(
                    "FLUX.2's dynamic shift also depends on the number of steps: pass steps= "
                    "(the steps you encode with) with image_seq_len=, or mu=")
            mu = flux2_mu(image_seq_len, int(steps))
        else:
            mu = linear_mu(config, image_seq_len)
    elif steps is not None:
        raise DiffusersAdapterError("steps= is only read with image_seq_len= for FLUX.2's "
                                    "dynamic shift; drop it")
    schedule = flow_schedule_from_config(config, None if mu is None else float(mu))
    net = FlowTransformerNet(transformer, schedule, config["num_train_timesteps"],
                             guidance_scale, uncond, distilled_guidance, image_seq_len)
    codec = None
    if vae is not None:
        if family.ids == 4:
            raise DiffusersAdapterError(
                "FLUX.2's latents are normalised by its VAE's batch norm in 2×2 patches; pass "
                "latents (vae=None) made as its pipeline makes them, unpatchified")
        codec = LatentCodec(vae, scaling_factor, shift_factor)
        if net.latent_channels() and net.latent_channels() != codec.latent_channels:
            raise DiffusersAdapterError(
                f"{name} takes {net.latent_channels()}-channel latents but the VAE's have "
                f"{codec.latent_channels}; pass the VAE the transformer was trained with")
    elif scaling_factor is not None or shift_factor is not None:
        raise DiffusersAdapterError("scaling_factor/shift_factor need a vae=")
    return FlowDiffusersModel(net, schedule, "flow", config, codec)
