"""Regenerate the docs' figures and the numbers the docs quote from them, in one run.

    python docs/scripts/gen_figures.py              # re-measure the round trips (~10 s)
                                                    # and `revsde invert` at its defaults
                                                    # (~30 s), redraw docs/img/roundtrip.png
                                                    # and convergence.png, rewrite the
                                                    # numbers of the docs and the README
    python docs/scripts/gen_figures.py --study      # also rerun the convergence study
                                                    # (~1-2 min) and the solver table
    python docs/scripts/gen_figures.py --ideal      # also re-measure diffusion.md's ideal
                                                    # denoiser round trips (a few minutes)
    python docs/scripts/gen_figures.py --inversion  # also rerun bench_inversion.py for
                                                    # baselines.md (~10 min)
    python docs/scripts/gen_figures.py --check      # compare a fresh measurement with the
                                                    # docs (what tests/test_docs_figures.py
                                                    # does), write nothing

What it owns:

* ``docs/data/convergence.json``'s ``roundtrip`` entries (``revsde.convergence.
  roundtrip_errors`` with its defaults) and, with ``--study``, the study itself;
* ``docs/img/roundtrip.png`` and ``docs/img/convergence.png``, drawn from that JSON
  (``gen_solver_table.figures``), and ``docs/solver-table.md``;
* the sentence of ``docs/convergence.md`` between the ``<!-- roundtrip-numbers -->``
  markers: the largest round-trip error of each family (core solvers, diffusion
  samplers) in each dtype, as the figure shows it;
* ``docs/data/invert.json``: ``revsde invert --json`` at the command's current defaults
  (whatever they are: the defaults are read from the command, not from here);
* ``docs/convergence.md``'s count of runs and methods and its note on the orders above
  the declared ones (``<!-- convergence:NAME -->``), from the saved study;
* ``docs/diffusion.md``'s table of the samplers' fitted orders
  (``<!-- diffusion:orders -->``), from the saved study (a fresh fit of
  :data:`ORDER_SUBSET` within :data:`ORDER_ABS`);
* ``docs/data/ideal_roundtrips.json`` and ``docs/diffusion.md``'s table of the ideal
  denoiser's round trips (``<!-- diffusion:ideal -->``; a fresh run of
  :data:`IDEAL_CHECK` at 10 steps within the round-trip tolerance below);
* ``docs/data/inversion.json`` (``benchmarks/bench_inversion.py`` with
  :data:`INVERSION_ARGS`, ``--inversion``) and ``docs/baselines.md``'s table from it
  (``<!-- baselines:shipped -->``; a fresh run of the first step count's float32 column,
  with the ``revsde invert`` rule below);
* ``docs/pretrained.md``'s generated blocks (``<!-- pretrained:NAME -->``): the shipped
  model's training configuration, time, loss and denoising check, from the record in
  its weight file (``tests/test_pretrained.py`` re-measures the denoising check);
* the README's generated blocks (``<!-- readme:NAME -->`` markers): what ``make demo``
  runs (``demo``), and the measured round trips, fitted orders and ``revsde invert``
  numbers (``measured``), all written from the two JSON files.

Tolerance: a fresh measurement agrees with the docs when every quoted number is within a
factor :data:`FACTOR` of it, or both are below :data:`FLOOR` × the dtype's machine epsilon
(round-off-level numbers differ between machines and BLAS builds by a few ulps; a factor
of 4 still catches the 1e-12 → 2e-16 change this script was written for).  The
``revsde invert`` numbers follow the same rule (with the floor at the reversible
state's epsilon) up to :data:`TRUNCATION`; larger ones are the truncation errors of the
inexact baselines (DDIM inversion), deterministic functions of the defaults, and must
agree within :data:`REL` (5 %).  The fixed-point baselines (EDICT, BDIA, O-BELM) with a
float32 network are exact only up to the network's float32 rounding, and which inputs
round alike depends on the CPU's float32 kernels (the same run gives 7e-6 on one machine
and 1e-13 on another): their saved and fresh errors agree when both are below
:data:`NETWORK_BAND` for that network dtype.  A fresh run whose configuration (picture, size, model,
sampler, steps, dtypes, the list of compared runs) differs from the saved one is a
difference too: the defaults changed, regenerate.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
README = DOCS.parent / "README.md"
INVERT = DOCS / "data" / "invert.json"
sys.path.insert(0, str(DOCS / "scripts"))

import gen_solver_table  # noqa: E402  (the sibling script: the study's JSON and figures)

PAGE = DOCS / "convergence.md"
MARK = re.compile(r"(<!-- roundtrip-numbers -->\n)(.*?)(\n<!-- /roundtrip-numbers -->)", re.S)
#: the agreement of a quoted number with a fresh measurement (see the module docstring)
FACTOR = 4.0
FLOOR = 4.0
EPS = {"float32": 2.0**-23, "float64": 2.0**-52}
FAMILIES = {"solver": "core solvers", "sampler": "diffusion samplers"}
#: ``revsde invert`` numbers above this are truncation errors: they agree within REL
TRUNCATION = 1e-6
REL = 0.05
#: the fixed-point baselines' round trips through a network of this dtype agree when both
#: are below this (the network's rounding, CPU-dependent; see the module docstring)
NETWORK_BAND = {"float32": 1e-5}
FIXED_POINT = ("edict", "bdia", "obelm")
#: how the README names the baselines of ``revsde invert``
BASELINE_NAMES = {"ddim": "DDIM inversion", "edict": "EDICT", "bdia": "BDIA", "obelm": "O-BELM"}
#: what a run's configuration is (a fresh run with another one: the defaults changed)
CONFIG = ("image", "image_shape", "model", "weights_sha256", "schedule", "grid", "rex_sampler",
          "state_dtype", "seed")
RUN_CONFIG = ("method", "comparison", "steps", "nfe", "dtype", "state_dtype")


def worst(trips: list[dict]) -> dict[tuple[str, str], float]:
    """The largest round-trip error per (family, dtype), over methods and step counts."""
    out: dict[tuple[str, str], float] = {}
    for t in trips:
        key = (t["family"], t["dtype"])
        out[key] = max(out.get(key, 0.0), *t["errors"])
    return out


def sentence(trips: list[dict]) -> str:
    """The docs' sentence of the round-trip numbers."""
    w = worst(trips)
    parts = []
    for fam, words in FAMILIES.items():
        parts.append(f"the {words} come back to at most {w[(fam, 'float64')]:.2g} in float64 and "
                     f"{w[(fam, 'float32')]:.2g} in float32")
    return ("In the round-trip figure " + "; ".join(parts) + " (the largest error over "
            "methods and step counts; regenerated by `docs/scripts/gen_figures.py`, checked "
            "by `tests/test_docs_figures.py` within a factor of 4).")


