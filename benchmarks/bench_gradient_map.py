"""The gradient map: error of ∂loss/∂x_T against steps for every gradient method and sampler.

Prints one JSON document and, with ``--out DIR``, draws ``DIR/gradient_map.png``.

Cases (none used by the other tests), float64, the full time range of each schedule
(``t_min``..``t_max``, nothing truncated), ``uniform_lambda`` grids, a batch of 8
noises and the loss ``Σ w·x0 + ¼ Σ x0²``:

* PF-ODE: two Gaussian mixtures (``mix3d``: 3 components in 3-D; ``mix2d``: 4 on a
  square in 2-D) on the cosine and linear VP schedules.  The continuous gradient is
  the exact (reversible) gradient of ``rex_rk4`` at 1024 steps (its change from 512
  steps is printed as ``reference_change``: about 1e-9).
* diffusion SDE: the same mixtures, each sample on one Brownian path drawn on a grid of
  ``FINE_STEPS`` uniform-λ steps that every step count divides (``FinePathSampler``: a
  coarse increment is the exact sum of the fine cells, docs/mathematics.md §1), so all
  step counts follow one path; the continuous (pathwise) gradient is the exact gradient
  of ``rex_shark`` on the fine grid.  And a Gaussian ``N(μ, s² I)`` in 3-D with the
  linear loss ``Σ w·x0``, whose pathwise gradient is the same on every path and known
  in closed form (docs/mathematics.md §9).

For each case, sampler (ODE: ``rev_heun``, ``rex_rk4``; SDE: ``rev_heun_sde``,
``rex_shark``), method and number of steps (8 … 128): ``rel_err`` against the
continuous gradient, ``rel_err_discrete`` against the exact gradient of the same
sampler at the same steps (``reversible``), the wall time of the call and the network
evaluations.  ``first_order_exact`` is the exact gradient of the first-order sampler
(``rex_euler``; ``rex_em`` for the SDE) at the same steps, the bar an AdjointDEIS
variant should meet.  The ``splits`` section measures the other splits of the AdjointDEIS integrand
(docs/mathematics.md §8.2) with ``rex_rk4`` states; ``order_runs`` the AdjointDEIS
methods at more step counts (``ORDER_STEPS``; ``rex_rk4`` states for the PF-ODE,
``rex_shark`` for the SDE), from which ``orders`` fits their orders over ``WINDOWS``;
``cancellation`` the second-order methods' local errors (2M and the single-step 2S) on
``DIAGNOSE_CASE``, each carried to x_T exactly (docs/mathematics.md §8.5); ``memory`` the
peak tensor memory at 16 and 128 steps (``rev_heun``, the first ODE case).

    python benchmarks/bench_gradient_map.py [--out DIR] [--quick] [--jobs N]
        [--write-accuracy]  # revsde/diffusion/gradients/accuracy.py
        [--write-docs]      # docs/gradient-map.md and docs/data/gradient_map.json
        [--render]          # docs/gradient-map.md from docs/data/gradient_map.json only
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import platform
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from revsde.brownian import BrownianGrid, Seeds
from revsde.diffusion import VPCosine, VPLinear, get_sampler, time_grid
from revsde.diffusion.gradients import GRADIENT_METHODS, gradient, list_gradient_methods
from revsde.diffusion.gradients.adjoint_deis import adjoint_deis_gradient, step_moments
from revsde.diffusion.oracles import GaussianMixtureOracle, GaussianOracle
from revsde.diffusion.samplers.rex import RexSampler
from revsde.memory import peak_tensor_bytes

ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "gradient-map.md"
DOCS_DATA = ROOT / "docs" / "data" / "gradient_map.json"
DOCS_IMG = ROOT / "docs" / "img" / "gradient_map.png"
ACCURACY = ROOT / "revsde" / "diffusion" / "gradients" / "accuracy.py"

F64 = torch.float64
STEPS = (8, 10, 16, 20, 32, 64, 128)
METHODS = ("reversible", "backprop", "greedy", "adjointdeis-1", "adjointdeis-2m",
           "adjointdeis-vp1", "adjointdeis-vp2m", "adjointdeis-lin1", "adjointdeis-lin2m",
           "adjointdeis-lin2s", "adjointdeis-linvp1", "adjointdeis-linvp2s")
DEIS = ("adjointdeis-1", "adjointdeis-2m", "adjointdeis-vp1", "adjointdeis-vp2m",
        "adjointdeis-lin1", "adjointdeis-lin2m", "adjointdeis-lin2s", "adjointdeis-linvp1",
        "adjointdeis-linvp2s")
#: the variants with exact weights, from which acceptance() picks the best
VARIANTS = ("adjointdeis-vp1", "adjointdeis-vp2m", "adjointdeis-lin1", "adjointdeis-lin2m",
            "adjointdeis-lin2s", "adjointdeis-linvp1", "adjointdeis-linvp2s")
#: the second-order variants with exact weights (multistep 2M, single-step 2S), whose fitted
#: orders the claims list
SECOND_ORDER = ("adjointdeis-vp2m", "adjointdeis-lin2m", "adjointdeis-lin2s",
                "adjointdeis-linvp2s")
#: each split's first-order variant and its second-order ones (the accuracy criteria are per
#: split: a second-order variant within 3x of the exact first-order gradient at 10 and 20
#: steps, with the fitted orders of both kept)
FAMILIES = {"vp": ("adjointdeis-vp1", ("adjointdeis-vp2m",)),
            "lin": ("adjointdeis-lin1", ("adjointdeis-lin2m", "adjointdeis-lin2s")),
            "linvp": ("adjointdeis-linvp1", ("adjointdeis-linvp2s",))}
#: random Gaussian mixtures beyond the map's cases, the exact-weight variants on each
#: (docs/gradient-map.md "Other mixtures")
ROBUST_SEEDS = tuple(range(8))
ROBUST_METHODS = ("adjointdeis-lin1", "adjointdeis-lin2m", "adjointdeis-lin2s",
                  "adjointdeis-linvp1", "adjointdeis-linvp2s")
ROBUST_STEPS = (10, 16, 20, 32, 64, 128, 256)
#: a random mixture counts as resolved at 20 steps where the exact gradient of rex_euler is
#: within this of the continuous one there
RESOLVED = 0.05
#: extra step counts of the AdjointDEIS methods (the order sampler's states only), for the
#: fitted orders and the step-to-step orders
ORDER_STEPS = {"ode": (24, 48, 96, 256), "sde": (40, 80, 160, 256)}
#: the state builder of the order fits, per mode
ORDER_SAMPLER = {"ode": "rex_rk4", "sde": "rex_shark"}
#: fitting windows (least-squares slope over the measured step counts within each)
WINDOWS = ((16, 128), (16, 256), (32, 256))
SAMPLERS = {"ode": ("rev_heun", "rex_rk4"), "sde": ("rev_heun_sde", "rex_shark")}
FIRST_ORDER = {"ode": "rex_euler", "sde": "rex_em"}
SPLITS = ("lifted", "score", "hessian")
SCHEDULES = {"vp_cosine": VPCosine, "vp_linear": VPLinear}
REF_STEPS = 1024
#: the Brownian grid of the SDE mixtures (every step count of the map divides it) and the
#: steps of their reference
FINE_STEPS = 1280
#: the case whose 2M local errors are carried to x_T one by one (docs/mathematics.md §8.5)
DIAGNOSE_CASE = "mix2d/vp_cosine/ode"
SEED = 3
TOLERANCE = 0.2


# -- cases ---------------------------------------------------------------------------------
def oracle(kind: str, schedule):
    """The case's oracle (none of them is used by the other tests)."""
    g = torch.Generator().manual_seed(123)
    if kind == "mix3d":
        means = torch.randn(3, 3, generator=g, dtype=F64)
        return GaussianMixtureOracle([0.25, 0.45, 0.3], means, [0.5, 0.4, 0.7], schedule)
    if kind == "mix2d":
        means = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=F64)
        return GaussianMixtureOracle([1.0, 2.0, 3.0, 2.0], means, [0.45] * 4, schedule)
    if kind == "gauss3d":
        return GaussianOracle(torch.tensor([0.6, -0.4, 0.2], dtype=F64), 0.5, schedule)
    raise ValueError(kind)


