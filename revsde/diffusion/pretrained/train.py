"""Deterministic CPU training of the shipped small model (``examples/train_small_model.py``).

The model is a fully convolutional RGB :class:`~revsde.diffusion.pretrained.unet.TinyUNet`
trained on random crops of the photographs that ship inside scikit-image's wheel
(no download): the colour ones (:data:`TRAIN_RGB`) and the gray ones
(:data:`TRAIN_GRAY`, as three equal channels).  A crop has side ``size·k`` for a
random ``k`` in {1, 2, 4, 8} (those that fit) and is block-averaged down by
``k``, so the network sees each picture at several scales; random horizontal
flips.  Three steps in four train on 32x32 crops (batch 32), every fourth on
64x64 crops (batch 8), so that the network's normalisation sees more than one
size.  **Held out**: scikit-image's ``stereo_motorcycle`` pair
(:data:`HELD_OUT`), on which :func:`denoise_vs_blur` measures what it learned.

The loss is the v-prediction MSE ``‖v_θ(x_t, t) - (α_t ε - σ_t x0)‖²`` (Salimans &
Ho 2022) with ``t`` uniform on ``[t_min, t_max]`` of a DDPM-linear
:class:`VPDiscrete` schedule (Ho et al. 2020); the shipped model wraps the
v-network as an ε-predictor, ``ε = σ_t x + α_t v_θ``
(:class:`~revsde.diffusion.pretrained.unet.VToEps`).  AdamW with warm-up and
cosine decay, and an exponential moving average (EMA) of the weights, which is
what is saved.

Everything random is drawn from generators seeded by ``TrainConfig.seed`` (numpy
for the crops, a torch generator for flips, times and noise, a forked torch RNG
for the initial weights), so a run is repeatable on the same machine, torch
version and thread count.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..schedules import VPDiscrete
from .unet import PARAMETERIZATIONS, TinyUNet, VToEps

__all__ = ["TrainConfig", "ddpm_schedule", "skimage_rgb", "batch_of_crops", "held_out_crops",
           "train", "eps_network", "v_loss", "eps_loss", "gaussian_blur", "denoise_vs_blur",
           "TRAIN_RGB", "TRAIN_GRAY", "HELD_OUT"]

#: colour photographs bundled in scikit-image's wheel, trained on
TRAIN_RGB = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina")
#: gray pictures bundled in scikit-image, trained on as three equal channels
TRAIN_GRAY = ("camera", "coins", "moon", "grass", "gravel", "brick", "clock", "page", "text")
#: never trained on: the left and right views of ``skimage.data.stereo_motorcycle()``
HELD_OUT = ("motorcycle_left", "motorcycle_right")
_SCALES = (1, 2, 4, 8)


@dataclass
class TrainConfig:
    """Every knob of a training run; saved with the weights."""

    seed: int = 0
    steps: int = 3000
    batch: int = 32
    #: every ``large_every``-th step trains on ``large_batch`` crops of side ``large_size``
    large_every: int = 4
    large_size: int = 64
    large_batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    ema: float = 0.999
    size: int = 32
    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_timesteps: int = 1000
    threads: int | None = None
    rgb_images: tuple = TRAIN_RGB
    gray_images: tuple = TRAIN_GRAY
    #: what the raw network predicts: "v" (wrapped by VToEps, trained on v-MSE) or "eps"
    parameterization: str = "v"
    arch: dict = field(default_factory=lambda: {"in_channels": 3, "base": 16,
                                                "mults": [1, 2, 4], "emb_dim": 64,
                                                "time_scale": 1000.0})


def ddpm_schedule(cfg: TrainConfig) -> VPDiscrete:
    """DDPM linear betas ``linspace(β_start, β_end, N)`` (Ho et al. 2020) as a VPDiscrete."""
    betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.num_timesteps, dtype=torch.float64)
    return VPDiscrete(betas=betas)


def skimage_rgb(name: str) -> np.ndarray:
    """A scikit-image bundled picture as float64 RGB ``(H, W, 3)`` in [0, 1] (gray repeated)."""
    try:
        import skimage.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("training needs scikit-image's bundled pictures: pip install "
                          "'revsde[images]' (or scikit-image)") from e
    if name.startswith("motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        a = left if name == "motorcycle_left" else right
    else:
        a = getattr(skimage.data, name)()
    a = np.asarray(a, dtype=np.float64) / 255.0
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def _crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random crop of side size·k (k in _SCALES, fitting), block-averaged by k: (3, s, s)."""
    h, w, _ = img.shape
    scales = [k for k in _SCALES if size * k <= min(h, w)]
    k = scales[rng.integers(len(scales))]
    s = size * k
    y, x = rng.integers(h - s + 1), rng.integers(w - s + 1)
    c = img[y:y + s, x:x + s]
    if k > 1:
        c = c.reshape(size, k, size, k, 3).mean(axis=(1, 3))
    return c.transpose(2, 0, 1)