def quoted() -> dict[tuple[str, str], float]:
    """The numbers the docs page quotes now, per (family, dtype)."""
    m = MARK.search(PAGE.read_text())
    if m is None:
        raise ValueError(f"{PAGE} has no <!-- roundtrip-numbers --> block")
    pairs = re.findall(r"at most ([0-9.e+-]+) in float64 and ([0-9.e+-]+) in float32",
                       m.group(2))
    nums = [float(v) for pair in pairs for v in pair]
    keys = [(fam, d) for fam in FAMILIES for d in ("float64", "float32")]
    return dict(zip(keys, nums))


def agrees(doc: float, fresh: float, dtype: str) -> bool:
    floor = FLOOR * EPS[dtype]
    if doc <= floor and fresh <= floor:
        return True
    return fresh <= FACTOR * doc and doc <= FACTOR * fresh


def measure_roundtrips(samplers_only: bool = False) -> list[dict]:
    """``roundtrip_errors`` with the defaults of ``revsde convergence`` (every reversible
    method, or the diffusion samplers only)."""
    from revsde.convergence import list_methods, roundtrip_errors

    names = None
    if samplers_only:
        names = [n for n, e in list_methods().items() if e["family"] == "sampler"]
    return [t.as_dict() for t in roundtrip_errors(names)]


def differences(fresh: list[dict]) -> list[str]:
    """Quoted numbers that a fresh measurement does not reproduce (empty: all agree)."""
    doc, now = quoted(), worst(fresh)
    return [f"{FAMILIES[fam]} {d}: docs say {doc[(fam, d)]:.2g}, measured {now[(fam, d)]:.2g}"
            for (fam, d) in now if (fam, d) in doc and not agrees(doc[(fam, d)], now[(fam, d)], d)]


# -- revsde invert at its defaults, and the README -------------------------------------------
def measure_invert() -> dict:
    """``revsde invert --json --no-figure`` at the command's current defaults (one run,
    ~25 s of one core), as :func:`invert_numbers`."""
    from revsde.cli import main as revsde_main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = revsde_main(["invert", "--json", "--no-figure", "--no-progress"])
    if code != 0:
        raise RuntimeError(f"revsde invert exited with {code}")
    return invert_numbers(json.loads(buf.getvalue()))


def invert_numbers(report: dict) -> dict:
    """A ``revsde invert --json`` report without what depends on the machine or on where
    the figure went (run times, the figure's path)."""
    report = {k: v for k, v in report.items() if k not in ("seconds", "figure")}
    report["results"] = [{k: v for k, v in r.items() if k != "seconds"}
                         for r in report["results"]]
    return report


def load_invert() -> dict:
    return json.loads(INVERT.read_text())


def _key(run: dict) -> str:
    return f"{run['method']} {run['comparison']} {run['dtype']}"


def agrees_invert(doc: float, fresh: float, state_dtype: str, method: str = "",
                  network_dtype: str = "") -> bool:
    """A saved ``revsde invert`` error against a fresh one (see the module docstring)."""
    band = NETWORK_BAND.get(network_dtype) if method in FIXED_POINT else None
    if band is not None and max(doc, fresh) < band:
        return True
    if max(doc, fresh) > TRUNCATION:
        return abs(fresh - doc) <= REL * abs(doc)
    return agrees(doc, fresh, state_dtype)


