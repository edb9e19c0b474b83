"""Sampler overhead: time per network evaluation with a network that returns zeros.

Every sampler of ``revsde.diffusion.list_samplers()`` runs ``sample`` on a batch
of one 1x32x32 image with a network that returns zeros (so the time is the
sampler's own: schedule coefficients, lifted coordinates, the solver, the driver
loop), against a plain hand-written DDIM loop in the same process.  Rounds are
interleaved (every sampler once per round) and the median over the rounds is kept.

    python benchmarks/bench_samplers.py [--steps 50] [--rounds 7] [--clock cpu] [--quick]

Prints one JSON document: ``ms_per_eval`` per sampler, the hand loop's, and each
sampler's ratio to it (the aim: every sampler within 2x).  A hand-written
SDE-DPM-Solver++(1) loop (one normal draw per step, the simplest stochastic
sampler) is timed too.  It is itself well over 2x the DDIM loop: a stochastic step
draws a normal per entry (about 4 ns each on this CPU, as much as two small tensor
operations) and adds it in, work the deterministic loop does not do.  So each
sampler is also compared with the hand loop of its kind (``comparator``: the DDIM
loop for a deterministic sampler, the SDE loop for a stochastic one), and
``target_met`` says whether every fixed-grid sampler (``target_samplers``) is within 2x
of it; the adaptive samplers are timed per network evaluation they make (``evals``,
counted) and reported beside, outside the target: they also pay a controller per step.
Times per evaluation are the median over the rounds, on the process's CPU time by default
(``--clock cpu``: with one thread, the time the code ran, without the time other processes
held the core on a shared machine; ``--clock wall`` for wall time).  Runs with an older
revsde too (``PYTHONPATH=<checkout>``) for a before/after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLOCKS  # noqa: E402

import revsde  # noqa: E402
from revsde.diffusion import DiffusionModel, VPLinear, get_sampler, list_samplers, time_grid

GRID = "uniform_lambda"


class ZeroNet(torch.nn.Module):
    """A network whose output is zeros (its cost is one allocation); ``calls`` counts its
    evaluations (an adaptive sampler's are not the grid's steps)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.zeros_like(x)


def hand_ddim(net: torch.nn.Module, x: torch.Tensor, ts: torch.Tensor,
              schedule: VPLinear) -> torch.Tensor:
    """A plain DDIM loop: x_{n+1} = (α_{n+1}/α_n) x_n + (σ_{n+1} - α_{n+1} σ_n/α_n) ε."""
    a = schedule.alpha(ts).tolist()
    s = schedule.sigma(ts).tolist()
    tb = ts.to(x.dtype)
    for n in range(ts.numel() - 1):
        eps = net(x, tb[n].expand(x.shape[0]))
        r = a[n + 1] / a[n]
        x = r * x + (s[n + 1] - r * s[n]) * eps
    return x


def hand_sde_dpmpp_1(net: torch.nn.Module, x: torch.Tensor, ts: torch.Tensor,
                     schedule: VPLinear, seed: int = 1) -> torch.Tensor:
    """A plain SDE-DPM-Solver++(1) loop (docs/mathematics.md §4.4), for context beside the SDE
    samplers:
    ``x_t = (σ_t/σ_s) e^{-h} x_s + α_t (1 - e^{-2h}) x_θ + σ_t sqrt(1 - e^{-2h}) z``."""
    a = schedule.alpha(ts).tolist()
    s = schedule.sigma(ts).tolist()
    lam = [math.log(ai / si) for ai, si in zip(a, s)]
    tb = ts.to(x.dtype)
    gen = torch.Generator().manual_seed(seed)
    for n in range(ts.numel() - 1):
        eps = net(x, tb[n].expand(x.shape[0]))
        x0 = (x - s[n] * eps) / a[n]
        e = math.exp(-(lam[n + 1] - lam[n]))
        z = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        x = (s[n + 1] / s[n] * e) * x + (a[n + 1] * (1 - e * e)) * x0 \
            + (s[n + 1] * math.sqrt(1 - e * e)) * z
    return x