def batch_of_crops(pictures, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` crops of random pictures, in [-1, 1], float32, shape ``(n, 3, size, size)``."""
    idx = rng.integers(len(pictures), size=n)
    out = np.stack([_crop(pictures[i], size, rng) for i in idx])
    return torch.as_tensor(2.0 * out - 1.0, dtype=torch.float32)


def held_out_crops(n: int = 16, size: int = 64, seed: int = 1234) -> torch.Tensor:
    """``n`` multi-scale crops of the held-out pictures, ``(n, 3, size, size)`` float64."""
    pictures = [skimage_rgb(name) for name in HELD_OUT]
    return batch_of_crops(pictures, n, size, np.random.default_rng(seed)).to(torch.float64)


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    u = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * u))


def optimizer_step(net: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer,
                   loss: torch.Tensor, lr: float, decay: float) -> float:
    """One training update at learning rate ``lr``, then the EMA copy; returns the loss."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), net.parameters()):
            pe.mul_(decay).add_(p, alpha=1.0 - decay)
    return float(loss.detach())


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


def gaussian_blur(x: torch.Tensor, width: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with std ``width`` px (reflect padding)."""
    r = max(1, int(math.ceil(3.0 * width)))
    k = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / width) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


#: blur widths (px) tried by :func:`denoise_vs_blur`; the best one is the baseline
BLUR_WIDTHS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def denoise_vs_blur(model, snr: float = 1.0, n: int = 16, size: int = 64,
                    seed: int = 1234) -> dict:
    """MSE of the model's data prediction against the best Gaussian blur, on held-out crops.

    ``x_t = α x0 + σ z`` at the time where ``α²/σ² = snr`` (``snr = 1``: the middle
    of the noise range).  The blur estimate is ``blur(x_t/α)`` with the width in
    :data:`BLUR_WIDTHS` that scores best on these very crops (an oracle choice,
    which favours the blur).  Runs in the model's network dtype.
    """
    dtype = getattr(model, "network_dtype", None) or torch.float32
    x0 = held_out_crops(n, size, seed).to(dtype)
    sch = model.schedule
    t = sch.t_of_lambda(torch.tensor(0.5 * math.log(snr), dtype=torch.float64))
    a, s = sch.alpha(t).to(dtype), sch.sigma(t).to(dtype)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed + 1),
                    dtype=torch.float64).to(dtype)
    xt = a * x0 + s * z
    with torch.no_grad():
        x0_hat = model.x0(xt, t.to(dtype))
    blur = {w: float(((gaussian_blur(xt / a, w) - x0) ** 2).mean()) for w in BLUR_WIDTHS}
    best = min(blur, key=blur.__getitem__)
    return {"snr": float(snr), "t": float(t), "sigma_over_alpha": float(s / a),
            "model_mse": float(((x0_hat - x0) ** 2).mean()),
            "blur_mse": blur[best], "blur_width": best,
            "noisy_mse": float(((xt / a - x0) ** 2).mean()),
            "crops": f"{n} crops {size}x{size} of {list(HELD_OUT)}, seed {seed}"}


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
    names = tuple(cfg.rgb_images) + tuple(cfg.gray_images)
    pictures = [skimage_rgb(n) for n in names]
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = TinyUNet(**cfg.arch)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    t_lo, t_hi = schedule.t_min, schedule.t_max
    loss_fn = v_loss if cfg.parameterization == "v" else eps_loss
    run, history = None, []
    for step in range(cfg.steps):
        large = cfg.large_every > 0 and step % cfg.large_every == cfg.large_every - 1
        size, n = (cfg.large_size, cfg.large_batch) if large else (cfg.size, cfg.batch)
        x0 = batch_of_crops(pictures, n, size, rng)
        flip = torch.rand(n, generator=g) < 0.5
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        t = t_lo + (t_hi - t_lo) * torch.rand(n, generator=g, dtype=torch.float64)
        noise = torch.randn(x0.shape, generator=g)
        loss = loss_fn(net, x0, t.to(torch.float32), noise, schedule)
        lv = optimizer_step(net, ema, opt, loss, _lr(cfg, step), cfg.ema)
        run = lv if run is None else 0.99 * run + 0.01 * lv
        if (step + 1) % 100 == 0 or step + 1 == cfg.steps:
            history.append([step + 1, run])
            log(f"step {step + 1:6d}/{cfg.steps}  loss(avg) {run:.4f}  "
                f"{time.perf_counter() - t_start:7.1f}s")
    ema.eval()
    record = {
        "config": asdict(cfg),
        "data": {
            "images": list(names),
            "rgb": list(cfg.rgb_images), "gray_as_rgb": list(cfg.gray_images),
            "crops": f"side {cfg.size}*k (and {cfg.large_size}*k every {cfg.large_every}th "
                     f"step), k in {list(_SCALES)}, block-averaged by k",
            "augment": "random horizontal flip",
            "held_out": list(HELD_OUT),
            "range": [-1.0, 1.0],
        },
        "loss": "v-MSE" if cfg.parameterization == "v" else "eps-MSE",
        "final_train_loss_ema_avg": run,
        "loss_history": history,
        "train_seconds": time.perf_counter() - t_start,
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
    }
    return ema, record
