"""Edit real digits into every other digit by exact inversion.

Each of the first ``--digits`` held-out real digits is inverted once under its own
label (:func:`revsde.diffusion.edit`, classifier-free guidance in both directions, so
the inversion is exact) and regenerated under all ten labels
(:func:`revsde.diffusion.regenerate`).  Prints, as JSON, what the independent judge
(:mod:`revsde.diffusion.pretrained.judge`) reads in each edit and the inversion's
reconstruction error, and draws the grid (``out/edit_digits.png``): one row per digit,
the source, its latent and its ten regenerations.

    python examples/edit_digits.py [--digits 6] [--strength 1] [--guidance-scale 2]

Needs scikit-learn (the digits data and the judge): pip install scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

from revsde.diffusion import edit, pretrained, regenerate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=6, help="held-out digits to edit (1 to 297)")
    ap.add_argument("--strength", type=float, default=1.0,
                    help="fraction of the steps regenerated, in (0, 1]")
    ap.add_argument("--guidance-scale", type=float, default=2.0,
                    help="classifier-free guidance scale (1: none)")
    ap.add_argument("--steps", type=int, default=None, help="grid steps (default: edit's)")
    ap.add_argument("--out", type=Path, default=Path("out"), help="folder of the figure")
    args = ap.parse_args(argv)
    if not 1 <= args.digits <= 297:
        ap.error("need 1 <= --digits <= 297")
    try:
        from revsde.diffusion.pretrained.digits import digits_data
        from revsde.diffusion.pretrained.judge import digit_judge

        x, y = digits_data(16, "test")
        judge = digit_judge()
    except ImportError:
        sys.exit("edit_digits.py: error: the digits data needs scikit-learn: "
                 "pip install scikit-learn")
    model = pretrained("digits-unet")
    x, y = x[:args.digits], y[:args.digits]
    kw = {"guidance_scale": args.guidance_scale}
    with torch.no_grad():
        res = edit(model, x, source={"label": F.one_hot(y, 10).float()},
                   target={"label": F.one_hot(y, 10).float()}, strength=args.strength,
                   steps=args.steps, verify=True, **kw)
        edits = [regenerate(model, res.latents,
                            {"label": F.one_hot(torch.full_like(y, k), 10).float()}, **kw)
                 for k in range(10)]
    reads = torch.stack([judge.predict(e) for e in edits], 1)  # (digits, 10 labels)
    others = ~F.one_hot(y, 10).bool()
    report = {"digits": args.digits, "labels": y.tolist(), "strength": args.strength,
              "guidance_scale": args.guidance_scale, "t_start": res.t_start,
              "steps_regenerated": res.steps_regenerated,
              "reconstruction_error": res.reconstruction_error,
              "judge_reads": reads.tolist(),
              "target_reached": float((reads == torch.arange(10))[others].float().mean())}
    report["figure"] = str(draw(args.out / "edit_digits.png", x, res.latents.noise.float(),
                                edits))
    print(json.dumps(report, indent=2))
    return 0


def draw(path: Path, x, latent, edits) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("source", x, 1.0), ("latent", latent, 3.0)]
    cols += [(f"label {k}", e.float(), 1.0) for k, e in enumerate(edits)]
    n = x.shape[0]
    fig, axes = plt.subplots(n, len(cols), figsize=(1.1 * len(cols), 1.15 * n), dpi=80,
                             squeeze=False)
    for j, (title, imgs, lim) in enumerate(cols):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(imgs[i, 0].clamp(-lim, lim).numpy(), cmap="gray", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(pad=0.3)
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
