"""Deterministic CPU training of the shipped small model (``examples/train_small_model.py``).

The data are 32x32 gray patches of scikit-image's bundled pictures (random crops
of side 32·k, k ∈ {1, 2, 3, 4, 6, 8, 12, 16}, block-averaged down by k, plus one
centre-square downsample per picture) and the first 180 LFW faces of
``skimage.data.lfw_subset()``; faces 180..199 are held out for tests.  The loss
is the v-prediction MSE ``‖v_θ(x_t, t) - (α_t ε - σ_t x0)‖²`` (Salimans & Ho 2022)
with ``t`` uniform on ``[t_min, t_max]`` of a DDPM-linear :class:`VPDiscrete`
schedule (Ho et al. 2020); the shipped model wraps the v-network as an
ε-predictor, ``ε = σ_t x + α_t v_θ`` (:class:`~revsde.diffusion.unet.VToEps`),
which keeps the error of its data prediction bounded at high noise.  AdamW with
warm-up and cosine decay, and an exponential moving average (EMA) of the
weights, which is what is saved.

Everything random is drawn from generators seeded by ``TrainConfig.seed`` (numpy
for the patches, a torch generator for batches, times and noise, a forked torch
RNG for the initial weights), so a run is repeatable on the same machine and
thread count.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ...app.images import BUNDLED_IMAGES, bundled_image, lfw_faces, to_model_image
from ..schedules import VPDiscrete
from .unet import PARAMETERIZATIONS, TinyUNet, VToEps

__all__ = ["TrainConfig", "ddpm_schedule", "training_data", "held_out_faces", "train",
           "FACES_HELD_OUT"]

#: LFW faces (indices into ``skimage.data.lfw_subset()``) never used for training.
FACES_HELD_OUT = (180, 200)
_SCALES = (1, 2, 3, 4, 6, 8, 12, 16)


@dataclass
class TrainConfig:
    """Every knob of a training run; saved with the weights."""

    seed: int = 0
    steps: int = 4000
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    ema: float = 0.999
    size: int = 32
    patches_per_image: int = 1400
    face_repeats: int = 8
    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_timesteps: int = 1000
    threads: int | None = None
    images: tuple = BUNDLED_IMAGES
    #: what the raw network predicts: "v" (wrapped by VToEps, trained on v-MSE) or "eps"
    parameterization: str = "v"
    arch: dict = field(default_factory=lambda: {"in_channels": 1, "base": 16,
                                                "mults": [1, 2, 4], "emb_dim": 64,
                                                "time_scale": 1000.0})


def ddpm_schedule(cfg: TrainConfig) -> VPDiscrete:
    """DDPM linear betas ``linspace(β_start, β_end, N)`` (Ho et al. 2020) as a VPDiscrete."""
    betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.num_timesteps, dtype=torch.float64)
    return VPDiscrete(betas=betas)


def _patches(img: np.ndarray, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random multi-scale crops (side size·k, block-averaged by k) of a [0,1] image."""
    from skimage.transform import downscale_local_mean

    h, w = img.shape
    scales = [k for k in _SCALES if size * k <= min(h, w)]
    out = np.empty((n, size, size))
    for j in range(n):
        k = scales[rng.integers(len(scales))]
        s = size * k
        y, x = rng.integers(h - s + 1), rng.integers(w - s + 1)
        crop = img[y:y + s, x:x + s]
        out[j] = downscale_local_mean(crop, (k, k)) if k > 1 else crop
    return out


def training_data(cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    """The training images ``(M, 1, size, size)`` in [-1, 1] (float32) and their description."""
    rng = np.random.default_rng(cfg.seed)
    chunks, used = [], []
    for name in cfg.images:
        img = bundled_image(name)
        p = _patches(img, cfg.patches_per_image, cfg.size, rng)
        chunks.append(torch.as_tensor(2.0 * p - 1.0).unsqueeze(1))
        chunks.append(to_model_image(img, cfg.size, torch.float64))
        used.append(name)
    faces = lfw_faces(cfg.size)[:FACES_HELD_OUT[0]]
    chunks.extend([faces] * cfg.face_repeats)
    data = torch.cat(chunks).to(torch.float32)
    desc = {
        "images": used,
        "patches_per_image": cfg.patches_per_image,
        "crop_scales": list(_SCALES),
        "lfw_faces": f"skimage.data.lfw_subset()[0:{FACES_HELD_OUT[0]}] resized 25->"
                     f"{cfg.size}, repeated {cfg.face_repeats}x",
        "held_out": f"lfw_subset()[{FACES_HELD_OUT[0]}:{FACES_HELD_OUT[1]}]",
        "augment": "random horizontal flip",
        "range": [-1.0, 1.0],
        "count": int(data.shape[0]),
    }
    return data, desc


def held_out_faces(size: int = 32) -> torch.Tensor:
    """The LFW faces never seen in training, ``(20, 1, size, size)`` in [-1, 1] (float64)."""
    return lfw_faces(size)[FACES_HELD_OUT[0]:FACES_HELD_OUT[1]]


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    u = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * u))


