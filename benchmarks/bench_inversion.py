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

**Fidelity table** (``fidelity``; ``--fidelity-only`` runs it alone): is the latent the
picture's true noise?  Every reversible sampler in every lifted case it takes, and
DDIM inversion, EDICT, BDIA and O-BELM, encode the batch at budgets of 10, 20 and 50
network evaluations (``--budgets``).  **A budget counts the encode only** (data to
noise: the cost of the latent; an exact method's decode costs about as much again):
each method runs the most steps whose encode costs at most the budget (at least 2; a
method whose 2 steps cost more is left out of that budget).  The network runs in
float32 (``revsde invert``'s default), the state in float64.  Per row: the latent's max
abs and RMS distance to a converged reference encoding, per picture and worst; its std
and normality (``revsde.diffusion.inversion.fidelity.latent_statistics``); the round-trip
error; and the decode-from-reference error (the reference latent generated back by the
same method).  The reference is DDIM inversion with a float64 network and state at
``N`` and ``2N`` steps, Richardson-extrapolated (``--reference-steps N``, default 2000:
1000, 2000 and 4000 steps are run); ``reference.convergence`` gives the differences
between those levels.  ``fidelity.summary`` gives, per budget, the best exact method
(round trip within the float32 bound), DDIM inversion and encode's default, with the
default's ratio to the best.

    python benchmarks/bench_inversion.py [--quick] [--size 16] [--threads 1]
    python benchmarks/bench_inversion.py --fidelity-only
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings

import torch

from revsde.app.demo import (
    BASELINE_METHODS,
    equal_nfe_steps,
    pretrained_schedule,
    roundtrip,
    roundtrip_nfe,
)
from revsde.app.images import picture_tensor, read_picture
from revsde.diffusion import decode, encode
from revsde.diffusion.inversion import fidelity
from revsde.diffusion.inversion.encode import DEFAULT_SAMPLER
from revsde.diffusion.models import DiffusionModel
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


#: the fidelity table's budgets: network evaluations of the encode
BUDGETS = (10, 20, 50)
#: the reference's Richardson levels N, 2N (and N/2 for its error estimate)
REFERENCE_STEPS = 2000
#: the default of encode, as a fidelity row names it
DEFAULT = (DEFAULT_SAMPLER, SAMPLERS.get(DEFAULT_SAMPLER).options["case"])


def encode_nfe(method: str, steps: int, case: str | None = None, schedule=None) -> int:
    """Network evaluations of ``method``'s encode at ``steps`` (counted with a network
    that returns zeros on a 4-pixel input: the count depends on neither)."""
    calls = [0]

    def net(x, t, **cond):
        calls[0] += 1
        return torch.zeros_like(x)

    model = DiffusionModel(net, schedule if schedule is not None else pretrained_schedule())
    opts = {} if case is None else {"case": case}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encode(model, torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64), steps=steps,
               sampler=method, seed=0, **opts)
    return calls[0]


def steps_at_budget(method: str, budget: int, case: str | None = None,
                    schedule=None) -> int | None:
    """The most steps (>= 2) whose encode costs at most ``budget`` network evaluations;
    ``None`` when 2 steps cost more.  An encode's NFE is affine in the steps."""
    schedule = schedule if schedule is not None else pretrained_schedule()
    a, b = (encode_nfe(method, n, case, schedule) for n in (2, 3))
    if a > budget:
        return None
    return 2 + (budget - a) // (b - a)


def fidelity_methods() -> list[tuple[str, str | None]]:
    """Every reversible sampler on a fixed grid in every lifted case it takes, then the
    baselines (an adaptive sampler picks its own steps, so it has no place at a budget:
    ``benchmarks/bench_adaptive.py`` compares it at equal error)."""
    out: list[tuple[str, str | None]] = []
    for name in reversible_names():
        if SAMPLERS.get(name).adaptive:
            continue
        out += [(name, c) for c in SAMPLERS.get(name).info()["cases"]]
    return out + [(b, None) for b in BASELINE_METHODS]


def fidelity_row(model, x0, reference, method, case, steps, budget,
                 reproducible: bool = True) -> dict:
    """One fidelity row: encode at ``steps``, the latent against the reference, the round
    trip and the decode-from-reference (``reproducible``: encode's mode)."""
    opts = {} if case is None else {"case": case}
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sde_eps warns that it is unstable: measured here
        lat = encode(model, x0, steps=steps, sampler=method, seed=0, check_range=False,
                     reproducible=reproducible, **opts)
        back = decode(model, lat)
        sec = time.perf_counter() - t0
        fid = fidelity.measure(model, lat, reference)
        rev = method in reversible_names()
        stochastic = bool(rev and SAMPLERS.get(method, **opts).stochastic)
    rt = (back.to(torch.float64) - x0).abs()
    return {"method": method, "case": case, "reversible_sampler": rev,
            "stochastic": stochastic,
            "budget": budget, "steps": steps, "encode_nfe": int(lat.nfe),
            "roundtrip_max_abs": float(rt.max()),
            "exact": bool(float(rt.max()) <= BOUNDS["float32"]),
            "seconds": sec, **fid}


def reference_for(x0, steps: int, log) -> tuple[fidelity.Reference, dict]:
    """The converged reference (float64 network and state) and its convergence record:
    the differences between DDIM at N/2, N, 2N and between the extrapolations."""
    model = pretrained("small-unet", dtype=torch.float64)
    t0 = time.perf_counter()
    ref = fidelity.reference_encoding(model, x0, steps, keep_levels=True)
    lv = ref.levels

    def diff(a, b):
        d = (a - b).abs()
        return {"max_abs": float(d.max()), "rms": float(d.pow(2).mean().sqrt())}

    n = steps
    conv = {f"ddim_{n // 2}_vs_{n}": diff(lv[n // 2], lv[n]),
            f"ddim_{n}_vs_{2 * n}": diff(lv[n], lv[2 * n]),
            f"richardson_{n // 2}_{n}_vs_{n}_{2 * n}": diff(2 * lv[n] - lv[n // 2], ref.x_T)}
    log(f"reference: {time.perf_counter() - t0:.1f}s")
    return ref, {**ref.summary(), "network_dtype": "float64", "convergence": conv}


def fidelity_summary(rows) -> dict:
    """Per budget: the best exact method, DDIM inversion and the default, with ratios."""
    out = {}
    for budget in sorted({r["budget"] for r in rows}):
        mine = [r for r in rows if r["budget"] == budget]
        exact = [r for r in mine if r["exact"]]
        best = min(exact, key=lambda r: r["latent_max_abs"])
        best_rms = min(exact, key=lambda r: r["latent_rms"])
        ddim = next(r for r in mine if r["method"] == "ddim")
        default = next((r for r in mine if (r["method"], r["case"]) == DEFAULT), None)
        entry = {"best_exact": {k: best[k] for k in ("method", "case", "steps", "encode_nfe",
                                                     "latent_max_abs", "latent_rms")},
                 "best_exact_rms": {k: best_rms[k] for k in ("method", "case", "latent_rms")},
                 "ddim": {k: ddim[k] for k in ("steps", "encode_nfe", "latent_max_abs",
                                               "latent_rms")}}
        if default is not None:
            entry["default"] = {k: default[k] for k in ("method", "case", "steps", "encode_nfe",
                                                        "latent_max_abs", "latent_rms",
                                                        "regen_max_abs", "exact")}
            entry["default_over_best_max_abs"] = default["latent_max_abs"] / best["latent_max_abs"]
            entry["default_over_best_rms"] = default["latent_rms"] / best_rms["latent_rms"]
            entry["default_over_ddim_max_abs"] = default["latent_max_abs"] / ddim["latent_max_abs"]
        out[str(budget)] = entry
    return out


def fidelity_table(x0, budgets, methods, reference_steps, log) -> dict:
    """The fidelity section: the reference and its convergence, the rows, the summary."""
    ref, record = reference_for(x0, reference_steps, log)
    model = pretrained("small-unet", dtype=torch.float32)
    schedule = model.schedule
    rows = []
    for budget in budgets:
        for method, case in methods:
            n = steps_at_budget(method, budget, case, schedule)
            if n is not None:
                rows.append(fidelity_row(model, x0, ref, method, case, n, budget))
        log(f"fidelity at {budget} NFE done")
    return {"budget_counts": "network evaluations of the encode (data to noise)",
            "network_dtype": "float32", "state_dtype": "float64",
            "default": {"sampler": DEFAULT[0], "case": DEFAULT[1]},
            "reference": record, "rows": rows, "summary": fidelity_summary(rows)}


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
    ap.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS),
                    help="fidelity table: encode network evaluations (default 10 20 50)")
    ap.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS,
                    help="fidelity table: the reference's Richardson levels N and 2N")
    ap.add_argument("--fidelity-only", action="store_true",
                    help="only the fidelity table (no round-trip sweep)")
    args = ap.parse_args(argv)
    if args.reference_steps < 4 or min(args.budgets) < 1:
        ap.error("--reference-steps must be >= 4 and --budgets positive")
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
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    rows = [] if args.fidelity_only else run(
        x0, samplers, steps_for, dtypes, REFERENCE, log, tuple(args.baselines),
        {"compensated": False} if args.no_compensated else None)
    if args.quick:  # the default, the old default, DDIM inversion and EDICT, at 10 NFE
        methods = [DEFAULT, ("rex_euler", "ode_x0"), ("ddim", None), ("edict", None)]
        fid = fidelity_table(x0, [10], methods, 16, log)
    else:
        fid = fidelity_table(x0, args.budgets, fidelity_methods(), args.reference_steps, log)
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
        "summary": summary(rows) if rows else None,
        "rows": rows,
        "fidelity": fid,
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
