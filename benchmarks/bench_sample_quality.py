"""Sample quality of every registry sampler at equal NFE.

Prints one JSON document.  For a 2-D and a 16-D Gaussian mixture
(:class:`revsde.diffusion.GaussianMixtureOracle`, VPLinear schedule, float64,
noise-prediction oracle) every fixed-step sampler of :func:`revsde.diffusion.list_samplers`
(default options; plus the noise-prediction case of the Rex ODE samplers; an adaptive
sampler picks its own steps, so it has no place at equal NFE)
starts from the *same* exact samples of the noised marginal at ``t_max`` and
runs to ``t_min`` on each time grid (uniform in λ, uniform in t, Karras).  The
metric is the sliced Wasserstein-2 distance to independent exact samples of the
marginal at ``t_min``:

    SW2² = mean over unit directions θ of W2²(θ·X, θ·Y), W2² of two sorted
    equal-size 1-D samples = mean((sort a - sort b)²),

with the same random directions for every sampler.  ``floor_sw2`` is SW2
between two independent exact sample sets: the sampling noise of the metric.
Everything is repeated for several seeds (new start samples, references,
directions and Brownian paths) and SW2 is averaged over them (``summary``;
``results`` has every single run).

NFE budgets 10, 20, 50: ``steps = (budget - init_nfe) // nfe_per_step``
(Reversible Heun, plain or with exponential weights, spends one evaluation to
start), skipped when 0; ``nfe`` is counted by wrapping the network.  Per NFE
and problem, ``target`` checks "best reversible sampler of the registry within
10% of DPM-Solver++(2M)": each on its best grid (lowest mean SW2; the grid is a
sampler setting, and DPM-Solver++(2M)'s best here is uniform λ, the one its
authors recommend), ``best_reversible_sw2 <= 1.1 * dpmpp_2m_sw2``, with the
ratio per seed; ``same_grid`` gives the comparison on each single grid.  The
exact-inversion baselines are reported (``ratio_incl_baselines``) but do not
count; the ``rev_heun`` entry lists every Reversible Heun sampler
(``rev_heun*``) on every grid with its ratio to DPM-Solver++(2M).

    python benchmarks/bench_sample_quality.py [--quick] [--samples N] [--projections P]
        [--nfe 10 20 50] [--seeds 0 1 2] [--grids ...] [--samplers NAME ...] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

import torch

from revsde.diffusion import (
    DiffusionModel,
    GaussianMixtureOracle,
    VPLinear,
    baselines,
    get_sampler,
    list_samplers,
    time_grid,
)

F64 = torch.float64
GRIDS = ("uniform_lambda", "uniform_t", "karras")


class CountingNet:
    """Wraps an oracle and counts network evaluations."""

    def __init__(self, oracle):
        self.oracle, self.calls = oracle, 0

    def __call__(self, x, t, **cond):
        self.calls += 1
        return self.oracle(x, t)


def problems(schedule):
    """The two mixtures: 8 modes on a ring (2-D) and 6 random modes (16-D)."""
    ang = torch.arange(8, dtype=F64) * (2 * math.pi / 8)
    ring = 2.0 * torch.stack([ang.cos(), ang.sin()], 1)
    g = torch.Generator().manual_seed(16)
    means16 = 1.5 * torch.randn(6, 16, generator=g, dtype=F64)
    return {
        "mixture_2d": GaussianMixtureOracle(torch.ones(8), ring, 0.25, schedule, "eps"),
        "mixture_16d": GaussianMixtureOracle(torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0, 2.0]),
                                             means16, [0.3, 0.5, 0.4, 0.6, 0.35, 0.45],
                                             schedule, "eps"),
    }


def sliced_w2(a: torch.Tensor, b: torch.Tensor, dirs: torch.Tensor) -> float:
    pa = (a @ dirs.T).sort(0).values
    pb = (b @ dirs.T).sort(0).values
    return float((pa - pb).pow(2).mean().sqrt())


def configurations(only=None):
    """(label, registry name, options) for every fixed-step sampler, default options first.

    An adaptive sampler picks its own steps (its NFE is not the budget's: ~20x at 10 NFE),
    so it has no place at equal NFE: ``benchmarks/bench_adaptive.py`` compares it at
    equal error.
    """
    fixed = [e for e in list_samplers() if not e.get("adaptive")]
    out = []
    for e in fixed:
        out.append((e["name"], e["name"], {}))
    for e in fixed:
        if e["reversible"] and not e["stochastic"] and e["case"] != "ode_eps":
            out.append((f"{e['name']}[ode_eps]", e["name"], {"case": "ode_eps"}))
    if only:
        out = [c for c in out if c[0] in only]
    return out


def _draw(oracle, schedule, n, n_proj, seed):
    """Start samples, two independent reference sets and the projection directions."""
    d = oracle.event_shape[0]
    x_T = oracle.sample(n, torch.Generator().manual_seed(seed), t=schedule.t_max)
    ref = oracle.sample(n, torch.Generator().manual_seed(seed + 1), t=schedule.t_min)
    ref2 = oracle.sample(n, torch.Generator().manual_seed(seed + 2), t=schedule.t_min)
    dirs = torch.randn(n_proj, d, generator=torch.Generator().manual_seed(seed + 3), dtype=F64)
    return x_T, ref, ref2, dirs / dirs.norm(dim=1, keepdim=True)


def _runs(oracle, schedule, budgets, grids, seed, x_T, ref, dirs, only):
    """One row per (sampler, NFE budget, grid) for one seed."""
    rows = []

    def finish(row, x0, calls):
        finite = bool(torch.isfinite(x0).all())
        row.update(skipped=False, nfe=calls, finite=finite,
                   sw2=sliced_w2(x0, ref, dirs) if finite else None)
        rows.append(row)

    for label, sampler, opts in configurations(only):
        s = get_sampler(sampler, **opts)
        info = s.info()
        for budget in budgets:
            steps = (budget - info["init_nfe"]) // info["nfe_per_step"]
            for grid in grids:
                row = {"sampler": label, "name": sampler, "case": info["case"],
                       "reversible": info["reversible"], "stochastic": info["stochastic"],
                       "nfe_budget": budget, "grid": grid, "seed": seed, "steps": steps}
                if steps < 1:
                    row.update(skipped=True, sw2=None, nfe=0)
                    rows.append(row)
                    continue
                net = CountingNet(oracle)
                model = DiffusionModel(net, schedule, "eps")
                with torch.no_grad():
                    x0 = s.sample(model, x_T, time_grid(schedule, steps, grid), seed=seed + 4)
                finish(row, x0, net.calls)
    # The exact-inversion baselines are reversible samplers too (1 NFE per step, EDICT 2).
    for method, per_step in (("bdia", 1), ("obelm", 1), ("edict", 2)):
        if only and method not in only:
            continue
        for budget in budgets:
            for grid in grids:
                steps = budget // per_step
                net = CountingNet(oracle)
                model = DiffusionModel(net, schedule, "eps")
                with torch.no_grad():
                    x0 = baselines.generate(model, x_T, method,
                                            ts=time_grid(schedule, steps, grid))
                finish({"sampler": method, "name": method, "case": None, "reversible": True,
                        "stochastic": False, "baseline": True, "nfe_budget": budget,
                        "grid": grid, "seed": seed, "steps": steps}, x0, net.calls)
    return rows


def aggregate(rows, seeds):
    """Mean SW2 over the seeds per (sampler, budget, grid); None if any seed failed."""
    groups = {}
    for r in rows:
        if r["skipped"]:
            continue
        groups.setdefault((r["sampler"], r["nfe_budget"], r["grid"]), []).append(r)
    out = []
    for (label, budget, grid), rs in groups.items():
        per_seed = {r["seed"]: r["sw2"] for r in rs}
        ok = len(per_seed) == len(seeds) and all(v is not None for v in per_seed.values())
        first = rs[0]
        out.append({"sampler": label, "nfe_budget": budget, "grid": grid,
                    "reversible": first["reversible"], "baseline": bool(first.get("baseline")),
                    "steps": first["steps"], "nfe": first["nfe"],
                    "sw2": sum(per_seed.values()) / len(per_seed) if ok else None,
                    "sw2_per_seed": [per_seed.get(s) for s in seeds]})
    return out


def _ratio_per_seed(a, b):
    return [None if x is None or y is None else x / y
            for x, y in zip(a["sw2_per_seed"], b["sw2_per_seed"])]


def targets(summary, budgets, grids):
    """Per NFE: the best registry reversible sampler against DPM-Solver++(2M).

    Each is taken on its best grid (lowest mean SW2 over the seeds); the same
    comparison on each single grid is reported too.
    """
    target = {}
    for budget in budgets:
        at = [r for r in summary if r["nfe_budget"] == budget and r["sw2"] is not None]
        base = [r for r in at if r["sampler"] == "dpmpp_2m"]
        rev = [r for r in at if r["reversible"] and not r["baseline"]]
        if not base or not rev:
            continue
        b = min(base, key=lambda r: r["sw2"])
        best = min(rev, key=lambda r: r["sw2"])
        best_any = min((r for r in at if r["reversible"]), key=lambda r: r["sw2"])
        per_grid = {}
        for grid in grids:
            bg = next((r for r in base if r["grid"] == grid), None)
            rg = [r for r in rev if r["grid"] == grid]
            if bg is not None and rg:
                bst = min(rg, key=lambda r: r["sw2"])
                per_grid[grid] = {"dpmpp_2m_sw2": bg["sw2"], "best_reversible": bst["sampler"],
                                  "best_reversible_sw2": bst["sw2"],
                                  "ratio": bst["sw2"] / bg["sw2"]}
        rh = [r for r in rev if r["sampler"].startswith("rev_heun")]
        target[str(budget)] = {
            "dpmpp_2m_sw2": b["sw2"],
            "dpmpp_2m_grid": b["grid"],
            "best_reversible": best["sampler"],
            "best_reversible_grid": best["grid"],
            "best_reversible_sw2": best["sw2"],
            "ratio": best["sw2"] / b["sw2"],
            "ratio_per_seed": _ratio_per_seed(best, b),
            "within_10pct": bool(best["sw2"] <= 1.1 * b["sw2"]),
            "best_reversible_incl_baselines": f"{best_any['sampler']} ({best_any['grid']})",
            "ratio_incl_baselines": best_any["sw2"] / b["sw2"],
            "same_grid": per_grid,
            "rev_heun": {f"{r['sampler']} ({r['grid']})": {
                "sw2": r["sw2"], "steps": r["steps"], "nfe": r["nfe"],
                "ratio_to_dpmpp_2m": r["sw2"] / b["sw2"]} for r in rh},
        }
    return target


def run_problem(name, oracle, schedule, budgets, n, n_proj, seeds, grids, only=None):
    t0 = time.perf_counter()
    rows, floors = [], []
    for seed in seeds:
        x_T, ref, ref2, dirs = _draw(oracle, schedule, n, n_proj, seed)
        floors.append(sliced_w2(ref2, ref, dirs))
        rows += _runs(oracle, schedule, budgets, grids, seed, x_T, ref, dirs, only)
    summary = aggregate(rows, seeds)
    return {
        "dim": oracle.event_shape[0],
        "components": int(oracle.means.shape[0]),
        "floor_sw2": sum(floors) / len(floors),
        "summary": summary,
        "results": rows,
        "target": targets(summary, budgets, grids),
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--projections", type=int, default=None)
    ap.add_argument("--nfe", type=int, nargs="+", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="independent repetitions (start samples, references, directions, "
                         "Brownian paths); SW2 is averaged over them (default 0 1 2)")
    ap.add_argument("--grids", nargs="+", default=None, choices=GRIDS,
                    help=f"time grids to run every sampler on (default: all of {GRIDS})")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: the batches are small enough that "
                         "more threads mostly add contention)")
    ap.add_argument("--samplers", nargs="+", default=None,
                    help="only these samplers (registry names or labels such as "
                         "'rex_rk4[ode_eps]'); default: all")
    args = ap.parse_args(argv)
    n = args.samples or (1000 if args.quick else 10000)
    n_proj = args.projections or (32 if args.quick else 256)
    budgets = args.nfe or ([10, 20] if args.quick else [10, 20, 50])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    grids = args.grids or (["uniform_lambda"] if args.quick else list(GRIDS))
    torch.set_num_threads(args.threads)
    schedule = VPLinear()
    t0 = time.perf_counter()
    out = {
        "benchmark": "sample_quality",
        "metric": "sliced Wasserstein-2 distance to exact samples at t_min",
        "schedule": schedule.to_dict(),
        "grids": grids,
        "seeds": seeds,
        "dtype": "float64",
        "samples": n,
        "projections": n_proj,
        "nfe_budgets": budgets,
        "quick": bool(args.quick),
        "samplers": args.samplers or "all",
        "torch": torch.__version__,
        "threads": args.threads,
        "problems": {},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, oracle in problems(schedule).items():
            out["problems"][name] = run_problem(name, oracle, schedule, budgets, n, n_proj,
                                                seeds, grids, args.samplers)
    out["target_met"] = {name: {b: v["within_10pct"] for b, v in p["target"].items()}
                         for name, p in out["problems"].items()}
    out["seconds"] = time.perf_counter() - t0
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
