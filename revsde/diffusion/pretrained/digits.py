"""The digits model and digit classifier, trained on scikit-learn's bundled digits.

Data: ``sklearn.datasets.load_digits()`` (1797 gray 8x8 digits, values 0..16),
scaled to [-1, 1] and upsampled to 16x16 by bilinear interpolation.  Images
``0..1499`` train both networks; ``1500..1796`` are held out (the "real digits"
against which samples are judged).

* :class:`DigitsUNet`: the TinyUNet layout plus a class-label embedding; it is
  called as ``net(x, t, label=p)`` with ``p`` of shape ``(batch, 10)`` (a
  one-hot or any soft vector; zeros or ``None`` mean "no label").  Trained on
  the v-prediction MSE (Salimans & Ho 2022) with the label dropped (zeroed) for
  20% of the batch, so it is both a conditional and an unconditional model;
  shipped as an ε-model through ``VToEps`` like ``small-unet``.
* :class:`DigitClassifier`: a two-convolution CNN, trained with cross-entropy on
  the clean training digits (random ±1 pixel shifts).

Everything random comes from generators seeded by the configs, so
``examples/train_digits.py`` rebuilds the shipped weights on the same machine
and thread count.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..schedules import VPLinear
from .train import optimizer_step
from .unet import TinyUNet

__all__ = ["DigitsUNet", "DigitClassifier", "DigitsConfig", "ClassifierConfig", "digits_data",
           "train_digits", "train_classifier", "save_classifier", "digit_classifier",
           "DIGITS_SPLIT", "CLASSIFIER_FORMAT"]

#: images [0, DIGITS_SPLIT) train, [DIGITS_SPLIT, 1797) are held out
DIGITS_SPLIT = 1500
CLASSIFIER_FORMAT = "revsde-classifier"
_WEIGHTS = Path(__file__).resolve().parent / "weights"


def digits_data(size: int = 16, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn digits as ``(images (M, 1, size, size) in [-1, 1] float32, labels (M,) int64)``.

    ``split`` is ``"train"`` (the first 1500), ``"test"`` (the other 297) or ``"all"``.
    """
    from sklearn.datasets import load_digits

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}")
    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.as_tensor(d.target, dtype=torch.int64)
    sl = {"train": slice(0, DIGITS_SPLIT), "test": slice(DIGITS_SPLIT, None),
          "all": slice(None)}[split]
    return x[sl].clamp(-1.0, 1.0), y[sl]


class DigitsUNet(TinyUNet):
    """TinyUNet with a label embedding: ``net(x, t, label=None)``.

    ``label`` (``(batch, num_classes)``, any real vector; a one-hot picks a digit)
    is mapped linearly into the time embedding, ``e = MLP(features(t)) + W label``;
    ``None`` is the zero vector (the unconditional model).
    """

    def __init__(self, in_channels: int = 1, base: int = 32, mults=(1, 2),
                 emb_dim: int = 64, time_scale: float = 1000.0, num_classes: int = 10):
        super().__init__(in_channels, base, mults, emb_dim, time_scale)
        if int(num_classes) < 1:
            raise ValueError(f"DigitsUNet needs num_classes >= 1; got {num_classes}")
        self.config["num_classes"] = int(num_classes)
        self.num_classes = int(num_classes)
        self.label_emb = nn.Linear(self.num_classes, self.emb_dim, bias=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, label=None) -> torch.Tensor:
        div = 2 ** (self.levels - 1)
        if x.dim() != 4 or x.shape[-1] % div or x.shape[-2] % div:
            raise ValueError(
                f"DigitsUNet needs x of shape (batch, C, H, W) with H, W divisible by {div}; "
                f"got {tuple(x.shape)}"
            )
        e = self._embedding(x, t)
        if label is not None:
            if label.shape != (x.shape[0], self.num_classes) and label.shape != (
                    1, self.num_classes):
                raise ValueError(
                    f"label must have shape (batch, {self.num_classes}) = "
                    f"({x.shape[0]}, {self.num_classes}) or (1, {self.num_classes}); "
                    f"got {tuple(label.shape)}"
                )
            e = e + self.label_emb(label.to(dtype=x.dtype))
        return self._trunk(x, e)


