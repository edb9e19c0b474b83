"""Regenerate the sample-quality, inversion and lifted-case numbers of the docs from saved data.

    python docs/scripts/gen_quality.py                   # re-measure the lifted-case table
                                                         # (a few seconds) and rewrite every
                                                         # block below from the saved JSON
    python docs/scripts/gen_quality.py --sample-quality  # also rerun
                                                         # benchmarks/bench_sample_quality.py
                                                         # with SAMPLE_QUALITY_ARGS (~15-20
                                                         # min of one core)
    python docs/scripts/gen_quality.py --inversion       # also rerun the inversion sweep
                                                         # (~20 min of one core)
    python docs/scripts/gen_quality.py --render          # only rewrite the blocks
    python docs/scripts/gen_quality.py --check           # compare a fresh run of the checked
                                                         # subsets with the JSON (what
                                                         # tests/test_docs_quality.py does)

What it owns:

* ``docs/data/sample_quality.json``: ``benchmarks/bench_sample_quality.py`` with
  :data:`SAMPLE_QUALITY_ARGS`, without its run times but the total; and
  ``docs/benchmarks.md``'s section on it (``<!-- quality:sample -->``), and the sentence
  of ``docs/diffusion.md`` on the noise-prediction Rex samplers at few steps
  (``<!-- quality:ode-eps -->``), rendered from it;
* ``docs/data/inversion_sweep.json``: the round trips of every fixed-step reversible
  sampler on the shipped model (``benchmarks/bench_inversion.py``'s pictures and its
  ``run``, no baselines), at :data:`SWEEP_STEPS` steps with the network in each of
  :data:`SWEEP_DTYPES`, with ``encode``'s compensated state and with plain float64
  sums; and ``docs/benchmarks.md``'s inversion bullets (``<!-- quality:inversion -->``),
  rendered from it, from ``docs/data/inversion.json`` (the baselines, written by
  ``docs/scripts/gen_figures.py --inversion``) and from the benchmark's published
  anchor (``ANCHOR``);
* ``docs/data/lifted_case.json`` and ``docs/diffusion.md``'s table of the two lifted
  cases on a 2-D Gaussian mixture (``<!-- lifted-case -->``): round trip (plain sums)
  in float64 and float32 and the latent std, per (sampler, steps, case) of
  :data:`LIFTED_ROWS`.

Tolerances of a fresh run (``--check``):

* sample quality (:data:`SQ_CHECK`): the per-seed SW2 of the checked rows, and the
  noise floor, within :data:`SQ_REL` (1 %) of the saved ones.  The run is seeded, so
  a fresh one differs in round-off only; 1 % is below the table's last digit (SW2 to
  three significant figures) for every figure the page quotes;
* inversion sweep (:data:`SWEEP_CHECK`, on the first :data:`SWEEP_CHECK_PICTURES`
  pictures): each picture's max abs round-trip error within a factor
  :data:`FACTOR` of the saved one, or both below :data:`FLOOR` ulps of float64
  (round-off-level numbers differ between machines by a few ulps);
* lifted case (every row): round trips within a factor :data:`FACTOR` or both below
  :data:`FLOOR` ulps of their dtype; the latent std within :data:`STD_REL` (2 %).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path

from revsde.docblocks import read_block, write_block

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
BENCHMARKS_PAGE = DOCS / "benchmarks.md"
DIFFUSION = DOCS / "diffusion.md"
SAMPLE_QUALITY = DOCS / "data" / "sample_quality.json"
SWEEP = DOCS / "data" / "inversion_sweep.json"
INVERSION = DOCS / "data" / "inversion.json"
LIFTED = DOCS / "data" / "lifted_case.json"

#: round-off-level numbers: within this factor, or both below FLOOR ulps of their dtype
FACTOR = 4.0
FLOOR = 4.0
EPS = {"float32": 2.0**-23, "float64": 2.0**-52}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _bench(name: str):
    """A benchmark script of ``benchmarks/`` as a module."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def agrees(saved: float, fresh: float, dtype: str) -> bool:
    """A round-off-level number against a fresh one (see the module docstring)."""
    floor = FLOOR * EPS[dtype]
    if saved <= floor and fresh <= floor:
        return True
    return fresh <= FACTOR * saved and saved <= FACTOR * fresh


def _e(v: float) -> str:
    """A number in the docs' short exponent form (``1.1e-16``)."""
    return f"{v:.1e}"


def _fig2(v: float) -> str:
    """A ratio above 10 to two significant figures (``8400``)."""
    return f"{float(f'{v:.2g}'):.0f}"


def _v(v: float) -> str:
    """An error: two figures, in exponent form below 1e-3."""
    return f"{v:.2g}" if v >= 1e-3 else _e(v)


