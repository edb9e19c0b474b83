"""Regenerate the performance figures of docs/benchmarks.md, and check them against a fresh run.

    python docs/scripts/gen_benchmarks.py                 # run the three benchmarks with
                                                          # the arguments of ARGS (~12 min
                                                          # on a loaded 2-core machine:
                                                          # forward ~40 s, memory ~11 min,
                                                          # samplers ~15 s), save
                                                          # docs/data/bench_*.json and rewrite
                                                          # the marked blocks of the page
    python docs/scripts/gen_benchmarks.py --only memory   # the same for one benchmark
    python docs/scripts/gen_benchmarks.py --render        # only rewrite the page's blocks
                                                          # from the saved JSON
    python docs/scripts/gen_benchmarks.py --check         # compare a fresh, cheaper
                                                          # measurement with the JSON (what
                                                          # tests/test_docs_benchmarks.py
                                                          # does), write nothing

What it owns:

* ``docs/data/bench_forward.json``, ``bench_memory.json`` and ``bench_samplers.json``: the
  JSON documents of ``benchmarks/bench_forward.py``, ``bench_memory.py`` and
  ``bench_samplers.py`` run with :data:`ARGS` (each records its arguments, checked against
  :data:`ARGUMENTS`);
* the blocks of ``docs/benchmarks.md`` between ``<!-- bench:NAME -->`` markers in the
  sections "Forward solve", "Gradients" and "Sampler overhead": every number those sections
  quote.

Tolerance of ``--check``: the memory figures (peak live tensor bytes, counted from torch's
allocation events) are deterministic and agree within :data:`MEM_REL` (3 %); the network
evaluations of the samplers exactly; the time *ratios* (revsde against torchsde or a hand
loop, taken in the same run) within a factor :data:`TIME_FACTOR` (2) either way, loose
enough for a shared, loaded machine, tight enough to catch a stale figure.  Absolute times
are not checked: they follow the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from revsde.docblocks import read_block, write_block

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
BENCH = ROOT / "benchmarks"
PAGE = DOCS / "benchmarks.md"
NAMES = ("forward", "memory", "samplers")
#: the command-line arguments each saved run was made with
ARGS = {"forward": ["--repeats", "15"], "memory": ["--rounds", "20"],
        "samplers": ["--rounds", "41"]}
#: what the benchmark records of its arguments (``"arguments"`` in its JSON) for ARGS
ARGUMENTS = {"forward": {"quick": False, "repeats": 15, "steps": [100, 1000], "clock": "cpu"},
             "memory": {"quick": False, "steps": [10, 100, 1000], "rounds": 20, "clock": "cpu"},
             "samplers": {"quick": False, "steps": 50, "rounds": 41, "clock": "cpu"}}
#: memory figures (deterministic) agree within this relative difference
MEM_REL = 0.03
#: time ratios agree within this factor either way
TIME_FACTOR = 2.0
#: the fresh check's cheaper settings
CHECK_ARGS = {"forward": ["--repeats", "3"], "samplers": ["--rounds", "21"]}
#: the memory rows the test's fresh run re-measures, as (methods, step counts), one process
#: each: the adjoint's flatness from the fewest to the most steps, backprop's growth
CHECK_MEMORY = ((("revsde_adjoint",), (10, 1000)), (("revsde_backprop",), (10, 100)))
#: the timed methods and rounds of the fresh run (paired ratios at the most steps)
CHECK_TIME = (("revsde_adjoint", "torchsde_adjoint", "revsde_backprop"), 3)
#: the paired time ratios the page quotes (at the largest step count)
QUOTED_PAIRS = (("revsde_adjoint", "torchsde_adjoint"), ("revsde_adjoint", "revsde_backprop"),
                ("revsde_adjoint_interval", "torchsde_adjoint"),
                ("revsde_adjoint_interval", "revsde_backprop_interval"))


def data_path(name: str) -> Path:
    return DOCS / "data" / f"bench_{name}.json"


def command(name: str) -> str:
    return " ".join(["python", f"benchmarks/bench_{name}.py", *ARGS[name]])


def load(name: str) -> dict:
    return json.loads(data_path(name).read_text())


def load_all() -> dict:
    return {n: load(n) for n in NAMES}


def run_bench(name: str, args: list[str]) -> dict:
    """One benchmark in a fresh process with one thread; its JSON document."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(BENCH / f"bench_{name}.py"), *args],
                         capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"bench_{name}.py {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


