"""Train the shipped small model from scratch on bundled images (CPU, deterministic).

    python examples/train_small_model.py                 # rebuilds the shipped weights
    python examples/train_small_model.py --out /tmp/m.pt --steps 500

Writes ``revsde/diffusion/pretrained/weights/small_unet.pt`` by default; see docs/pretrained.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from revsde.diffusion.pretrained import PRETRAINED, save_pretrained
from revsde.diffusion.pretrained.train import TrainConfig, ddpm_schedule, train


def main(argv=None) -> int:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=PRETRAINED["small-unet"],
                    help="weight file to write (default: the shipped one)")
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's own choice)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        ap.error("--steps and --batch must be positive")
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                      threads=args.threads)
    net, record = train(cfg)
    record["description"] = (
        "eps-prediction model for 32x32 gray images in [-1, 1]: a TinyUNet predicting v, "
        "wrapped as eps = sigma*x + alpha*v (VToEps); DDPM-linear VPDiscrete schedule "
        "(continuous t in [1/N, 1]); trained on bundled scikit-image pictures and LFW faces"
    )
    path = save_pretrained(args.out, net, ddpm_schedule(cfg), name="small-unet",
                           parameterization=cfg.parameterization,
                           image_shape=(1, cfg.size, cfg.size), training=record)
    n = sum(p.numel() for p in net.parameters())
    print(json.dumps({
        "out": str(path), "bytes": path.stat().st_size, "parameters": n,
        "train_seconds": round(record["train_seconds"], 1),
        "final_train_loss": record["final_train_loss_ema_avg"], "loss": record["loss"],
        "held_out_eps_mse": record["held_out_eps_mse"],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