def quoted(page: Path, tag: str) -> str:
    """The generated block ``tag`` of ``page`` as it stands."""
    return read_block(page, tag)


# -- the inversion sweep: every reversible sampler on the shipped model ------------------------
#: the sweep's step counts and network dtypes (the state is float64)
SWEEP_STEPS = (10, 20)
SWEEP_DTYPES = ("float32", "float64", "bfloat16")
#: the rows a fresh check re-measures at the first step count, on the first pictures:
#: (sampler, state, network dtype)
SWEEP_CHECK = (("rex_euler", "compensated", "float32"), ("rev_heun_sde", "plain", "float64"),
               ("rex_em", "plain", "float64"))
SWEEP_CHECK_PICTURES = 2
STATES = {"compensated": None, "plain": {"compensated": False}}


def sweep_samplers() -> list[str]:
    """Every reversible sampler on a fixed grid (an adaptive one picks its own steps:
    ``benchmarks/bench_adaptive.py``)."""
    from revsde.diffusion.samplers import SAMPLERS, reversible_names

    return [n for n in reversible_names() if not SAMPLERS.get(n).adaptive]


def measure_sweep(samplers=None, steps=SWEEP_STEPS, dtypes=SWEEP_DTYPES, states=tuple(STATES),
                  n_pictures: int | None = None, log=None) -> dict:
    """Round trips of ``samplers`` (default :func:`sweep_samplers`) on the shipped model with
    ``benchmarks/bench_inversion.py``'s pictures and code, per state, network dtype and
    step count (one thread; about 20 min for the defaults)."""
    import torch

    torch.set_num_threads(1)
    bench = _bench("bench_inversion")
    names = list(bench.PICTURES[:n_pictures] if n_pictures else bench.PICTURES)
    x0 = bench.pictures(names, 16)
    samplers = list(samplers or sweep_samplers())
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    rows = []
    for state in states:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = bench.run(x0, samplers, {d: list(steps) for d in dtypes}, list(dtypes),
                            bench.REFERENCE, lambda s, st=state: log(f"{st}: {s}"),
                            baselines=(), options=STATES[state])
        for r in got:
            r.pop("seconds", None)
            r["state"] = state
            if r["method"] in samplers:
                rows.append(r)
    return {"benchmark": "inversion_sweep", "model": "small-unet", "pictures": names,
            "picture_shape": list(x0.shape[1:]), "grid": "uniform_lambda",
            "state_dtype": "float64", "samplers": samplers, "steps": list(steps),
            "dtypes": list(dtypes), "states": list(states), "bounds": bench.BOUNDS,
            "rows": rows}


def sweep_differences(saved: dict, fresh: dict) -> list[str]:
    """Saved rows that a fresh run (on the first pictures) does not reproduce, picture by
    picture (:func:`agrees`, floor at float64's epsilon: the state's)."""
    old = {(r["method"], r["state"], r["network_dtype"], r["steps"]): r for r in saved["rows"]}
    out = []
    for f in fresh["rows"]:
        key = (f["method"], f["state"], f["network_dtype"], f["steps"])
        s = old.get(key)
        if s is None:
            out.append(f"inversion sweep {key}: not in the saved data (regenerate: python "
                       "docs/scripts/gen_quality.py --inversion)")
            continue
        pairs = list(zip(s["max_abs_per_picture"], f["max_abs_per_picture"]))
        if f["nfe"] != s["nfe"] or not all(agrees(a, b, "float64") for a, b in pairs):
            out.append(f"inversion sweep {' '.join(map(str, key))}: saved "
                       f"{[float(f'{a:.2g}') for a, _ in pairs]} ({s['nfe']} NFE), measured "
                       f"{[float(f'{b:.2g}') for _, b in pairs]} ({f['nfe']} NFE) "
                       "(regenerate: python docs/scripts/gen_quality.py --inversion)")
    return out


def measure_sweep_subset(saved: dict) -> dict:
    """:data:`SWEEP_CHECK` afresh at the saved first step count, on the first pictures."""
    n = min(saved["steps"])
    rows = []
    for sampler, state, dtype in SWEEP_CHECK:
        rows += measure_sweep([sampler], (n,), (dtype,), (state,), SWEEP_CHECK_PICTURES,
                              log=lambda s: None)["rows"]
    return {"rows": rows}


# -- docs/diffusion.md: which lifted case, on a 2-D Gaussian mixture ---------------------------
#: the rows of the table: (sampler, steps, case)
LIFTED_ROWS = (("rex_rk4", 10, "ode_eps"), ("rex_rk4", 10, "ode_x0"),
               ("rex_rk4", 50, "ode_eps"), ("rex_rk4", 50, "ode_x0"),
               ("rex_euler", 10, "ode_eps"), ("rex_euler", 10, "ode_x0"),
               ("rex_euler", 50, "ode_x0"),
               ("rev_heun", 10, "ode_eps"), ("rev_heun", 10, "ode_x0"))