def invert_differences(saved: dict, fresh: dict) -> list[str]:
    """What a fresh ``revsde invert`` run does not reproduce of the saved one (empty: all
    agree within the tolerance)."""
    regen = "regenerate: python docs/scripts/gen_figures.py"
    config = [f"{k}: saved {saved.get(k)!r}, now {fresh.get(k)!r}" for k in CONFIG
              if saved.get(k) != fresh.get(k)]
    runs = [[r[k] for k in RUN_CONFIG] for r in saved["results"]]
    if runs != [[r[k] for k in RUN_CONFIG] for r in fresh["results"]]:
        config.append("the compared runs (method, comparison, steps, NFE, dtypes)")
    if config:
        return [f"revsde invert's defaults changed ({'; '.join(config)}): {regen}"]
    return [f"revsde invert {_key(a)}: saved {a['max_abs']:.2g}, measured {b['max_abs']:.2g} "
            f"({regen})" for a, b in zip(saved["results"], fresh["results"])
            if not agrees_invert(a["max_abs"], b["max_abs"], saved["state_dtype"],
                                 a["method"], a["dtype"])]


def _setting(rep: dict) -> str:
    (rex,) = [r for r in rep["results"] if r["comparison"] == "reference"]
    h, w = rep["image_shape"][-2:]
    colour = {1: "gray", 3: "RGB"}.get(rep["image_shape"][1], f"{rep['image_shape'][1]}-channel")
    return (f"`{rep['image']}`, {w}×{h} {colour}, model `{rep['model']}`, `{rex['method']}`, "
            f"{rex['steps']} steps, network {rex['dtype']}, state {rep['state_dtype']}")


def _baselines(rep: dict) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rep["results"]
                              if r["comparison"] != "reference"))


def readme_demo(rep: dict) -> str:
    """The README's sentence on what ``make demo`` runs."""
    names = [BASELINE_NAMES.get(m, m) for m in _baselines(rep)]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    against = f" beside {listed} at equal steps and at equal network evaluations" if names \
        else ""
    return (f"`make demo` runs `revsde invert` on its defaults ({_setting(rep)}): a bundled "
            f"photograph through noise and back with the shipped model, printing the "
            f"round-trip errors{against}, and writing `out/invert.png`.")


def readme_measured(data: dict, rep: dict) -> str:
    """The README's generated bullets of measured numbers."""
    w = worst(data["roundtrip"])
    steps = sorted({n for t in data["roundtrip"] for n in t["steps"]})
    declared = [r for r in data["results"] if r.get("declared") is not None]
    agree = sum(bool(r["agrees"]) for r in declared)
    (rex,) = [r for r in rep["results"] if r["comparison"] == "reference"]
    parts, rounding = [], []
    for m in _baselines(rep):
        runs = {r["comparison"]: r for r in rep["results"] if r["method"] == m}
        name = BASELINE_NAMES.get(m, m)
        band = NETWORK_BAND.get(next(iter(runs.values()))["dtype"])
        if m in FIXED_POINT and band is not None and all(r["max_abs"] < band
                                                         for r in runs.values()):
            rounding.append(name)
            parts.append(f"{name} below {band:g} ({runs['equal_steps']['max_abs']:.2g} at "
                         f"equal steps, {runs['equal_nfe']['max_abs']:.2g} at equal NFE in the "
                         "saved run)")
        elif "both" in runs:
            parts.append(f"{name} {runs['both']['max_abs']:.2g} (equal steps and NFE)")
        else:
            parts.append(f"{name} {runs['equal_steps']['max_abs']:.2g} at equal steps, "
                         f"{runs['equal_nfe']['max_abs']:.2g} at equal NFE")
    return "\n".join([
        f"- Round trips of every reversible method (`revsde convergence`, {steps[0]}–"
        f"{steps[-1]} steps): core solvers ≤ {w[('solver', 'float64')]:.2g} (float64), "
        f"≤ {w[('solver', 'float32')]:.2g} (float32); diffusion samplers ≤ "
        f"{w[('sampler', 'float64')]:.2g} (float64), ≤ {w[('sampler', 'float32')]:.2g} "
        "(float32).",
        f"- Fitted strong orders: {agree} of the {len(declared)} fits that `revsde "
        f"convergence` runs with its defaults lie within ±0.2 of the order the registry "
        "declares ([solver table](docs/solver-table.md)).",
        f"- `revsde invert` with its defaults ({_setting(rep)}): round trip "
        f"{rex['max_abs']:.2g}; " + "; ".join(parts) + "."
        + (f"  Below {NETWORK_BAND['float32']:g}, {', '.join(rounding)} come back to the "
           "float32 network's rounding, which depends on the CPU's float32 kernels: `make "
           "demo` prints other values there on another machine." if rounding else ""),
        "",
        "These bullets are written by `python docs/scripts/gen_figures.py` from "
        "`docs/data/convergence.json` and `docs/data/invert.json`; "
        "`tests/test_docs_figures.py` checks them against a fresh run (within a factor of 4 "
        "at round-off level, 5 % above 1e-6; EDICT, BDIA and O-BELM with a float32 network "
        f"both below {NETWORK_BAND['float32']:g}, since their errors there follow the CPU's "
        "float32 kernels).",
    ])


def readme_blocks(data: dict, rep: dict) -> dict[str, str]:
    return {"demo": readme_demo(rep), "measured": readme_measured(data, rep)}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- readme:{name} -->\n)(.*?)\n?(<!-- /readme:{name} -->)", re.S)


