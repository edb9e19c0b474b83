"""Tiny diffusers models with seeded random weights, built offline from configs (adapter tests)."""

from __future__ import annotations

import torch

CROSS_DIM = 16
TOKENS = 5


def tiny_unet(seed: int = 0, channels: int = 3, out_channels: int | None = None,
              dtype=torch.float32):
    """A two-level ``UNet2DModel`` (attention at the lower level) for 8x8 inputs."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=8, in_channels=channels, out_channels=out_channels or channels,
        layers_per_block=1, block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    ).eval().to(dtype)


def tiny_cond_unet(seed: int = 0, dtype=torch.float32):
    """A two-level ``UNet2DConditionModel`` (cross-attention) on 4-channel 8x8 latents."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8, attention_head_dim=4,
        cross_attention_dim=CROSS_DIM,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    ).eval().to(dtype)


def tiny_vae(seed: int = 0, dtype=torch.float32, shift_factor=None):
    """An ``AutoencoderKL`` from 3x16x16 pictures to 4x8x8 latents."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=16, shift_factor=shift_factor,
    ).eval().to(dtype)


def sd_scheduler(cls=None, **overrides):
    """A Stable-Diffusion-like scheduler (scaled_linear betas)."""
    if cls is None:
        from diffusers import DDPMScheduler as cls
    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
    config.update(overrides)
    return cls(**config)


def text_cond(seed: int = 1, batch: int = 1, dtype=torch.float32) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"encoder_hidden_states": torch.randn(batch, TOKENS, CROSS_DIM, generator=g,
                                                 dtype=dtype)}


def pictures(batch: int = 2, channels: int = 3, size: int = 8, seed: int = 3,
             dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, channels, size, size, generator=g, dtype=dtype) * 2 - 1)
