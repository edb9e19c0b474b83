"""A compact, fully convolutional noise-prediction UNet (the shipped model).

``TinyUNet(x, t)`` takes images ``x`` of shape ``(batch, channels, H, W)`` of any
size and the schedule's continuous time ``t`` of shape ``(batch,)``; it returns a
tensor of ``x``'s shape.  H and W need not be multiples of the downsampling
factor ``2**(len(mults)-1)``: the input is padded at the bottom and right up to
the next multiple (reflection, or edge replication for a side too short to
reflect) and the output cropped back exactly, so ``x -> net(x, t)`` keeps the
shape.  It has no dropout and
no batch statistics (GroupNorm only), so evaluation is deterministic, and every
computation happens in ``x``'s dtype and device (the time embedding included).

The layout is the DDPM UNet (Ho et al. 2020) cut down: one residual block per
level on the way down, one on the way up (with a skip concatenation), a
two-block middle, sinusoidal time features of ``time_scale·t`` and an MLP.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TinyUNet", "VToEps", "PARAMETERIZATIONS"]

#: what the raw network predicts; the wrapped model always returns ε
PARAMETERIZATIONS = ("eps", "v")


def _groups(c: int) -> int:
    for g in (8, 4, 2, 1):
        if c % g == 0:
            return g
    return 1


class _ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, plus a per-channel shift from the time embedding, twice."""

    def __init__(self, c_in: int, c_out: int, emb: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TinyUNet(nn.Module):
    """Small eps-prediction UNet; the constructor arguments are its whole config."""

    def __init__(self, in_channels: int = 1, base: int = 32, mults=(1, 2, 2),
                 emb_dim: int = 64, time_scale: float = 1000.0):
        super().__init__()
        mults = tuple(int(m) for m in mults)
        if int(in_channels) < 1 or int(base) < 1 or not mults or min(mults) < 1:
            raise ValueError(
                f"TinyUNet needs in_channels >= 1, base >= 1 and positive mults; got "
                f"in_channels={in_channels}, base={base}, mults={mults}"
            )
        if int(emb_dim) < 2 or int(emb_dim) % 2:
            raise ValueError(f"TinyUNet needs an even emb_dim >= 2; got {emb_dim}")
        self.config = {"in_channels": int(in_channels), "base": int(base), "mults": list(mults),
                       "emb_dim": int(emb_dim), "time_scale": float(time_scale)}
        self.time_scale = float(time_scale)
        self.emb_dim = int(emb_dim)
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(),
                                     nn.Linear(emb_dim, emb_dim))
        chans = [base * m for m in mults]
        self.inp = nn.Conv2d(in_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        c = base
        for i, co in enumerate(chans):
            self.down.append(_ResBlock(c, co, emb_dim))
            c = co
            if i < len(chans) - 1:
                self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid1 = _ResBlock(c, c, emb_dim)
        self.mid2 = _ResBlock(c, c, emb_dim)
        self.up = nn.ModuleList()
        for co in reversed(chans):
            self.up.append(_ResBlock(c + co, co, emb_dim))
            c = co
        self.out_norm = nn.GroupNorm(_groups(c), c)
        self.out = nn.Conv2d(c, in_channels, 3, padding=1)
        self.levels = len(chans)

    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        """Sinusoidal features [sin(s·t·f_k), cos(s·t·f_k)], f_k = 10000^{-k/(d/2)} (DDPM)."""
        half = self.emb_dim // 2
        k = torch.arange(half, device=t.device, dtype=t.dtype)
        freqs = torch.exp(-math.log(10000.0) * k / half)
        arg = (self.time_scale * t)[:, None] * freqs[None]
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)

    @property
    def multiple(self) -> int:
        """The downsampling factor: inputs are padded to a multiple of it."""
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.config["in_channels"]
        if x.dim() != 4 or x.shape[1] != c:
            raise ValueError(f"TinyUNet needs x of shape (batch, {c}, H, W); got "
                             f"{tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            out = self._forward(F.pad(x, (0, pw, 0, ph), mode=mode), t)
            return out[..., :h, :w]
        return self._forward(x, t)

    def _forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._trunk(x, self._embedding(x, t))

    def _embedding(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The time embedding ``MLP(features(t))`` of each row of ``x``, in ``x``'s dtype."""
        t = t.to(device=x.device, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        return self.emb_mlp(self.time_features(t))

    def _trunk(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """The UNet proper on ``x`` (H, W multiples of :attr:`multiple`), embedding ``e``."""
        h = self.inp(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, e)
            skips.append(h)
            if i < self.levels - 1:
                h = self.pool[i](h)
        h = self.mid2(self.mid1(h, e), e)
        for i, block in enumerate(self.up):
            if i > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), e)
        return self.out(F.silu(self.out_norm(h)))


class VToEps(nn.Module):
    """An ε-predicting network from a v-predicting one: ``ε = σ_t x + α_t v̂(x, t)``.

    For a VP schedule (α² + σ² = 1), ``v = α ε - σ x0`` (Salimans & Ho 2022) and
    ``x = α x0 + σ ε`` give ``ε = σ x + α v`` and ``x0 = α x - σ v``.  An error
    ``δ`` in ``v̂`` becomes ``α δ`` in ε and ``σ δ`` in the data prediction, so
    neither blows up at the ends of the schedule, whereas a raw ε-network's
    error is multiplied by ``σ/α`` (about 160 at ``t = 1`` of DDPM's schedule) in
    ``x0``.  The output is still ε: ``DiffusionModel(VToEps(...), schedule, "eps")``.
    """

    def __init__(self, net: nn.Module, schedule):
        super().__init__()
        if not getattr(schedule, "variance_preserving", False):
            raise ValueError(
                f"VToEps needs a variance-preserving schedule (α² + σ² = 1); got "
                f"{type(schedule).__name__}"
            )
        self.net = net
        self.schedule = schedule

    def coefficients(self, x: torch.Tensor, t: torch.Tensor):
        """``(α_t, σ_t)`` shaped to broadcast against ``x``, in ``x``'s dtype."""
        t = t.to(device=x.device, dtype=x.dtype).reshape(-1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        return self.schedule.alpha(t).reshape(shape), self.schedule.sigma(t).reshape(shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor, **cond) -> torch.Tensor:
        a, s = self.coefficients(x, t)
        return s * x + a * self.net(x, t, **cond)