# -- rendering ----------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{1e3 * seconds:.3g} ms"


def _x(r: float) -> str:
    return f"{r:.3g}×"


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _row(rows: list[dict], steps: int) -> dict:
    return next(r for r in rows if r["steps"] == steps)


TRAILER = ("Rendered by `docs/scripts/gen_benchmarks.py`, checked by "
           "`tests/test_docs_benchmarks.py`.")


def forward_setting(d: dict) -> str:
    a = d["arguments"]
    return (f"Reversible Heun, diagonal noise, batch {d['batch']}, state {d['state']}, MLP "
            f"drift and diffusion of width {d['width']}, {d['dtype']}, the same "
            "`BrownianInterval` settings (dt hint, entropy) for torchsde and revsde; the "
            f"fastest of {a['repeats']} interleaved runs at each step count, one thread, "
            f"{CLOCK_WORDS[a['clock']]}. "
            f"Written by `{command('forward')}` to `docs/data/bench_forward.json` "
            f"(torch {d['torch']}, torchsde {d['torchsde']}); a fresh run "
            f"(`{' '.join(CHECK_ARGS['forward'])}`) must give every ratio to torchsde and "
            f"the profile's shares within a factor of {TIME_FACTOR:g} either way. {TRAILER}")


def forward_table(d: dict) -> str:
    lines = ["| steps | torchsde | revsde, same BrownianInterval | revsde, `bm=\"grid\"` "
             "(default) |", "|---|---|---|---|"]
    for r in d["rows"]:
        s, q = r["seconds"], r["ratio_vs_torchsde"]
        lines.append(f"| {r['steps']} | {_ms(s['torchsde_reversible_heun'])} | "
                     f"{_ms(s['revsde_reversible_heun_interval'])} "
                     f"({_x(q['revsde_reversible_heun_interval'])}) | "
                     f"{_ms(s['revsde_reversible_heun_grid'])} "
                     f"({_x(q['revsde_reversible_heun_grid'])}) |")
    return "\n".join(lines)


def forward_floor(d: dict) -> float:
    """The least time of a solve on torchsde's noise, as a fraction of torchsde's: its
    Brownian queries plus its drift and diffusion evaluations, at the most steps."""
    p = d["rows"][-1]["profile"]
    return p["query_share_of_torchsde"] + p["evaluation_share_of_torchsde"]


def forward_profile(d: dict) -> str:
    r = d["rows"][-1]
    p, n = r["profile"], r["steps"]
    t = r["seconds"]["torchsde_reversible_heun"]
    grid = [x["ratio_vs_torchsde"]["revsde_reversible_heun_grid"] for x in d["rows"]]
    interval = [x["ratio_vs_torchsde"]["revsde_reversible_heun_interval"] for x in d["rows"]]
    target = d["target_ratio"]
    return (
        f"Profile at {n} steps: the `BrownianInterval` queries alone take "
        f"{_ms(p['brownian_interval_queries_s'])} ({p['query_share_of_torchsde']:.0%} of "
        f"torchsde's solve, {_ms(t)}) and the {n} drift and diffusion evaluations "
        f"{_ms(p['f_and_g_evaluations_s'])} ({p['evaluation_share_of_torchsde']:.0%}). On the "
        f"same interval a solve cannot go below their sum, {forward_floor(d):.2f}× "
        f"torchsde's time; revsde takes {', '.join(_x(v) for v in interval)} there. The "
        f"target, at most {target:g}× torchsde's time (twice as fast), is "
        f"{_met(all(v <= target for v in grid))} with the exact fixed-grid noise "
        f"(`BrownianGrid`, the default): {', '.join(_x(v) for v in grid)} at "
        f"{', '.join(str(x['steps']) for x in d['rows'])} steps.")


