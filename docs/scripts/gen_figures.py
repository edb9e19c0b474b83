"""Regenerate the docs' figures and the numbers the docs quote from them, in one run.

    python docs/scripts/gen_figures.py              # re-measure the round trips (~10 s)
                                                    # and `revsde invert` at its defaults
                                                    # (~30 s), redraw docs/img/roundtrip.png
                                                    # and convergence.png, rewrite the
                                                    # numbers of the docs and the README
    python docs/scripts/gen_figures.py --study      # also rerun the convergence study
                                                    # (~1-2 min) and the solver table
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
agree within :data:`REL` (5 %).  A fresh run whose configuration (picture, size, model,
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


def agrees_invert(doc: float, fresh: float, state_dtype: str) -> bool:
    """A saved ``revsde invert`` error against a fresh one (see the module docstring)."""
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
            if not agrees_invert(a["max_abs"], b["max_abs"], saved["state_dtype"])]


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
    parts = []
    for m in _baselines(rep):
        runs = {r["comparison"]: r for r in rep["results"] if r["method"] == m}
        name = BASELINE_NAMES.get(m, m)
        if "both" in runs:
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
        f"{rex['max_abs']:.2g}; " + "; ".join(parts) + ".",
        "",
        "These bullets are written by `python docs/scripts/gen_figures.py` from "
        "`docs/data/convergence.json` and `docs/data/invert.json`; "
        "`tests/test_docs_figures.py` checks them against a fresh run (within a factor of 4 "
        "at round-off level, 5 % above 1e-6).",
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


def write(study: bool) -> None:
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
    rep = measure_invert()
    INVERT.write_text(json.dumps(rep, indent=1) + "\n")
    write_readme(data, rep)
    write_pretrained(small_unet_record())
    print(f"wrote {gen_solver_table.DATA}, {gen_solver_table.IMG}/*.png, "
          f"{gen_solver_table.TABLE}, {PAGE}, {INVERT}, {README}, {PRETRAINED}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", action="store_true", help="rerun the convergence study too")
    p.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = p.parse_args()
    if args.check:
        diff = differences(measure_roundtrips())
        diff += invert_differences(load_invert(), measure_invert())
        if readme_quoted() != readme_blocks(gen_solver_table.load_measured(), load_invert()):
            diff.append(f"{README}'s generated blocks are not the saved measurements'")
        if convergence_quoted() != convergence_blocks(gen_solver_table.load_measured()):
            diff.append(f"{PAGE}'s counts are not the saved study's")
        if pretrained_quoted() != pretrained_blocks(small_unet_record()):
            diff.append(f"{PRETRAINED}'s generated blocks are not the weight file's record")
        print("\n".join(diff) or "the docs' and README's numbers agree with a fresh run")
        return 1 if diff else 0
    write(args.study)
    return 0


if __name__ == "__main__":
    sys.exit(main())
