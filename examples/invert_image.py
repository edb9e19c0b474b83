"""The main job: an exact round trip of a real picture through noise, vs the baselines.

Loads the shipped model (``revsde.diffusion.pretrained("small-unet")``), takes a
picture at its own size and colour (default: the packaged 256x256 RGB
``astronaut``; long side capped at 256 px), encodes it to noise and decodes it
back with a reversible sampler (default ``rev_heun_exp``, 20 steps, network in
float32, state in float64) and with DDIM inversion, EDICT, BDIA and O-BELM at equal
steps and at equal network evaluations, prints the round-trip errors and each latent's
fidelity (its distance to a converged encoding, its statistics, the converged latent
decoded back) and writes ``out/invert_image.png``.  Same job as ``revsde invert``.

    python examples/invert_image.py                        # the defaults above
    python examples/invert_image.py path/to/photo.png --size 128 --steps 10 20
    python examples/invert_image.py --dtype float32 bfloat16 --json
"""

from __future__ import annotations

import argparse
import json
import sys

from revsde.app.demo import (
    BASELINE_METHODS,
    DEFAULT_GRID,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    NETWORK_DTYPES,
    REFERENCE_STEPS,
    format_report,
    roundtrip_report,
)
from revsde.app.images import DEFAULT_PICTURE, MAX_SIDE


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=DEFAULT_PICTURE,
                    help="picture file, or a packaged / scikit-image picture name")
    ap.add_argument("--size", type=int, default=MAX_SIDE, help="cap on the long side (px)")
    ap.add_argument("--steps", type=int, nargs="+", default=[DEFAULT_STEPS])
    ap.add_argument("--dtype", nargs="+", default=["float32"], choices=list(NETWORK_DTYPES),
                    help="network dtype(s); the state stays float64")
    ap.add_argument("--methods", nargs="+", default=["rex", *BASELINE_METHODS],
                    choices=["rex", *BASELINE_METHODS])
    ap.add_argument("--sampler", default=None,
                    help=f"reversible sampler (default: {DEFAULT_SAMPLER})")
    ap.add_argument("--grid", default=DEFAULT_GRID, help="time grid kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", default="out/invert_image.png",
                    help="where to draw the figure (.png is added to a name without a suffix)")
    ap.add_argument("--no-figure", action="store_true", help="draw no figure")
    ap.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS,
                    help="the converged reference's Richardson levels N, 2N (0: no fidelity)")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON document")
    args = ap.parse_args(argv)
    try:
        report = roundtrip_report(
            image=args.image, steps=args.steps, sampler=args.sampler, dtype=args.dtype,
            methods=args.methods, seed=args.seed, grid=args.grid, max_side=args.size,
            figure=None if args.no_figure else args.figure,
            progress=not args.json and sys.stderr.isatty(),  # a bar of NFE on a terminal
            reference_steps=args.reference_steps or None,
        )
    except (ValueError, OSError) as e:
        print(f"invert_image: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
