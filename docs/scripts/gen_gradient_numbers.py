"""Measure and render the gradient numbers of docs/guided-generation.md outside its benchmarks.

    python docs/scripts/gen_gradient_numbers.py            # measure (about a minute on one
                                                           # thread), write
                                                           # docs/data/gradient_numbers.json
                                                           # and the page's blocks
    python docs/scripts/gen_gradient_numbers.py --render   # only rewrite the blocks
    python docs/scripts/gen_gradient_numbers.py --check    # compare a fresh measurement with
                                                           # the JSON (what
                                                           # tests/test_docs_gradient_numbers.py
                                                           # does)

What it owns (the page's memory and guided-generation tables belong to
``benchmarks/bench_gradients.py`` and ``examples/guided_generation.py``):

* ``<!-- gradient-orders -->``: the AdjointDEIS errors against the exact gradient of the
  exact flow on the Gaussian oracle (:func:`gaussian_errors`, which
  ``tests/test_gradients.py`` uses for its order tests too), the fitted orders
  (:func:`fit_order`), and the same methods on the full schedule (``t_max = 1``);
* ``<!-- gradient-exactness -->``: ``reversible`` against ``backprop`` on the shipped
  ``digits-unet`` in float64 (:func:`exactness_row`).

Tolerances of ``--check``: the Gaussian numbers are float64 arithmetic on a fixed problem
and path, recomputed in full and compared within :data:`REL_GAUSSIAN` (relative); the
round-off figures of the trained model depend on the machine's BLAS and are compared
within a factor of :data:`ROUNDOFF_FACTOR`, or both below :data:`ROUNDOFF_FLOOR`; the
gradient norms within :data:`REL_NORM`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from revsde.diffusion import DiffusionModel, VPLinear, gradient, time_grid
from revsde.diffusion.gradients import GradientAccuracyWarning
from revsde.diffusion.models import per_sample
from revsde.docblocks import read_block, write_block

DOCS = Path(__file__).resolve().parents[1]
DATA = DOCS / "data" / "gradient_numbers.json"
PAGE = DOCS / "guided-generation.md"
F64 = torch.float64

#: a fresh Gaussian error agrees with the saved one within this relative difference
REL_GAUSSIAN = 1e-6
#: trained-model round-off: within this factor, or both below ROUNDOFF_FLOOR
ROUNDOFF_FACTOR = 10.0
ROUNDOFF_FLOOR = 1e-12
#: gradient norms on the trained model: within this relative difference
REL_NORM = 1e-6

#: the schedule of the order table (the full one, t_max = 1, is FULL_SCHEDULE)
SCH = VPLinear(t_max=0.5)
FULL_SCHEDULE = VPLinear()
#: the order table's rows: (sampler, SDE?, method)
ORDER_ROWS = (("rev_heun", False, "adjointdeis-1"), ("rev_heun", False, "adjointdeis-2m"),
              ("rev_heun_sde", True, "adjointdeis-1"), ("rev_heun_sde", True, "adjointdeis-2m"))
ORDER_STEPS = (32, 64, 128, 256)
#: the full-schedule sentence: PF-ODE, these methods, this many steps
FULL_METHODS = ("adjointdeis-1", "adjointdeis-2m")
FULL_STEPS = 80
#: the Brownian path of the SDE rows
SEED = 7
#: the trained-model rows: samplers compared at EXACT_STEPS steps
EXACT_SAMPLERS = ("rev_heun", "rev_heun_sde", "rex_em", "rex_shark")
EXACT_STEPS = 8
#: the trained-model rows a fresh check re-measures
CHECK_SAMPLERS = ("rev_heun", "rev_heun_sde")


# -- the Gaussian oracle with a differentiable mean (cond) and scale (param) ---------------
class GaussianEps(nn.Module):
    """ε* of data N(μ, s² I) under ``schedule``: σ (x - α μ)/(α² s² + σ²), μ passed as
    cond, log s a parameter (docs/mathematics.md §9)."""

    def __init__(self, s: float = 0.5, schedule=SCH):
        super().__init__()
        self.schedule = schedule
        self.log_s = nn.Parameter(torch.tensor(math.log(s), dtype=F64))

    def forward(self, x, t, mu):
        sch = self.schedule
        a, sg = per_sample(sch.alpha(t), x), per_sample(sch.sigma(t), x)
        return sg * (x - a * mu) / (a * a * torch.exp(2 * self.log_s) + sg * sg)


def exact_gaussian(net: GaussianEps, x_T, mu, w, ts, sde: bool):
    """Exact gradients of L = Σ w·x0 through the exact flow (docs/mathematics.md §9).

    With v_t = α_t² s² + σ_t², the PF-ODE maps x_T to
    x0 = α_0 μ + R (x_T - α_T μ), R = sqrt(v_0/v_T); along any path of the diffusion SDE
    ∂x0/∂x_T = R' = (v_0 α_T)/(v_T α_0) and ∂x0/∂μ = α_0 - R' α_T (the adjoint ODE
    d(δx)/dt = (f + g²/v) δx is linear and path-free).  Returns (x_T, μ, log s) grads
    (the SDE's log s gradient depends on the path and is not meaningful).
    """
    sch = net.schedule
    T, t0 = ts[0], ts[-1]
    v = lambda t: sch.alpha(t) ** 2 * torch.exp(2 * net.log_s) + sch.sigma(t) ** 2  # noqa: E731
    if sde:
        R = v(t0) * sch.alpha(T) / (v(T) * sch.alpha(t0))
    else:
        R = torch.sqrt(v(t0) / v(T))
    x0 = sch.alpha(t0) * mu + R * (x_T - sch.alpha(T) * mu)
    g_s = torch.autograd.grad((w * x0).sum(), net.log_s)[0]
    return (R * w).detach(), ((sch.alpha(t0) - R * sch.alpha(T)) * w).detach(), g_s


def gaussian_problem(schedule=SCH):
    """(model, net, x_T, μ, w): the seeded 4x3 Gaussian problem of the tests and the docs."""
    torch.manual_seed(0)
    net = GaussianEps(schedule=schedule)
    shape = (4, 3)
    x_T = torch.randn(shape, dtype=F64)
    mu = 0.5 * torch.randn(shape, dtype=F64)
    w = torch.randn(shape, dtype=F64)
    return DiffusionModel(net, schedule, "eps"), net, x_T, mu, w


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def gaussian_errors(problem, sampler: str, sde: bool, method: str, steps) -> dict:
    """Relative errors of the x_T, μ and log s gradients of ``method`` against the exact
    gradient of the exact flow, one per step count (log s: PF-ODE only)."""
    model, net, x_T, mu, w = problem
    errs: dict = {"x_T": [], "mu": [], "log_s": []}
    for n in steps:
        with warnings.catch_warnings():  # the accuracy warning: these errors are the point
            warnings.simplefilter("ignore", GradientAccuracyWarning)
            r = gradient(lambda x0: (w * x0).sum(), model, x_T, cond={"mu": mu},
                         params=[net.log_s], steps=n, sampler=sampler, seed=SEED,
                         method=method)
        ts = time_grid(net.schedule, n, "uniform_lambda")
        gx, gmu, gs = exact_gaussian(net, x_T, mu, w, ts, sde)
        errs["x_T"].append(_rel(r.grad_x_T, gx))
        errs["mu"].append(_rel(r.grad_cond["mu"], gmu))
        errs["log_s"].append(float(abs(r.grad_params[0] - gs) / abs(gs)))
    if sde:
        del errs["log_s"]  # the SDE's ∂/∂s depends on the path
    return errs


def fit_order(steps, errs) -> float:
    """The least-squares slope of -log error against log steps."""
    return float(-np.polyfit(np.log(steps), np.log(errs), 1)[0])


def orders_table() -> dict:
    problem = gaussian_problem(SCH)
    rows = []
    for sampler, sde, method in ORDER_ROWS:
        errs = gaussian_errors(problem, sampler, sde, method, ORDER_STEPS)
        rows.append({"sampler": sampler, "sde": sde, "method": method, "errors": errs,
                     "orders": {k: fit_order(ORDER_STEPS, e) for k, e in errs.items()}})
    return {"steps": list(ORDER_STEPS), "t_max": SCH.t_max, "t_min": SCH.t_min,
            "rows": rows}


def full_schedule() -> dict:
    problem = gaussian_problem(FULL_SCHEDULE)
    alpha_T = float(FULL_SCHEDULE.alpha(torch.tensor(FULL_SCHEDULE.t_max, dtype=F64)))
    rows = {m: {k: e[0] for k, e in gaussian_errors(problem, "rev_heun", False, m,
                                                    (FULL_STEPS,)).items()}
            for m in FULL_METHODS}
    return {"steps": FULL_STEPS, "t_max": FULL_SCHEDULE.t_max, "alpha_T": alpha_T,
            "rows": rows}


# -- exactness on the trained model ---------------------------------------------------------
def digits_case():
    """(model, params, x_T, label, target): float64 digits-unet, three parameter tensors
    made trainable (the caller hands them back with :func:`release`)."""
    from revsde.diffusion import pretrained

    model = pretrained("digits-unet", dtype=F64)
    params = [model.net.net.label_emb.weight, model.net.net.out.weight, model.net.net.out.bias]
    for p in params:
        p.requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn((2, 1, 16, 16), generator=g, dtype=F64)
    label = torch.nn.functional.one_hot(torch.tensor([3, 7]), 10).to(F64)
    target = torch.randn((2, 1, 16, 16), generator=g, dtype=F64)
    return model, params, x_T, label, target


def release(case) -> None:
    for p in case[1]:
        p.requires_grad_(False)


def digits_loss(target):
    return lambda x0: ((x0 - target) ** 2).mean() + torch.tanh(x0).sum() * 1e-2


def exactness_row(case, sampler: str) -> dict:
    """``reversible`` against ``backprop`` at :data:`EXACT_STEPS` steps: relative errors
    of the x_T, label and parameter gradients, and the norm of backprop's x_T gradient."""
    model, params, x_T, label, target = case
    out = {m: gradient(digits_loss(target), model, x_T, cond={"label": label}, params=params,
                       steps=EXACT_STEPS, sampler=sampler, seed=11, method=m)
           for m in ("reversible", "backprop")}
    r, b = out["reversible"], out["backprop"]
    return {"sampler": sampler, "x_T": _rel(r.grad_x_T, b.grad_x_T),
            "label": _rel(r.grad_cond["label"], b.grad_cond["label"]),
            "params": max(_rel(gr, gb) for gr, gb in zip(r.grad_params, b.grad_params)),
            "grad_x_T_norm": float(b.grad_x_T.norm()),
            "same_sample": bool(torch.equal(r.sample, b.sample))}


def exactness(samplers=EXACT_SAMPLERS) -> dict:
    case = digits_case()
    try:
        rows = [exactness_row(case, s) for s in samplers]
    finally:
        release(case)
    return {"steps": EXACT_STEPS, "rows": rows}


def measure() -> dict:
    return {"orders": orders_table(), "full_schedule": full_schedule(),
            "exactness": exactness(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


# -- rendering ---------------------------------------------------------------------------------
def _sci(v: float, digits: int = 1) -> str:
    """``v`` in scientific notation without the exponent's sign and zero padding
    (2.2e-1, 1e-6); 0 as ``0``."""
    if v == 0:
        return "0"
    m, x = f"{v:.{digits}e}".split("e")
    return f"{m}e{int(x)}"


_LABEL = {"adjointdeis-1": "AdjointDEIS-1", "adjointdeis-2m": "AdjointDEIS-2M"}


def render_orders(data: dict) -> str:
    o, f = data["orders"], data["full_schedule"]
    steps = o["steps"]
    lines = [f"Relative errors at {'/'.join(map(str, steps))} steps, fitted slopes "
             "(generated by `docs/scripts/gen_gradient_numbers.py` into "
             "`docs/data/gradient_numbers.json` with the error measure and fit that "
             "`tests/test_gradients.py` checks its orders with; "
             "`tests/test_docs_gradient_numbers.py` recomputes the table and checks it within "
             f"{_sci(REL_GAUSSIAN, 0)}, relative):", "",
             f"| sampler (states) | method | error at {steps[0]} → {steps[-1]} steps (x_T) | "
             "fitted order x_T, μ, log s |", "|---|---|---|---|"]
    seen = set()
    for r in o["rows"]:
        name = r["sampler"]
        if name not in seen:
            name += " (SDE, c = 2)" if r["sde"] else " (PF-ODE, c = 1)"
            seen.add(r["sampler"])
        e = r["errors"]["x_T"]
        orders = ", ".join(f"{r['orders'][k]:.2f}" if k in r["orders"] else "—"
                           for k in ("x_T", "mu", "log_s"))
        lines.append(f"| {name} | {_LABEL[r['method']]} | {_sci(e[0])} → {_sci(e[-1])} | "
                     f"{orders} |")
    one, two = (f["rows"][m] for m in FULL_METHODS)
    lines += ["", f"On the full schedule (`t_max = {f['t_max']:g}`, where `α_T ≈ "
              f"{f['alpha_T']:.3f}`) the same methods converge far more slowly at the noise "
              "end: the factor `α_t/α_s` and the ε-term nearly cancel, so at "
              f"{f['steps']} steps the PF-ODE gradient w.r.t. `x_T` is still "
              f"{100 * one['x_T']:.0f} % off (AdjointDEIS-1) and {100 * two['x_T']:.0f} % "
              f"(2M); the gradient w.r.t. `μ` is within {100 * one['mu']:.2g} % and "
              f"{100 * two['mu']:.2g} %."]
    return "\n".join(lines)


def render_exactness(data: dict) -> str:
    e = data["exactness"]
    rows = {r["sampler"]: r for r in e["rows"]}
    ode = rows["rev_heun"]
    sdes = [r for r in e["rows"] if r["sampler"] != "rev_heun"]
    sde_x = ", ".join(f"{_sci(r['x_T'])} (`{r['sampler']}`)" for r in sdes)
    norms = [r["grad_x_T_norm"] for r in sdes]
    return (f"Relative error {_sci(ode['x_T'])} (x_T), {_sci(ode['label'])} (label) and "
            f"{_sci(ode['params'])} (parameters) with `rev_heun`; with the SDE samplers "
            f"{sde_x} for x_T, at most {_sci(max(r['label'] for r in sdes))} for the label and "
            f"{_sci(max(r['params'] for r in sdes))} for the parameters. The SDE's gradient "
            f"w.r.t. `x_T` is small: the SDE forgets its start (‖g‖ between "
            f"{_sci(min(norms))} and {_sci(max(norms))}, against {ode['grad_x_T_norm']:.2g} for "
            "the ODE).  (Generated by `docs/scripts/gen_gradient_numbers.py` into "
            "`docs/data/gradient_numbers.json`; `tests/test_docs_gradient_numbers.py` "
            f"re-measures {' and '.join(f'`{s}`' for s in CHECK_SAMPLERS)} and checks the "
            f"errors within a factor of {ROUNDOFF_FACTOR:g} or both below "
            f"{_sci(ROUNDOFF_FLOOR, 0)}, round-off being the machine's, and ‖g‖ within "
            f"{_sci(REL_NORM, 0)}.)")


BLOCKS = (("gradient-orders", render_orders), ("gradient-exactness", render_exactness))


def block(name: str, page: Path = PAGE) -> str:
    return read_block(page, name)


def write_blocks(data: dict) -> None:
    for name, render in BLOCKS:
        write_block(PAGE, name, render(data))


def load() -> dict:
    return json.loads(DATA.read_text())


# -- checking ------------------------------------------------------------------------------------
def close(saved: float, fresh: float, rel: float) -> bool:
    return abs(fresh - saved) <= rel * abs(saved)


def roundoff_close(saved: float, fresh: float) -> bool:
    return (saved <= ROUNDOFF_FLOOR and fresh <= ROUNDOFF_FLOOR) or \
        (fresh <= ROUNDOFF_FACTOR * saved and saved <= ROUNDOFF_FACTOR * fresh)


def gaussian_differences(data: dict, fresh_orders: dict, fresh_full: dict) -> list[str]:
    bad = []
    for r, f in zip(data["orders"]["rows"], fresh_orders["rows"], strict=True):
        for k, errs in r["errors"].items():
            for n, a, b in zip(data["orders"]["steps"], errs, f["errors"][k], strict=True):
                if not close(a, b, REL_GAUSSIAN):
                    bad.append(f"{r['sampler']} {r['method']} {k} at {n} steps: saved {a:.6g},"
                               f" measured {b:.6g}")
    for m, r in data["full_schedule"]["rows"].items():
        for k, a in r.items():
            b = fresh_full["rows"][m][k]
            if not close(a, b, REL_GAUSSIAN):
                bad.append(f"full schedule {m} {k}: saved {a:.6g}, measured {b:.6g}")
    return bad


def exactness_differences(data: dict, fresh_rows: list[dict]) -> list[str]:
    saved = {r["sampler"]: r for r in data["exactness"]["rows"]}
    bad = []
    for f in fresh_rows:
        r = saved[f["sampler"]]
        for k in ("x_T", "label", "params"):
            if not roundoff_close(r[k], f[k]):
                bad.append(f"{f['sampler']} {k}: saved {r[k]:.1e}, measured {f[k]:.1e}")
        if not close(r["grad_x_T_norm"], f["grad_x_T_norm"], REL_NORM):
            bad.append(f"{f['sampler']} ‖g‖: saved {r['grad_x_T_norm']:.6g}, measured "
                       f"{f['grad_x_T_norm']:.6g}")
        if not f["same_sample"]:
            bad.append(f"{f['sampler']}: reversible and backprop sample differently")
    return bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--render", action="store_true", help="only rewrite the page's blocks")
    p.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = p.parse_args()
    if args.render:
        write_blocks(load())
        print(f"wrote {PAGE}")
        return 0
    if args.check:
        data = load()
        bad = gaussian_differences(data, orders_table(), full_schedule())
        bad += exactness_differences(data, exactness(CHECK_SAMPLERS)["rows"])
        print("\n".join(bad) or "the page's gradient numbers agree with a fresh run")
        return 1 if bad else 0
    data = measure()
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    write_blocks(data)
    print(f"wrote {DATA}, {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