LIFTED_SAMPLES = 512
#: a fresh latent std agrees with the saved one within this (the run is seeded and
#: deterministic: only round-off differs; the table prints three figures)
STD_REL = 0.02


def lifted_problem():
    """The 2-D mixture of three Gaussians (VPLinear, noise-prediction oracle; the mixture
    of tests/diffusion_cases.py) and its exact samples at ``t_min``."""
    import torch

    from revsde.diffusion import GaussianMixtureOracle, VPLinear

    schedule = VPLinear()
    means = torch.randn((3, 2), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    oracle = GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.6, 0.5, 0.8], schedule, "eps")
    x0 = oracle.sample(LIFTED_SAMPLES, torch.Generator().manual_seed(0), t=schedule.t_min)
    return oracle, x0


def measure_lifted(rows=LIFTED_ROWS) -> dict:
    """Round trip (``decode(encode(x0))``, plain sums) in float64 and float32 and the
    float64 latent's std, per row, on :func:`lifted_problem` (a few seconds)."""
    import torch

    from revsde.diffusion import decode, encode

    oracle, x0 = lifted_problem()
    model = oracle.model()
    out = []
    for sampler, steps, case in rows:
        trip, std = {}, None
        for dname in ("float64", "float32"):
            x = x0.to(getattr(torch, dname))
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lat = encode(model, x, steps=steps, sampler=sampler, case=case,
                             compensated=False, grid="uniform_lambda")
                back = decode(model, lat)
            trip[dname] = float((back.to(torch.float64) - x.to(torch.float64)).abs().max())
            if dname == "float64":
                std = float(lat.x_T.to(torch.float64).std())
        out.append({"sampler": sampler, "steps": steps, "case": case, "roundtrip": trip,
                    "latent_std": std})
    return {"problem": "2-D mixture of 3 Gaussians (weights 0.2/0.5/0.3, stds 0.6/0.5/0.8, "
                       "means N(0, I) with seed 3), noise-prediction oracle",
            "schedule": "VPLinear", "grid": "uniform_lambda", "samples": LIFTED_SAMPLES,
            "sample_seed": 0, "state": "plain sums (compensated=False), state dtype = x0's",
            "rows": out}