def readme_quoted() -> dict[str, str]:
    """The README's generated blocks as they stand."""
    text = README.read_text()
    out = {}
    for name in ("demo", "measured"):
        m = _block(name).search(text)
        if m is None:
            raise ValueError(f"{README} has no <!-- readme:{name} --> block")
        out[name] = m.group(2)
    return out


def write_readme(data: dict, rep: dict) -> None:
    text = README.read_text()
    for name, body in readme_blocks(data, rep).items():
        if _block(name).search(text) is None:
            raise ValueError(f"{README} has no <!-- readme:{name} --> block")
        text = _block(name).sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(3), text)
    README.write_text(text)


# -- docs/convergence.md's counts and notes, from the saved study --------------------------------
def _cblock(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- convergence:{name} -->\n)(.*?)\n?(<!-- /convergence:{name} -->)",
                      re.S)


def convergence_blocks(data: dict) -> dict[str, str]:
    """docs/convergence.md's sentences of counts and fitted orders, from the study's JSON."""
    above = [r["order"] for r in data["results"]
             if r.get("declared") == 1.5 and r["order"] > r["declared"]]
    return {
        "counts": f"With its defaults it runs every method that applies to each default "
                  f"problem — {len(data['results'])} runs — and then the round trips of the "
                  f"{len({t['method'] for t in data['roundtrip']})} reversible methods.",
        "above": f"- ShARK and SRA1 (and their reversible wrappers) on `additive`, and "
                 f"Rex-ShARK on `reverse_sde`, come out between {min(above):.2f} and "
                 f"{max(above):.2f}: above the declared 1.5, within the ±0.2 band.",
    }


def convergence_quoted() -> dict[str, str]:
    text = PAGE.read_text()
    out = {}
    for name in ("counts", "above"):
        m = _cblock(name).search(text)
        if m is None:
            raise ValueError(f"{PAGE} has no <!-- convergence:{name} --> block")
        out[name] = m.group(2)
    return out


def write_convergence(data: dict) -> None:
    text = PAGE.read_text()
    for name, body in convergence_blocks(data).items():
        if _cblock(name).search(text) is None:
            raise ValueError(f"{PAGE} has no <!-- convergence:{name} --> block")
        text = _cblock(name).sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(3), text)
    PAGE.write_text(text)


# -- docs/diffusion.md's sampler orders, from the saved study -----------------------------------
DIFFUSION = DOCS / "diffusion.md"
#: a fresh fit of a sampler's order agrees with the saved one within this (the study is
#: deterministic: a fresh fit differs in round-off only; 0.01 is the table's last digit)
ORDER_ABS = 0.01
#: the sampler rows re-measured by the fresh check (a cheap one, ~1-2 s; the full study is
#: ``gen_figures.py --study``)
ORDER_SUBSET = (("rev_heun_exp", "pf_ode"),)
SAMPLER_PROBLEMS = {"pf_ode": "PF-ODE", "reverse_sde": "reverse SDE"}


def _dblock(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- diffusion:{name} -->\n)(.*?)\n?(<!-- /diffusion:{name} -->)",
                      re.S)


def diffusion_blocks(data: dict, ideal: dict | None = None) -> dict[str, str]:
    """docs/diffusion.md's table of the samplers' fitted orders, from the study's JSON, and
    of the ideal denoiser's round trips (``docs/data/ideal_roundtrips.json``)."""
    rows = ["| sampler | problem | steps | fitted order (95 % interval) | declared |",
            "|---|---|---|---|---|"]
    for r in data["results"]:
        if r["problem"] in SAMPLER_PROBLEMS and r.get("declared") is not None:
            rows.append(f"| `{r['method']}` | {SAMPLER_PROBLEMS[r['problem']]} | "
                        f"{r['steps'][0]}–{r['steps'][-1]} | {r['order']:.2f} "
                        f"({r['order_low']:.2f}–{r['order_high']:.2f}) | {r['declared']:g} |")
    rows.append("")
    rows.append("Written by `docs/scripts/gen_figures.py` from the saved study; "
                "`tests/test_docs_figures.py` re-fits "
                + " and ".join(f"`{m}` on `{p}`" for m, p in ORDER_SUBSET)
                + f" and checks it within ±{ORDER_ABS:g}.")
    return {"orders": "\n".join(rows), "ideal": ideal_table(load_ideal() if ideal is None
                                                            else ideal)}


def diffusion_quoted() -> dict[str, str]:
    text = DIFFUSION.read_text()
    out = {}
    for name in ("orders", "ideal"):
        m = _dblock(name).search(text)
        if m is None:
            raise ValueError(f"{DIFFUSION} has no <!-- diffusion:{name} --> block")
        out[name] = m.group(2)
    return out


def write_diffusion(data: dict) -> None:
    text = DIFFUSION.read_text()
    for name, body in diffusion_blocks(data).items():
        if _dblock(name).search(text) is None:
            raise ValueError(f"{DIFFUSION} has no <!-- diffusion:{name} --> block")
        text = _dblock(name).sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(3), text)
    DIFFUSION.write_text(text)


def fresh_orders(data: dict, subset=ORDER_SUBSET) -> dict[tuple[str, str], float]:
    """A fresh fit of the orders of ``subset``, at the saved runs' steps and samples."""
    from revsde.convergence import measure

    out = {}
    for method, problem in subset:
        (saved,) = [r for r in data["results"]
                    if r["method"] == method and r["problem"] == problem]
        out[(method, problem)] = measure(method, problem, steps=saved["steps"],
                                         samples=saved["samples"]).order
    return out


