"""Memory and time of taking gradients through an SDE solve.

Prints one JSON document.  Four ways of differentiating the same solve, each
measured in its own subprocess (this script re-invokes itself with
``--worker``):

* ``revsde_adjoint``: ``revsde.sdeint(..., adjoint=True)`` (docs/mathematics.md §6), with
  revsde's default noise (``bm="grid"``: :class:`revsde.BrownianGrid`, an exact
  Brownian path on the step grid);
* ``revsde_backprop``: backpropagation through ``revsde.sdeint``, same noise;
* ``torchsde_adjoint``: ``torchsde.sdeint_adjoint`` with ``reversible_heun`` and
  ``adjoint_reversible_heun``;
* ``torchsde_backprop``: backpropagation through ``torchsde.sdeint``
  (``reversible_heun``);

plus ``revsde_adjoint_interval`` / ``revsde_backprop_interval``: revsde driven
by the very ``torchsde.BrownianInterval`` that torchsde uses (same ``dt`` hint
and entropy), the like-for-like noise comparison.  Setting: diagonal noise,
Stratonovich, batch 64, state 32, MLP drift and diffusion of width 128
(``benchmarks/common.py``), Reversible Heun, 10 / 100 / 1000 steps over
``[0, 1]``, loss ``mean(y(1)^2)``; gradients w.r.t. ``y0`` and all parameters.

Measurements, per (method, steps), in a fresh process with one thread:

* ``peak_rss_mb``: peak resident memory during one forward+backward minus the
  resident memory just before it (Linux ``VmHWM`` after resetting it through
  ``/proc/self/clear_refs``; everything in the process: tensors, autograd
  graph, Python objects such as the Brownian tree), after a 2-step warm-up so
  that one-time allocations are not counted;
* ``peak_tensor_mb``: peak of the live bytes of torch CPU allocations during
  one forward+backward, above the level at its start (``torch.profiler``
  allocation events; deterministic, counts tensors only);
* ``time_s``: median time of forward+backward over ``--rounds`` rounds, on the
  worker's CPU time (``--clock cpu``, the default: with one thread, the time the
  code ran, without the time other processes held the core; ``--clock wall``:
  wall time),
  each with a fresh Brownian motion built outside the timer (revsde's default
  grid noise is built by ``sdeint``, inside it).  Timing runs in one
  persistent process per method; a round asks each process, in a shuffled
  order, for one timed run at each step count, so the runs that are compared
  lie seconds apart.  ``paired_time_ratios`` divides the times of two methods
  within each round and gives the median over the rounds: the machine's speed
  drifts (by ±30% over minutes on a shared machine) but hardly within a
  round, so these ratios are what the targets use.

Both memory figures include the Brownian motion's own caches (a bounded LRU
in ``BrownianInterval``; chunks of cells in ``BrownianGrid``), which is why
``peak(100)`` and ``peak(1000)`` are compared as well as ``peak(10)``.

    python benchmarks/bench_memory.py [--quick] [--rounds 15] [--steps 10 100 1000] [--clock cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = (
    "revsde_adjoint",
    "revsde_backprop",
    "torchsde_adjoint",
    "torchsde_backprop",
    "revsde_adjoint_interval",
    "revsde_backprop_interval",
)
BATCH, STATE, WIDTH, ENTROPY = 64, 32, 128, 1234


# -- worker side -------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not found in /proc/self/status")


def _peak_rss_mb(fn):
    """Peak RSS growth (MB) while ``fn`` runs; None where the peak cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    fn()
    return (_status_kb("VmHWM") - before) / 1024.0