def lifted_table(data: dict) -> str:
    """docs/diffusion.md's table of the two lifted cases on the mixture, and what it says."""
    rows = data["rows"]
    far = max(rows, key=lambda r: abs(r["latent_std"] - 1))
    lines = ["| sampler | steps | case | round trip, float64 | round trip, float32 | latent std |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        std = f"{r['latent_std']:.3g}"
        lines.append(f"| {r['sampler']} | {r['steps']} | {r['case']} | "
                     f"{_e(r['roundtrip']['float64'])} | {_e(r['roundtrip']['float32'])} | "
                     + (f"**{std}**" if r is far else std) + " |")
    by = {(r["sampler"], r["steps"], r["case"]): r for r in rows}
    pairs = [(by[(s, n, "ode_eps")], by[(s, n, "ode_x0")]) for s, n, c in
             dict.fromkeys((s, n, c) for s, n, c in by if c == "ode_eps")
             if (s, n, "ode_x0") in by]
    r64 = [e["roundtrip"]["float64"] / x["roundtrip"]["float64"] for e, x in pairs]
    eps32 = [r["roundtrip"]["float32"] for r in rows if r["case"] == "ode_eps"]
    x032 = [r["roundtrip"]["float32"] for r in rows if r["case"] == "ode_x0"]
    lines += ["", f"({data['samples']} exact samples, {data['schedule']}, uniform-λ grid, "
              "plain sums.)  With the same sampler and steps, noise prediction's float64 "
              f"round trip is {_fig2(min(r64))}–{_fig2(max(r64))}× data prediction's; in "
              f"float32 it reaches {_e(min(eps32))}–{_e(max(eps32))}, against {_e(min(x032))}–"
              f"{_e(max(x032))} in the data-prediction case.  The std farthest from 1 (bold): "
              f"`{far['sampler']}` at {far['steps']} steps in `{far['case']}`.  Written by "
              "`docs/scripts/gen_quality.py` from `docs/data/lifted_case.json`; "
              "`tests/test_docs_quality.py` re-measures every row and checks the round trips "
              f"within a factor of {FACTOR:g} (or both below {FLOOR:g} ulps of their dtype) "
              f"and the std within {STD_REL:.0%}."]
    return "\n".join(lines)


def lifted_differences(saved: dict, fresh: dict) -> list[str]:
    """Saved rows that a fresh measurement does not reproduce within the tolerance."""
    old = {(r["sampler"], r["steps"], r["case"]): r for r in saved["rows"]}
    out = []
    regen = "(regenerate: python docs/scripts/gen_quality.py)"
    for f in fresh["rows"]:
        key = (f["sampler"], f["steps"], f["case"])
        s = old.get(key)
        if s is None:
            out.append(f"lifted case {key}: not in the saved table {regen}")
            continue
        for d in ("float64", "float32"):
            if not agrees(s["roundtrip"][d], f["roundtrip"][d], d):
                out.append(f"lifted case {key} {d}: saved round trip {s['roundtrip'][d]:.2g}, "
                           f"measured {f['roundtrip'][d]:.2g} {regen}")
        if abs(f["latent_std"] - s["latent_std"]) > STD_REL * abs(s["latent_std"]):
            out.append(f"lifted case {key}: saved latent std {s['latent_std']:.4g}, measured "
                       f"{f['latent_std']:.4g} {regen}")
    return out


# -- docs/benchmarks.md: sample quality (benchmarks/bench_sample_quality.py) -------------------
#: the arguments of the saved run: the benchmark's defaults (10,000 samples, 256
#: projections, NFE 10/20/50, seeds 0-2, every grid and fixed-step sampler, one thread)
SAMPLE_QUALITY_ARGS: tuple[str, ...] = ()
#: a fresh per-seed SW2 (or noise floor) agrees with the saved one within this (see above)
SQ_REL = 0.01
#: the fresh check: per problem, at this NFE, the first seed, DPM-Solver++(2M) and the best
#: reversible sampler each on its best grid (a few seconds)
SQ_CHECK_NFE = 10
#: DPM-Solver++(2M) within this factor of the noise floor: "at the floor"
AT_FLOOR = 1.25
PROBLEM_NAMES = {"mixture_2d": "2-D", "mixture_16d": "16-D"}
GRID_NAMES = {"uniform_lambda": "uniform λ", "uniform_t": "uniform t", "karras": "Karras"}


def run_sample_quality() -> dict:
    """``benchmarks/bench_sample_quality.py`` with :data:`SAMPLE_QUALITY_ARGS` (~15-20 min of
    one core), without the per-problem run times."""
    script = ROOT / "benchmarks" / "bench_sample_quality.py"
    done = subprocess.run([sys.executable, str(script), *SAMPLE_QUALITY_ARGS], check=True,
                          capture_output=True, text=True)
    return clean_sample_quality(json.loads(done.stdout))


def clean_sample_quality(doc: dict) -> dict:
    doc["args"] = list(SAMPLE_QUALITY_ARGS)
    for p in doc["problems"].values():
        p.pop("seconds", None)
        p.pop("results", None)  # every run: its SW2 is in the summary's sw2_per_seed
    return doc


def _sw2(v: float | None) -> str:
    if v is None:
        return "diverged"
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def _label(name: str) -> str:
    return f"`{name}`"


def _ratios(vals) -> str:
    return " / ".join("—" if v is None else f"{v:.2f}" for v in vals)


def _best(summary: list[dict], label: str, budget: int) -> dict | None:
    rs = [r for r in summary if r["sampler"] == label and r["nfe_budget"] == budget
          and r["sw2"] is not None]
    return min(rs, key=lambda r: r["sw2"]) if rs else None


def sample_quality_section(doc: dict) -> str:
    """docs/benchmarks.md's section on the sample-quality benchmark, from its saved JSON."""
    probs = doc["problems"]
    budgets = doc["nfe_budgets"]
    names = list(probs)
    short = {n: PROBLEM_NAMES.get(n, n) for n in names}
    points = [(n, b) for n in names for b in budgets]
    dp_grids = sorted({probs[n]["target"][str(b)]["dpmpp_2m_grid"] for n, b in points})
    floors = " and ".join(f"{probs[n]['floor_sw2']:.3g} ({short[n]})" for n in names)
    out = [
        f"Sliced Wasserstein-2 distance to exact samples ({doc['samples']:,} samples, "
        f"{doc['projections']} projections, {doc['dtype']}) on "
        + " and ".join(f"a {probs[n]['dim']}-D ({probs[n]['components']} modes)" for n in names)
        + f" Gaussian mixture, at equal NFE ({', '.join(map(str, budgets))}). Every fixed-step "
        f"sampler (an adaptive one picks its own steps) runs on {len(doc['grids'])} time grids ("
        + ", ".join(GRID_NAMES.get(g, g) for g in doc["grids"])
        + f") and for {len(doc['seeds'])} seed{'s' if len(doc['seeds']) > 1 else ''} "
        f"({', '.join(map(str, doc['seeds']))}: start samples, references, projections and "
        "Brownian paths)" + ("; SW2 is the mean over the seeds. " if len(doc["seeds"]) > 1
                             else ". ")
        + "The target compares each sampler on its best grid (the grid is a sampler setting; "
        f"DPM-Solver++(2M)'s best here is {', '.join(GRID_NAMES.get(g, g) for g in dp_grids)}). "
        f"The noise floor (two exact sample sets) is {floors}. The saved run took "
        f"{doc['seconds'] / 60:.0f} min of wall time with {doc['threads']} thread"
        f"{'s' if doc['threads'] != 1 else ''}.",
        "",
        "| NFE | " + " | ".join(f"{short[n]}: DPM++(2M) | {short[n]}: best reversible (grid, "
                                  "ratio)" for n in names) + " |",
        "|---" * (1 + 2 * len(names)) + "|",
    ]
    for b in budgets:
        cells = []
        for n in names:
            t = probs[n]["target"][str(b)]
            cells += [_sw2(t["dpmpp_2m_sw2"]),
                      f"{_sw2(t['best_reversible_sw2'])} {_label(t['best_reversible'])}, "
                      f"{GRID_NAMES.get(t['best_reversible_grid'])} ({t['ratio']:.2f}×)"]
        out.append(f"| {b} | " + " | ".join(cells) + " |")
    met = [(n, b) for n, b in points if probs[n]["target"][str(b)]["within_10pct"]]
    missed = [f"{short[n]}, {b} NFE" for n, b in points if (n, b) not in met]
    seeds = ", ".join(map(str, doc["seeds"]))
    tg = {(n, b): probs[n]["target"][str(b)] for n, b in points}
    per_seed = "; ".join(
        f"{short[n]}: " + ", ".join(f"{b} NFE {_ratios(tg[(n, b)]['ratio_per_seed'])}"
                                    for b in budgets) for n in names)
    at_floor = [f"{short[n]}, {b} NFE" for n, b in points
                if probs[n]["target"][str(b)]["dpmpp_2m_sw2"] <= AT_FLOOR * probs[n]["floor_sw2"]]
    scatter = [v for n, b in points if f"{short[n]}, {b} NFE" in at_floor
               for v in probs[n]["target"][str(b)]["ratio_per_seed"] if v is not None]
    out += ["", f"- The target (best registry reversible sampler within 10% of "
            f"DPM-Solver++(2M)) holds at {len(met)} of {len(points)} points"
            + (f"; not at {'; '.join(missed)}." if missed else ".")
            + (f" Per seed ({seeds}) the ratios are {per_seed}." if len(doc["seeds"]) > 1
               else "")]
    if at_floor:
        out.append(f"- DPM-Solver++(2M) is within {AT_FLOOR:g}× of the noise floor at "
                   f"{'; '.join(at_floor)}: there the comparison is at the metric's noise"
                   + (f", and the per-seed ratios scatter ({min(scatter):.2f}–"
                      f"{max(scatter):.2f}×)." if len(doc["seeds"]) > 1 else "."))
    worst = max(((n, b, g, v) for n, b in points
                 for g, v in probs[n]["target"][str(b)]["same_grid"].items()),
                key=lambda x: x[3]["ratio"])
    n, b, g, v = worst
    out.append(f"- On one shared grid the margin is thinner: the largest ratio of the best "
               f"reversible sampler to DPM++(2M) on the same grid is {v['ratio']:.2f}× "
               f"({short[n]}, {b} NFE, {GRID_NAMES.get(g, g)}, "
               f"{_label(v['best_reversible'])}).")
    exp_vs_plain = []
    for n in names:
        t = probs[n]["target"][str(budgets[0])]
        fam = {"exp": {k: e for k, e in t["rev_heun"].items() if k.startswith("rev_heun_exp")},
               "plain": {k: e for k, e in t["rev_heun"].items()
                         if not k.startswith("rev_heun_exp")}}
        if fam["exp"] and fam["plain"]:
            (ke, ve), (kp, vp) = (min(fam[f].items(), key=lambda kv: kv[1]["sw2"])
                                  for f in ("exp", "plain"))
            exp_vs_plain.append(f"{short[n]}: {_label(ke.split(' ')[0])} {_sw2(ve['sw2'])} "
                                f"({ve['ratio_to_dpmpp_2m']:.2f}×), plain "
                                f"{_label(kp.split(' ')[0])} {_sw2(vp['sw2'])} "
                                f"({vp['ratio_to_dpmpp_2m']:.2f}×)")
    if exp_vs_plain:
        out.append(f"- Reversible Heun with exponential weights (`rev_heun_exp*`, "
                   f"docs/diffusion.md) against plain Reversible Heun at {budgets[0]} NFE, "
                   f"each on its best grid and case (ratio to DPM++(2M)): "
                   + "; ".join(exp_vs_plain) + ".")
    incl = []
    for n, b in points:
        lab, grid = tg[(n, b)]["best_reversible_incl_baselines"].rstrip(")").split(" (")
        incl.append(f"{short[n]}, {b} NFE: {_label(lab)}, {GRID_NAMES.get(grid, grid)} "
                    f"({tg[(n, b)]['ratio_incl_baselines']:.2f}×)")
    out.append("- The exact-inversion baselines (BDIA, O-BELM, EDICT) run in the same "
               "benchmark but do not count toward the target; counting them, the best "
               f"reversible method is: {'; '.join(incl)}.")
    # every sampler on its best grid
    summary = {n: probs[n]["summary"] for n in names}
    labels = list(dict.fromkeys(r["sampler"] for n in names for r in summary[n]))
    out += ["", "Every sampler on its best grid: mean SW2 (steps); baselines in italics.", "",
            "| sampler | " + " | ".join(f"{short[n]}, {b}" for n, b in points) + " |",
            "|---" * (1 + len(points)) + "|"]
    for lab in labels:
        cells = []
        base = False
        for n, b in points:
            r = _best(summary[n], lab, b)
            anyr = [x for x in summary[n] if x["sampler"] == lab and x["nfe_budget"] == b]
            base = base or any(x["baseline"] for x in anyr)
            cells.append("—" if not anyr else
                         f"{_sw2(r['sw2'])} ({r['steps']})" if r is not None else "diverged")
        name = f"*{lab}*" if base else _label(lab)
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "Written by `docs/scripts/gen_quality.py` from `docs/data/sample_quality.json` "
            "(`python benchmarks/bench_sample_quality.py"
            + "".join(f" {a}" for a in doc.get("args", [])) + "`); `tests/test_docs_quality.py` "
            f"re-runs DPM-Solver++(2M) and the best reversible sampler at {SQ_CHECK_NFE} NFE on "
            f"seed {doc['seeds'][0]} of each problem, and the noise floor, and checks them "
            f"within {SQ_REL:.0%} of the saved per-seed values."]
    return "\n".join(out)