@dataclasses.dataclass
class Case:
    name: str
    kind: str
    mode: str  # "ode" or "sde"
    schedule: str
    model: object
    x_T: torch.Tensor
    w: torch.Tensor
    reference: torch.Tensor | None = None
    reference_change: float | None = None
    #: sampler name -> the sampler that draws its noise on the fine grid (SDE mixtures)
    fine: dict = dataclasses.field(default_factory=dict)

    def loss(self, x0):
        if self.kind == "gauss3d":
            return (self.w * x0).sum()
        return (self.w * x0).sum() + 0.25 * (x0 ** 2).sum()

    def sampler(self, name: str):
        if self.mode == "sde" and self.kind != "gauss3d":
            if name not in self.fine:
                self.fine[name] = fine_path_sampler(name, self)
            return self.fine[name]
        return name


@dataclasses.dataclass(frozen=True)
class FinePathSampler(RexSampler):
    """A registered SDE sampler whose Brownian path lives on a fixed fine clock grid
    (``FINE_STEPS`` uniform-λ steps) for every number of steps that divides it: a coarse
    step's increment is the exact sum of the fine cells it covers (docs/mathematics.md §1),
    so solves at different step counts follow one path and a fine solve is their reference.
    """

    fine_clocks: tuple = ()

    def brownian(self, clocks, like, seed):
        seeds = Seeds.of(seed, like.shape[0])
        return BrownianGrid(list(self.fine_clocks), tuple(like.shape), dtype=like.dtype,
                            device=like.device, entropy=seeds.seed, keys=seeds.keys,
                            levy_area=self._solver.needs_levy_area)


def fine_path_sampler(name: str, case: Case) -> FinePathSampler:
    s = get_sampler(name)
    ts = time_grid(case.model.schedule, FINE_STEPS, "uniform_lambda")
    clocks = s.lift(case.model, ts, None, case.x_T)[1]
    return FinePathSampler(name=s.name, method=s.method, case=s.case, zeta=s.zeta,
                           fine_clocks=tuple(sorted(clocks.tolist())))


def make_case(kind: str, schedule: str, mode: str = "ode") -> Case:
    sch = SCHEDULES[schedule]()
    orc = oracle(kind, sch)
    d = 2 if kind == "mix2d" else 3
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(8, d, generator=g, dtype=F64)
    w = torch.randn(8, d, generator=g, dtype=F64)
    mode = "sde" if kind == "gauss3d" else mode
    return Case(f"{kind}/{schedule}/{mode}", kind, mode, schedule, orc.model(), x_T, w)


def exact_sde_gradient(case: Case) -> torch.Tensor:
    """∂(Σ w·x0)/∂x_T on every path of the diffusion SDE of N(μ, s² I): R' w with
    R' = (v_0 α_T)/(v_T α_0), v = α² s² + σ² (docs/mathematics.md §9)."""
    sch = case.model.schedule
    ts = torch.tensor([sch.t_max, sch.t_min], dtype=F64)
    a, s = sch.alpha(ts), sch.sigma(ts)
    sd = float(case.model.net.s)
    v = a * a * sd * sd + s * s
    return (v[1] * a[0] / (v[0] * a[1])) * case.w


def set_reference(case: Case, steps: int = REF_STEPS) -> None:
    """The continuous gradient: closed form (the Gaussian), the exact gradient of
    ``rex_rk4`` at ``steps`` (PF-ODE) or of ``rex_shark`` on the fine grid of the path
    (SDE mixtures); ``reference_change`` its change from half as many steps."""
    if case.kind == "gauss3d":
        case.reference = exact_sde_gradient(case)
        case.reference_change = 0.0
        return
    name, steps = ("rex_shark", FINE_STEPS) if case.mode == "sde" else ("rex_rk4", steps)
    ref = run(case, "reversible", name, steps).grad_x_T
    half = run(case, "reversible", name, steps // 2).grad_x_T
    case.reference, case.reference_change = ref, rel(half, ref)


def split_method(weight: str, order: int):
    """An unregistered AdjointDEIS split (docs/mathematics.md §8.2), for the map only."""
    base = GRADIENT_METHODS.get("adjointdeis-vp1")
    name = f"split-{weight}{'2m' if order == 2 else '1'}"
    fn = functools.partial(adjoint_deis_gradient, order=order, weight=weight, name=name)
    return dataclasses.replace(base, name=name, fn=fn, guarded=False)


def run(case: Case, method, sampler: str, steps: int):
    import warnings

    from revsde.diffusion.gradients import GradientAccuracyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientAccuracyWarning)
        if isinstance(sampler, str):
            sampler = case.sampler(sampler)
        return gradient(case.loss, case.model, case.x_T, steps=steps, sampler=sampler,
                        seed=SEED, method=method)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def fit_order(steps, errs) -> float:
    return float(-np.polyfit(np.log(steps), np.log(errs), 1)[0])


# -- the measurement -----------------------------------------------------------------------
def measure(cases: list[Case], steps=STEPS, methods=METHODS, splits=SPLITS,
            memory: bool = True, samplers: dict | None = None,
            reference_steps: int = REF_STEPS, order_steps: dict | None = None,
            diagnose: bool = True) -> dict:
    rows, bars, split_rows, order_rows = [], [], [], []
    order_steps = ORDER_STEPS if order_steps is None else order_steps
    samplers = SAMPLERS if samplers is None else samplers
    for case in cases:
        set_reference(case, reference_steps)
        for n in steps:
            r = run(case, "reversible", FIRST_ORDER[case.mode], n)
            bars.append({"case": case.name, "steps": n, "sampler": FIRST_ORDER[case.mode],
                         "rel_err": rel(r.grad_x_T, case.reference)})
        for sampler in samplers[case.mode]:
            for n in steps:
                exact = run(case, "reversible", sampler, n)
                for m in methods:
                    r = exact if m == "reversible" else run(case, m, sampler, n)
                    rows.append({
                        "case": case.name, "mode": case.mode, "sampler": sampler, "method": m,
                        "steps": n, "rel_err": rel(r.grad_x_T, case.reference),
                        "rel_err_discrete": rel(r.grad_x_T, exact.grad_x_T),
                        "time_s": r.seconds, "nfe": r.nfe})
        for m in (d for d in methods if d in DEIS):
            for n in order_steps[case.mode]:
                r = run(case, m, ORDER_SAMPLER[case.mode], n)
                order_rows.append({"case": case.name, "mode": case.mode, "method": m,
                                   "sampler": ORDER_SAMPLER[case.mode], "steps": n,
                                   "rel_err": rel(r.grad_x_T, case.reference)})
        if case.mode == "ode" and splits:
            for weight in splits:
                for order in (1, 2):
                    m = split_method(weight, order)
                    for n in steps:
                        r = run(case, m, "rex_rk4", n)
                        split_rows.append({"case": case.name, "method": m.name, "steps": n,
                                           "rel_err": rel(r.grad_x_T, case.reference)})
    cancel = []
    if diagnose:
        case = next((c for c in cases if c.name == DIAGNOSE_CASE), None)
        if case is not None:
            cancel = cancellation(case)
    mem = []
    if memory:
        case = cases[0]
        for m in methods:
            for n in (16, 128):
                peak = peak_tensor_bytes(lambda m=m, n=n: run(case, m, "rev_heun", n))
                mem.append({"case": case.name, "sampler": "rev_heun", "method": m, "steps": n,
                            "peak_tensor_kb": peak / 1024})
    return {
        "benchmark": "gradient_map", "steps": list(steps), "reference_steps": reference_steps,
        "fine_steps": FINE_STEPS,
        "order_steps": {k: list(v) for k, v in order_steps.items()},
        "seed": SEED, "tolerance": TOLERANCE,
        "cases": [{"name": c.name, "reference_change": c.reference_change} for c in cases],
        "results": rows, "first_order_exact": bars, "splits": split_rows,
        "order_runs": order_rows, "memory": mem, "cancellation": cancel,
        "torch": torch.__version__, "machine": platform.machine(),
    }