def _peak_tensor_mb(fn):
    """Peak live bytes (MB) of torch CPU allocations while ``fn`` runs."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        ev = stack.pop()
        if ev.tag == _EventType.Allocation:
            events.append((ev.start_time_ns, ev.extra_fields.alloc_size))
        stack.extend(ev.children)
    events.sort()
    live = peak = 0
    for _, size in events:
        live += size
        peak = max(peak, live)
    return peak / 2**20


def _case(method, steps):
    """``prepare(noise)`` builds a fresh Brownian motion and returns ``run()``, one
    forward+backward."""
    import torch
    import torchsde

    sys.path.insert(0, str(HERE))
    from common import MLPSDE

    import revsde
    from revsde.grid import step_grid

    torch.manual_seed(0)
    sde = MLPSDE(STATE, WIDTH)
    y0 = torch.randn(BATCH, STATE).requires_grad_()
    ts = torch.tensor([0.0, 1.0])
    dt = 1.0 / steps
    grid = step_grid([0.0, 1.0], dt)[0]

    def solve(bm):
        if method in ("revsde_adjoint", "revsde_adjoint_interval"):
            return revsde.sdeint(sde, y0, ts, dt=dt, bm=bm, entropy=ENTROPY,
                                 adjoint=True).ys[-1]
        if method in ("revsde_backprop", "revsde_backprop_interval"):
            return revsde.sdeint(sde, y0, ts, dt=dt, bm=bm, entropy=ENTROPY).ys[-1]
        if method == "torchsde_adjoint":
            return torchsde.sdeint_adjoint(sde, y0, ts, bm=bm, dt=dt, method="reversible_heun",
                                           adjoint_method="adjoint_reversible_heun")[-1]
        if method == "torchsde_backprop":
            return torchsde.sdeint(sde, y0, ts, bm=bm, dt=dt, method="reversible_heun")[-1]
        raise ValueError(f"unknown method {method!r}")

    def prepare(noise="own"):
        """``noise``: ``"own"`` (the method's Brownian motion, fresh) or ``"precomputed"``
        (revsde only: every increment generated before ``run``, queries allocate nothing)."""
        if noise == "precomputed":
            bm = revsde.BrownianGrid(grid, (BATCH, STATE), entropy=ENTROPY, chunk=steps)
            bm.cell(0)
        elif method in ("revsde_adjoint", "revsde_backprop"):
            bm = None  # revsde's default: a fresh BrownianGrid on the step grid
        else:
            bm = torchsde.BrownianInterval(0.0, 1.0, size=(BATCH, STATE), dt=dt,
                                           entropy=ENTROPY)

        def run():
            solve(bm).pow(2).mean().backward()
            y0.grad = None
            for p in sde.parameters():
                p.grad = None

        return run

    return prepare


def _memory(method, steps):
    prepare = _case(method, steps)
    return {
        "method": method,
        "steps": steps,
        "peak_rss_mb": _peak_rss_mb(prepare()),
        "peak_tensor_mb": _peak_tensor_mb(prepare()),
        "peak_tensor_mb_own": (_peak_tensor_mb(prepare("precomputed"))
                               if method.startswith("revsde") else None),
    }


def _time(prepare, clock=time.perf_counter):
    run = prepare()
    t = clock()
    run()
    return clock() - t


def worker(methods, steps_list):
    """Memory rows, one per (method, steps)."""
    import torch

    torch.set_num_threads(1)
    rows = []
    for method in methods:
        _case(method, 2)()()  # warm-up: lazy initialisation is not part of any measurement
        for steps in steps_list:
            rows.append(_memory(method, steps))
    return rows


def serve(method, steps_list, clock="cpu"):
    """Timing process: answer each line ``STEPS`` of stdin with one timed run's seconds on
    ``clock`` (``benchmarks/common.py``'s ``CLOCKS``)."""
    import torch

    sys.path.insert(0, str(HERE))
    from common import CLOCKS

    torch.set_num_threads(1)
    cases = {n: _case(method, n) for n in steps_list}
    _case(method, 2)()()
    for n in steps_list:  # one untimed run each: first-call costs are not measured
        cases[n]()()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        print(_time(cases[n], CLOCKS[clock]), flush=True)


# -- driver side -------------------------------------------------------------------------
def _spawn(methods, steps_list):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "memory",
           ",".join(methods), "--steps", *map(str, steps_list)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory worker {methods} {steps_list} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_rounds(methods, steps_list, rounds, seed=0, clock="cpu"):
    """One persistent process per method; each round times every (method, steps) once,
    the methods in a shuffled order, on ``clock`` (``"cpu"``: the worker's CPU time;
    ``"wall"``).  Returns rows ``{method, steps, round, time_s}``."""
    procs = {}
    try:
        for m in methods:
            procs[m] = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", "time", m,
                 "--steps", *map(str, steps_list), "--clock", clock],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
        for m, p in procs.items():
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"timing worker {m} failed:\n{p.stderr.read()}")
        rng, rows = random.Random(seed), []
        for k in range(rounds):
            for n in steps_list:
                order = list(methods)
                rng.shuffle(order)
                for m in order:
                    procs[m].stdin.write(f"{n}\n")
                    procs[m].stdin.flush()
                    line = procs[m].stdout.readline()
                    if not line:
                        raise RuntimeError(f"timing worker {m} died:\n{procs[m].stderr.read()}")
                    rows.append({"method": m, "steps": n, "round": k, "time_s": float(line)})
        return rows
    finally:
        for p in procs.values():
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
            p.wait(timeout=60)