def _mem(d: dict, method: str, steps: int) -> dict:
    return next(r for r in d["results"] if r["method"] == method and r["steps"] == steps)


MEMORY_ROWS = (("revsde_adjoint", "revsde adjoint"), ("revsde_backprop", "revsde backprop"),
               ("torchsde_adjoint", "torchsde `sdeint_adjoint`"),
               ("torchsde_backprop", "torchsde backprop"),
               ("revsde_adjoint_interval", "revsde adjoint, same interval"),
               ("revsde_backprop_interval", "revsde backprop, same interval"))


def memory_setting(d: dict) -> str:
    a = d["arguments"]
    steps = a["steps"]
    return (f"Batch {d['setting']['batch']}, state {d['setting']['state']}, width "
            f"{d['setting']['width']}; {', '.join(map(str, steps[:-1]))} and {steps[-1]} "
            f"steps; loss `mean(y(1)^2)`; {a['rounds']} timing rounds, one thread, "
            f"{CLOCK_WORDS[a['clock']]} (each method's worker). Written by "
            f"`{command('memory')}` to `docs/data/bench_memory.json` (torch "
            f"{d['env']['torch']}, torchsde {d['env']['torchsde']}); a fresh run must give "
            f"the tensor memory (deterministic) within {MEM_REL:.0%} and the paired time "
            f"ratios, over {CHECK_TIME[1]} rounds, within a factor of {TIME_FACTOR:g} either "
            f"way. {TRAILER}")


def memory_table(d: dict) -> str:
    n = d["arguments"]["steps"][-1]
    lines = [f"| method ({n} steps) | time (median, fastest) | tensor MB | own MB |",
             "|---|---|---|---|"]
    for m, label in MEMORY_ROWS:
        r = _mem(d, m, n)
        own = "–" if r.get("peak_tensor_mb_own") is None else f"{r['peak_tensor_mb_own']:.3g}"
        lines.append(f"| {label} | {_ms(r['time_s'])}, {_ms(r['time_s_min'])} | "
                     f"{r['peak_tensor_mb']:.3g} | {own} |")
    return "\n".join(lines)


def memory_flatness(d: dict) -> dict[str, float]:
    """The quoted memory ratios, peak at the most steps over peak at the fewest."""
    lo, hi = d["arguments"]["steps"][0], d["arguments"]["steps"][-1]
    out = {}
    for m, key in (("revsde_adjoint", "peak_tensor_mb"), ("revsde_adjoint", "peak_tensor_mb_own"),
                   ("revsde_backprop", "peak_tensor_mb"), ("torchsde_adjoint", "peak_tensor_mb"),
                   ("revsde_adjoint_interval", "peak_tensor_mb")):
        out[f"{m}.{key}"] = _mem(d, m, hi)[key] / _mem(d, m, lo)[key]
    return out


def pair(d: dict, a: str, b: str) -> dict:
    return d["paired_time_ratios"][f"{a}/{b}.{d['arguments']['steps'][-1]}"]