def ode_eps_sentence(doc: dict) -> str:
    """docs/diffusion.md's sentence on the noise-prediction Rex samplers at few steps."""
    rows = [r for p in doc["problems"].values() for r in p["summary"]
            if r["sampler"].startswith("rex_") and r["sampler"].endswith("[ode_eps]")
            and r["steps"] <= 5]
    vals = [r["sw2"] for r in rows if r["sw2"] is not None]
    steps = sorted({r["steps"] for r in rows})
    floor = max(p["floor_sw2"] for p in doc["problems"].values())
    div = len(rows) - len(vals)
    return (f"- **At few steps the noise-prediction case also samples badly.**  With "
            f"{steps[0]}–{steps[-1]} steps the Rex ODE samplers in `ode_eps` reach SW2 "
            f"{_sw2(min(vals))} to {_sw2(max(vals))} (mean over seeds, on both mixtures and "
            f"every grid of the sample-quality benchmark below"
            + (f"; {div} runs not finite" if div else "")
            + f"), against a noise floor of {floor:.2g}.  Written by "
            "`docs/scripts/gen_quality.py` from `docs/data/sample_quality.json`.")


def measure_sample_quality_subset(doc: dict) -> dict:
    """Per problem: the noise floor (every seed's, averaged), and DPM-Solver++(2M) and the
    best reversible sampler at :data:`SQ_CHECK_NFE` NFE on their best grids for the first
    seed, afresh with the benchmark's own code and the saved settings (a few seconds)."""
    import torch

    from revsde.diffusion import VPLinear

    bench = _bench("bench_sample_quality")
    torch.set_num_threads(1)
    schedule = VPLinear()
    seed = doc["seeds"][0]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, oracle in bench.problems(schedule).items():
            t = doc["problems"][name]["target"][str(SQ_CHECK_NFE)]
            floors = []
            for s in doc["seeds"]:
                _, ref, ref2, dirs = bench._draw(oracle, schedule, doc["samples"],
                                                 doc["projections"], s)
                floors.append(bench.sliced_w2(ref2, ref, dirs))
            x_T, ref, _, dirs = bench._draw(oracle, schedule, doc["samples"],
                                            doc["projections"], seed)
            rows = []
            for label, grid in (("dpmpp_2m", t["dpmpp_2m_grid"]),
                                (t["best_reversible"], t["best_reversible_grid"])):
                rows += bench._runs(oracle, schedule, [SQ_CHECK_NFE], [grid], seed, x_T, ref,
                                    dirs, [label])
            out[name] = {"floor_sw2": sum(floors) / len(floors), "rows": rows}
    return out