# -- other mixtures ------------------------------------------------------------------------
def random_mixture(seed: int) -> dict:
    """A random Gaussian mixture: ``2 + seed % 3`` dimensions, ``2 + seed % 4`` components
    with means ``1.5 N(0, I)``, standard deviations in [0.2, 0.8] and weights in [0.5, 1.5];
    the linear VP schedule for even seeds, cosine for odd ones; ``x_T`` and the loss's ``w``
    (a batch of 8) from the same generator."""
    g = torch.Generator().manual_seed(1000 + seed)
    d, k = 2 + seed % 3, 2 + seed % 4
    means = 1.5 * torch.randn(k, d, generator=g, dtype=F64)
    stds = (0.2 + 0.6 * torch.rand(k, generator=g, dtype=F64)).tolist()
    weights = (0.5 + torch.rand(k, generator=g, dtype=F64)).tolist()
    return {"dim": d, "components": k, "means": means, "stds": stds, "weights": weights,
            "schedule": "vp_cosine" if seed % 2 else "vp_linear",
            "x_T": torch.randn(8, d, generator=g, dtype=F64),
            "w": torch.randn(8, d, generator=g, dtype=F64)}


def random_case(seed: int, mix: dict) -> Case:
    """The PF-ODE case of the mixture ``mix = random_mixture(seed)``."""
    orc = GaussianMixtureOracle(mix["weights"], mix["means"], mix["stds"],
                                SCHEDULES[mix["schedule"]]())
    return Case(f"random{seed}/{mix['schedule']}/ode", "random", "ode", mix["schedule"],
                orc.model(), mix["x_T"], mix["w"])


def robustness(seed: int, methods=ROBUST_METHODS, steps=ROBUST_STEPS,
               reference_steps: int = REF_STEPS) -> dict:
    """The exact-weight variants on :func:`random_case` ``(seed)``: errors at ``steps``
    (``rex_rk4`` states) against the continuous gradient, and the exact gradient of
    ``rex_euler`` at 10 and 20 steps."""
    mix = random_mixture(seed)
    case = random_case(seed, mix)
    set_reference(case, reference_steps)
    return {
        "case": case.name, "seed": seed, "dim": mix["dim"], "components": mix["components"],
        "std_min": min(mix["stds"]), "std_max": max(mix["stds"]),
        "reference_change": case.reference_change,
        "first_order_exact": {str(n): rel(run(case, "reversible", "rex_euler", n).grad_x_T,
                                          case.reference) for n in (10, 20)},
        "errors": {m: {str(n): rel(run(case, m, "rex_rk4", n).grad_x_T, case.reference)
                       for n in steps} for m in methods},
    }


# -- why the 2M fits start low: local errors, propagated exactly (docs/mathematics.md §8.5)
def _exact_paths(case: Case):
    """The PF-ODE path and its adjoint, solved to ~1e-12 (DOP853, dense): functions of λ
    giving the lifted state ``Y = x/α`` and ``a_Y = α a_x``, and the VJP right-hand side."""
    from scipy.integrate import solve_ivp

    sch, model, shape = case.model.schedule, case.model, case.x_T.shape
    ends = torch.tensor([sch.t_max, sch.t_min], dtype=F64)
    lam0, lam1 = sch.lambda_(ends).tolist()

    def coef(lam):
        t = sch.t_of_lambda(torch.tensor(lam, dtype=F64))
        return float(t), math.exp(float(sch.log_alpha(t))), math.exp(float(sch.log_sigma(t)))

    def f(lam, y):
        t, a, _ = coef(lam)
        with torch.no_grad():
            e = model.eps(torch.tensor(a * y, dtype=F64).reshape(shape), t)
        return -math.exp(-lam) * e.numpy().ravel()

    fw = solve_ivp(f, (lam0, lam1), (case.x_T / coef(lam0)[1]).numpy().ravel(),
                   method="DOP853", dense_output=True, rtol=1e-12, atol=1e-12)

    def vjp(lam, a_x):
        t, a, _ = coef(lam)
        x = torch.tensor(a * fw.sol(lam), dtype=F64).reshape(shape).requires_grad_()
        with torch.enable_grad():
            (g,) = torch.autograd.grad(model.eps(x, t), [x], grad_outputs=a_x)
        return g

    def g(lam, a_y):  # d a_Y/dλ = α σ a_xᵀ ∂ε/∂x (docs/mathematics.md §8.1, c = 1)
        _, a, sg = coef(lam)
        return a * sg * vjp(lam, torch.tensor(a_y / a, dtype=F64).reshape(shape)).numpy().ravel()

    x0 = torch.tensor(fw.sol(lam1) * coef(lam1)[1], dtype=F64).reshape(shape).requires_grad_()
    with torch.enable_grad():
        (a0,) = torch.autograd.grad(case.loss(x0), [x0])
    bw = solve_ivp(g, (lam1, lam0), (a0 * coef(lam1)[1]).numpy().ravel(), method="DOP853",
                   dense_output=True, rtol=1e-12, atol=1e-14)

    def carry(a_y, l_from, l_to):
        return solve_ivp(g, (l_from, l_to), a_y, method="DOP853", rtol=1e-8,
                         atol=1e-14).y[:, -1]
    return coef, vjp, bw.sol, carry, lam0


def cancellation(case: Case, methods=("adjointdeis-vp2m", "adjointdeis-lin2m",
                                      "adjointdeis-lin2s"),
                 steps=(16, 32, 64)) -> list[dict]:
    """For each second-order method and number of steps: the local error of every step (one
    step from the exact adjoint, with the exact previous point for 2M), carried exactly to
    x_T; ``sum_of_norms`` and ``norm_of_sum`` of those over ``‖g*‖``, and the method's error
    with the exact states (``error``)."""
    coef, vjp, a_y, carry, lam_T = _exact_paths(case)
    shape, out = case.x_T.shape, []
    ref = float(case.reference.norm())
    for m in methods:
        weight = "linear" if "lin" in m else "vp"
        for n_steps in steps:
            lam = case.model.schedule.lambda_(time_grid(case.model.schedule, n_steps,
                                                        "uniform_lambda")).numpy()
            w0, w1 = step_moments(weight, "x", lam[1:], lam[:-1])
            al = [coef(v)[1] for v in lam]
            sg = [coef(v)[2] for v in lam]
            a_x = [torch.tensor(a_y(v) / al[k], dtype=F64).reshape(shape)
                   for k, v in enumerate(lam)]

            def q(k, a, lam=lam, sg=sg, weight=weight):  # the approximated part at point k
                v = vjp(lam[k], a)
                return v - sg[k] * a if weight == "linear" else v
            qs = [q(k, a_x[k]) for k in range(len(lam))]
            total, norms = 0.0, 0.0
            approx, prev = a_x[-1], None
            for n in range(n_steps - 1, -1, -1):
                t = n + 1
                for exact_start in (True, False):
                    a_t = a_x[t] if exact_start else approx
                    q_t = qs[t] if exact_start else q(t, approx)
                    q_r = (qs[t + 1] if exact_start else prev) if t < n_steps else None
                    inc = w0[n] * q_t
                    if m.endswith("2s"):  # Heun: q at s from the first-order prediction (§8.6)
                        pred = (a_t + inc) if weight == "linear" else (al[t] * a_t + inc) / al[n]
                        inc = inc + (w1[n] / (lam[n] - lam[t])) * (q(n, pred) - q_t)
                    elif q_r is not None:
                        inc = inc + (w1[n] / (lam[t] - lam[t + 1])) * (q_t - q_r)
                    b = (a_t + inc) if weight == "linear" else (al[t] * a_t + inc) / al[n]
                    if exact_start:
                        d = ((b - a_x[n]) * al[n]).numpy().ravel()
                        c = (carry(d, lam[n], lam_T) if n > 0 else d) / al[0]
                        total, norms = total + c, norms + float(np.linalg.norm(c))
                    else:
                        prev, approx = q_t, b
            out.append({"case": case.name, "method": m, "steps": n_steps,
                        "sum_of_norms": norms / ref,
                        "norm_of_sum": float(np.linalg.norm(total)) / ref,
                        "error": float((approx - case.reference).norm()) / ref})
    return out


