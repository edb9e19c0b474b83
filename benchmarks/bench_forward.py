"""Forward-solve speed: revsde vs torchsde Reversible Heun, measured in the same run.

Prints one JSON document.  Setting: diagonal noise, batch 64, state 32,
MLP drift and diffusion of width 128, the same ``BrownianInterval`` settings
(``dt`` hint, entropy), 100 and 1000 steps, best of ``--repeats`` runs, one thread,
on the process's CPU time (``--clock wall`` for wall time).
It also times the pieces (network evaluations alone, Brownian queries alone) to
show where the time goes, and revsde with its exact fixed-grid noise
(:class:`revsde.BrownianGrid`).

    python benchmarks/bench_forward.py [--quick] [--repeats 5] [--clock cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch
import torchsde

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLOCKS, MLPSDE, best_of  # noqa: E402

import revsde  # noqa: E402

BATCH, STATE, WIDTH = 64, 32, 128


def run(steps_list, repeats, batch=BATCH, state=STATE, width=WIDTH, clock=CLOCKS["cpu"]):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    sde = MLPSDE(state, width)
    y0 = torch.randn(batch, state)
    ts = torch.tensor([0.0, 1.0])
    rows = []
    for n in steps_list:
        dt = 1.0 / n

        def bi(dt=dt):
            return torchsde.BrownianInterval(0.0, 1.0, size=(batch, state), dt=dt, entropy=0)

        cases = {
            "torchsde_reversible_heun": lambda dt=dt, bi=bi: torchsde.sdeint(
                sde, y0, ts, bm=bi(), dt=dt, method="reversible_heun"
            ),
            "revsde_reversible_heun_interval": lambda dt=dt, bi=bi: revsde.sdeint(
                sde, y0, ts, bm=bi(), dt=dt, method="reversible_heun"
            ),
            "revsde_reversible_heun_grid": lambda dt=dt: revsde.sdeint(
                sde, y0, ts, bm="grid", entropy=0, dt=dt, method="reversible_heun"
            ),
        }
        grid = [i * dt for i in range(n + 1)]

        def queries(bi=bi, grid=grid):
            b = bi()
            for a, c in zip(grid[:-1], grid[1:]):
                b(a, c)

        def evals(n=n):
            t = torch.zeros(())
            for _ in range(n):
                sde.f(t, y0)
                sde.g(t, y0)

        times = {k: float("inf") for k in cases}
        with torch.no_grad():
            for _ in range(repeats):  # interleave so that load hits all cases alike
                for k, fn in cases.items():
                    times[k] = min(times[k], best_of(fn, 1, clock))
            t_query = best_of(queries, repeats, clock)
            t_eval = best_of(evals, repeats, clock)
        ref = times["torchsde_reversible_heun"]
        rows.append(
            {
                "steps": n,
                "seconds": times,
                "ratio_vs_torchsde": {k: v / ref for k, v in times.items()},
                "profile": {
                    "brownian_interval_queries_s": t_query,
                    "f_and_g_evaluations_s": t_eval,
                    "query_share_of_torchsde": t_query / ref,
                    "evaluation_share_of_torchsde": t_eval / ref,
                },
            }
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="cpu: the process's CPU time (default; without the time other "
                        "processes held the core); wall: wall time")
    args = p.parse_args(argv)
    steps = [10, 50] if args.quick else [100, 1000]
    repeats = 1 if args.quick else args.repeats
    rows = run(steps, repeats, clock=CLOCKS[args.clock])
    target = 0.5
    out = {
        "benchmark": "forward",
        "setting": "diagonal noise, batch 64, state 32, MLP width 128, float32, 1 thread",
        "torch": torch.__version__,
        "torchsde": getattr(torchsde, "__version__", "unknown"),
        "python": platform.python_version(),
        "arguments": {"quick": bool(args.quick), "repeats": repeats, "steps": steps,
                      "clock": args.clock},
        "batch": BATCH,
        "state": STATE,
        "width": WIDTH,
        "dtype": "float32",
        "target_ratio": target,
        "rows": rows,
        "meets_target": {
            k: all(r["ratio_vs_torchsde"][k] <= target for r in rows)
            for k in rows[0]["seconds"]
            if k.startswith("revsde")
        },
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
