"""Memory, time and error of the gradient methods of ``revsde.diffusion.gradient``.

Prints one JSON document.  Setting: the shipped ``digits-unet`` model (float32 by
default), a batch of 8 noises ``x_T`` with class labels 0..7 as conditioning
(``cond={"label": onehot}``), the loss ``cross_entropy(classifier(x0), labels)`` of
the shipped digit classifier, the ``rev_heun`` sampler (``--sampler``) on a
``uniform_lambda`` grid; gradients with respect to ``x_T`` and the label vectors.

For each method (every registered one: ``reversible``, the AdjointDEIS variants,
``backprop``, ``greedy``) and each number of steps (10, 50, 200):

* ``peak_tensor_mb``: peak of the live bytes of torch CPU allocations during one
  ``gradient`` call, above the level at its start (``torch.profiler`` allocation
  events; deterministic; the weights are loaded before);
* ``time_s``: median wall time of ``--rounds`` calls; each round runs every
  method once, in a shuffled order, so that methods compared lie seconds apart;
  ``paired_time_ratio`` is the median over the rounds of the per-round ratio
  reversible/backprop (the machine's speed drifts over minutes, not within a round);
* ``rel_err_x_T`` / ``rel_err_cond``: ``‖g - g_rev‖/‖g_rev‖`` against ``"reversible"``
  at the same steps;
* ``nfe``: the network evaluations of the call.

Targets: peak memory at 200 steps ≤ 1.1 × at 10 steps for ``reversible``
and AdjointDEIS, backprop growing about linearly, reversible time ≤ 2 × backprop's.

    python benchmarks/bench_gradients.py [--quick] [--rounds 3] [--steps 10 50 200]
        [--write-docs]   # also docs/data/gradients.json and the table of
                         # docs/guided-generation.md
        [--render]       # that table from docs/data/gradients.json only
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from revsde.diffusion import gradient, list_gradient_methods, pretrained
from revsde.diffusion.pretrained.digits import digit_classifier
from revsde.docblocks import write_block
from revsde.memory import peak_tensor_bytes

#: every registered gradient method, in the registry's order
METHODS = tuple(m["name"] for m in list_gradient_methods())
#: the methods whose memory does not grow with the steps
O1 = tuple(m["name"] for m in list_gradient_methods() if m["memory"] == "O(1)")
BATCH = 8
ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "guided-generation.md"
DOCS_DATA = ROOT / "docs" / "data" / "gradients.json"
#: the generated block of DOCS_PAGE that :func:`render` writes
BLOCK = "gradient-memory-table"


def _g(v: float) -> str:
    return f"{v:.2g}" if v < 0.01 else f"{v:.3g}"


def render(data: dict) -> str:
    """The memory and time table of docs/guided-generation.md (a test checks the page shows
    exactly this, rendered from docs/data/gradients.json)."""
    rows = data["results"]
    steps = sorted({r["steps"] for r in rows})
    by = {(r["method"], r["steps"]): r for r in rows}
    names = list(dict.fromkeys(r["method"] for r in rows))
    sl = " / ".join(str(n) for n in steps)
    out = [f"Measured by `python benchmarks/bench_gradients.py --write-docs` "
           f"({data['model']}, {data['dtype']}, batch {data['batch']}, `{data['sampler']}`, "
           f"{data['rounds']} round(s) of timing; saved in `docs/data/gradients.json`, from "
           "which a test checks this table is rendered):", "",
           f"| method | peak memory (MB) at {sl} steps | time (s) | rel. error x_T vs "
           "reversible | rel. error label | evaluations |", "|---|---|---|---|---|---|"]
    for m in names:
        cells = [" / ".join(_g(by[(m, n)][k]) for n in steps)
                 for k in ("peak_tensor_mb", "time_s", "rel_err_x_T", "rel_err_cond")]
        nfe = " / ".join(str(by[(m, n)]["nfe"]) for n in steps)
        out.append(f"| {m} | " + " | ".join(cells) + f" | {nfe} |")
    mem = data["summary"]["memory_ratio_last_over_first"]
    ratio = data["summary"]["paired_time_ratio_rev_over_backprop"]
    out += ["", f"Peak memory at {steps[-1]} steps over {steps[0]} steps: "
            + ", ".join(f"{m} {mem[m]:.4g}" for m in names) + "."]
    if ratio:
        out.append("Paired time ratio reversible/backprop (median over the rounds): "
                   + ", ".join(f"{ratio[str(n)]:.2f} at {n}" for n in steps
                               if str(n) in ratio) + " steps.")
    return "\n".join(out)


def write_page(data: dict) -> None:
    write_block(DOCS_PAGE, BLOCK, render(data))


def peak_tensor_mb(fn) -> float:
    """Peak live bytes (MB) of torch CPU allocations while ``fn`` runs (profiler events)."""
    return peak_tensor_bytes(fn) / 2**20


def setup(dtype: torch.dtype, seed: int = 0):
    model = pretrained("digits-unet", dtype=dtype)
    clf = digit_classifier(dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((BATCH, *model.image_shape), generator=g).to(dtype)
    labels = torch.arange(BATCH) % 10
    onehot = F.one_hot(labels, 10).to(dtype)

    def loss(x0):
        return F.cross_entropy(clf(x0), labels)

    return model, x_T, {"label": onehot}, loss


def run(case, method: str, steps: int, sampler: str):
    model, x_T, cond, loss = case
    return gradient(loss, model, x_T, cond=cond, steps=steps, sampler=sampler, seed=0,
                    method=method)


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sampler", default="rev_heun")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--quick", action="store_true", help="steps 2 4, one round (smoke test)")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write docs/data/gradients.json and the table of "
                         "docs/guided-generation.md")
    ap.add_argument("--render", action="store_true",
                    help="no measurement: the docs table from docs/data/gradients.json")
    args = ap.parse_args(argv)
    if args.render:
        write_page(json.loads(DOCS_DATA.read_text()))
        return 0
    if args.quick:
        args.steps, args.rounds = [2, 4], 1
    if "reversible" not in args.methods:
        args.methods = ["reversible", *args.methods]
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    case = setup(dtype)
    run(case, "reversible", 2, args.sampler)  # warm-up: one-time allocations not counted
    rows = {(m, n): {"method": m, "steps": n} for m in args.methods for n in args.steps}
    for n in args.steps:
        ref = run(case, "reversible", n, args.sampler)
        for m in args.methods:
            row = rows[(m, n)]
            r = run(case, m, n, args.sampler)
            row["nfe"] = r.nfe
            row["loss"] = float(r.loss)
            row["rel_err_x_T"] = _rel(r.grad_x_T, ref.grad_x_T)
            row["rel_err_cond"] = _rel(r.grad_cond["label"], ref.grad_cond["label"])
            row["peak_tensor_mb"] = peak_tensor_mb(lambda m=m, n=n: run(case, m, n, args.sampler))
    times = {k: [] for k in rows}
    rng = random.Random(0)
    for _ in range(args.rounds):
        for n in args.steps:
            order = list(args.methods)
            rng.shuffle(order)
            for m in order:
                t0 = time.perf_counter()
                run(case, m, n, args.sampler)
                times[(m, n)].append(time.perf_counter() - t0)
    for k, row in rows.items():
        row["time_s"] = statistics.median(times[k])
    summary = {"memory_ratio_last_over_first": {}, "paired_time_ratio_rev_over_backprop": {}}
    lo, hi = min(args.steps), max(args.steps)
    for m in args.methods:
        summary["memory_ratio_last_over_first"][m] = (
            rows[(m, hi)]["peak_tensor_mb"] / rows[(m, lo)]["peak_tensor_mb"])
    if "backprop" in args.methods:
        for n in args.steps:
            ratios = [a / b for a, b in zip(times[("reversible", n)], times[("backprop", n)])]
            summary["paired_time_ratio_rev_over_backprop"][str(n)] = statistics.median(ratios)
    mem = summary["memory_ratio_last_over_first"]
    summary["targets"] = {
        "o1_memory_ratio_le_1.1": {m: mem[m] <= 1.1 for m in O1 if m in mem},
        "backprop_memory_grows": (mem.get("backprop", 0.0) > 0.5 * hi / lo)
        if "backprop" in mem else None,
        "reversible_time_le_2x_backprop": {
            k: v <= 2.0 for k, v in summary["paired_time_ratio_rev_over_backprop"].items()},
    }
    data = {
        "benchmark": "gradients", "model": "digits-unet", "dtype": args.dtype,
        "sampler": args.sampler, "batch": BATCH, "grid": "uniform_lambda",
        "loss": "cross_entropy(digit_classifier(x0), labels 0..7)",
        "wrt": ["x_T", "cond.label"], "rounds": args.rounds,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "results": list(rows.values()), "summary": summary,
        "quick": bool(args.quick),
    }
    print(json.dumps(data, indent=2))
    if args.write_docs and not args.quick:
        DOCS_DATA.write_text(json.dumps(data, indent=2) + "\n")
        write_page(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