# -- summaries -----------------------------------------------------------------------------
def _by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def accuracy_table(data: dict) -> dict:
    """Per method and kind of sampler (``"ode"``, ``"sde"``): the largest rel_err over
    the cases and samplers of that kind, per number of steps, and the fewest steps from
    which it stays within the tolerance."""
    out: dict = {}
    for m in METHODS:
        for mode in ("ode", "sde"):
            errs = {}
            for n in data["steps"]:
                vals = [r["rel_err"] for r in _by(data["results"], method=m, steps=n,
                                                   mode=mode)]
                if vals:
                    errs[n] = max(vals)
            if not errs:
                continue
            valid = None
            for n in sorted(errs, reverse=True):
                if errs[n] > data["tolerance"]:
                    break
                valid = n
            out.setdefault(m, {})[mode] = {"rel_err": errs, "valid_min_steps": valid}
    return out


def order_points(data: dict, method: str, case: str) -> list[tuple[int, float]]:
    """``(steps, rel_err)`` of an AdjointDEIS method on a case with the order sampler's
    states: the map's step counts and the extra ``order_runs``."""
    mode = case.rsplit("/", 1)[1]
    rows = _by(data["results"], method=method, case=case, sampler=ORDER_SAMPLER[mode])
    rows += _by(data.get("order_runs", []), method=method, case=case)
    return sorted({(r["steps"], r["rel_err"]) for r in rows})


def orders(data: dict) -> dict:
    """Per AdjointDEIS method and case: the fitted order over each window of
    :data:`WINDOWS` and the step-to-step orders ``log(e_i/e_j)/log(n_j/n_i)``."""
    out: dict = {}
    for m in DEIS:
        for c in data["cases"]:
            pts = order_points(data, m, c["name"])
            if not pts:
                continue
            fits = {}
            for lo, hi in WINDOWS:
                w = [(n, e) for n, e in pts if lo <= n <= hi]
                if len(w) >= 3 and w[-1][0] == hi:
                    fits[f"{lo}-{hi}"] = fit_order(*zip(*w))
            local = {f"{a}-{b}": float(np.log(ea / eb) / np.log(b / a))
                     for (a, ea), (b, eb) in zip(pts[:-1], pts[1:]) if a >= 16}
            out.setdefault(m, {})[c["name"]] = {"fit": fits, "step_to_step": local}
    return out


def best_variant(data: dict) -> str:
    """The exact-weight variant with the smallest largest error at 10 and 20 steps over the
    PF-ODE cases and both state builders of the map (``rev_heun``, the default sampler of
    ``gradient``, and ``rex_rk4``)."""
    return min(VARIANTS, key=lambda m: max(
        r["rel_err"] for r in _by(data["results"], method=m, mode="ode")
        if r["steps"] in (10, 20)))


def ratios(data: dict, method: str, samplers=("rex_rk4",)) -> dict:
    """Per case and state builder, ``method``'s error at 10 and 20 steps over the
    first-order sampler's exact gradient at the same steps (``"case@steps"``, with
    ``" (sampler)"`` appended where there is more than one)."""
    out = {}
    for sampler in samplers:
        tag = f" ({sampler})" if len(samplers) > 1 else ""
        for c in data["cases"]:
            for n in (10, 20):
                bar = _by(data["first_order_exact"], case=c["name"], steps=n)
                row = _by(data["results"], method=method, case=c["name"], sampler=sampler,
                          steps=n)
                if bar and row:
                    out[f"{c['name']}@{n}{tag}"] = row[0]["rel_err"] / bar[0]["rel_err"]
    return out


def acceptance(data: dict) -> dict:
    """The accuracy criteria: per ODE case, the best variant's error at 10 and 20 steps over the
    first-order sampler's exact gradient (want ≤ 3) with ``rex_rk4`` states (accurate: the
    adjoint's own error shows), and with ``rev_heun`` states beside the exact gradient of
    ``rev_heun`` itself; and the fitted orders."""
    best = best_variant(data)
    return {"best": best, "samplers": list(SAMPLERS["ode"]), "sampler": "rex_rk4",
            "ratio_to_first_order_exact": ratios(data, best),
            "ratio_rev_heun": ratios(data, best, ("rev_heun",)),
            "reversible_rev_heun": ratios(data, "reversible", ("rev_heun",)),
            "orders": orders(data)}


def family_checks(data: dict, windows=("16-128", "16-256")) -> dict:
    """The accuracy criteria per split and second-order variant: its largest error at 10 and
    20 steps over the first-order sampler's exact gradient (want ≤ 3), and the fitted orders
    of it and of its first-order sibling on every PF-ODE case over ``windows`` (want within
    the tolerance of 2 and 1); ``misses`` lists the fits that are not."""
    ords = orders(data)
    out = {}
    for first, seconds in FAMILIES.values():
        for m in seconds:
            misses = [f"`{v}` {c.split('/')[0]}/{c.split('/')[1]} {w} "
                      f"{ords[v][c]['fit'][w]:.2f}"
                      for v in (first, m) for c in ords.get(v, {}) if c.endswith("/ode")
                      for w in windows if w in ords[v][c]["fit"]
                      and abs(ords[v][c]["fit"][w] - _order(v)) > data["tolerance"]]
            out[m] = {"first": first, "ratio": max(ratios(data, m).values()),
                      "misses": misses}
    return out


def _at(key: str) -> int:
    """The steps of a :func:`ratios` key ``"case@steps (sampler)"``."""
    return int(key.split("@")[1].split(" ")[0])


def _robust_fit(r: dict, m: str) -> float:
    pts = sorted((int(n), e) for n, e in r["errors"][m].items() if int(n) >= 16)
    return fit_order(*zip(*pts))


def _robust_kept(rows: list, m: str, tol: float) -> int:
    """How many of the random mixtures ``rows`` keep ``m``'s fitted order within ``tol``."""
    return sum(abs(_robust_fit(r, m) - _order(m)) <= tol for r in rows)


def _robust_ratio(r: dict, m: str) -> float:
    return max(r["errors"][m][n] / r["first_order_exact"][n] for n in ("10", "20"))


