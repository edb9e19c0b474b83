"""Regenerate the adaptive-step figures the docs quote, and check them against a fresh run.

    python docs/scripts/gen_adaptive.py --rex-official PATH  # measure: run
                                          # benchmarks/bench_adaptive.py (with the official
                                          # Rex code of the checkout at PATH), rewrite
                                          # docs/data/adaptive.json and the docs' blocks
    python docs/scripts/gen_adaptive.py --from FILE   # the same from a saved bench JSON
    python docs/scripts/gen_adaptive.py --render      # only rewrite the docs' blocks
    python docs/scripts/gen_adaptive.py --check       # compare a fresh measurement of the
                                                      # checked rows with the JSON (what
                                                      # tests/test_docs_adaptive.py does)

What it owns:

* ``docs/data/adaptive.json``: the full output of ``benchmarks/bench_adaptive.py
  --rex-official PATH`` (work-precision points, equal-error comparisons, round trips, the
  official Rex adaptive round trips, torchsde's adaptive evaluations, the batch's steps);
* the blocks of ``docs/howto-adaptive.md`` (``<!-- adaptive-summary -->``) and of the
  "Adaptive steps" section of ``docs/benchmarks.md`` (``<!-- adaptive-* -->``), rendered
  from that JSON.

Tolerance of ``--check`` (no official code in CI, so its rows are checked for presence and
direction only): a fresh run of the ODE round trips (``mcf_tsit5``, every option), one
adaptive work-precision point of the ODE and the whole SDE problem, in float64:
evaluation, accepted and rejected counts within :data:`NFE_REL` (2%; they agree exactly
on one build, a last-bit difference may move one controller decision elsewhere), errors
of a solve within :data:`REL` (10%), round-trip errors at round-off within a factor
:data:`FACTOR` (10) or both below :data:`FLOOR` (1e-14).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from revsde.docblocks import read_block, write_block

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

DATA = DOCS / "data" / "adaptive.json"
HOWTO = DOCS / "howto-adaptive.md"
BENCH = DOCS / "benchmarks.md"
#: evaluation and step counts of a fresh run within this relative difference
NFE_REL = 0.02
#: the errors of a solve within this relative difference
REL = 0.10
#: round-trip errors at round-off: within this factor, or both below FLOOR
FACTOR = 10.0
FLOOR = 1e-14
#: the ODE work-precision point a fresh run re-measures: (run, tolerance)
CHECK_ODE_POINT = ("mcf_tsit5 (zeta=0.5) adaptive", 1e-5)
#: a round trip "comes back" below this (round-off of pictures in [-1, 1] over the
#: solve), and "does not" above NOT_BACK times it
CAME_BACK = {"float32": 1e-4, "float64": 1e-10}
NOT_BACK = 100.0
PROBLEMS = {"ode": "Van der Pol, μ = 5 (float64)", "sde": "neural SDE (float64)",
            "diffusion": "small-unet probability-flow ODE"}


# -- formatting ---------------------------------------------------------------------
def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf"
    if v == 0:
        return "0"
    return f"{v:.2e}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.3g}"


def _nfe(v) -> str:
    return str(int(round(v)))


def _opts(r: dict) -> str:
    extra = [f"{k}={r[k]}" for k in ("zeta", "compensated") if k in r]
    return f"`{r['method']}`" + (f" ({', '.join(extra)})" if extra else "")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows)]


# -- summaries of the data ----------------------------------------------------------
def ratio_ranges(data: dict) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per problem and method: the smallest and largest fixed/adaptive evaluation ratio at
    equal error (at the errors the fixed grid reached) and how many such errors."""
    out: dict = {}
    for name, pb in data["problems"].items():
        for e in pb["equal_error"]:
            if e["measured"] != "fixed":
                continue
            lo, hi, n = out.setdefault(name, {}).get(e["method"], (math.inf, -math.inf, 0))
            r = e["nfe_ratio_fixed_over_adaptive"]
            out[name][e["method"]] = (min(lo, r), max(hi, r), n + 1)
    return out


def official_rows(data: dict, code: str, dtype: str, adaptive: bool = True) -> list[dict]:
    return [r for r in data["problems"]["diffusion"]["rex_official"]["rows"]
            if r["code"] == code and r["dtype"] == dtype and r["adaptive"] == adaptive]