def _median(xs):
    srt = sorted(xs)
    if not srt:
        return None
    mid = len(srt) // 2
    return srt[mid] if len(srt) % 2 else 0.5 * (srt[mid - 1] + srt[mid])


def _get(rows, method, steps, key):
    for r in rows:
        if r["method"] == method and r["steps"] == steps:
            return r.get(key)
    return None


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def ratios(rows, steps_list):
    lo, hi = steps_list[0], steps_list[-1]
    mid = steps_list[-2] if len(steps_list) > 2 else lo
    out = {}
    for m in ("revsde_adjoint", "revsde_adjoint_interval", "torchsde_adjoint",
              "revsde_backprop"):
        for key in ("peak_rss_mb", "peak_tensor_mb", "peak_tensor_mb_own"):
            for base in dict.fromkeys((lo, mid)):
                out[f"{m}.{key}.{hi}/{base}"] = _ratio(_get(rows, m, hi, key),
                                                      _get(rows, m, base, key))
    for n in steps_list:
        t = {m: _get(rows, m, n, "time_s") for m in METHODS}
        for a, b in PAIRS:
            out[f"time_of_medians.{a}/{b}.{n}"] = _ratio(t[a], t[b])
    return out


PAIRS = [("revsde_adjoint", "torchsde_adjoint"), ("revsde_adjoint", "revsde_backprop"),
         ("revsde_adjoint_interval", "torchsde_adjoint"),
         ("revsde_adjoint_interval", "revsde_backprop_interval"),
         ("torchsde_adjoint", "torchsde_backprop"),
         ("revsde_backprop", "torchsde_backprop")]