def robust_section(rows: list, tol: float) -> list[str]:
    """The page's section on the random mixtures (:func:`robustness`)."""
    methods = list(rows[0]["errors"])
    resolved = [r for r in rows if r["first_order_exact"]["20"] <= RESOLVED]
    out = ["## Other mixtures", "",
           f"{len(rows)} random Gaussian mixtures (`random_mixture` in the script: 2-4 "
           "dimensions, 2-5 components with means `1.5 N(0, I)`, standard deviations in "
           "[0.2, 0.8]; linear VP schedule for even seeds, cosine for odd), PF-ODE, `rex_rk4` "
           "states, `g*` as above. Per mixture: how far the exact gradient of `rex_euler` is "
           "at 20 steps (how well 20 steps resolve the mixture), how much `g*` moves from half "
           "its steps, and per method its fitted order over 16-256 steps / its largest "
           "error at 10 and 20 steps over that of the exact `rex_euler` gradient:", "",
           "| mixture | dim, comp. | std | first-order exact at 20 | `g*` change | "
           + " | ".join(f"`{m.removeprefix('adjointdeis-')}`" for m in methods) + " |",
           "|---|---|---|---|---|" + "---|" * len(methods)]
    for r in rows:
        out.append(f"| {r['case']} | {r['dim']}, {r['components']} | "
                   f"{r['std_min']:.2f}-{r['std_max']:.2f} | "
                   f"{_fmt(r['first_order_exact']['20'])} | {r['reference_change']:.0e} | "
                   + " | ".join(f"{_robust_fit(r, m):.2f} / {_robust_ratio(r, m):.2g}"
                                for m in methods) + " |")
    out += ["", "Mixtures where each method's fitted order is within "
            f"{tol:g} of its order / where it is within 3x of the exact first-order gradient "
            "at 10 and 20 steps: " + ", ".join(
                f"`{m}` {_robust_kept(rows, m, tol)} / "
                f"{sum(_robust_ratio(r, m) <= 3.0 for r in rows)}" for m in methods)
            + f" (of {len(rows)}); on the {len(resolved)} where the exact first-order "
            f"gradient is within {RESOLVED:g} at 20 steps, the fitted orders within {tol:g}: "
            + ", ".join(f"`{m}` {_robust_kept(resolved, m, tol)}"
                        for m in methods) + ".", ""]
    return out


# -- outputs -------------------------------------------------------------------------------
def _setting_lines(key: str) -> str:
    """``'key': (...)``, the setting as string pieces of at most 70 characters."""
    parts = textwrap.wrap(SETTINGS[key], 70, drop_whitespace=False)
    pad = " " * (len(repr(key)) + 7)
    return f"    {key!r}: (" + ("\n" + pad).join(repr(p) for p in parts) + "),"


def write_accuracy(data: dict, path: Path = ACCURACY) -> None:
    acc = accuracy_table(data)
    lines = [
        '"""Measured accuracy of the gradient methods: generated, do not edit by hand.',
        "",
        "Written by ``python benchmarks/bench_gradient_map.py --write-accuracy`` from the",
        "gradient map (docs/gradient-map.md); ``tests/test_gradient_map.py`` re-runs a case",
        "of it and checks these numbers.  ``MEASURED[name][kind]['rel_err'][steps]``, with",
        "``kind`` ``'ode'`` (PF-ODE samplers, Gaussian mixtures) or ``'sde'`` (diffusion-SDE",
        "samplers, a Gaussian), is the largest relative error of dloss/dx_T against the",
        "continuous gradient over the map's cases of that kind; ``valid_min_steps`` is the",
        "fewest steps from which it stays within ``TOLERANCE``; ``BEST`` the AdjointDEIS",
        "variant with the smallest largest PF-ODE error at 10 and 20 steps (the one a guard's",
        "warning suggests).",
        '"""',
        "",
        f"TOLERANCE = {data['tolerance']!r}",
        f"BEST = {best_variant(data)!r}",
        "SETTING = {",
        *(_setting_lines(k) for k in ("ode", "sde")),
        "}",
        "MEASURED: dict = {",
    ]
    for m, kinds in acc.items():
        lines.append(f"    {m!r}: {{")
        for mode, v in kinds.items():
            lines.append(f"        {mode!r}: {{")
            errs = [f"{n}: {e:.3g}" for n, e in v["rel_err"].items()]
            lines.append("            'rel_err': {" + ", ".join(errs[:4]) + ",")
            lines.append("                        " + ", ".join(errs[4:]) + "},")
            lines.append(f"            'valid_min_steps': {v['valid_min_steps']!r},")
            lines.append("        },")
        lines.append("    },")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


SETTINGS = {
    "ode": "PF-ODE, two Gaussian mixtures on VP cosine and linear, rev_heun and rex_rk4 states",
    "sde": ("diffusion SDE, two Gaussian mixtures (one Brownian path) and a Gaussian on VP "
            "cosine and linear, rev_heun_sde and rex_shark states"),
}


#: the page's sections of the map: (key, title, note); a case belongs to one (_section)
SECTIONS = (
    ("ode", "PF-ODE (Gaussian mixtures)", ""),
    ("sde-mix", "Diffusion SDE: Gaussian mixtures on one Brownian path", (
        "Along a Brownian path the states, and with them `a_xᵀ ∂ε/∂x`, are rough in λ: no "
        "AdjointDEIS step can then exceed strong order 1 ([§8.5](mathematics.md#s8.5)), and "
        "the states' own error (that of the sampler) enters too; at 8-20 steps even the "
        "exact gradients of the samplers are far from the pathwise one.\n\n")),
    ("sde-gauss", "Diffusion SDE: a Gaussian (closed-form pathwise gradient)", (
        "`∂ε/∂x` does not depend on the state here, so the adjoint's own discretisation shows "
        "alone, and the exact gradient of every reversible sampler is the continuous one to "
        "round-off, as is the Jacobian of the one-step Tweedie map (`greedy`). The adjoint "
        "of the SDE (`c = 2`) grows by about `e^{|h|}` per step near the noise end, which "
        "`adjointdeis-vp2m` extrapolates ([§8.4](mathematics.md#s8.4)).\n\n")),
)


def _pair(best: str) -> tuple[str, ...]:
    """The best variant and its sibling of the other order (``-lin1`` with ``-lin2m``)."""
    first, second = ((best[:-2] + "1", best) if _order(best) == 2.0
                     else (best, best[:-1] + "2m"))
    return first, second


def _order(method: str) -> float:
    return 2.0 if method.endswith(("2m", "2s")) else 1.0


def _section(case: str) -> str:
    kind, _, mode = case.split("/")
    return "ode" if mode == "ode" else ("sde-gauss" if kind == "gauss3d" else "sde-mix")


def _ref_change(data: dict, mode: str) -> float:
    return max([c["reference_change"] for c in data["cases"] if c["name"].endswith(mode)],
               default=0.0)


def _fmt(x: float) -> str:
    return f"{x:.2g}" if x >= 0.01 else f"{x:.1e}"