def eps_loss(net, x0, t, noise, schedule) -> torch.Tensor:
    """Mean ‖ε_θ(α_t x0 + σ_t ε, t) - ε‖² per element (Ho et al. 2020, eq. 14)."""
    a = schedule.alpha(t)[:, None, None, None]
    s = schedule.sigma(t)[:, None, None, None]
    return (net(a * x0 + s * noise, t) - noise).pow(2).mean()


def v_loss(net, x0, t, noise, schedule) -> torch.Tensor:
    """Mean ‖v_θ(x_t, t) - (α_t ε - σ_t x0)‖² per element (Salimans & Ho 2022)."""
    a = schedule.alpha(t)[:, None, None, None]
    s = schedule.sigma(t)[:, None, None, None]
    return (net(a * x0 + s * noise, t) - (a * noise - s * x0)).pow(2).mean()


def eps_network(net: TinyUNet, schedule, parameterization: str):
    """The ε-predicting network: ``net`` itself, or ``VToEps(net, schedule)``."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {parameterization!r}; valid ones are "
                         f"{PARAMETERIZATIONS}")
    return VToEps(net, schedule) if parameterization == "v" else net


def held_out_loss(net, schedule, size: int = 32, seed: int = 1234) -> float:
    """ε-MSE on the held-out faces at 64 fixed stratified times and fixed noise."""
    x0 = held_out_faces(size).to(torch.float32)
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    ts = schedule.t_min + (torch.arange(64, dtype=torch.float64) + 0.5) / 64 * (
        schedule.t_max - schedule.t_min)
    with torch.no_grad():
        for t in ts.to(torch.float32):
            noise = torch.randn(x0.shape, generator=g)
            total += float(eps_loss(net, x0, t.expand(x0.shape[0]), noise, schedule))
    return total / ts.numel()


def train(cfg: TrainConfig | None = None, log=print) -> tuple[TinyUNet, dict]:
    """Train from scratch; returns the EMA network (eval mode, CPU float32) and a record.

    The network is the raw one (predicting ``cfg.parameterization``); wrap it with
    :func:`eps_network` to get ε.
    """
    cfg = cfg or TrainConfig()
    if cfg.steps < 1 or cfg.batch < 1 or not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"need steps >= 1, batch >= 1 and 0 <= ema < 1; got {cfg}")
    if cfg.parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {cfg.parameterization!r}; valid ones are "
                         f"{PARAMETERIZATIONS}")
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        return _train(cfg, log)
    finally:
        torch.set_num_threads(old_threads)


def _train(cfg: TrainConfig, log) -> tuple[TinyUNet, dict]:
    t_start = time.perf_counter()
    schedule = ddpm_schedule(cfg)
    data, desc = training_data(cfg)
    log(f"training data: {data.shape[0]} images of {cfg.size}x{cfg.size} "
        f"({time.perf_counter() - t_start:.1f}s)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = TinyUNet(**cfg.arch)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    t_lo, t_hi = schedule.t_min, schedule.t_max
    run, history = None, []
    for step in range(cfg.steps):
        idx = torch.randint(data.shape[0], (cfg.batch,), generator=g)
        x0 = data[idx]
        flip = torch.rand(cfg.batch, generator=g) < 0.5
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        t = t_lo + (t_hi - t_lo) * torch.rand(cfg.batch, generator=g, dtype=torch.float64)
        noise = torch.randn(x0.shape, generator=g)
        loss_fn = v_loss if cfg.parameterization == "v" else eps_loss
        loss = loss_fn(net, x0, t.to(torch.float32), noise, schedule)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(cfg.ema).add_(p, alpha=1.0 - cfg.ema)
        lv = float(loss.detach())
        run = lv if run is None else 0.99 * run + 0.01 * lv
        if (step + 1) % 250 == 0 or step + 1 == cfg.steps:
            history.append([step + 1, run])
            log(f"step {step + 1:6d}/{cfg.steps}  loss(avg) {run:.4f}  "
                f"{time.perf_counter() - t_start:7.1f}s")
    ema.eval()
    record = {
        "config": asdict(cfg),
        "data": desc,
        "loss": "v-MSE" if cfg.parameterization == "v" else "eps-MSE",
        "final_train_loss_ema_avg": run,
        "held_out_eps_mse": held_out_loss(eps_network(ema, schedule, cfg.parameterization),
                                          schedule, cfg.size),
        "loss_history": history,
        "train_seconds": time.perf_counter() - t_start,
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
    }
    return ema, record