# -- rendering ----------------------------------------------------------------------
def render_summary(data: dict) -> str:
    """docs/howto-adaptive.md: the figures in a few lines."""
    lines = ["Measured by `benchmarks/bench_adaptive.py` "
             f"(torch {data['torch']}, one CPU thread; "
             "[the tables](benchmarks.md#adaptive-steps-bench_adaptivepy)):", ""]
    ranges = ratio_ranges(data)
    for name, methods in ranges.items():
        parts = [f"`{m}` {lo:.2f}–{hi:.2f}" for m, (lo, hi, _) in methods.items()]
        lines.append(f"- {PROBLEMS[name]}: fixed-grid evaluations over adaptive ones at "
                     f"equal error, {', '.join(parts)} (above 1: the adaptive solve is "
                     "cheaper).")
    off = data["problems"]["diffusion"]["rex_official"]
    for dtype in ("float32", "float64"):
        o = official_rows(data, "official", dtype)
        rep = official_rows(data, "revsde replay", dtype)[0]
        own = official_rows(data, "revsde own controller", dtype)[0]
        errs = ", ".join(f"{_fmt(r['roundtrip_error'])} (`{r['tableau']}`, tolerance "
                         f"{_fmt(r['rtol'])}, {r['encode_nfe']} + {r['decode_nfe']} "
                         "evaluations)" for r in o)
        lines.append(f"- Diffusion round trip, {dtype}: the official Rex adaptive mode "
                     f"comes back with max error {errs}; revsde's decode replaying the "
                     f"accepted grid with {_fmt(rep['roundtrip_error'])} "
                     f"({rep['encode_nfe']} + {rep['decode_nfe']} evaluations), a decode "
                     f"with its own controller with {_fmt(own['roundtrip_error'])}.")
    ctl = [r for r in off["rows"] if r["code"] == "official" and not r["adaptive"]]
    lines.append("- The official code's fixed-step mode on the same problem (the two "
                 "directions share the grid) comes back with "
                 + ", ".join(f"{_fmt(r['roundtrip_error'])} ({r['dtype']})" for r in ctl)
                 + ": the adaptive round trip fails because its inverse chooses its own "
                   "grid.")
    ts = data["problems"]["sde"]["torchsde_adaptive"]
    lines.append(f"- torchsde's adaptive `sdeint` (Heun) on the SDE: "
                 f"{min(t['nfe'] for t in ts)}–{max(t['nfe'] for t in ts)} drift "
                 f"evaluations over tolerances {_fmt(ts[0]['rtol'])}–{_fmt(ts[-1]['rtol'])}, "
                 "and no inverse.")
    b = data["problems"]["diffusion"]["batch"]
    lines.append(f"- One controller serves the batch: the diffusion encode accepts "
                 f"{b['accepted_steps_batch']} steps for the batch, "
                 f"{', '.join(map(str, b['accepted_steps_alone']))} for each sample alone.")
    return "\n".join(lines)


def render_equal_error(data: dict) -> str:
    """docs/benchmarks.md: fixed against adaptive at equal error, at the errors the fixed
    grids reached."""
    rows = []
    for name, pb in data["problems"].items():
        for e in pb["equal_error"]:
            if e["measured"] != "fixed":
                continue
            rows.append([PROBLEMS[name], f"`{e['method']}`", _fmt(e["error"]),
                         _nfe(e["fixed_nfe"]), _nfe(e["adaptive_nfe"]),
                         f"{e['nfe_ratio_fixed_over_adaptive']:.2f}",
                         _fmt(e["fixed_seconds"]), _fmt(e["adaptive_seconds"])])
    return "\n".join(_table(["problem", "method", "error", "fixed evaluations",
                             "adaptive evaluations", "fixed / adaptive",
                             "fixed s", "adaptive s"], rows))