def sample_quality_differences(doc: dict, fresh: dict) -> list[str]:
    """What the fresh subset does not reproduce within :data:`SQ_REL`."""
    regen = "(regenerate: python docs/scripts/gen_quality.py --sample-quality)"
    out = []
    for name, f in fresh.items():
        p = doc["problems"][name]
        seed = doc["seeds"][0]
        if abs(f["floor_sw2"] - p["floor_sw2"]) > SQ_REL * p["floor_sw2"]:
            out.append(f"{name}: saved noise floor {p['floor_sw2']:.4g}, measured "
                       f"{f['floor_sw2']:.4g} {regen}")
        at = doc["seeds"].index(seed)
        saved = {(r["sampler"], r["nfe_budget"], r["grid"]): r for r in p["summary"]}
        for r in f["rows"]:
            key = (r["sampler"], r["nfe_budget"], r["grid"])
            s = saved.get(key)
            v = None if s is None else s["sw2_per_seed"][at]
            if v is None or r["sw2"] is None or s["steps"] != r["steps"]:
                out.append(f"{name} {key} seed {seed}: saved {v}, measured {r['sw2']} {regen}")
            elif abs(r["sw2"] - v) > SQ_REL * v:
                out.append(f"{name} {key} seed {seed}: saved SW2 {v:.4g}, measured "
                           f"{r['sw2']:.4g} {regen}")
    return out



