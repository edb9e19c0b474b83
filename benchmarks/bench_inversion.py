"""Round-trip inversion: Rex vs DDIM inversion, EDICT, BDIA and O-BELM on the shipped model.

Prints one JSON document.  Setting: the shipped ``small-unet`` model and a
batch of bundled real images (32x32 gray in [-1, 1]).  Each method encodes the
batch to noise and decodes it back on the same time grid (``uniform_lambda``,
the default of ``encode``, and ``uniform_t``, diffusers-style) at 10, 20 and 50
steps, in float32 (as in the published Stable Diffusion 1.5 table of MATH.md
§5, quoted as ``anchor_sd15_fp32``) and in float64.  Per row: round-trip MSE
and max |error| over the batch, per-image MSE, network evaluations, wall time
(encode + decode, best of ``--repeats``) and the latent's std.  BDIA runs at
its default γ = 1 and, as an extra row, at γ = 0.5 (the BELM comparison code's
value), whose latent carries a (-2)^k parasitic mode.

    python benchmarks/bench_inversion.py [--quick] [--repeats 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time

import torch

from revsde.app.demo import DEFAULT_SAMPLER, roundtrip
from revsde.app.images import BUNDLED_IMAGES, load_image
from revsde.diffusion.pretrained import load_record, pretrained
from revsde.diffusion.schedules import GRID_KINDS, time_grid

#: MATH.md §5: round-trip MSE on SD1.5 latents, fp32 (10, 20, 50 steps)
ANCHOR = {
    "ddim": {"10": 3.6e-1, "20": 9.9e-2, "50": 1.7e-2},
    "edict": {"10": 1.6e-6, "20": 2.0e-7, "50": 2.2e-9},
    "bdia": {"10": 3.3e-7, "20": 1.3e-7, "50": 2.3e-8},
    "obelm": {"10": 1.1e-7, "20": 2.2e-7, "50": 3.4e-7},
    "rex": {"10": 3.8e-9, "20": 2.0e-9, "50": 8.9e-10},
}
METHODS = [("rex", {}), ("ddim", {}), ("edict", {}), ("bdia", {}), ("bdia", {"gamma": 0.5}),
           ("obelm", {})]


def _label(method, opts, sampler):
    if method == "rex":
        return sampler
    return method + "".join(f"_{k}{v:g}" for k, v in opts.items())


def run_one(model, x0, images, method, opts, ts, grid, sampler, repeats, seed):
    """One row: encode + decode ``x0`` with one method on the grid ``ts``."""
    n = ts.numel() - 1
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            name = sampler if method == "rex" else method
            back, lat, nfe = roundtrip(model, x0, n, name, seed, grid, **opts)
            lat = lat.x_T
        best = min(best, time.perf_counter() - t0)
        out = (back, lat, nfe)
    back, lat, nfe = out
    d = back.to(torch.float64) - x0.to(torch.float64)
    per = d.pow(2).flatten(1).mean(1)
    dname = str(x0.dtype).replace("torch.", "")
    return {
        "method": _label(method, opts, sampler), "family": method, "options": opts,
        "grid": grid, "steps": n, "dtype": dname,
        "mse": float(per.mean()), "max_abs": float(d.abs().max()),
        "mse_per_image": dict(zip(images, per.tolist())),
        "nfe": int(nfe), "seconds": best,
        "latent_std": float(lat.to(torch.float64).std()),
        "anchor_sd15_fp32": (ANCHOR.get(method, {}).get(str(n))
                             if dname == "float32" and not opts else None),
    }


def run(images, steps_list, dtypes, grids, sampler, repeats, seed=0):
    rows = []
    for dname in dtypes:
        dt = getattr(torch, dname)
        model = pretrained("small-unet", dtype=dt)
        x0 = torch.cat([load_image(name, model.image_shape[-1], dtype=dt) for name in images])
        for grid, n in itertools.product(grids, steps_list):
            ts = time_grid(model.schedule, n, grid)
            for method, opts in METHODS:
                rows.append(run_one(model, x0, images, method, opts, ts, grid, sampler,
                                    repeats, seed))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="one image, 5 and 10 steps, the uniform_lambda grid")
    ap.add_argument("--images", nargs="+", default=None, choices=BUNDLED_IMAGES)
    ap.add_argument("--steps", type=int, nargs="+", default=None)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                    choices=["float32", "float64"])
    ap.add_argument("--grids", nargs="+", default=None, choices=GRID_KINDS,
                    help="time grids (default: uniform_lambda and uniform_t)")
    ap.add_argument("--sampler", default=DEFAULT_SAMPLER)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args(argv)
    images = args.images or (["camera"] if args.quick else ["camera", "astronaut", "coffee"])
    steps = args.steps or ([5, 10] if args.quick else [10, 20, 50])
    if min(steps) < 2 or args.repeats < 1:
        ap.error("steps must be >= 2 and repeats >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    grids = args.grids or (["uniform_lambda"] if args.quick else ["uniform_lambda", "uniform_t"])
    rows = run(images, steps, args.dtypes, grids, args.sampler, args.repeats)
    rec = load_record("small-unet")
    doc = {
        "benchmark": "inversion",
        "quick": args.quick,
        "model": {"name": "small-unet", "schedule": rec["schedule"]["type"],
                  "image_shape": rec["image_shape"],
                  "parameters": sum(v.numel() for v in rec["state_dict"].values())},
        "images": images,
        "grids": grids,
        "steps": steps,
        "dtypes": args.dtypes,
        "rex_sampler": args.sampler,
        "rows": rows,
        "anchor_sd15_fp32": ANCHOR,
        "anchor_note": "MATH.md §5: Stable Diffusion 1.5 latents (4x64x64), fp32; ours: "
                       "32x32 gray pixels, the shipped small model",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "platform": platform.platform()},
        "seconds": time.perf_counter() - t0,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