def render_roundtrips(data: dict) -> str:
    """docs/benchmarks.md: the round trips of the invented problems and of the diffusion
    encode/decode."""
    rows = []
    for name in ("ode", "sde"):
        for r in data["problems"][name]["roundtrip"]:
            if "failed" in r:
                rows.append([name, _opts(r), _fmt(r["rtol"]), "–", "–", "–", "–", "–",
                             "failed: " + r["failed"].split(";")[0].split(":")[0]])
                continue
            rows.append([name, _opts(r), _fmt(r["rtol"]),
                         f"{r['forward_nfe']} ({r['accepted']} / {r['rejected']})",
                         _fmt(r["replay_error"]), _fmt(r["replay_bit_for_bit"]),
                         str(r["replay_nfe"]), _fmt(r["own_controller_error"]),
                         str(r["own_controller_nfe"])])
    out = _table(["problem", "method", "rtol", "forward evaluations (accepted / rejected)",
                  "replayed: error", "bits", "evaluations", "own controller: error",
                  "evaluations"], rows)
    rows = []
    for r in data["problems"]["diffusion"]["roundtrip"]:
        rows.append([f"`{r['sampler']}`", _fmt(r["rtol"]),
                     f"{r['encode_nfe']} ({r['accepted']} steps)", _fmt(r["replay_error"]),
                     _fmt(r["replay_bit_for_bit"]), str(r["replay_decode_nfe"]),
                     _fmt(r["own_controller_error"]), str(r["own_controller_decode_nfe"])])
    out += ["", *_table(["sampler", "tolerance", "encode evaluations",
                         "replayed decode: error", "bits", "evaluations",
                         "own-controller decode: error", "evaluations"], rows)]
    return "\n".join(out)


def render_official(data: dict) -> str:
    """docs/benchmarks.md: the official Rex adaptive mode's round trip beside revsde's."""
    off = data["problems"]["diffusion"]["rex_official"]
    commit = (off["commit"] or "unknown")[:12]
    lines = [f"Official code: {off['repository']} at `{commit}`, "
             f"`{off['class']}`, {off['schedule']}; pictures {off['pictures']}.", ""]
    rows = []
    for r in off["rows"]:
        mode = ("adaptive" if r["adaptive"] else f"fixed, {r['n_steps']} steps")
        rows.append([r["dtype"], r["code"], f"`{r['tableau']}`", mode,
                     _fmt(r["rtol"]) if r["adaptive"] else "–", str(r["encode_nfe"]),
                     str(r["decode_nfe"]), _fmt(r["roundtrip_error"]), _fmt(r["seconds"])])
    return "\n".join(lines + _table(["dtype", "code", "pair", "steps", "tolerance",
                                     "encode evaluations", "decode evaluations",
                                     "round-trip max error", "seconds"], rows))


def render_torchsde(data: dict) -> str:
    """docs/benchmarks.md: torchsde's adaptive solver against revsde's on the SDE."""
    pts = data["problems"]["sde"]["points"]
    rows = []
    for t in data["problems"]["sde"]["torchsde_adaptive"]:
        row = [_fmt(t["rtol"]), str(t["nfe"]), _fmt(t["error"])]
        for m in ("reversible_heun", "mcf_bs3"):
            p = next((p for p in pts if p["run"] == f"{m} adaptive"
                      and math.isclose(p["setting"], t["rtol"])), None)
            row += ["–", "–"] if p is None else [str(p["nfe"]), _fmt(p["error"])]
        rows.append(row)
    return "\n".join(_table(["rtol = atol", "torchsde evaluations", "torchsde error",
                             "`reversible_heun` evaluations", "error",
                             "`mcf_bs3` evaluations", "error"], rows))


def render_batch(data: dict) -> str:
    pb = data["problems"]
    b = pb["diffusion"]["batch"]
    secs = ", ".join(f"{name} {pb[name]['seconds']:.0f} s" for name in pb)
    return (f"The diffusion encode (`rex_adaptive`) accepts {b['accepted_steps_batch']} steps "
            f"for the batch and {', '.join(map(str, b['accepted_steps_alone']))} for each "
            f"sample alone: one controller serves the batch. The run took {secs} "
            f"(torch {data['torch']}, revsde {data['revsde']}). A fresh run re-measures the "
            "ODE round trips of `mcf_tsit5`, one ODE work-precision point and the SDE "
            f"problem (`tests/test_docs_adaptive.py`): counts within {NFE_REL:.0%}, errors "
            f"of a solve within {REL:.0%}, round-off within a factor {FACTOR:g} (or both "
            f"below {FLOOR:g}).")


