"""Memory and time of taking gradients through an SDE solve (issue #3).

Prints one JSON document.  Four ways of differentiating the same solve, each
measured in its own subprocess (this script re-invokes itself with
``--worker``):

* ``revsde_adjoint``: ``revsde.sdeint(..., adjoint=True)`` (MATH.md §6), with
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
* ``time_s``: best wall time of forward+backward over ``--repeats`` runs, each
  with a fresh Brownian motion built outside the timer (revsde's default grid
  noise is built by ``sdeint``, inside it); ``paired_time_ratios`` divides the
  times of two methods within each round of processes, and gives the median
  over the rounds, which a slow drift of the machine's speed does not bias.

Both memory figures include the Brownian motion's own caches (a bounded LRU
in ``BrownianInterval``; chunks of cells in ``BrownianGrid``), which is why
``peak(100)`` and ``peak(1000)`` are compared as well as ``peak(10)``.

    python benchmarks/bench_memory.py [--quick] [--repeats 3] [--steps 10 100 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
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


def _time(method, steps, repeats):
    prepare = _case(method, steps)
    best = float("inf")
    for _ in range(repeats):
        run = prepare()
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return {"method": method, "steps": steps, "time_s": best}


def worker(kind, methods, steps_list, repeats):
    import torch

    torch.set_num_threads(1)
    rows = []
    for method in methods:
        _case(method, 2)()()  # warm-up: lazy initialisation is not part of any measurement
        for steps in steps_list:
            rows.append(_memory(method, steps) if kind == "memory"
                        else _time(method, steps, repeats))
    return rows


# -- driver side -------------------------------------------------------------------------
def _spawn(kind, methods, steps_list, repeats=1):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, ",".join(methods),
           "--steps", *map(str, steps_list), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {kind} {methods} {steps_list} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    pairs = [("revsde_adjoint", "torchsde_adjoint"), ("revsde_adjoint", "revsde_backprop"),
             ("revsde_adjoint_interval", "torchsde_adjoint"),
             ("revsde_adjoint_interval", "revsde_backprop_interval"),
             ("torchsde_adjoint", "torchsde_backprop"),
             ("revsde_backprop", "torchsde_backprop")]
    for n in steps_list:
        t = {m: _get(rows, m, n, "time_s") for m in METHODS}
        for a, b in pairs:
            out[f"time.{a}/{b}.{n}"] = _ratio(t[a], t[b])
    return out


def paired(times, steps):
    """Time ratios within each round (the two processes ran minutes apart at most, so a
    drift of the machine's speed cancels), with their median over the rounds."""
    out = {}
    for a, b in (("revsde_adjoint", "torchsde_adjoint"), ("revsde_adjoint", "revsde_backprop")):
        per = []
        for k in sorted({t.get("round", 0) for t in times}):
            ta = [t["time_s"] for t in times if t.get("round", 0) == k
                  and t["method"] == a and t["steps"] == steps]
            tb = [t["time_s"] for t in times if t.get("round", 0) == k
                  and t["method"] == b and t["steps"] == steps]
            if ta and tb:
                per.append(ta[0] / tb[0])
        srt = sorted(per)
        med = None if not srt else (srt[len(srt) // 2] if len(srt) % 2
                                    else 0.5 * (srt[len(srt) // 2 - 1] + srt[len(srt) // 2]))
        out[f"{a}/{b}.{steps}"] = {"per_round": per, "median": med}
    return out


def summary(r, steps_list):
    lo, hi = steps_list[0], steps_list[-1]
    mid = steps_list[-2] if len(steps_list) > 2 else lo
    rows = [
        ("revsde_adjoint peak(hi)/peak(lo), tensors, cold",
         r.get(f"revsde_adjoint.peak_tensor_mb.{hi}/{lo}"), 1.05),
        ("revsde_adjoint peak(hi)/peak(lo), tensors, noise precomputed",
         r.get(f"revsde_adjoint.peak_tensor_mb_own.{hi}/{lo}"), 1.05),
        ("revsde_adjoint peak(hi)/peak(lo), RSS growth, cold",
         r.get(f"revsde_adjoint.peak_rss_mb.{hi}/{lo}"), 1.05),
        ("revsde_adjoint time / torchsde_adjoint time at hi steps",
         r.get(f"time.revsde_adjoint/torchsde_adjoint.{hi}"), 1 / 3),
        ("revsde_adjoint time / revsde_backprop time at hi steps",
         r.get(f"time.revsde_adjoint/revsde_backprop.{hi}"), 1.5),
        ("like for like noise: revsde_adjoint_interval peak(hi)/peak(lo), tensors, cold",
         r.get(f"revsde_adjoint_interval.peak_tensor_mb.{hi}/{lo}"), 1.05),
        ("like for like noise: revsde_adjoint_interval time / torchsde_adjoint time at "
         "hi steps", r.get(f"time.revsde_adjoint_interval/torchsde_adjoint.{hi}"), 1 / 3),
        ("like for like noise: revsde_adjoint_interval time / revsde_backprop_interval "
         "time at hi steps",
         r.get(f"time.revsde_adjoint_interval/revsde_backprop_interval.{hi}"), 1.5),
    ]
    return [{"what": w.replace("(hi)", f"({hi})").replace("(lo)", f"({lo})")
             .replace("(mid)", f"({mid})")
             .replace("hi steps", f"{hi} steps"),
             "measured": v, "target": f"<= {t:.3g}",
             "met": None if v is None else bool(v <= t)} for w, v, t in rows]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: few steps, one repeat")
    ap.add_argument("--steps", type=int, nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per process")
    ap.add_argument("--rounds", type=int, default=None,
                    help="timing processes per method, interleaved across methods")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "METHODS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    steps_list = args.steps or ([4, 8, 16] if args.quick else [10, 100, 1000])
    repeats = args.repeats or (1 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 6)

    if args.worker:
        kind, methods = args.worker[0], args.worker[1].split(",")
        unknown = sorted(set(methods) - set(METHODS))
        if kind not in ("memory", "time") or unknown:
            ap.error(f"--worker memory|time METHODS with METHODS from {list(METHODS)}")
        print(json.dumps(worker(kind, methods, steps_list, repeats)))
        return

    import torch
    import torchsde

    t0 = time.perf_counter()
    if args.quick:  # smoke mode: one process per kind of measurement
        mem = _spawn("memory", METHODS, steps_list)
        times = _spawn("time", METHODS, steps_list, repeats)
    else:
        mem = [row for n in steps_list for m in METHODS for row in _spawn("memory", [m], [n])]
        times = [dict(row, round=k) for k in range(rounds) for m in METHODS
                 for row in _spawn("time", [m], steps_list, repeats)]
    rows = []
    for m in METHODS:
        for n in steps_list:
            row = {"method": m, "steps": n,
                   "time_s": min(r["time_s"] for r in times
                                 if r["method"] == m and r["steps"] == n)}
            row.update({k: v for r in mem if r["method"] == m and r["steps"] == n
                        for k, v in r.items() if k.startswith("peak")})
            rows.append(row)
    r = ratios(rows, steps_list)
    doc = {
        "benchmark": "bench_memory",
        "quick": bool(args.quick),
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
            "timing": f"best of {rounds} processes x {repeats} runs, processes interleaved "
                      "across methods",
        },
        "metrics": {
            "time_s": "best wall time of forward+backward (a torchsde BrownianInterval "
                      "is built outside the timer; revsde's default grid noise is built "
                      "by sdeint, inside it)",
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
        "paired_time_ratios": paired(times, steps_list[-1]),
        "targets": summary(r, steps_list),
        "wall_s": time.perf_counter() - t0,
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