# -- docs/benchmarks.md: inversion on the shipped model ----------------------------------------
BASELINE_NAMES = {"ddim": "DDIM inversion", "edict": "EDICT", "bdia": "BDIA (γ = 1)",
                  "obelm": "O-BELM"}
ANCHOR_NAMES = {"ddim": "DDIM", "edict": "EDICT", "bdia": "BDIA", "obelm": "O-BELM", "rex": "Rex"}


def _range(vals) -> str:
    lo, hi = min(vals), max(vals)
    return _e(lo) if _e(lo) == _e(hi) else f"{_e(lo)}–{_e(hi)}"


def inversion_section(sweep: dict, inv: dict, anchor: dict) -> str:
    """docs/benchmarks.md's inversion bullets: the sweep of every reversible sampler
    (``inversion_sweep.json``), the baselines (``inversion.json``, float32 network) and the
    published anchor (``bench_inversion.ANCHOR``)."""
    rows = sweep["rows"]
    comp = [r for r in rows if r["state"] == "compensated"]
    plain = [r for r in rows if r["state"] == "plain"]
    dtypes, steps = sweep["dtypes"], sweep["steps"]
    bounds = sweep["bounds"]
    shape = "×".join(str(v) for v in sweep["picture_shape"][1:])
    out = [f"Round trips on the trained shipped model (`{sweep['model']}`, RGB) of "
           f"{len(sweep['pictures'])} photographs at {shape} ({', '.join(sweep['pictures'])}), "
           f"on the `{sweep['grid']}` grid, the reversible state in {sweep['state_dtype']}, "
           f"the network in {', '.join(dtypes)}:", ""]
    worst = {d: max(r["max_abs"] for r in comp if r["network_dtype"] == d) for d in dtypes}
    out.append("- **Every fixed-step reversible sampler** ("
               + ", ".join(_label(s) for s in sweep["samplers"])
               + f") at {', '.join(map(str, steps))} steps, with `encode`'s compensated state: "
               "max abs error " + ", ".join(f"{_e(worst[d])} ({d} network)" for d in dtypes)
               + " over every picture; the bounds were "
               + ", ".join(f"{_e(bounds[d])} ({d})" for d in dtypes) + ".")
    if plain:
        parts = []
        for d in dtypes:
            mine = [r for r in plain if r["network_dtype"] == d]
            sde = [r["max_abs"] for r in mine if r["stochastic"]]
            ode = [r["max_abs"] for r in mine if not r["stochastic"]]
            w = max(mine, key=lambda r: r["max_abs"])
            parts.append(f"{d} network: ODE samplers {_range(ode)}, SDE samplers {_range(sde)} "
                         f"(worst {_label(w['method'])} at {w['steps']} steps)")
        out.append("- With plain float64 sums (`--no-compensated`, the code before the "
                   "compensated state): " + "; ".join(parts) + ".")
    base = [r for r in inv["rows"] if r["network_dtype"] == "float32"
            and r["comparison"] in ("equal_steps", "equal_nfe")]
    ref = [r for r in inv["rows"] if r["network_dtype"] == "float32"
           and r["comparison"] in ("reference", "sampler")]
    bsteps = sorted({r["steps"] for r in base if r["comparison"] == "equal_steps"})
    out += ["- The baselines, float32 network, max abs error (MSE) at equal steps / max abs "
            f"error at the network evaluations of `{inv['reference']}`'s round trip "
            f"(`docs/data/inversion.json`, the table of [Baselines](baselines.md)):", "",
            "| method | " + " | ".join(f"{n} steps" for n in bsteps) + " |",
            "|---" * (1 + len(bsteps)) + "|"]
    # bench_inversion.run writes each baseline's equal-NFE row right after its equal-steps one
    pair = {(a["method"], a["steps"]): (a, b) for a, b in zip(inv["rows"], inv["rows"][1:])
            if a["network_dtype"] == "float32" and a["comparison"] == "equal_steps"
            and b["comparison"] == "equal_nfe" and b["method"] == a["method"]}
    for m in dict.fromkeys(r["method"] for r in base):
        cells = []
        for n in bsteps:
            s, e = pair[(m, n)]
            cells.append(f"{_v(s['max_abs'])} ({_e(s['mse'])}) / {_v(e['max_abs'])}")
        out.append(f"| {BASELINE_NAMES.get(m, m)} | " + " | ".join(cells) + " |")
    for m in dict.fromkeys(r["method"] for r in ref):
        cells = [_e(max(r["max_abs"] for r in ref if r["method"] == m and r["steps"] == n))
                 for n in bsteps]
        out.append(f"| `{m}` | " + " | ".join(cells) + " |")
    n_a = sorted(next(iter(anchor.values())), key=int)[-1]
    order = sorted(anchor, key=lambda m: anchor[m][n_a])
    out += ["", f"The published Stable Diffusion 1.5 fp32 latent anchor (MSE at {n_a} steps: "
            + ", ".join(f"{ANCHOR_NAMES.get(m, m)} {anchor[m][n_a]:.1e}".replace("e-0", "e-")
                        for m in order)
            + ") is a much larger model and image, so only the ordering is comparable.", "",
            "Written by `docs/scripts/gen_quality.py` from `docs/data/inversion_sweep.json`, "
            "`docs/data/inversion.json` and `benchmarks/bench_inversion.py`'s `ANCHOR`; "
            "`tests/test_docs_quality.py` re-measures "
            + ", ".join(f"`{s}` ({st}, {d} network)" for s, st, d in SWEEP_CHECK)
            + f" at {steps[0]} steps on the first {SWEEP_CHECK_PICTURES} pictures within a "
            f"factor of {FACTOR:g} (or both below {FLOOR:g} ulps of float64), and "
            "`tests/test_docs_figures.py` the baselines' first column."]
    return "\n".join(out)


