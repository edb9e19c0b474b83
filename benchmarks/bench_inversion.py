"""Round-trip inversion on the trained shipped model: every reversible sampler vs the baselines.

Prints one JSON document.  Setting: the shipped ``small-unet`` (RGB, fully
convolutional) and a batch of 8 real photographs (the packaged ``astronaut`` and
``coffee``, scikit-image's ``chelsea``, ``rocket``, ``hubble_deep_field``,
``immunohistochemistry``, ``retina`` and the held-out ``motorcycle_left``),
resized to ``--size`` px (16 by default), in [-1, 1].  Every reversible sampler
of the registry encodes the batch to noise and decodes it back at 10, 20, 50 and
100 steps on the ``uniform_lambda`` grid, with the network in float32, bfloat16
and float64 and the reversible state in float64, carried as ``hi + lo`` pairs
(``compensated``, the default of ``encode``; docs/mathematics.md §4.6).  Beside them,
DDIM inversion, EDICT, BDIA and O-BELM run at equal steps and at equal network
evaluations (the most steps whose round trip costs at most the reference Rex
sampler's NFE, ``rex_euler`` by default).

Per row: the max abs round-trip error of each picture, their median and max,
the MSE, network evaluations (encode + decode), wall time and the latent's std.
``summary`` gives, per network dtype, the worst max abs error of every
reversible sampler over all step counts, against the required bounds (1e-6
float32, 1e-5 bfloat16, 1e-12 float64).  bfloat16 runs 10x slower than float32
on a CPU; ``--bf16-steps`` narrows its step counts.  ``--no-compensated`` runs
the samplers with plain float64 sums (the before of docs/mathematics.md §4.6).

    python benchmarks/bench_inversion.py [--quick] [--size 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from revsde.app.demo import BASELINE_METHODS, equal_nfe_steps, roundtrip, roundtrip_nfe
from revsde.app.images import picture_tensor, read_picture
from revsde.diffusion.pretrained import load_record, pretrained
from revsde.diffusion.pretrained.train import skimage_rgb
from revsde.diffusion.samplers import SAMPLERS, reversible_names

PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
            "immunohistochemistry", "retina", "motorcycle_left")
#: max abs round-trip error per network dtype
BOUNDS = {"float32": 1e-6, "bfloat16": 1e-5, "float64": 1e-12}
REFERENCE = "rex_euler"
#: docs/mathematics.md §5: round-trip MSE on SD1.5 latents, fp32 (10, 20, 50 steps)
ANCHOR = {
    "ddim": {"10": 3.6e-1, "20": 9.9e-2, "50": 1.7e-2},
    "edict": {"10": 1.6e-6, "20": 2.0e-7, "50": 2.2e-9},
    "bdia": {"10": 3.3e-7, "20": 1.3e-7, "50": 2.3e-8},
    "obelm": {"10": 1.1e-7, "20": 2.2e-7, "50": 3.4e-7},
    "rex": {"10": 3.8e-9, "20": 2.0e-9, "50": 8.9e-10},
}


def pictures(names, size: int) -> torch.Tensor:
    """The pictures as a ``(n, 3, size, size)`` float64 batch: centre square, resized."""
    out = []
    for name in names:
        a = skimage_rgb(name) if name.startswith("motorcycle_") else read_picture(name)
        h, w = a.shape[:2]
        m = min(h, w)
        a = a[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
        out.append(picture_tensor(a, max_side=size, channels=3))
    return torch.cat(out)


def run_one(model, x0, method, steps, comparison, dname, seed=0, options=None):
    """One row: encode + decode the batch with one method at ``steps``."""
    t0 = time.perf_counter()
    with torch.no_grad():
        back, lat, nfe = roundtrip(model, x0, steps, method, seed, dtype=torch.float64,
                                   **(options or {}))
    sec = time.perf_counter() - t0
    d = (back.to(torch.float64) - x0).abs()
    per = d.flatten(1).amax(1).tolist()
    rev = method in reversible_names()
    return {"method": method, "reversible_sampler": rev,
            "stochastic": bool(rev and SAMPLERS.get(method).stochastic),
            "comparison": comparison, "steps": steps, "nfe": int(nfe),
            "network_dtype": dname, "state_dtype": "float64",
            "compensated": bool((lat.options or {}).get("compensated", False)),
            "median_abs": statistics.median(per), "max_abs": max(per),
            "max_abs_per_picture": per, "mse": float(d.pow(2).mean()), "seconds": sec,
            "latent_std": float(lat.x_T.to(torch.float64).std())}


def run(x0, samplers, steps_for, dtypes, reference, log, baselines=BASELINE_METHODS,
        options=None):
    """Every row; ``options`` go to the reversible samplers (e.g. ``compensated=False``)."""
    rows = []
    for dname in dtypes:
        model = pretrained("small-unet", dtype=getattr(torch, dname))
        for n in steps_for[dname]:
            for s in samplers:
                rows.append(run_one(model, x0, s, n, "reference" if s == reference
                                    else "sampler", dname, options=options))
            budget = roundtrip_nfe(reference, n)
            for b in baselines:
                rows.append(run_one(model, x0, b, n, "equal_steps", dname))
                k = equal_nfe_steps(b, budget)
                rows.append(run_one(model, x0, b, k, "equal_nfe", dname))
            log(f"{dname} {n} steps done")
    return rows


def summary(rows) -> dict:
    out = {}
    for dname in dict.fromkeys(r["network_dtype"] for r in rows):
        mine = [r for r in rows if r["network_dtype"] == dname and r["reversible_sampler"]]
        worst = {}
        for r in mine:
            worst[r["method"]] = max(worst.get(r["method"], 0.0), r["max_abs"])
        bound = BOUNDS[dname]
        out[dname] = {"bound": bound, "steps": sorted({r["steps"] for r in mine}),
                      "worst_max_abs": worst,
                      "within_bound": sorted(m for m, v in worst.items() if v <= bound),
                      "over_bound": sorted(m for m, v in worst.items() if v > bound)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 pictures of 8 px, 10 steps, 3 samplers, float32 and float64")
    ap.add_argument("--size", type=int, default=16, help="picture side in px")
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    ap.add_argument("--bf16-steps", type=int, nargs="*", default=None,
                    help="bfloat16 step counts (default: --steps)")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64", "bfloat16"],
                    choices=list(BOUNDS))
    ap.add_argument("--samplers", nargs="+", default=None, choices=reversible_names())
    ap.add_argument("--baselines", nargs="*", default=list(BASELINE_METHODS),
                    choices=list(BASELINE_METHODS), help="baselines (default: all; none: skip)")
    ap.add_argument("--no-compensated", action="store_true",
                    help="reversible samplers with plain float64 sums (compensated=False)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = PICTURES[:2] if args.quick else PICTURES
    size = 8 if args.quick else args.size
    steps = [10] if args.quick else args.steps
    dtypes = ["float32", "float64"] if args.quick else args.dtypes
    samplers = args.samplers or (["rex_euler", "rev_heun_sde", "rex_em"] if args.quick
                                 else reversible_names())
    if REFERENCE not in samplers:
        samplers = [REFERENCE, *samplers]
    if min(steps) < 2:
        ap.error("steps must be >= 2")
    steps_for = {d: (steps if d != "bfloat16" or args.quick or args.bf16_steps is None
                     else list(args.bf16_steps)) for d in dtypes}
    t0 = time.perf_counter()
    x0 = pictures(names, size)
    rows = run(x0, samplers, steps_for, dtypes, REFERENCE,
               lambda s: print(s, file=sys.stderr, flush=True), tuple(args.baselines),
               {"compensated": False} if args.no_compensated else None)
    rec = load_record("small-unet")
    doc = {
        "benchmark": "inversion",
        "quick": args.quick,
        "model": {"name": "small-unet", "schedule": rec["schedule"]["type"],
                  "weights_sha256": rec.get("weights_sha256"),
                  "parameters": sum(v.numel() for v in rec["state_dict"].values())},
        "pictures": list(names),
        "picture_shape": list(x0.shape[1:]),
        "grid": "uniform_lambda",
        "compensated": not args.no_compensated,
        "steps": steps_for,
        "reference": REFERENCE,
        "bounds": BOUNDS,
        "summary": summary(rows),
        "rows": rows,
        "anchor_sd15_fp32": ANCHOR,
        "anchor_note": "docs/mathematics.md §5: Stable Diffusion 1.5 latents (4x64x64), fp32 "
                       "state; ours: "
                       "RGB pixels, the shipped small model, float64 state",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "platform": platform.platform()},
        "seconds": time.perf_counter() - t0,
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
