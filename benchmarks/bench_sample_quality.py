"""Sample quality of every registry sampler at equal NFE (issue #4).

Prints one JSON document.  For a 2-D and a 16-D Gaussian mixture
(:class:`revsde.diffusion.GaussianMixtureOracle`, VPLinear schedule, float64,
noise-prediction oracle) every sampler of :func:`revsde.diffusion.list_samplers`
(default options; plus the noise-prediction case of the Rex ODE samplers)
starts from the *same* exact samples of the noised marginal at ``t_max`` and
runs to ``t_min`` on a uniform-λ grid.  The metric is the sliced
Wasserstein-2 distance to independent exact samples of the marginal at
``t_min``:

    SW2² = mean over unit directions θ of W2²(θ·X, θ·Y), W2² of two sorted
    equal-size 1-D samples = mean((sort a - sort b)²),

with the same random directions for every sampler.  ``floor_sw2`` is SW2
between two independent exact sample sets: the sampling noise of the metric.

NFE budgets 10, 20, 50: ``steps = (budget - init_nfe) // nfe_per_step``
(Reversible Heun spends one evaluation to start), skipped when 0; ``nfe`` is
counted by wrapping the network.  Per NFE and problem, ``target`` checks
"best reversible sampler within 10% of DPM-Solver++(2M)":
``best_reversible_sw2 <= 1.1 * dpmpp_2m_sw2``.

    python benchmarks/bench_sample_quality.py [--quick] [--samples N] [--projections P]
        [--nfe 10 20 50] [--samplers NAME ...] [--threads T]
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
GRID = "uniform_lambda"


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
    """(label, registry name, options) for every sampler, default options first."""
    out = []
    for e in list_samplers():
        out.append((e["name"], e["name"], {}))
    for e in list_samplers():
        if e["reversible"] and not e["stochastic"] and e["case"] != "ode_eps":
            out.append((f"{e['name']}[ode_eps]", e["name"], {"case": "ode_eps"}))
    if only:
        out = [c for c in out if c[0] in only]
    return out


def run_problem(name, oracle, schedule, budgets, n, n_proj, seed, only=None):
    t0 = time.perf_counter()
    d = oracle.event_shape[0]
    x_T = oracle.sample(n, torch.Generator().manual_seed(seed), t=schedule.t_max)
    ref = oracle.sample(n, torch.Generator().manual_seed(seed + 1), t=schedule.t_min)
    ref2 = oracle.sample(n, torch.Generator().manual_seed(seed + 2), t=schedule.t_min)
    dirs = torch.randn(n_proj, d, generator=torch.Generator().manual_seed(seed + 3), dtype=F64)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    rows = []
    for label, sampler, opts in configurations(only):
        s = get_sampler(sampler, **opts)
        info = s.info()
        for budget in budgets:
            steps = (budget - info["init_nfe"]) // info["nfe_per_step"]
            row = {"sampler": label, "name": sampler, "case": info["case"],
                   "reversible": info["reversible"], "stochastic": info["stochastic"],
                   "nfe_budget": budget, "steps": steps}
            if steps < 1:
                row.update(skipped=True, sw2=None, nfe=0)
                rows.append(row)
                continue
            net = CountingNet(oracle)
            model = DiffusionModel(net, schedule, "eps")
            ts = time_grid(schedule, steps, GRID)
            with torch.no_grad():
                x0 = s.sample(model, x_T, ts, seed=seed + 4)
            finite = bool(torch.isfinite(x0).all())
            row.update(skipped=False, nfe=net.calls, finite=finite,
                       sw2=sliced_w2(x0, ref, dirs) if finite else None)
            rows.append(row)
    # The exact-inversion baselines are reversible samplers too (1 NFE per step, EDICT 2).
    for method, per_step in (("bdia", 1), ("obelm", 1), ("edict", 2)):
        if only and method not in only:
            continue
        for budget in budgets:
            steps = budget // per_step
            net = CountingNet(oracle)
            model = DiffusionModel(net, schedule, "eps")
            ts = time_grid(schedule, steps, GRID)
            with torch.no_grad():
                x0 = baselines.generate(model, x_T, method, ts=ts)
            finite = bool(torch.isfinite(x0).all())
            rows.append({"sampler": method, "name": method, "case": None, "reversible": True,
                         "stochastic": False, "baseline": True, "nfe_budget": budget,
                         "steps": steps, "skipped": False, "nfe": net.calls, "finite": finite,
                         "sw2": sliced_w2(x0, ref, dirs) if finite else None})
    target = {}
    for budget in budgets:
        at = [r for r in rows if r["nfe_budget"] == budget and r["sw2"] is not None]
        base = next((r for r in at if r["sampler"] == "dpmpp_2m"), None)
        rev = [r for r in at if r["reversible"] and not r.get("baseline")]
        if base is None or not rev:
            continue
        best = min(rev, key=lambda r: r["sw2"])
        everything = [r for r in at if r["reversible"]]
        best_any = min(everything, key=lambda r: r["sw2"])
        rh = [r for r in rev if r["name"] in ("rev_heun", "rev_heun_sde")]
        target[str(budget)] = {
            "dpmpp_2m_sw2": base["sw2"],
            "best_reversible": best["sampler"],
            "best_reversible_sw2": best["sw2"],
            "ratio": best["sw2"] / base["sw2"],
            "within_10pct": bool(best["sw2"] <= 1.1 * base["sw2"]),
            "best_reversible_incl_baselines": best_any["sampler"],
            "ratio_incl_baselines": best_any["sw2"] / base["sw2"],
            "rev_heun": {r["sampler"]: {"sw2": r["sw2"], "steps": r["steps"], "nfe": r["nfe"],
                                        "ratio_to_dpmpp_2m": r["sw2"] / base["sw2"]}
                         for r in rh},
        }
    return {
        "dim": d,
        "components": int(oracle.means.shape[0]),
        "floor_sw2": sliced_w2(ref2, ref, dirs),
        "results": rows,
        "target": target,
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--projections", type=int, default=None)
    ap.add_argument("--nfe", type=int, nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
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
    torch.set_num_threads(args.threads)
    schedule = VPLinear()
    t0 = time.perf_counter()
    out = {
        "benchmark": "sample_quality",
        "metric": "sliced Wasserstein-2 distance to exact samples at t_min",
        "schedule": schedule.to_dict(),
        "grid": GRID,
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
                                                args.seed, args.samplers)
    out["target_met"] = {name: {b: v["within_10pct"] for b, v in p["target"].items()}
                         for name, p in out["problems"].items()}
    out["seconds"] = time.perf_counter() - t0
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
