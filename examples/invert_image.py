"""The main job: an exact round trip of a real image through noise, vs the baselines.

Loads the shipped model (``revsde.diffusion.pretrained("small-unet")``), takes a
real image (default: scikit-image's ``camera``, made 32x32 gray in [-1, 1]),
encodes it to noise and decodes it back with Rex and with DDIM inversion, EDICT,
BDIA and O-BELM at 10, 20 and 50 steps in float32 and float64, prints the
round-trip errors and writes ``out/invert_image.png``.

    python examples/invert_image.py                       # the defaults above
    python examples/invert_image.py path/to/photo.png --steps 20 --dtype float64
    python examples/invert_image.py --json                # one JSON document only
"""

from __future__ import annotations

import argparse
import json
import sys

from revsde.app.demo import BASELINE_METHODS, DEFAULT_GRID, format_report, roundtrip_report
from revsde.app.images import BUNDLED_IMAGES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default="camera",
                    help=f"image file, or a bundled name ({', '.join(BUNDLED_IMAGES)})")
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--dtype", nargs="+", default=["float32", "float64"],
                    choices=["float32", "float64"])
    ap.add_argument("--methods", nargs="+", default=["rex", *BASELINE_METHODS],
                    choices=["rex", *BASELINE_METHODS])
    ap.add_argument("--sampler", default=None, help="Rex sampler (default: rex_rk4)")
    ap.add_argument("--grid", default=DEFAULT_GRID, help="time grid kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", default="out/invert_image.png")
    ap.add_argument("--no-figure", action="store_true")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON document")
    args = ap.parse_args(argv)
    try:
        report = roundtrip_report(
            image=args.image, steps=args.steps, sampler=args.sampler, dtype=args.dtype,
            methods=args.methods, seed=args.seed, grid=args.grid,
            figure=None if args.no_figure else args.figure,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"invert_image: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