def order_differences(data: dict, fresh: dict[tuple[str, str], float]) -> list[str]:
    """The saved orders that a fresh fit (:func:`fresh_orders`) does not reproduce within
    :data:`ORDER_ABS` (empty: all agree)."""
    saved = {(r["method"], r["problem"]): r["order"] for r in data["results"]}
    return [f"{m} on {p}: saved order {saved[(m, p)]:.3f}, measured {v:.3f} (regenerate: "
            "python docs/scripts/gen_figures.py --study)"
            for (m, p), v in fresh.items() if abs(v - saved[(m, p)]) > ORDER_ABS]


# -- docs/diffusion.md's round trips on the ideal denoiser ------------------------------------
IDEAL = DOCS / "data" / "ideal_roundtrips.json"
#: the pictures of the ideal denoiser (tests/test_inversion.py's): gray, 16x16, [-1, 1]
IDEAL_PICTURES = ("camera", "astronaut", "coffee", "chelsea")
IDEAL_STEPS = (10, 100, 1000)
#: the rows re-measured by the fresh check, at the first step count (a few seconds): one
#: ODE and one SDE sampler in the data-prediction case, one in the noise-prediction case
IDEAL_CHECK = (("rex_rk4", "ode_x0"), ("rev_heun_sde", "sde_x0"), ("rev_heun", "ode_eps"))
#: the rows: every reversible sampler in its default case, and the noise-prediction case
#: of the ODE samplers that have one
IDEAL_EPS = ("rex_rk4", "rev_heun", "rev_heun_exp")


def measure_ideal_roundtrips(steps=IDEAL_STEPS, rows=None) -> dict:
    """Max abs round-trip error of ``decode(encode(x0))`` for the four pictures of the ideal
    denoiser, per sampler (and case), network dtype, step count, with encode's default
    compensated state and with plain sums (``compensated=False``); ``rows`` (sampler,
    case) pairs, default all.  A few minutes at the default steps."""
    import torch

    from revsde.app.images import bundled_image, to_model_image
    from revsde.diffusion import IdealDenoiser, VPLinear, decode, encode, get_sampler
    from revsde.diffusion.samplers import reversible_names

    x64 = torch.cat([to_model_image(bundled_image(n), 16, torch.float64)
                     for n in IDEAL_PICTURES])
    model = IdealDenoiser(x64, VPLinear(), "x0").model()
    if rows is None:
        rows = [(n, get_sampler(n).case) for n in reversible_names()]
        rows += [(n, "ode_eps") for n in IDEAL_EPS]
    out = []
    for name, case in rows:
        for mode, opts in (("compensated", {}), ("plain", {"compensated": False})):
            for dname in ("float64", "float32"):
                x0 = x64.to(getattr(torch, dname))
                errs = []
                for n in steps:
                    with torch.no_grad():
                        lat = encode(model, x0, steps=n, sampler=name, case=case, seed=1,
                                     **opts)
                        errs.append(float((decode(model, lat) - x0).abs().max()))
                out.append({"sampler": name, "case": case, "state": mode, "dtype": dname,
                            "steps": list(steps), "errors": errs})
    return {"pictures": list(IDEAL_PICTURES), "size": 16, "schedule": "VPLinear",
            "prediction": "x0", "seed": 1, "rows": out}