def memory_targets(d: dict) -> str:
    lo, hi = d["arguments"]["steps"][0], d["arguments"]["steps"][-1]
    f = memory_flatness(d)
    adj = (_mem(d, "revsde_adjoint", lo)["peak_tensor_mb"],
           _mem(d, "revsde_adjoint", hi)["peak_tensor_mb"])
    flat = 1.05  # bench_memory.py's target
    ok = f["revsde_adjoint.peak_tensor_mb"] <= flat and \
        f["revsde_adjoint.peak_tensor_mb_own"] <= flat
    rounds = d["arguments"]["rounds"]

    def q(p):
        return f"quartiles {p['quartiles'][0]:.3f}–{p['quartiles'][1]:.3f}"

    t1 = pair(d, "revsde_adjoint", "torchsde_adjoint")
    t2 = pair(d, "revsde_adjoint", "revsde_backprop")
    t3 = pair(d, "revsde_adjoint_interval", "torchsde_adjoint")
    t4 = pair(d, "revsde_adjoint_interval", "revsde_backprop_interval")
    return "\n".join([
        f"- Memory, adjoint: {adj[0]:.3g} → {adj[1]:.3g} MB from {lo} to {hi} steps "
        f"(**{f['revsde_adjoint.peak_tensor_mb']:.3f}×**), own memory "
        f"**{f['revsde_adjoint.peak_tensor_mb_own']:.3f}×** (target: flat, at most "
        f"{flat}×: {_met(ok)}); on torchsde's interval "
        f"{f['revsde_adjoint_interval.peak_tensor_mb']:.3f}×, torchsde's adjoint "
        f"{f['torchsde_adjoint.peak_tensor_mb']:.3f}×. Backprop grows "
        f"{f['revsde_backprop.peak_tensor_mb']:.0f}×.",
        f"- Time: revsde adjoint / torchsde adjoint = **{t1['median']:.3f}** (median of "
        f"{rounds} paired rounds; {q(t1)}). Target 1/3: {_met(t1['median'] <= 1 / 3)}. With "
        f"the same interval: {t3['median']:.3f} ({q(t3)}).",
        f"- Time: revsde adjoint / revsde backprop = **{t2['median']:.3f}** ({q(t2)}; target "
        f"1.5: {_met(t2['median'] <= 1.5)}); with the same interval {t4['median']:.3f}.",
    ])


CLOCK_WORDS = {"cpu": "CPU time of the process", "wall": "wall time"}


def samplers_setting(d: dict) -> str:
    shape = "×".join(map(str, d["shape"][1:]))
    return (f"Batch {d['shape'][0]}, {shape}, {d['steps']} steps on the `{d['grid']}` grid, "
            f"{d['dtype']}, {d['rounds']} rounds, one thread, medians over the rounds of the "
            f"{CLOCK_WORDS[d['arguments']['clock']]}. The hand-written DDIM loop takes "
            f"{1e3 * d['hand_ddim_ms_per_eval']:.3g} µs per evaluation, the hand-written "
            f"SDE-DPM-Solver++(1) loop {d['hand_sde_loop_ratio_to_hand_loop']:.2f}× that. "
            f"Written by `{command('samplers')}` to `docs/data/bench_samplers.json` (torch "
            f"{d['torch']}); a fresh run (`{' '.join(CHECK_ARGS['samplers'])}`) must count "
            f"the same evaluations and give every ratio to a hand loop within a factor of "
            f"{TIME_FACTOR:g} either way. {TRAILER}")


def samplers_table(d: dict) -> str:
    lines = ["| sampler | evaluations | × DDIM loop | × its hand loop |", "|---|---|---|---|"]
    for k in d["ms_per_eval"]:
        loop = "SDE" if d["comparator"][k] == "hand_sde_dpmpp_1" else "DDIM"
        name = f"`{k}`" + (" (adaptive)" if k in d["adaptive"] else "")
        lines.append(f"| {name} | {d['evals'][k]} | {d['ratio_to_hand_loop'][k]:.2f} | "
                     f"{d['ratio_to_comparator'][k]:.2f} ({loop}) |")
    return "\n".join(lines)


def samplers_targets(d: dict) -> str:
    target, r = d["target_max_ratio"], d["ratio_to_comparator"]
    det = [k for k in d["target_samplers"] if d["comparator"][k] == "hand_ddim"]
    sto = [k for k in d["target_samplers"] if d["comparator"][k] != "hand_ddim"]

    def worst(names):
        k = max(names, key=lambda n: r[n])
        return f"{r[k]:.3f}× (`{k}`)"

    adaptive = ", ".join(f"`{k}` {d['ratio_to_hand_loop'][k]:.1f}× the DDIM loop per "
                         f"evaluation at {d['evals'][k]} evaluations" for k in d["adaptive"])
    return (
        f"Target: every fixed-grid sampler within {target:g}× of the hand loop of its kind: "
        f"{_met(d['target_met'])}. The deterministic samplers are at most {worst(det)} the "
        f"DDIM loop, the stochastic ones at most {worst(sto)} the hand SDE loop. The "
        f"simplest stochastic sampler written by hand, SDE-DPM-Solver++(1), is itself "
        f"{d['hand_sde_loop_ratio_to_hand_loop']:.2f}× the DDIM loop, and the library's copy "
        f"of it (`sde_dpmpp_1`) {r['sde_dpmpp_1']:.2f}× the hand one. The adaptive samplers "
        f"are outside the target ({adaptive}): they take the steps their controller "
        "chooses, few on this zero network, and pay the controller (an error estimate, a step "
        "choice, the accepted grid kept for the decode) at every step.")