BLOCKS = ((HOWTO, "adaptive-summary", render_summary),
          (BENCH, "adaptive-equal-error", render_equal_error),
          (BENCH, "adaptive-roundtrips", render_roundtrips),
          (BENCH, "adaptive-official", render_official),
          (BENCH, "adaptive-torchsde", render_torchsde),
          (BENCH, "adaptive-batch", render_batch))


def block(page: Path, name: str) -> str:
    return read_block(page, name)


def write_blocks(data: dict) -> None:
    for page, name, render in BLOCKS:
        write_block(page, name, render(data))


def load() -> dict:
    return json.loads(DATA.read_text())


def save(data: dict) -> None:
    DATA.write_text(json.dumps(data, indent=1) + "\n")


# -- checking -----------------------------------------------------------------------
def close(doc: float, fresh: float, rel: float = REL) -> bool:
    return abs(fresh - doc) <= rel * abs(doc)


def roundoff_close(doc: float, fresh: float) -> bool:
    return (doc <= FLOOR and fresh <= FLOOR) or (fresh <= FACTOR * doc and doc <= FACTOR * fresh)


def _key(r: dict) -> tuple:
    return (r["method"], r.get("zeta"), r.get("compensated"), r["rtol"])


def _roundtrip_differences(where: str, doc: list[dict], fresh: list[dict]) -> list[str]:
    bad = []
    saved = {_key(r): r for r in doc}
    for f in fresh:
        d = saved.get(_key(f))
        if d is None:
            bad.append(f"{where} {_key(f)}: not in the saved data")
            continue
        if ("failed" in d) != ("failed" in f):
            bad.append(f"{where} {_key(f)}: failed {d.get('failed')} vs {f.get('failed')}")
            continue
        if "failed" in d:
            continue
        for k in ("forward_nfe", "accepted", "rejected", "replay_nfe", "own_controller_nfe"):
            if not close(d[k], f[k], NFE_REL):
                bad.append(f"{where} {_key(f)} {k}: saved {d[k]}, fresh {f[k]}")
        if d["replay_bit_for_bit"] != f["replay_bit_for_bit"] or not roundoff_close(
                d["replay_error"], f["replay_error"]):
            bad.append(f"{where} {_key(f)} replay: saved {d['replay_error']}, fresh "
                       f"{f['replay_error']}")
        if not close(d["own_controller_error"], f["own_controller_error"]):
            bad.append(f"{where} {_key(f)} own controller: saved "
                       f"{d['own_controller_error']}, fresh {f['own_controller_error']}")
    return bad


def _points_differences(where: str, doc: list[dict], fresh: list[dict]) -> list[str]:
    bad = []
    for f in fresh:
        d = next((p for p in doc if p["run"] == f["run"]
                  and math.isclose(p["setting"], f["setting"])), None)
        if d is None:
            bad.append(f"{where} {f['run']} {f['setting']}: not in the saved data")
            continue
        if not close(d["nfe"], f["nfe"], NFE_REL):
            bad.append(f"{where} {f['run']} {f['setting']} nfe: saved {d['nfe']}, "
                       f"fresh {f['nfe']}")
        if (d["failed"] is None) != (f["failed"] is None) or (
                math.isfinite(d["error"]) and not close(d["error"], f["error"])):
            bad.append(f"{where} {f['run']} {f['setting']} error: saved {d['error']}, "
                       f"fresh {f['error']}")
    return bad