def _e(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def ideal_table(data: dict) -> str:
    """docs/diffusion.md's table of the ideal denoiser's round trips."""
    by = {(r["sampler"], r["case"], r["state"], r["dtype"]): r["errors"] for r in data["rows"]}
    keys = list(dict.fromkeys((r["sampler"], r["case"]) for r in data["rows"]))
    steps = " / ".join(str(n) for n in data["rows"][0]["steps"])
    lines = [f"| sampler (case) | compensated (default), float64 / float32 | plain sums, "
             f"float64, {steps} steps | plain sums, float32, {steps} steps |",
             "|---|---|---|---|"]
    for name, case in keys:
        comp = " / ".join(_e(max(by[(name, case, "compensated", d)]))
                          for d in ("float64", "float32"))
        plain = [" / ".join(_e(v) for v in by[(name, case, "plain", d)])
                 for d in ("float64", "float32")]
        lines.append(f"| {name} ({case}) | {comp} | {plain[0]} | {plain[1]} |")
    lines.append("")
    lines.append("Written by `docs/scripts/gen_figures.py` from `docs/data/ideal_roundtrips.json`; "
                 "`tests/test_docs_figures.py` re-measures "
                 + ", ".join(f"{n} ({c})" for n, c in IDEAL_CHECK)
                 + f" at {data['rows'][0]['steps'][0]} steps and checks them within a factor of "
                 f"{FACTOR:g} (or both below {FLOOR:g} ulps of 1).")
    return "\n".join(lines)


def ideal_differences(saved: dict, fresh: dict) -> list[str]:
    """Saved round trips that a fresh measurement (at some of the saved step counts) does
    not reproduce within the round-trip tolerance (:func:`agrees`)."""
    old = {(r["sampler"], r["case"], r["state"], r["dtype"]): dict(zip(r["steps"], r["errors"]))
           for r in saved["rows"]}
    out = []
    for r in fresh["rows"]:
        key = (r["sampler"], r["case"], r["state"], r["dtype"])
        if key not in old:
            out.append(f"{key}: not in the saved table (regenerate)")
            continue
        for n, v in zip(r["steps"], r["errors"]):
            if not agrees(old[key][n], v, r["dtype"]):
                out.append(f"{' '.join(key)} at {n} steps: saved {old[key][n]:.2g}, measured "
                           f"{v:.2g} (regenerate: python docs/scripts/gen_figures.py)")
    return out


def load_ideal() -> dict:
    return json.loads(IDEAL.read_text())


# -- docs/baselines.md's round trips on the shipped model (benchmarks/bench_inversion.py) ------
BASELINES_PAGE = DOCS / "baselines.md"
INVERSION = DOCS / "data" / "inversion.json"
#: the command that wrote docs/data/inversion.json (its arguments are checked against the file)
INVERSION_ARGS = ("--steps", "10", "20", "50", "--dtypes", "float32", "float64",
                  "--samplers", "rex_rk4", "--threads", "1")
#: the rows re-measured by the fresh check: the reference Rex sampler and every baseline at
#: equal steps, at the first step count, with the float32 network, on the first pictures
#: (their per-picture errors: a picture's round trip does not depend on its batch, encode's
#: reproducible mode); a few seconds
INVERSION_CHECK_DTYPE = "float32"
INVERSION_CHECK_PICTURES = 2
METHOD_NAMES = {"rex_euler": "Rex (`rex_euler`)", "rex_rk4": "Rex (`rex_rk4`)",
                "ddim": "DDIM inversion", "edict": "EDICT", "bdia": "BDIA", "obelm": "O-BELM"}


def _bench_inversion():
    import importlib.util

    path = DOCS.parent / "benchmarks" / "bench_inversion.py"
    spec = importlib.util.spec_from_file_location("bench_inversion", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_inversion() -> dict:
    return json.loads(INVERSION.read_text())


def _equal_steps(doc: dict) -> list[dict]:
    return [r for r in doc["rows"] if r["comparison"] in ("reference", "sampler", "equal_steps")]


def baselines_blocks(doc: dict) -> dict[str, str]:
    """docs/baselines.md's table of round trips on the shipped model, from the benchmark's
    JSON: max abs error per method (equal steps), network dtype and step count."""
    rows = _equal_steps(doc)
    steps = sorted({r["steps"] for r in rows})
    dtypes = list(dict.fromkeys(r["network_dtype"] for r in rows))
    by = {(r["method"], r["network_dtype"], r["steps"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = [f"{d[5:] if d.startswith('float') else d}, {n}" for d in dtypes for n in steps]
    last = steps[-1]
    lines = ["| method | " + " | ".join(f"f{h}" for h in head)
             + f" | NFE at {last} | latent std ({dtypes[0]}, {last}) |",
             "|---" * (len(head) + 3) + "|"]
    for m in methods:
        cells = [f"{by[(m, d, n)]['max_abs']:.1e}" for d in dtypes for n in steps]
        lines.append(f"| {METHOD_NAMES.get(m, m)} | " + " | ".join(cells)
                     + f" | {by[(m, dtypes[0], last)]['nfe']} | "
                     f"{by[(m, dtypes[0], last)]['latent_std']:.3g} |")
    shape = "×".join(str(v) for v in doc["picture_shape"])
    lines += ["", f"Max abs round-trip error over {len(doc['pictures'])} pictures "
              f"({', '.join(doc['pictures'])}; {shape}, in [-1, 1]), every method at the same "
              f"steps on the `{doc['grid']}` grid, state float64"
              + (" (compensated)" if doc["compensated"] else "") + ", network in the dtype "
              "of the column.  Written by `docs/scripts/gen_figures.py` from "
              "`docs/data/inversion.json` (`python benchmarks/bench_inversion.py "
              + " ".join(INVERSION_ARGS) + "`); `tests/test_docs_figures.py` re-measures the "
              f"{steps[0]}-step {INVERSION_CHECK_DTYPE} column (`rex_euler` and the baselines) "
              f"on the first {INVERSION_CHECK_PICTURES} pictures and checks their errors "
              f"within a factor "
              f"of {FACTOR:g} at round-off level, {REL:.0%} above {TRUNCATION:g}."]
    anchor = _bench_inversion().ANCHOR
    n_anchor = list(next(iter(anchor.values())))
    published = ["| method | " + " | ".join(f"{n} steps" for n in n_anchor) + " |",
                 "|---" * (len(n_anchor) + 1) + "|"]
    for m, v in anchor.items():
        name = {"ddim": "DDIM", "rex": "Rex"}.get(m, METHOD_NAMES.get(m, m))
        published.append(f"| {name} | " + " | ".join(f"{v[n]:.1e}".replace("e-0", "e-")
                                                      for n in n_anchor) + " |")
    return {"shipped": "\n".join(lines), "anchor": "\n".join(published)}


def _bblock(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- baselines:{name} -->\n)(.*?)\n?(<!-- /baselines:{name} -->)",
                      re.S)


def baselines_quoted() -> dict[str, str]:
    text = BASELINES_PAGE.read_text()
    out = {}
    for name in ("shipped", "anchor"):
        m = _bblock(name).search(text)
        if m is None:
            raise ValueError(f"{BASELINES_PAGE} has no <!-- baselines:{name} --> block")
        out[name] = m.group(2)
    return out


def write_baselines(doc: dict) -> None:
    text = BASELINES_PAGE.read_text()
    for name, body in baselines_blocks(doc).items():
        if _bblock(name).search(text) is None:
            raise ValueError(f"{BASELINES_PAGE} has no <!-- baselines:{name} --> block")
        text = _bblock(name).sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(3), text)
    BASELINES_PAGE.write_text(text)


def measure_inversion_subset(doc: dict) -> list[dict]:
    """The saved benchmark's reference and equal-steps rows at its first step count with the
    :data:`INVERSION_CHECK_DTYPE` network, run afresh by the benchmark's own code on its
    first :data:`INVERSION_CHECK_PICTURES` pictures."""
    import torch

    from revsde.diffusion.pretrained import pretrained

    bench = _bench_inversion()
    x0 = bench.pictures(doc["pictures"][:INVERSION_CHECK_PICTURES], doc["picture_shape"][-1])
    model = pretrained("small-unet", dtype=getattr(torch, INVERSION_CHECK_DTYPE))
    n = min(r["steps"] for r in doc["rows"])
    return [bench.run_one(model, x0, r["method"], n, r["comparison"], INVERSION_CHECK_DTYPE)
            for r in doc["rows"] if r["comparison"] in ("reference", "equal_steps")
            and r["steps"] == n and r["network_dtype"] == INVERSION_CHECK_DTYPE]


def inversion_differences(doc: dict, fresh: list[dict]) -> list[str]:
    """Saved rows that the fresh ones (on the first pictures) do not reproduce, picture by
    picture (the ``revsde invert`` rule: :func:`agrees_invert`, floor at float64)."""
    saved = {(r["method"], r["comparison"], r["steps"], r["network_dtype"]): r
             for r in doc["rows"]}
    out = []
    for f in fresh:
        key = (f["method"], f["comparison"], f["steps"], f["network_dtype"])
        s = saved[key]
        pairs = list(zip(s["max_abs_per_picture"], f["max_abs_per_picture"]))
        if f["nfe"] != s["nfe"] or not all(agrees_invert(a, b, "float64") for a, b in pairs):
            out.append(f"bench_inversion {' '.join(map(str, key))}: saved "
                       f"{[float(f'{a:.2g}') for a, _ in pairs]} ({s['nfe']} NFE), measured "
                       f"{[float(f'{b:.2g}') for _, b in pairs]} ({f['nfe']} NFE) "
                       "(regenerate: python docs/scripts/gen_figures.py --inversion)")
    return out


# -- the shipped model's training record, on docs/pretrained.md -------------------------------
PRETRAINED = DOCS / "pretrained.md"
#: a fresh denoising check agrees with the record within this (relative; CPU builds differ
#: in the last bits of the network's sums only)
DENOISE_REL = 0.01


def small_unet_record() -> dict:
    from revsde.diffusion.pretrained import PRETRAINED as SHIPPED
    from revsde.diffusion.pretrained import load_record

    return load_record(SHIPPED["small-unet"])


def _snr(v: float) -> str:
    return f"{v:g}" if v >= 1 else f"1/{1 / v:g}"


def pretrained_blocks(record: dict) -> dict[str, str]:
    """docs/pretrained.md's generated blocks, from the shipped weight file's record."""
    t, c = record["training"], record["training"]["config"]
    params = sum(v.numel() for v in record["state_dict"].values())
    training = "\n".join([
        f"- **Optimiser:** AdamW, lr {c['lr']:g} with {c['warmup']} warm-up steps and cosine "
        f"decay, weight decay {c['weight_decay']:g}, {c['steps']:,} steps (batch {c['batch']} "
        f"of {c['size']}×{c['size']} crops; every {c['large_every']}th step "
        f"{c['large_batch']} of {c['large_size']}×{c['large_size']}); the saved weights "
        f"are the EMA (decay {c['ema']:g}); {params / 1e6:.2f} M parameters.",
        f"- **Time:** {t['train_seconds']:,.0f} s of wall time with {t['threads']} "
        f"thread{'s' if t['threads'] != 1 else ''} "
        f"(torch {t['torch_version']}) on this project's shared 2-core CPU, beside other "
        "jobs.",
        f"- **Final loss:** {t['final_train_loss_ema_avg']:.3f} ({t['loss']}, running average "
        "over the last steps).",
    ])
    rows = ["| α²/σ² | t | MSE of `x_t/α` | best blur (width) | model's `x̂0` |",
            "|---|---|---|---|---|"]
    for r in t["denoise_vs_blur"]:
        rows.append(f"| {_snr(r['snr'])} | {r['t']:.3f} | {r['noisy_mse']:#.3g} | "
                    f"{r['blur_mse']:#.3g} ({r['blur_width']:g} px) | {r['model_mse']:#.3g} |")
    return {"training": training, "denoise": "\n".join(rows)}


def _pblock(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- pretrained:{name} -->\n)(.*?)\n?(<!-- /pretrained:{name} -->)",
                      re.S)


def pretrained_quoted() -> dict[str, str]:
    text = PRETRAINED.read_text()
    out = {}
    for name in ("training", "denoise"):
        m = _pblock(name).search(text)
        if m is None:
            raise ValueError(f"{PRETRAINED} has no <!-- pretrained:{name} --> block")
        out[name] = m.group(2)
    return out


def write_pretrained(record: dict) -> None:
    text = PRETRAINED.read_text()
    for name, body in pretrained_blocks(record).items():
        if _pblock(name).search(text) is None:
            raise ValueError(f"{PRETRAINED} has no <!-- pretrained:{name} --> block")
        text = _pblock(name).sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(3), text)
    PRETRAINED.write_text(text)


def denoise_agrees(saved: dict, fresh: dict) -> bool:
    """A fresh ``denoise_vs_blur`` against the record's (the same crops and noise)."""
    return all(abs(fresh[k] - saved[k]) <= DENOISE_REL * abs(saved[k])
               for k in ("model_mse", "blur_mse", "noisy_mse")) and (
        fresh["blur_width"] == saved["blur_width"])


def run_inversion_bench() -> dict:
    """``benchmarks/bench_inversion.py`` with :data:`INVERSION_ARGS` (about 10 min of one
    core), its JSON without the machine-dependent parts."""
    import subprocess

    script = DOCS.parent / "benchmarks" / "bench_inversion.py"
    done = subprocess.run([sys.executable, str(script), *INVERSION_ARGS], check=True,
                          capture_output=True, text=True)
    doc = json.loads(done.stdout)
    doc["args"] = list(INVERSION_ARGS)
    for k in ("machine", "seconds"):
        doc.pop(k, None)
    for r in doc["rows"]:
        r.pop("seconds", None)
    return doc


def write(study: bool, ideal: bool = False, inversion: bool = False) -> None:
    if study:
        gen_solver_table.measure()  # the study, its round trips and both figures
        data = gen_solver_table.load_measured()
    else:
        data = gen_solver_table.load_measured()
        data["roundtrip"] = measure_roundtrips()
        gen_solver_table.DATA.write_text(json.dumps(data, indent=1) + "\n")
        gen_solver_table.figures(data)
    gen_solver_table.TABLE.write_text(gen_solver_table.render(data))
    text = PAGE.read_text()
    if MARK.search(text) is None:
        raise ValueError(f"{PAGE} has no <!-- roundtrip-numbers --> block")
    PAGE.write_text(MARK.sub(lambda m: m.group(1) + sentence(data["roundtrip"]) + m.group(3),
                             text))
    write_convergence(data)
    if ideal or not IDEAL.exists():
        IDEAL.write_text(json.dumps(measure_ideal_roundtrips(), indent=1) + "\n")
    if inversion or not INVERSION.exists():
        INVERSION.write_text(json.dumps(run_inversion_bench(), indent=1) + "\n")
    write_baselines(load_inversion())
    write_diffusion(data)
    rep = measure_invert()
    INVERT.write_text(json.dumps(rep, indent=1) + "\n")
    write_readme(data, rep)
    write_pretrained(small_unet_record())
    print(f"wrote {gen_solver_table.DATA}, {gen_solver_table.IMG}/*.png, "
          f"{gen_solver_table.TABLE}, {PAGE}, {IDEAL}, {DIFFUSION}, {INVERSION}, "
          f"{BASELINES_PAGE}, {INVERT}, {README}, "
          f"{PRETRAINED}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", action="store_true", help="rerun the convergence study too")
    p.add_argument("--check", action="store_true", help="compare only; write nothing")
    p.add_argument("--ideal", action="store_true",
                   help="re-measure the ideal denoiser's round trips (a few minutes)")
    p.add_argument("--inversion", action="store_true",
                   help="rerun benchmarks/bench_inversion.py for docs/baselines.md (~10 min)")
    args = p.parse_args()
    if args.check:
        diff = differences(measure_roundtrips())
        diff += invert_differences(load_invert(), measure_invert())
        if readme_quoted() != readme_blocks(gen_solver_table.load_measured(), load_invert()):
            diff.append(f"{README}'s generated blocks are not the saved measurements'")
        if convergence_quoted() != convergence_blocks(gen_solver_table.load_measured()):
            diff.append(f"{PAGE}'s counts are not the saved study's")
        if diffusion_quoted() != diffusion_blocks(gen_solver_table.load_measured()):
            diff.append(f"{DIFFUSION}'s orders are not the saved study's")
        study = gen_solver_table.load_measured()
        diff += order_differences(study, fresh_orders(study))
        diff += ideal_differences(load_ideal(), measure_ideal_roundtrips(IDEAL_STEPS[:1],
                                                                         IDEAL_CHECK))
        if baselines_quoted() != baselines_blocks(load_inversion()):
            diff.append(f"{BASELINES_PAGE}'s table is not docs/data/inversion.json's")
        diff += inversion_differences(load_inversion(), measure_inversion_subset(load_inversion()))
        if pretrained_quoted() != pretrained_blocks(small_unet_record()):
            diff.append(f"{PRETRAINED}'s generated blocks are not the weight file's record")
        print("\n".join(diff) or "the docs' and README's numbers agree with a fresh run")
        return 1 if diff else 0
    write(args.study, args.ideal, args.inversion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