class DigitClassifier(nn.Module):
    """Two 3x3 convolutions (16, 32 channels, SiLU, 2x2 average pooling) and a linear head.

    Takes ``(batch, 1, size, size)`` images in [-1, 1]; returns logits ``(batch, 10)``.
    """

    def __init__(self, size: int = 16, width: int = 16, num_classes: int = 10):
        super().__init__()
        if int(size) % 4 or int(size) < 4:
            raise ValueError(f"DigitClassifier needs a size divisible by 4; got {size}")
        self.config = {"size": int(size), "width": int(width), "num_classes": int(num_classes)}
        w = int(width)
        self.conv1 = nn.Conv2d(1, w, 3, padding=1)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, padding=1)
        self.head = nn.Linear(2 * w * (size // 4) ** 2, int(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(F.silu(self.conv1(x)), 2)
        h = F.avg_pool2d(F.silu(self.conv2(h)), 2)
        return self.head(h.flatten(1))


@dataclass
class DigitsConfig:
    """Every knob of the digits-model training run; saved with the weights."""

    seed: int = 0
    steps: int = 5000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    ema: float = 0.999
    label_drop: float = 0.2
    size: int = 16
    beta_0: float = 0.1
    beta_1: float = 20.0
    t_min: float = 1e-3
    arch: dict = field(default_factory=lambda: {"in_channels": 1, "base": 16, "mults": [1, 2, 2],
                                                "emb_dim": 64, "time_scale": 1000.0,
                                                "num_classes": 10})


@dataclass
class ClassifierConfig:
    """Every knob of the classifier training run; saved with the weights."""

    seed: int = 0
    steps: int = 3000
    batch: int = 64
    lr: float = 3e-3
    size: int = 16
    width: int = 16


def digits_schedule(cfg: DigitsConfig) -> VPLinear:
    """The continuous VP-linear schedule of the digits model (Song et al. 2021)."""
    return VPLinear(beta_0=cfg.beta_0, beta_1=cfg.beta_1, t_min=cfg.t_min)


def _lr(base: float, warmup: int, steps: int, step: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    u = (step - warmup) / max(1, steps - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * u))


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of -1, 0 or +1 pixel in each direction (background -1 fills in)."""
    pad = F.pad(x, (1, 1, 1, 1), value=-1.0)
    n, _, h, w = x.shape
    dy = torch.randint(0, 3, (n,), generator=g)
    dx = torch.randint(0, 3, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, 1, h, w + 2)
    out = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, 1, h, w)
    return out.gather(3, cols)


def train_digits(cfg: DigitsConfig | None = None, log=print) -> tuple[DigitsUNet, dict]:
    """Train the digits model from scratch; returns the EMA v-network (eval, CPU float32)."""
    cfg = cfg or DigitsConfig()
    if cfg.steps < 1 or cfg.batch < 1 or not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"need steps >= 1, batch >= 1 and 0 <= ema < 1; got {cfg}")
    t0 = time.perf_counter()
    schedule = digits_schedule(cfg)
    data, labels = digits_data(cfg.size, "train")
    onehot = F.one_hot(labels, 10).to(torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = DigitsUNet(**cfg.arch)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    run, history = None, []
    for step in range(cfg.steps):
        idx = torch.randint(data.shape[0], (cfg.batch,), generator=g)
        x0 = data[idx]
        keep = (torch.rand(cfg.batch, generator=g) >= cfg.label_drop).to(torch.float32)
        lab = onehot[idx] * keep[:, None]
        t = cfg.t_min + (1.0 - cfg.t_min) * torch.rand(cfg.batch, generator=g,
                                                       dtype=torch.float64)
        noise = torch.randn(x0.shape, generator=g)
        a = schedule.alpha(t).to(torch.float32)[:, None, None, None]
        s = schedule.sigma(t).to(torch.float32)[:, None, None, None]
        v_target = a * noise - s * x0
        loss = (net(a * x0 + s * noise, t.to(torch.float32), label=lab) - v_target).pow(2).mean()
        lv = optimizer_step(net, ema, opt, loss, _lr(cfg.lr, cfg.warmup, cfg.steps, step),
                            cfg.ema)
        run = lv if run is None else 0.99 * run + 0.01 * lv
        if (step + 1) % 250 == 0 or step + 1 == cfg.steps:
            history.append([step + 1, run])
            log(f"digits step {step + 1:6d}/{cfg.steps}  v-loss(avg) {run:.4f}  "
                f"{time.perf_counter() - t0:7.1f}s")
    ema.eval()
    record = {
        "config": asdict(cfg),
        "data": f"sklearn load_digits()[0:{DIGITS_SPLIT}], 8x8 -> {cfg.size}x{cfg.size} "
                "bilinear, [-1, 1]",
        "loss": "v-MSE, label zeroed with probability label_drop",
        "final_train_loss_ema_avg": run,
        "loss_history": history,
        "train_seconds": time.perf_counter() - t0,
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
    }
    return ema, record


def train_classifier(cfg: ClassifierConfig | None = None,
                     log=print) -> tuple[DigitClassifier, dict]:
    """Train the digit classifier; returns it (eval, CPU float32) and a record."""
    cfg = cfg or ClassifierConfig()
    t0 = time.perf_counter()
    x, y = digits_data(cfg.size, "train")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = DigitClassifier(cfg.size, cfg.width)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    for step in range(cfg.steps):
        idx = torch.randint(x.shape[0], (cfg.batch,), generator=g)
        loss = F.cross_entropy(net(_shift(x[idx], g)), y[idx])
        for group in opt.param_groups:
            group["lr"] = _lr(cfg.lr, 50, cfg.steps, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 500 == 0:
            log(f"classifier step {step + 1}/{cfg.steps} loss {float(loss):.4f}")
    net.eval().requires_grad_(False)
    xt, yt = digits_data(cfg.size, "test")
    with torch.no_grad():
        p = net(xt).softmax(-1)
    record = {"config": asdict(cfg),
              "data": f"sklearn load_digits()[0:{DIGITS_SPLIT}], random +-1 px shifts",
              "held_out_accuracy": float((p.argmax(-1) == yt).float().mean()),
              "held_out_confidence": float(p.max(-1).values.mean()),
              "train_seconds": time.perf_counter() - t0}
    return net, record


def save_classifier(path, net: DigitClassifier, training: dict | None = None) -> Path:
    """Write the classifier as ``{format, version, config, training, state_dict}``."""
    blob = {"format": CLASSIFIER_FORMAT, "version": 1, "config": dict(net.config),
            "training": dict(training or {}),
            "state_dict": {k: v.detach().to("cpu", torch.float32).clone()
                           for k, v in net.state_dict().items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    return path


def digit_classifier(path=None, device=None, dtype: torch.dtype = torch.float32
                     ) -> DigitClassifier:
    """Load the shipped digit classifier (eval mode, frozen) on device/dtype.

    ``path`` defaults to the shipped ``weights/digits_classifier.pt``.
    """
    path = Path(path) if path is not None else _WEIGHTS / "digits_classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no classifier weights at {path}; rebuild them with "
                                "`python examples/train_digits.py`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path} is not a revsde classifier file (format={CLASSIFIER_FORMAT!r})")
    net = DigitClassifier(**blob["config"])
    net.load_state_dict(blob["state_dict"], strict=True)
    net.training_record = blob["training"]
    return net.to(device=device, dtype=dtype).eval().requires_grad_(False)