def render(data: dict) -> str:
    """docs/gradient-map.md from the saved measurement (a test checks the page is this)."""
    steps = data["steps"]
    head = "| method | sampler | " + " | ".join(str(n) for n in steps) + " |"
    sep = "|---|---|" + "---|" * len(steps)
    out = [
        "# Gradient map",
        "",
        "Generated by `benchmarks/bench_gradient_map.py --write-docs` from "
        "`docs/data/gradient_map.json`; do not edit by hand (a test checks that this page is "
        "what the script renders from the saved data, and a quick fresh run of one case "
        "against the saved numbers).",
        "",
        "Relative error `‖g - g*‖/‖g*‖` of `∂loss/∂x_T` for every gradient method of "
        "`revsde.diffusion.gradient` against the number of steps. Cases (none used by the "
        "other tests), float64, the full time range of each schedule, `uniform_lambda` "
        "grids, a batch of 8, loss `Σ w·x0 + ¼ Σ x0²` (`Σ w·x0` for the Gaussian):",
        "",
        "- **PF-ODE**: two Gaussian mixtures (3 components in 3-D, 4 on a square in 2-D) on "
        "the cosine and linear VP schedules; `g*` the exact gradient of `rex_rk4` at "
        f"{data['reference_steps']} steps (it moves by "
        f"{_ref_change(data, 'ode'):.0e} from half as many);",
        "- **diffusion SDE**: the same mixtures on one Brownian path per sample, drawn on a "
        f"grid of {data.get('fine_steps', FINE_STEPS)} uniform-λ steps that every step count "
        "divides (a coarse increment is the exact sum of the fine ones, "
        "[§1](mathematics.md#s1)); `g*` the exact gradient of `rex_shark` on that grid (it "
        f"moves by {_ref_change(data, 'sde'):.0e} from half as many). And a Gaussian "
        "`N(μ, s² I)` in 3-D with the linear loss `Σ w·x0`, whose pathwise gradient is the "
        "same on every path and known in closed form ([§9](mathematics.md#s9)).",
        "",
        "Each cell is the largest error over the cases of its kind. *first-order exact* is "
        "the exact gradient of the first-order sampler (`rex_euler`, `rex_em`) at the "
        "same steps. AdjointDEIS variants: [§8](mathematics.md#s8) (paper) and "
        "[§8.2](mathematics.md#s8.2)–[§8.3](mathematics.md#s8.3) (exact VP weight, `vp`), "
        "[§8.4](mathematics.md#s8.4) (exact linear part, `lin`; `1` first order, `2m` "
        "multistep) and [§8.6](mathematics.md#s8.6) (its single second-order step, `lin2s`), "
        "[§8.7](mathematics.md#s8.7) (the same with the VP factor `α²` in the weight, "
        "`linvp`).",
        "",
        "![gradient map](img/gradient_map.png)",
        "",
    ]
    for key, title, note in SECTIONS:
        names = [c["name"] for c in data["cases"] if _section(c["name"]) == key]
        rows = [r for r in data["results"] if r["case"] in names]
        if not rows:
            continue
        mode = rows[0]["mode"]
        out += [f"## {title}", "", note + "Against the continuous gradient:", "", head, sep]
        bar = [max(b["rel_err"] for b in data["first_order_exact"]
                   if b["steps"] == n and b["case"] in names) for n in steps]
        out.append(f"| first-order exact | `{FIRST_ORDER[mode]}` | "
                   + " | ".join(_fmt(e) for e in bar) + " |")
        for m in METHODS:
            for s in SAMPLERS[mode]:
                errs = [max(r["rel_err"] for r in _by(rows, method=m, sampler=s, steps=n))
                        for n in steps]
                out.append(f"| `{m}` | `{s}` | " + " | ".join(_fmt(e) for e in errs) + " |")
        out += ["", "Against the exact gradient of the same sampler at the same steps:", "",
                head, sep]
        for m in METHODS:
            if m in ("reversible", "backprop"):
                continue
            for s in SAMPLERS[mode]:
                errs = [max(r["rel_err_discrete"] for r in _by(rows, method=m, sampler=s,
                                                                 steps=n)) for n in steps]
                out.append(f"| `{m}` | `{s}` | " + " | ".join(_fmt(e) for e in errs) + " |")
        out.append("")
    out += ["## Time and memory", "",
            "Median wall time of one call (ms) over the cases (mixture oracles are cheap: "
            "this is mostly the per-step overhead; with a network, time follows the NFE), "
            "and peak tensor memory (KB) of one call with `rev_heun` on the first case:", "",
            "| method | ms at 16 (`rev_heun`) | ms at 128 (`rev_heun`) | ms at 128 (`rex_rk4`) "
            "| KB at 16 | KB at 128 |", "|---|---|---|---|---|---|"]
    for m in METHODS:
        def ms(s, n, m=m):
            return 1e3 * statistics.median(r["time_s"] for r in _by(
                data["results"], mode="ode", method=m, sampler=s, steps=n))
        kb = {r["steps"]: r["peak_tensor_kb"] for r in _by(data["memory"], method=m)}
        out.append(f"| `{m}` | {ms('rev_heun', 16):.0f} | {ms('rev_heun', 128):.0f} | "
                   f"{ms('rex_rk4', 128):.0f} | {kb.get(16, float('nan')):.0f} | "
                   f"{kb.get(128, float('nan')):.0f} |")
    out += ["", "## Other splits of the AdjointDEIS integrand", "",
            "The integrand `e^{-λ} α² a_xᵀ ∂ε/∂x` split into an exact weight and an "
            "approximated part in other ways ([§8.2](mathematics.md#s8.2)), with `rex_rk4` "
            "states, largest error over the PF-ODE cases (not registered):", "", head, sep]
    for weight in SPLITS:
        for order in (1, 2):
            name = f"split-{weight}{'2m' if order == 2 else '1'}"
            rows = _by(data["splits"], method=name)
            if rows:
                errs = [max(r["rel_err"] for r in _by(rows, steps=n)) for n in steps]
                out.append(f"| `{name}` | `rex_rk4` | " + " | ".join(_fmt(e) for e in errs)
                           + " |")
    acc = acceptance(data)
    out += ["", "## Fitted orders", "",
            "Least-squares slope of `log rel_err` against `log steps` over each window (the "
            "map's step counts plus "
            + "; ".join(f"{k.upper()} " + ", ".join(str(n) for n in v)
                        for k, v in data["order_steps"].items())
            + "), and the order between consecutive step counts, for the AdjointDEIS "
            "methods with `rex_rk4` states (PF-ODE) and `rex_shark` states (SDE). Why the "
            "2-D mixture's second-order fits depart from 2 (below it for the multistep "
            "steps, above it for the single step): [§8.5](mathematics.md#s8.5).", ""]
    ords = acc["orders"]
    for mode in ("ode", "sde"):
        per_case = [(m, c, v) for m, per in ords.items() for c, v in per.items()
                    if c.endswith(mode)]
        if not per_case:
            continue
        wins = [f"{lo}-{hi}" for lo, hi in WINDOWS]
        locs = sorted({k for _, _, v in per_case for k in v["step_to_step"]},
                      key=lambda k: int(k.split("-")[0]))
        out += ["", f"{mode.upper()}:", "",
                "| method | case | " + " | ".join(f"fit {w}" for w in wins) + " | "
                + " | ".join(locs) + " |", "|---|---|" + "---|" * (len(wins) + len(locs))]
        for m, c, v in per_case:
            out.append(f"| `{m}` | {c} | "
                       + " | ".join(f"{v['fit'].get(w, float('nan')):.2f}" for w in wins)
                       + " | " + " | ".join(f"{v['step_to_step'].get(k, float('nan')):.2f}"
                                            for k in locs) + " |")
    cancel = data.get("cancellation", [])
    if cancel:
        out += ["", f"Why (on {cancel[0]['case']}, [§8.5](mathematics.md#s8.5)): the local "
                "error of every step (one step from the exact adjoint and states, with the "
                "exact previous point for 2M, from its own prediction for 2S), carried to "
                "`x_T` exactly (DOP853); relative to "
                "`‖g*‖`, the sum of their norms, the norm of their sum, and the method's error "
                "with exact states:", "",
                "| method | steps | Σ ‖local‖ | ‖Σ local‖ | error |", "|---|---|---|---|---|"]
        for r in cancel:
            out.append(f"| `{r['method']}` | {r['steps']} | {_fmt(r['sum_of_norms'])} | "
                       f"{_fmt(r['norm_of_sum'])} | {_fmt(r['error'])} |")
    if data.get("robustness"):
        out += [""] + robust_section(data["robustness"], data["tolerance"])[:-1]
    fam = family_checks(data)
    out += ["", "## Measured claims", "",
            "- Best AdjointDEIS variant at 10 and 20 steps (smallest largest error over the "
            "PF-ODE cases with " + " and ".join(f"`{s}`" for s in acc["samplers"])
            + f" states): `{acc['best']}`. Its error over the exact gradient of the "
            f"first-order sampler at the same steps, per case, with `{acc['sampler']}` states "
            "(accurate, so that the adjoint's own error shows): "
            + ", ".join(f"{k} {v:.2f}" for k, v in acc["ratio_to_first_order_exact"].items())
            + ". With `rev_heun` states it is "
            + "-".join(f"{f(acc['ratio_rev_heun'].values()):.2f}" for f in (min, max))
            + " times, where the exact gradient of `rev_heun` itself is "
            + "-".join(f"{f(acc['reversible_rev_heun'].values()):.2f}" for f in (min, max))
            + " times as far.",
            "- The second-order variants' largest error over it at 10 / 20 steps (over the "
            "PF-ODE cases, `rex_rk4` states): " + ", ".join(
                f"`{m}` " + " / ".join(
                    f"{max(v for k, v in ratios(data, m).items() if _at(k) == n):.2f}"
                    for n in (10, 20)) for m in SECOND_ORDER) + ".",
            "- Fitted orders on the PF-ODE mixtures (table above), windows 16-128 / 16-256, "
            "marked where not within 0.2 of 1 or 2:"
            + "".join(
                f" `{m}` " + ", ".join(
                    f"{c.split('/')[0]}/{c.split('/')[1]} "
                    + " / ".join(f"{v['fit'].get(w, float('nan')):.2f}"
                                 for w in ("16-128", "16-256"))
                    + ("" if all(abs(v["fit"].get(w, 0.0) - _order(m)) <= 0.2
                                 for w in ("16-128", "16-256")) else " (not within 0.2)")
                    for c, v in ords.get(m, {}).items() if c.endswith("/ode")) + ";"
                for m in dict.fromkeys((*_pair(acc["best"]), *SECOND_ORDER)))[:-1] + ".",
            "- The accuracy criteria per second-order variant with exact weights: its largest "
            "error at 10 and 20 steps over the exact gradient of the first-order sampler "
            "(within 3x wanted), and whether its fitted orders and those of its first-order "
            "sibling stay within " f"{data['tolerance']:g} of 2 and 1 on every PF-ODE case over "
            "16-128 and 16-256: " + "; ".join(
                f"`{m}` {v['ratio']:.2f}, " + (f"with `{v['first']}` all kept" if not v["misses"]
                                               else "not kept: " + ", ".join(v["misses"]))
                for m, v in fam.items()) + ".",
            "- Valid ranges, in steps (largest error ≤ "
            f"{data['tolerance']:g} from there on, up to {max(steps)}; stored in "
            "`revsde/diffusion/gradients/accuracy.py`; a guarded call below warns), PF-ODE / "
            "SDE: " + ", ".join(
                f"`{m}` " + " / ".join(str(v[k]["valid_min_steps"] or "none") for k in v)
                for m, v in accuracy_table(data).items()) + ".",
            "", "## Recommendation", "", recommendation(data), ""]
    return "\n".join(out)


