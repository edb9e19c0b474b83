"""Tiny flow-matching transformers of diffusers (seeded random weights, built offline) and
their conditioning, for the flow adapter's tests and docs/scripts/gen_flow_table.py."""

from __future__ import annotations

import torch

TEXT_DIM = 16
TOKENS = 5
POOLED = 8
FAMILIES = ("sd3", "flux", "flux2", "lumina2")
#: the scheduler config each family's real checkpoints ship with (shift values of SD3.5,
#: FLUX.1-dev, FLUX.2-dev, Lumina-Image-2.0)
SCHEDULERS = {
    "sd3": {"shift": 3.0},
    "flux": {"use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15,
             "base_image_seq_len": 256, "max_image_seq_len": 4096},
    "flux2": {"use_dynamic_shifting": True},
    "lumina2": {"shift": 6.0},
}


def transformer(family: str, seed: int = 0, dtype=torch.float32, guidance_embeds: bool = True):
    """A one-block transformer of the family on 4-channel latents."""
    import diffusers

    torch.manual_seed(seed)
    if family == "sd3":
        net = diffusers.SD3Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=1,
            attention_head_dim=8, num_attention_heads=2, joint_attention_dim=TEXT_DIM,
            caption_projection_dim=16, pooled_projection_dim=POOLED, pos_embed_max_size=16)
    elif family == "flux":
        net = diffusers.FluxTransformer2DModel(
            in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8,
            num_attention_heads=2, joint_attention_dim=TEXT_DIM, pooled_projection_dim=POOLED,
            guidance_embeds=guidance_embeds, axes_dims_rope=(2, 2, 4))
    elif family == "flux2":
        net = diffusers.Flux2Transformer2DModel(
            in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8,
            num_attention_heads=2, joint_attention_dim=TEXT_DIM, timestep_guidance_channels=32,
            axes_dims_rope=(2, 2, 2, 2), guidance_embeds=guidance_embeds)
    elif family == "lumina2":
        net = diffusers.Lumina2Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=4, hidden_size=16, num_layers=1,
            num_refiner_layers=1, num_attention_heads=2, num_kv_heads=1, multiple_of=8,
            axes_dim_rope=(2, 2, 4), axes_lens=(32, 32, 32), cap_feat_dim=TEXT_DIM)
    else:
        raise ValueError(family)
    return net.eval().to(dtype)


def scheduler(family: str, **overrides):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**{**SCHEDULERS[family], **overrides})


def cond(family: str, seed: int = 1, batch: int = 1) -> dict:
    """The family's conditioning inputs (stand-ins for its text encoders' outputs)."""
    g = torch.Generator().manual_seed(seed)
    out = {"encoder_hidden_states": torch.randn(batch, TOKENS, TEXT_DIM, generator=g)}
    if family in ("sd3", "flux"):
        out["pooled_projections"] = torch.randn(batch, POOLED, generator=g)
    if family == "lumina2":
        out["encoder_attention_mask"] = torch.ones(batch, TOKENS, dtype=torch.bool)
    return out


#: the guidance modes of each family: none (FLUX.1-schnell, FLUX.2-klein: no guidance
#: input), classifier-free ("cfg"), the distilled guidance input, and both
GUIDANCE = {"sd3": ("none", "cfg"), "lumina2": ("none", "cfg"),
            "flux": ("none", "distilled", "distilled+cfg"),
            "flux2": ("none", "distilled", "distilled+cfg")}


def model(family: str, dtype=torch.float32, guidance: str = "none", size: int = 8,
          steps: int = 10):
    """``from_diffusers`` on the family's tiny transformer: ``guidance`` one of
    :data:`GUIDANCE` (cfg: scale 4 with the unconditional inputs of seed 2; distilled:
    FLUX.1-dev's 3.5, FLUX.2's 4.0); FLUX's dynamic shift from the latents' tokens."""
    import revsde.diffusion as D

    distilled = "distilled" in guidance
    kw: dict = {}
    if family in ("flux", "flux2"):
        kw["image_seq_len"] = (size // 2) ** 2
        if distilled:
            kw["distilled_guidance"] = 3.5 if family == "flux" else 4.0
    if family == "flux2":
        kw["steps"] = steps
    if "cfg" in guidance:
        kw.update(guidance_scale=4.0, uncond=cond(family, seed=2))
    net = transformer(family, dtype=dtype, guidance_embeds=distilled)
    return D.from_diffusers(net, scheduler(family), **kw)


def latents(batch: int = 2, channels: int = 4, size: int = 8, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=g)
