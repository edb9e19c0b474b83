"""Train the digits model and the digit classifier from scratch (CPU, deterministic).

    python examples/train_digits.py                      # writes ./digits_unet.pt ...
    python examples/train_digits.py --out /tmp/digits --steps 500

Writes ``digits_unet.pt`` (load it with ``pretrained("digits_unet.pt")``) and
``digits_classifier.pt`` (``digit_classifier("digits_classifier.pt")``) in the current
directory by default (never the weights shipped inside the package; to rebuild those in a
source checkout pass ``--out revsde/diffusion/pretrained/weights``), then prints the quality
figure: the classifier's accuracy and confidence on real held-out digits and on class-
conditional samples of the model.  Needs scikit-learn (the digits data).  See
docs/guided-generation.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from revsde.diffusion import sample
from revsde.diffusion.pretrained import pretrained, save_pretrained
from revsde.diffusion.pretrained.digits import (
    ClassifierConfig,
    DigitsConfig,
    digit_classifier,
    digits_data,
    digits_schedule,
    save_classifier,
    train_classifier,
    train_digits,
)


def quality(model_path: Path, classifier_path: Path, per_class: int = 20, steps: int = 30,
            seed: int = 0) -> dict:
    """Classifier accuracy/confidence on real held-out digits and on conditional samples."""
    model = pretrained(str(model_path))
    clf = digit_classifier(classifier_path)
    x_real, y_real = digits_data(16, "test")
    labels = torch.arange(10).repeat_interleave(per_class)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((labels.numel(), 1, 16, 16), generator=g)
    onehot = torch.nn.functional.one_hot(labels, 10).float()
    with torch.no_grad():
        xs = sample(model, x_T, steps=steps, sampler="rev_heun", cond={"label": onehot})
        out = {}
        for name, x, y in (("real_held_out", x_real, y_real), ("samples", xs.clamp(-1, 1), labels)):
            p = clf(x).softmax(-1)
            out[name] = {"count": int(y.numel()),
                         "accuracy": float((p.argmax(-1) == y).float().mean()),
                         "confidence": float(p.max(-1).values.mean())}
    out["sampler"] = f"rev_heun, {steps} steps, label one-hot, {per_class} per class"
    return out


def main(argv=None) -> int:
    d, c = DigitsConfig(), ClassifierConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", "--out-dir", dest="out_dir", type=Path, default=Path("."),
                    help="folder of the two weight files (default: the current directory)")
    ap.add_argument("--steps", type=int, default=d.steps, help="diffusion training steps")
    ap.add_argument("--classifier-steps", type=int, default=c.steps,
                    help="classifier training steps")
    ap.add_argument("--seed", type=int, default=d.seed, help="seed of data and weights")
    args = ap.parse_args(argv)
    try:
        import sklearn.datasets  # noqa: F401  (the digits data)
    except ImportError:
        sys.exit("train_digits.py: error: the digits data needs scikit-learn: "
                 "pip install scikit-learn (or pip install 'revsde[images]')")
    if args.steps < 1 or args.classifier_steps < 1:
        ap.error("--steps and --classifier-steps must be positive")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    ccfg = ClassifierConfig(steps=args.classifier_steps, seed=args.seed)
    clf, crec = train_classifier(ccfg)
    cpath = save_classifier(args.out_dir / "digits_classifier.pt", clf, crec)
    cfg = DigitsConfig(steps=args.steps, seed=args.seed)
    net, record = train_digits(cfg)
    record["description"] = (
        "class-conditional eps-prediction model for 16x16 gray digits in [-1, 1] "
        "(sklearn load_digits upsampled): a DigitsUNet predicting v, wrapped as "
        "eps = sigma*x + alpha*v (VToEps); VP-linear schedule; call with "
        "cond={'label': onehot (batch, 10)} or without it (unconditional)")
    mpath = save_pretrained(args.out_dir / "digits_unet.pt", net, digits_schedule(cfg),
                            name="digits-unet", parameterization="v",
                            image_shape=(1, cfg.size, cfg.size), training=record)
    print(json.dumps({
        "model": str(mpath), "model_bytes": mpath.stat().st_size,
        "classifier": str(cpath), "classifier_bytes": cpath.stat().st_size,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_seconds": round(record["train_seconds"] + crec["train_seconds"], 1),
        "final_train_loss": record["final_train_loss_ema_avg"],
        "quality": quality(mpath, cpath),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