RECOMMENDATION = """\
- For the gradient of what you sample, use `method="reversible"`: it is exact for the
  discrete sampler at any number of steps, O(1) in memory, and with `rex_rk4` (fourth
  order) it is also close to the continuous gradient from few steps on (table above).
- Where a continuous-adjoint estimate of the PF-ODE is wanted (no re-run of the step), use
  `{best}`: at 10 and 20 steps it has the smallest largest error on the mixtures with
  either state builder (`rev_heun`, the default sampler of `gradient`, and `rex_rk4`);
  with `rex_rk4` states it is within {ratio:.2g}x of the exact gradient of the first-order
  sampler (with `rev_heun` states up to {rh:.2g}x, the exact gradient of `rev_heun`
  itself up to {rh_rev:.2g}x), and its largest
  error stays within {tol:g} from {best_ode} steps on. {best_orders}. `{first}` is the
  first-order fallback (from {first_ode} steps).
- The other second-order variants, their largest PF-ODE errors from 16 steps on over those
  of `{best}`, with `rev_heun` / `rex_rk4` states: {others}. With an accurate state builder
  and 16 steps or more, the most accurate is `{top_rk4}`.
- On the diffusion SDE only the `lin` variants stay bounded at few steps: on the Gaussian
  at 10 steps `{best}` is off by {lin_g10:.2g}, `adjointdeis-vp2m` by {vp_g10:.0e}
  ([§8.4](mathematics.md#s8.4)). On the mixtures, along one Brownian path and with
  `rex_shark` states, the largest errors at 10-20 steps are {best_m20:.2g} for `{best}` and
  {rev_m20:.2g} for the exact gradient of `rex_shark` itself; at 64 steps {best_m64:.2g} and
  {rev_m64:.2g}. {sde_guard}
- On the random mixtures (section above) no variant keeps its fitted order on all of them
  (at most {robust_max} of {robust_n}): where 20 steps do not resolve a mixture, the fits
  from 16 steps are not yet asymptotic.
- The paper's `adjointdeis-1` / `adjointdeis-2m` are kept for comparison: at 8-20 steps
  their errors reach {paper_ode:.0e} (PF-ODE) and {paper_sde:.0e} (SDE); they warn there.
- `greedy` is a one-step estimate (error of order 1 on the mixtures at every step count):
  cheap guidance, not a gradient of the solve."""


def recommendation(data: dict) -> str:
    """The recommendation, its numbers read from the measurement."""
    acc, table = acceptance(data), accuracy_table(data)
    best = acc["best"]
    first = _pair(best)[0]

    def worst(methods, steps, section, sampler=None, mode=None):
        return max(r["rel_err"] for r in data["results"]
                   if r["method"] in methods and r["steps"] in steps
                   and (section is None or _section(r["case"]) == section)
                   and (sampler is None or r["sampler"] == sampler)
                   and (mode is None or r["mode"] == mode))

    def valid(m, mode):
        return table[m][mode]["valid_min_steps"] or "none"

    def span(m, sampler):
        r = [worst((m,), (n,), "ode", sampler) / worst((best,), (n,), "ode", sampler)
             for n in data["steps"] if n >= 16]
        lo, hi = f"{min(r):.2g}", f"{max(r):.2g}"
        return lo if lo == hi else f"{lo}-{hi}"
    few = [n for n in data["steps"] if n <= 20]
    late = [n for n in data["steps"] if n >= 16]
    top_rk4 = min(VARIANTS, key=lambda m: max(
        worst((m,), (n,), "ode", "rex_rk4") / worst((best,), (n,), "ode", "rex_rk4")
        for n in late))
    others = "; ".join(f"`{m}` {span(m, 'rev_heun')} / {span(m, 'rex_rk4')}"
                       for m in SECOND_ORDER if m != best)
    fam = family_checks(data).get(best)
    best_orders = ("Its fitted orders and those of `" + first + "` stay within "
                   f"{data['tolerance']:g} of 2 and 1 on every PF-ODE case\n  from 16 steps on"
                   if fam is not None and not fam["misses"] else
                   "Its fitted orders depart on the PF-ODE cases ("
                   + ", ".join(fam["misses"] if fam else ["not measured"]) + ")")
    rows = data.get("robustness") or []
    robust_max = max((_robust_kept(rows, m, data["tolerance"])
                      for m in (rows[0]["errors"] if rows else ())), default=0)
    lo = table[best]["sde"]["valid_min_steps"]
    sde_guard = (f"A call of `{best}` with an SDE sampler warns below {lo} steps (its\n  "
                 f"largest error over both SDE samplers is within {data['tolerance']:g} from "
                 "there on)." if lo is not None else
                 "Its largest error over both SDE samplers (`rev_heun_sde` states are\n  "
                 f"the worse) exceeds {data['tolerance']:g} at every step count measured, so a "
                 f"call of `{best}`\n  with an SDE sampler always warns.")
    return RECOMMENDATION.format(
        best=best, ratio=max(acc["ratio_to_first_order_exact"].values()),
        rh=max(acc["ratio_rev_heun"].values()), rh_rev=max(acc["reversible_rev_heun"].values()),
        tol=data["tolerance"], best_ode=valid(best, "ode"), first=first,
        best_orders=best_orders, first_ode=valid(first, "ode"), others=others,
        top_rk4=top_rk4,
        lin_g10=worst((best,), (10,), "sde-gauss"),
        vp_g10=worst(("adjointdeis-vp2m",), (10,), "sde-gauss"),
        best_m20=worst((best,), (10, 20), "sde-mix", "rex_shark"),
        rev_m20=worst(("reversible",), (10, 20), "sde-mix", "rex_shark"),
        best_m64=worst((best,), (64,), "sde-mix", "rex_shark"),
        rev_m64=worst(("reversible",), (64,), "sde-mix", "rex_shark"),
        sde_guard=sde_guard, robust_max=robust_max, robust_n=len(rows),
        paper_ode=worst(("adjointdeis-1", "adjointdeis-2m"), few, None, mode="ode"),
        paper_sde=worst(("adjointdeis-1", "adjointdeis-2m"), few, None, mode="sde"))