# -- all of it ---------------------------------------------------------------------------------
def blocks() -> dict[tuple[Path, str], str]:
    """Every block this script owns, rendered from the saved data."""
    sq = _load(SAMPLE_QUALITY)
    return {
        (BENCHMARKS_PAGE, "quality:sample"): sample_quality_section(sq),
        (BENCHMARKS_PAGE, "quality:inversion"): inversion_section(
            _load(SWEEP), _load(INVERSION), _bench("bench_inversion").ANCHOR),
        (DIFFUSION, "quality:ode-eps"): ode_eps_sentence(sq),
        (DIFFUSION, "lifted-case"): lifted_table(_load(LIFTED)),
    }


def stale_blocks() -> list[str]:
    """The blocks that are not what the saved data renders (empty: all current)."""
    return [f"{page.name}'s <!-- {tag} --> is not the saved data's (regenerate: python "
            "docs/scripts/gen_quality.py --render)"
            for (page, tag), body in blocks().items() if quoted(page, tag) != body]


def _dump(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample-quality", action="store_true",
                   help="rerun benchmarks/bench_sample_quality.py (~15-20 min of one core)")
    p.add_argument("--inversion", action="store_true",
                   help="rerun the inversion sweep (~20 min of one core)")
    p.add_argument("--render", action="store_true", help="only rewrite the blocks")
    p.add_argument("--check", action="store_true",
                   help="compare a fresh run of the checked subsets; write nothing")
    args = p.parse_args()
    if args.check:
        diff = stale_blocks()
        diff += lifted_differences(_load(LIFTED), measure_lifted())
        sq = _load(SAMPLE_QUALITY)
        diff += sample_quality_differences(sq, measure_sample_quality_subset(sq))
        sweep = _load(SWEEP)
        diff += sweep_differences(sweep, measure_sweep_subset(sweep))
        print("\n".join(diff) or "the docs' quality numbers agree with a fresh run")
        return 1 if diff else 0
    if not args.render:
        _dump(LIFTED, measure_lifted())
        if args.sample_quality:
            _dump(SAMPLE_QUALITY, run_sample_quality())
        if args.inversion:
            _dump(SWEEP, measure_sweep())
    for (page, tag), body in blocks().items():
        write_block(page, tag, body)
    print(f"wrote the blocks of {BENCHMARKS_PAGE} and {DIFFUSION}"
          + ("" if args.render else f" and {LIFTED}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
