"""Train the shipped small model from scratch on bundled images (CPU, deterministic).

    python examples/train_small_model.py                 # writes ./small_unet.pt
    python examples/train_small_model.py --out /tmp/m.pt --steps 500

Writes ``small_unet.pt`` in the current directory by default (never the weights shipped
inside the package); load it with ``pretrained("small_unet.pt")``.  Needs scikit-image
(its bundled pictures are the training data): ``pip install 'revsde[images]'``.  To
rebuild the shipped weights in a source checkout, pass
``--out revsde/diffusion/pretrained/weights/small_unet.pt``.  See docs/pretrained.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from revsde.diffusion.models import DiffusionModel
from revsde.diffusion.pretrained import load_record, save_pretrained
from revsde.diffusion.pretrained.train import (
    TrainConfig,
    ddpm_schedule,
    denoise_vs_blur,
    eps_network,
    train,
)


def main(argv=None) -> int:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("small_unet.pt"),
                    help="weight file to write (default: small_unet.pt in the current "
                    "directory)")
    ap.add_argument("--steps", type=int, default=d.steps, help="training steps")
    ap.add_argument("--batch", type=int, default=d.batch, help="crops per step")
    ap.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    ap.add_argument("--seed", type=int, default=d.seed, help="seed of data and weights")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's own choice)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        ap.error("--steps and --batch must be positive")
    try:
        import skimage.data  # noqa: F401  (the training pictures)
    except ImportError:
        sys.exit("train_small_model.py: error: training needs scikit-image's bundled "
                 "pictures: pip install scikit-image (or pip install 'revsde[images]')")
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                      threads=args.threads)
    net, record = train(cfg, log=lambda line: print(line, file=sys.stderr))  # JSON on stdout
    _save(args.out, net, record, cfg)
    return 0


def _save(out, net, record, cfg) -> None:
    """Write the weight file with its record and print a JSON summary."""
    schedule = ddpm_schedule(cfg)
    model = DiffusionModel(eps_network(net, schedule, cfg.parameterization), schedule, "eps")
    record["denoise_vs_blur"] = [denoise_vs_blur(model, snr) for snr in (4.0, 1.0, 0.25)]
    record["description"] = (
        "eps-prediction model for RGB pictures of any size in [-1, 1] (fully convolutional, "
        "padded to a multiple of 4): a TinyUNet predicting v, wrapped as "
        "eps = sigma*x + alpha*v (VToEps); DDPM-linear VPDiscrete schedule (continuous t in "
        "[1/N, 1]); trained on random multi-scale crops of scikit-image's bundled pictures"
    )
    path = save_pretrained(out, net, schedule, name="small-unet",
                           parameterization=cfg.parameterization,
                           image_shape=(cfg.arch["in_channels"], cfg.size, cfg.size),
                           training=record)
    n = sum(p.numel() for p in net.parameters())
    print(json.dumps({
        "out": str(path), "bytes": path.stat().st_size, "parameters": n,
        "weights_sha256": load_record(path)["weights_sha256"],
        "train_seconds": round(record["train_seconds"], 1),
        "final_train_loss": record["final_train_loss_ema_avg"], "loss": record["loss"],
        "denoise_vs_blur": record["denoise_vs_blur"],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