def draw(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11.4, 4.0), dpi=90)
    ylims = {"ode": (1e-7, 1e4), "sde-mix": (1e-3, 1e9), "sde-gauss": (1e-16, 1e9)}
    titles = {"ode": "PF-ODE, mixtures", "sde-mix": "SDE, mixtures (one path)",
              "sde-gauss": "SDE, Gaussian"}
    for ax, (key, _, _) in zip(axes, SECTIONS):
        names = [c["name"] for c in data["cases"] if _section(c["name"]) == key]
        rows = [r for r in data["results"] if r["case"] in names]
        if not rows:
            continue
        mode = rows[0]["mode"]
        bar = [max(b["rel_err"] for b in data["first_order_exact"]
                   if b["steps"] == n and b["case"] in names) for n in data["steps"]]
        ax.loglog(data["steps"], bar, "k--", label=f"exact {FIRST_ORDER[mode]}")
        s = SAMPLERS[mode][1]
        drawn = ("reversible", "greedy", *DEIS)
        # one colour each (tab20: the dark shades first, then the light ones), more lines
        # than the default cycle's 10
        colors = [plt.get_cmap("tab20")(2 * i % 20 + 2 * i // 20) for i in range(len(drawn))]
        for m, color in zip(drawn, colors):
            errs = [max(r["rel_err"] for r in _by(rows, method=m, sampler=s, steps=n))
                    for n in data["steps"]]
            ax.loglog(data["steps"], errs, "o-", ms=3, color=color, label=f"{m}")
        ax.set_ylim(*ylims[key])
        ax.set_xlabel("steps")
        ax.set_title(f"{titles[key]} ({s} states)", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("relative error of dloss/dx_T")
    # one legend under the three panels (inside one, it covered the curves)
    handles, labels = axes[2].get_legend_handles_labels()
    labels = [f"exact {' / '.join(FIRST_ORDER.values())} (first-order sampler)"
              if lab.startswith("exact ") else lab for lab in labels]
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=6, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    from PIL import Image

    Image.open(path).convert("RGB").quantize(64).save(path, optimize=True)  # small, for docs


def _rounded(x):
    """Floats to 6 significant digits (the saved data; the tests compare to 1e-3)."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def saved_json(data: dict) -> str:
    """docs/data/gradient_map.json: the measurement without its derived summary, one row
    per line."""
    d = _rounded({k: v for k, v in data.items() if k != "summary"})
    lines = ["{"]
    for i, (k, v) in enumerate(d.items()):
        end = "," if i < len(d) - 1 else ""
        if isinstance(v, list) and v and isinstance(v[0], dict):
            rows = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in v]
            lines.append(f" {json.dumps(k)}: [\n  " + ",\n  ".join(rows) + f"\n ]{end}")
        else:
            lines.append(f" {json.dumps(k)}: "
                         + json.dumps(v, separators=(",", ":"), ensure_ascii=False) + end)
    return "\n".join(lines + ["}"]) + "\n"


def quick_cases() -> list[Case]:
    """The one case a quick run (and the test) re-measures."""
    return [make_case("mix3d", "vp_cosine")]


def all_cases() -> list[Case]:
    return [make_case(*spec) for spec in _ALL_SPECS]


#: ``make_case`` arguments of the full map's cases, in their order
_ALL_SPECS = ([(k, s, "ode") for k in ("mix3d", "mix2d") for s in SCHEDULES]
              + [(k, s, "sde") for k in ("mix3d", "mix2d") for s in SCHEDULES]
              + [("gauss3d", s, "sde") for s in SCHEDULES])


def _measure_spec(index: int) -> dict:
    """The full map's measurement of its case ``index`` alone (the memory rows with the
    first case, as :func:`measure` takes them)."""
    torch.set_num_threads(1)
    return measure([make_case(*_ALL_SPECS[index])], memory=index == 0)


def _robust_spec(seed: int) -> dict:
    torch.set_num_threads(1)
    return robustness(seed)


def measure_all(jobs: int = 1) -> dict:
    """:func:`measure` of :func:`all_cases`, one case per process over ``jobs`` processes
    (the same rows in the same order as one serial run; only the timings differ)."""
    if jobs <= 1:
        data = measure(all_cases())
        data["robustness"] = [robustness(seed) for seed in ROBUST_SEEDS]
        return data
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as ex:
        parts = list(ex.map(_measure_spec, range(len(_ALL_SPECS))))
        robust = list(ex.map(_robust_spec, ROBUST_SEEDS))
    data = parts[0]
    for part in parts[1:]:
        for k in ("cases", "results", "first_order_exact", "splits", "order_runs", "memory",
                  "cancellation"):
            data[k] = data[k] + part[k]
    data["robustness"] = robust
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None,
                    help="folder for gradient_map.png (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true",
                    help="one case, steps 10 20, the AdjointDEIS methods (smoke test)")
    ap.add_argument("--write-accuracy", action="store_true",
                    help=f"write {ACCURACY.relative_to(ROOT)}")
    ap.add_argument("--write-docs", action="store_true",
                    help="write docs/gradient-map.md, docs/data/gradient_map.json and "
                         "docs/img/gradient_map.png")
    ap.add_argument("--jobs", type=int, default=1,
                    help="measure the cases in this many processes (same rows, faster)")
    ap.add_argument("--render", action="store_true",
                    help="no measurement: render docs/gradient-map.md and its figure (and, with "
                         "--write-accuracy, the accuracy module) from "
                         "docs/data/gradient_map.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.render:
        saved = json.loads(DOCS_DATA.read_text())
        DOCS_PAGE.write_text(render(saved))
        draw(saved, DOCS_IMG)
        if args.write_accuracy:
            write_accuracy(saved)
        return 0
    t0 = time.perf_counter()
    if args.quick:
        data = measure(quick_cases(), steps=(10, 20), methods=("reversible", *DEIS), splits=(),
                       memory=False, order_steps={"ode": (), "sde": ()}, diagnose=False)
    else:
        data = measure_all(args.jobs)
    data["seconds"] = time.perf_counter() - t0
    if not args.quick:
        data["summary"] = {"accuracy": accuracy_table(data), "acceptance": acceptance(data),
                           "methods": [m["name"] for m in list_gradient_methods()]}
    print(json.dumps(data, indent=1, default=float))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gradient_map_"))
    if not args.quick:
        draw(data, out / "gradient_map.png")
    if args.write_accuracy and not args.quick:
        write_accuracy(data)
    if args.write_docs and not args.quick:
        DOCS_DATA.write_text(saved_json(data))
        draw(data, DOCS_IMG)
        DOCS_PAGE.write_text(render(json.loads(DOCS_DATA.read_text())))  # as the test does
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