def _time(fn, clock=time.perf_counter) -> float:
    t0 = clock()
    fn()
    return clock() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="5 steps, 2 rounds (smoke test)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="cpu: the process's CPU time (default; what the code costs, "
                         "without the time other processes held the core); wall: wall time")
    args = ap.parse_args(argv)
    clock = CLOCKS[args.clock]
    steps, rounds = (5, 2) if args.quick else (args.steps, args.rounds)
    torch.manual_seed(0)
    schedule = VPLinear()
    net = ZeroNet()
    model = DiffusionModel(net, schedule, "eps")
    ts = time_grid(schedule, steps, GRID)
    x_T = torch.randn(1, 1, 32, 32, dtype=torch.float32)
    samplers = {}
    with torch.no_grad():
        for info in list_samplers():  # warm-up, and the network evaluations of one sample
            s, sto = get_sampler(info["name"]), info["stochastic"]
            net.calls = 0
            s.sample(model, x_T, ts, **({"seed": 1} if sto else {}))
            samplers[info["name"]] = (s, net.calls, sto)
    runs: dict[str, list[float]] = {name: [] for name in ["hand_ddim", "hand_sde_dpmpp_1",
                                                          *samplers]}
    with torch.no_grad():
        hand_ddim(net, x_T, ts, schedule)
        hand_sde_dpmpp_1(net, x_T, ts, schedule)
        for _ in range(rounds):
            runs["hand_ddim"].append(
                _time(lambda: hand_ddim(net, x_T, ts, schedule), clock) / steps)
            runs["hand_sde_dpmpp_1"].append(
                _time(lambda: hand_sde_dpmpp_1(net, x_T, ts, schedule), clock) / steps)
            for name, (s, evals, sto) in samplers.items():
                kw = {"seed": 1} if sto else {}
                runs[name].append(_time(lambda s=s, kw=kw: s.sample(model, x_T, ts, **kw), clock)
                                  / evals)
    ms = {k: 1e3 * statistics.median(v) for k, v in runs.items()}
    hand, hand_sde = ms.pop("hand_ddim"), ms.pop("hand_sde_dpmpp_1")
    out = {
        "benchmark": "bench_samplers",
        "revsde": os.path.dirname(revsde.__file__),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": steps,
        "rounds": rounds,
        "arguments": {"quick": bool(args.quick), "steps": steps, "rounds": rounds,
                      "clock": args.clock},
        "shape": list(x_T.shape),
        "dtype": str(x_T.dtype).removeprefix("torch."),
        "grid": GRID,
        "hand_ddim_ms_per_eval": hand,
        "ms_per_eval": ms,
        "evals": {k: evals for k, (_, evals, _) in samplers.items()},
        "adaptive": sorted(i["name"] for i in list_samplers() if i.get("adaptive")),
        "ratio_to_hand_loop": {k: v / hand for k, v in ms.items()},
        # context, not the target: a hand-written stochastic loop (a normal draw per step)
        "hand_sde_dpmpp_1_ms_per_eval": hand_sde,
        "hand_sde_loop_ratio_to_hand_loop": hand_sde / hand,
        "stochastic_ratio_to_hand_sde_loop": {
            k: ms[k] / hand_sde for k, (_, _, sto) in samplers.items() if sto},
    }
    out["max_ratio"] = max(out["ratio_to_hand_loop"].values())
    out["target_max_ratio"] = 2.0
    out["comparator"] = {k: "hand_sde_dpmpp_1" if sto else "hand_ddim"
                         for k, (_, _, sto) in samplers.items()}
    out["ratio_to_comparator"] = {k: ms[k] / (hand_sde if sto else hand)
                                  for k, (_, _, sto) in samplers.items()}
    # the target is on the fixed-grid samplers: an adaptive one also pays its controller
    # (error estimate, step choice) per step, and takes the steps it chooses
    out["target_samplers"] = [k for k in samplers if k not in out["adaptive"]]
    out["max_ratio_to_comparator"] = max(out["ratio_to_comparator"][k]
                                         for k in out["target_samplers"])
    out["target_met"] = out["max_ratio_to_comparator"] <= out["target_max_ratio"]
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