BLOCKS = (("forward-setting", "forward", forward_setting),
          ("forward-table", "forward", forward_table),
          ("forward-profile", "forward", forward_profile),
          ("memory-setting", "memory", memory_setting),
          ("memory-table", "memory", memory_table),
          ("memory-targets", "memory", memory_targets),
          ("samplers-setting", "samplers", samplers_setting),
          ("samplers-table", "samplers", samplers_table),
          ("samplers-targets", "samplers", samplers_targets))


def block(name: str) -> str:
    """The page's generated block ``<!-- bench:NAME -->`` as it stands."""
    return read_block(PAGE, f"bench:{name}")


def rendered(data: dict) -> dict[str, str]:
    return {name: render(data[bench]) for name, bench, render in BLOCKS}


def write_blocks(data: dict) -> None:
    for name, body in rendered(data).items():
        write_block(PAGE, f"bench:{name}", body)


# -- checking -----------------------------------------------------------------------------
def time_close(saved: float, fresh: float) -> bool:
    return saved / TIME_FACTOR <= fresh <= saved * TIME_FACTOR


def mem_close(saved: float, fresh: float) -> bool:
    return abs(fresh - saved) <= MEM_REL * abs(saved)


def argument_differences(data: dict) -> list[str]:
    return [f"docs/data/bench_{n}.json was run with {data[n].get('arguments')}, not "
            f"{ARGUMENTS[n]} ({command(n)})" for n in NAMES
            if data[n].get("arguments") != ARGUMENTS[n]]


def fresh_forward() -> dict:
    return run_bench("forward", CHECK_ARGS["forward"])


def forward_differences(saved: dict, fresh: dict) -> list[str]:
    bad = []
    for f in fresh["rows"]:
        s = _row(saved["rows"], f["steps"])
        for k in ("revsde_reversible_heun_interval", "revsde_reversible_heun_grid"):
            a, b = s["ratio_vs_torchsde"][k], f["ratio_vs_torchsde"][k]
            if not time_close(a, b):
                bad.append(f"forward {k} / torchsde at {f['steps']} steps: saved {a:.3g}, "
                           f"measured {b:.3g}")
        for k in ("query_share_of_torchsde", "evaluation_share_of_torchsde"):
            a, b = s["profile"][k], f["profile"][k]
            if not time_close(a, b):
                bad.append(f"forward {k} at {f['steps']} steps: saved {a:.3g}, measured {b:.3g}")
    return bad


def _bench_memory():
    sys.path.insert(0, str(BENCH))
    import bench_memory

    return bench_memory


def fresh_memory(groups=CHECK_MEMORY, timed=CHECK_TIME[0], rounds=CHECK_TIME[1],
                 hi: int = 1000) -> dict:
    """Memory rows of each group's methods at its steps (a fresh process per group), and the
    paired time ratios of ``timed`` at ``hi`` steps over ``rounds`` rounds (one process per
    method)."""
    bm = _bench_memory()
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        rows = [r for methods, steps in groups for r in bm._spawn(list(methods), list(steps))]
        pt = {}
        if timed:
            times = bm.time_rounds(list(timed), [hi], rounds)
            pt = {k: v for k, v in bm.paired(times, [hi]).items() if v["median"] is not None}
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = old
    return {"results": rows, "paired_time_ratios": pt}