def paired(times, steps_list):
    """Time ratios within each round (the two runs lie seconds apart, so a drift of the
    machine's speed cancels), with their median and quartiles over the rounds."""
    out = {}
    for n in steps_list:
        for a, b in PAIRS:
            per = []
            for k in sorted({t["round"] for t in times}):
                ta = [t["time_s"] for t in times if t["round"] == k
                      and t["method"] == a and t["steps"] == n]
                tb = [t["time_s"] for t in times if t["round"] == k
                      and t["method"] == b and t["steps"] == n]
                if ta and tb:
                    per.append(ta[0] / tb[0])
            srt = sorted(per)
            out[f"{a}/{b}.{n}"] = {
                "median": _median(per),
                "quartiles": [srt[len(srt) // 4], srt[(3 * len(srt)) // 4]] if srt else None,
                "per_round": per,
            }
    return out


def summary(r, pt, steps_list):
    lo, hi = steps_list[0], steps_list[-1]
    mid = steps_list[-2] if len(steps_list) > 2 else lo
    rows = [
        ("revsde_adjoint peak(hi)/peak(lo), tensors, cold",
         r.get(f"revsde_adjoint.peak_tensor_mb.{hi}/{lo}"), 1.05),
        ("revsde_adjoint peak(hi)/peak(lo), tensors, noise precomputed",
         r.get(f"revsde_adjoint.peak_tensor_mb_own.{hi}/{lo}"), 1.05),
        ("revsde_adjoint peak(hi)/peak(lo), RSS growth, cold",
         r.get(f"revsde_adjoint.peak_rss_mb.{hi}/{lo}"), 1.05),
        ("revsde_adjoint time / torchsde_adjoint time at hi steps (median of paired "
         "rounds)", pt[f"revsde_adjoint/torchsde_adjoint.{hi}"]["median"], 1 / 3),
        ("revsde_adjoint time / revsde_backprop time at hi steps (median of paired rounds)",
         pt[f"revsde_adjoint/revsde_backprop.{hi}"]["median"], 1.5),
        ("like for like noise: revsde_adjoint_interval peak(hi)/peak(lo), tensors, cold",
         r.get(f"revsde_adjoint_interval.peak_tensor_mb.{hi}/{lo}"), 1.05),
        ("like for like noise: revsde_adjoint_interval time / torchsde_adjoint time at "
         "hi steps (median of paired rounds)",
         pt[f"revsde_adjoint_interval/torchsde_adjoint.{hi}"]["median"], 1 / 3),
        ("like for like noise: revsde_adjoint_interval time / revsde_backprop_interval "
         "time at hi steps (median of paired rounds)",
         pt[f"revsde_adjoint_interval/revsde_backprop_interval.{hi}"]["median"], 1.5),
    ]
    return [{"what": w.replace("(hi)", f"({hi})").replace("(lo)", f"({lo})")
             .replace("(mid)", f"({mid})")
             .replace("hi steps", f"{hi} steps"),
             "measured": v, "target": f"<= {t:.3g}",
             "met": None if v is None else bool(v <= t)} for w, v, t in rows]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: few steps, one round")
    ap.add_argument("--steps", type=int, nargs="+", default=None)
    ap.add_argument("--rounds", type=int, default=None,
                    help="timed runs per (method, steps), interleaved across methods")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: each worker's CPU time (default; with one thread, without the "
                         "time other processes held the core); wall: wall time")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "METHODS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    steps_list = args.steps or ([4, 8, 16] if args.quick else [10, 100, 1000])
    rounds = args.rounds or (1 if args.quick else 15)

    if args.worker:
        kind, methods = args.worker[0], args.worker[1].split(",")
        unknown = sorted(set(methods) - set(METHODS))
        if kind not in ("memory", "time") or unknown or (kind == "time" and len(methods) != 1):
            ap.error(f"--worker memory METHODS | --worker time METHOD, from {list(METHODS)}")
        if kind == "time":
            serve(methods[0], steps_list, args.clock)
        else:
            print(json.dumps(worker(methods, steps_list)))
        return

    import torch
    import torchsde

    t0 = time.perf_counter()
    if args.quick:  # smoke mode: one memory process for everything
        mem = _spawn(METHODS, steps_list)
    else:
        mem = [row for n in steps_list for m in METHODS for row in _spawn([m], [n])]
    times = time_rounds(METHODS, steps_list, rounds, clock=args.clock)
    rows = []
    for m in METHODS:
        for n in steps_list:
            ts = [r["time_s"] for r in times if r["method"] == m and r["steps"] == n]
            row = {"method": m, "steps": n, "time_s": _median(ts), "time_s_min": min(ts)}
            row.update({k: v for r in mem if r["method"] == m and r["steps"] == n
                        for k, v in r.items() if k.startswith("peak")})
            rows.append(row)
    r = ratios(rows, steps_list)
    pt = paired(times, steps_list)
    doc = {
        "benchmark": "bench_memory",
        "quick": bool(args.quick),
        "arguments": {"quick": bool(args.quick), "steps": steps_list, "rounds": rounds,
                      "clock": args.clock},
        "setting": {
            "sde": "diagonal noise, Stratonovich, MLP drift and diffusion "
                   "Linear(32,128)-Tanh-Linear(128,32) (+Sigmoid on the diffusion)",
            "batch": BATCH, "state": STATE, "width": WIDTH, "t": [0.0, 1.0],
            "solver": "reversible_heun",
            "noise": "revsde_*: revsde's default, a BrownianGrid on the step grid "
                     f"(entropy={ENTROPY}); torchsde_* and revsde_*_interval: "
                     f"torchsde.BrownianInterval(dt=1/steps, entropy={ENTROPY})",
            "loss": "mean(y(1)^2), gradients w.r.t. y0 and all parameters",
            "steps": steps_list, "threads": 1,
            "timing": f"{rounds} rounds; one persistent process per method; each round "
                      "times every (method, steps) once, methods in a shuffled order; "
                      f"clock: {args.clock}",
        },
        "metrics": {
            "time_s": "median time (on the clock of setting.timing: the worker's CPU time "
                      "or wall time) of forward+backward over the rounds (a torchsde "
                      "BrownianInterval is built outside the timer; revsde's default grid "
                      "noise is built by sdeint, inside it); time_s_min: the fastest",
            "peak_rss_mb": "VmHWM - VmRSS around one forward+backward (peak reset through "
                           "/proc/self/clear_refs); fresh process after a 2-step warm-up; "
                           "counts everything, including the Brownian tree's Python objects "
                           "and allocator fragmentation",
            "peak_tensor_mb": "peak live bytes of torch CPU allocations during one "
                              "forward+backward (torch.profiler allocation events), "
                              "including the Brownian motion's cached increments",
            "peak_tensor_mb_own": "the same with the noise precomputed (a BrownianGrid "
                                  "holding every increment, generated before the "
                                  "measurement, whose queries allocate nothing): the "
                                  "gradient computation's own memory, without the noise "
                                  "source's caches (revsde rows only)",
        },
        "env": {"python": platform.python_version(), "torch": torch.__version__,
                "torchsde": torchsde.__version__, "machine": platform.machine()},
        "results": rows,
        "ratios": r,
        "paired_time_ratios": pt,
        "targets": summary(r, pt, steps_list),
        "wall_s": time.perf_counter() - t0,
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
