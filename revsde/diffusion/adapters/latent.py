"""Latent diffusion: an ``AutoencoderKL`` between pictures and the diffusion's latents.

``z = (mean(E(x)) - shift) · scale`` and ``x = D(z/scale + shift)``
(Rombach et al. 2022, §4.3.2 and D.1), with ``scale = scaling_factor`` and
``shift = shift_factor`` (0 where unset) from the VAE's config.  The encoder's
latent distribution is a diagonal Gaussian; its mean (= its mode) keeps the map
deterministic.  The autoencoder is *not* invertible: ``D(E(x)) ≠ x``.  revsde
inverts the diffusion exactly in latent space; the pixel error of a round trip is
the autoencoder's reconstruction error, reported separately.  The VAE runs in its
own dtype: pictures and latents are cast to it (the reversible state may be wider).
"""

from __future__ import annotations

import torch

from .errors import DiffusersAdapterError

__all__ = ["LatentCodec"]


class LatentCodec(torch.nn.Module):
    """Pictures ``(batch, C, H, W)`` ↔ latents ``(batch, c, H/f, W/f)`` through an AutoencoderKL."""

    def __init__(self, vae, scaling_factor: float | None = None,
                 shift_factor: float | None = None):
        super().__init__()
        config = getattr(vae, "config", None)
        if not (hasattr(vae, "encode") and hasattr(vae, "decode") and config is not None):
            raise DiffusersAdapterError(
                f"vae must be a diffusers AutoencoderKL (with encode, decode and config); got "
                f"{type(vae).__name__}")
        self.vae = vae
        scale = config.get("scaling_factor") if scaling_factor is None else scaling_factor
        shift = config.get("shift_factor") if shift_factor is None else shift_factor
        self.scaling_factor = float(1.0 if scale is None else scale)
        self.shift_factor = float(0.0 if shift is None else shift)
        if not self.scaling_factor > 0:
            raise DiffusersAdapterError(f"scaling_factor must be positive; got {scale!r}")
        self.in_channels = int(config.get("in_channels", 3))
        self.latent_channels = int(config.get("latent_channels", 4))
        self.factor = 2 ** (len(config.get("block_out_channels", (0,))) - 1)

    def _dtype(self, like: torch.Tensor) -> torch.dtype:
        """The VAE's own dtype (its inputs are cast to it; a wider state stays outside)."""
        for p in self.vae.parameters():
            if p.is_floating_point():
                return p.dtype
        return like.dtype

    def _check(self, x, channels: int, name: str, what: str):
        if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() != 4:
            raise DiffusersAdapterError(
                f"{name} must be a floating-point tensor (batch, {channels}, H, W) of {what}; got "
                f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        if x.shape[1] != channels:
            raise DiffusersAdapterError(f"{name} has {x.shape[1]} channels; the autoencoder "
                                        f"takes {channels} ({what})")

    def encode(self, pictures: torch.Tensor) -> torch.Tensor:
        """``(mean(E(x)) - shift)·scale`` for pictures in [-1, 1] (H, W divisible by the factor)."""
        self._check(pictures, self.in_channels, "pictures", "pictures in [-1, 1]")
        if pictures.shape[-1] % self.factor or pictures.shape[-2] % self.factor:
            raise DiffusersAdapterError(
                f"picture size {tuple(pictures.shape[-2:])} must be divisible by the "
                f"autoencoder's downsampling factor {self.factor}; crop or resize it")
        mean = self.vae.encode(pictures.to(self._dtype(pictures))).latent_dist.mean
        return (mean - self.shift_factor) * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``D(z/scale + shift)``: pictures in about [-1, 1]."""
        self._check(latents, self.latent_channels, "latents", "scaled VAE latents")
        z = (latents / self.scaling_factor + self.shift_factor).to(self._dtype(latents))
        return self.vae.decode(z).sample

    def extra_repr(self) -> str:
        return f"scaling_factor={self.scaling_factor}, shift_factor={self.shift_factor}"