def fresh_ode(data: dict) -> list[str]:
    """The ODE round trips of ``mcf_tsit5`` (every option) and :data:`CHECK_ODE_POINT`,
    afresh; the differences from the saved data (empty: they agree)."""
    import bench_adaptive as ba
    import torch

    import revsde
    from revsde.convergence.workprecision import solver_runs, work_precision

    mild, y0, short = ba.ode_roundtrip_problem()
    fresh = []
    for _, rtol, atol, options in ba.ODE_ROUNDTRIPS:
        fresh += ba.roundtrips(mild, y0, short, ["mcf_tsit5"], rtol, atol, **options)
    bad = _roundtrip_differences("ode", data["problems"]["ode"]["roundtrip"], fresh)
    run, tol = CHECK_ODE_POINT
    method = run.split()[0]
    f, y0 = ba.VanDerPol(5.0), ba.vdp_start()
    ts = torch.tensor([0.0, 12.0], dtype=ba.F64)
    ref = revsde.sdeint(f, y0, ts, method="dopri5", adaptive=True, rtol=1e-12,
                        atol=1e-12).ys[-1]
    runs = solver_runs(f, y0, ts, [method], steps=(), tolerances=(tol,),
                       label=" (zeta=0.5)", zeta=0.5)
    pts = [p for p in work_precision(runs, ref, "ode").to_dict()["points"] if p["run"] == run]
    if not pts:
        bad.append(f"ode: no fresh point {run}")
    return bad + _points_differences("ode", data["problems"]["ode"]["points"], pts)


def fresh_sde(data: dict) -> list[str]:
    """The whole SDE problem afresh (its Brownian interval's values depend on the order of
    its queries, so the problem is re-run as the bench runs it)."""
    import bench_adaptive as ba

    doc = data["problems"]["sde"]
    fresh = ba.sde_problem(bool(data["quick"]))
    bad = _roundtrip_differences("sde", doc["roundtrip"], fresh["roundtrip"])
    bad += _points_differences("sde", doc["points"], fresh["points"])
    for d, f in zip(doc["torchsde_adaptive"], fresh["torchsde_adaptive"], strict=True):
        if not close(d["nfe"], f["nfe"], NFE_REL) or not close(d["error"], f["error"]):
            bad.append(f"sde torchsde {d['rtol']}: saved {d}, fresh {f}")
    return bad


def official_direction(data: dict) -> list[str]:
    """The official rows are in the data (float32 and float64) and go the imitation's way:
    the official adaptive round trip and revsde's own-controller decode do not come back,
    the replayed grid and the official fixed-step control do."""
    bad = []
    off = data["problems"]["diffusion"].get("rex_official")
    if off is None:
        return ["diffusion: no rex_official section (run the bench with --rex-official)"]
    for dtype, tiny in CAME_BACK.items():
        adaptive = official_rows(data, "official", dtype)
        fixed = official_rows(data, "official", dtype, adaptive=False)
        replay = official_rows(data, "revsde replay", dtype)
        own = official_rows(data, "revsde own controller", dtype)
        if not (adaptive and fixed and replay and own):
            bad.append(f"{dtype}: a row is missing")
            continue
        for r in adaptive:
            if not (r["roundtrip_error"] > NOT_BACK * tiny and r["encode_nfe"] > 0
                    and r["decode_nfe"] > 0):
                bad.append(f"{dtype}: the official adaptive round trip came back: {r}")
        if not all(r["roundtrip_error"] <= tiny for r in fixed + replay):
            bad.append(f"{dtype}: a fixed-step or replayed round trip did not come back")
        if not own[0]["roundtrip_error"] > NOT_BACK * tiny:
            bad.append(f"{dtype}: the own-controller decode came back: {own[0]}")
    return bad


def measure(official: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_adaptive.py"),
                          "--rex-official", official], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--rex-official", metavar="PATH",
                   help="measure (a checkout of github.com/zblasingame/Rex-solver)")
    g.add_argument("--from", dest="src", metavar="FILE",
                   help="a saved `bench_adaptive.py --rex-official PATH` JSON")
    g.add_argument("--render", action="store_true",
                   help="only rewrite the docs' blocks from docs/data/adaptive.json")
    g.add_argument("--check", action="store_true",
                   help="compare a fresh measurement with docs/data/adaptive.json")
    args = ap.parse_args()
    if args.check:
        data = load()
        bad = official_direction(data) + fresh_ode(data) + fresh_sde(data)
        print("\n".join(bad) or "the fresh measurement agrees with docs/data/adaptive.json")
        return 1 if bad else 0
    if args.render:
        write_blocks(load())
        return 0
    data = (json.loads(Path(args.src).read_text()) if args.src
            else measure(args.rex_official))
    if data.get("quick"):
        raise SystemExit("the docs quote the full run: measure without --quick")
    bad = official_direction(data)
    if bad:
        raise SystemExit("the official rows: " + "; ".join(bad))
    save(data)
    write_blocks(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