def memory_differences(saved: dict, fresh: dict) -> list[str]:
    bad = []
    steps = saved["arguments"]["steps"]
    got = {(r["method"], r["steps"]): r for r in fresh["results"]}
    for (m, n), f in got.items():
        s = _mem(saved, m, n)
        for key in ("peak_tensor_mb", "peak_tensor_mb_own"):
            if s.get(key) is None:
                continue
            if not mem_close(s[key], f[key]):
                bad.append(f"memory {m} {key} at {n} steps: saved {s[key]:.4g}, "
                           f"measured {f[key]:.4g}")
        lo = steps[0]
        if n != lo and (m, lo) in got:  # the growth from the fewest steps
            for key in ("peak_tensor_mb", "peak_tensor_mb_own"):
                if s.get(key) is None:
                    continue
                a = s[key] / _mem(saved, m, lo)[key]
                b = f[key] / got[m, lo][key]
                if not mem_close(a, b):
                    bad.append(f"memory {m} {key} {n}/{lo} steps: saved {a:.4g}, measured "
                               f"{b:.4g}")
    for k, f in fresh["paired_time_ratios"].items():
        if k not in saved["paired_time_ratios"]:
            bad.append(f"time ratio {k}: not in the saved run")
            continue
        a, b = saved["paired_time_ratios"][k]["median"], f["median"]
        if not time_close(a, b):
            bad.append(f"time ratio {k}: saved {a:.3g}, measured {b:.3g}")
    return bad


def fresh_samplers() -> dict:
    return run_bench("samplers", CHECK_ARGS["samplers"])


def samplers_differences(saved: dict, fresh: dict) -> list[str]:
    bad = []
    if fresh["steps"] != saved["steps"]:
        return [f"samplers: fresh run at {fresh['steps']} steps, saved at {saved['steps']}"]
    if set(fresh["ms_per_eval"]) != set(saved["ms_per_eval"]):
        return [f"samplers: the registry's samplers {sorted(fresh['ms_per_eval'])} are not the "
                f"saved {sorted(saved['ms_per_eval'])}"]
    for k, f in fresh["ratio_to_comparator"].items():
        a = saved["ratio_to_comparator"][k]
        if not time_close(a, f):
            bad.append(f"sampler {k} / its hand loop: saved {a:.3g}, measured {f:.3g}")
        if fresh["evals"][k] != saved["evals"][k]:
            bad.append(f"sampler {k}: saved {saved['evals'][k]} evaluations, measured "
                       f"{fresh['evals'][k]}")
    a = saved["hand_sde_loop_ratio_to_hand_loop"]
    f = fresh["hand_sde_loop_ratio_to_hand_loop"]
    if not time_close(a, f):
        bad.append(f"hand SDE loop / DDIM loop: saved {a:.3g}, measured {f:.3g}")
    return bad


def check() -> list[str]:
    data = load_all()
    diff = argument_differences(data)
    diff += [f"{PAGE.name} <!-- bench:{k} --> is not the saved JSON's rendering"
             for k, v in rendered(data).items() if block(k) != v]
    diff += forward_differences(data["forward"], fresh_forward())
    steps = data["memory"]["arguments"]["steps"]
    diff += memory_differences(data["memory"], fresh_memory(
        [([m for m, _ in MEMORY_ROWS], [steps[0], steps[-1]])],
        sorted({m for p in QUOTED_PAIRS for m in p}), CHECK_TIME[1], steps[-1]))
    diff += samplers_differences(data["samplers"], fresh_samplers())
    return diff


# -- writing ------------------------------------------------------------------------------
def measure(name: str) -> dict:
    t0 = time.perf_counter()
    doc = run_bench(name, ARGS[name])
    print(f"bench_{name}.py {' '.join(ARGS[name])}: {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    return doc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare only; write nothing")
    p.add_argument("--render", action="store_true",
                   help="only rewrite the page's blocks from the saved JSON")
    p.add_argument("--only", choices=NAMES, action="append",
                   help="rerun only this benchmark (repeatable)")
    args = p.parse_args()
    if args.check:
        diff = check()
        print("\n".join(diff) or "docs/benchmarks.md's figures agree with a fresh run")
        return 1 if diff else 0
    if not args.render:
        for name in args.only or NAMES:
            doc = measure(name)
            doc.pop("revsde", None)  # the checkout's path: not docs material
            data_path(name).write_text(json.dumps(doc, indent=1) + "\n")
    data = load_all()
    bad = argument_differences(data)
    if bad:
        raise SystemExit("\n".join(bad))
    write_blocks(data)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
