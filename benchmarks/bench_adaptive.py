"""Adaptive against fixed grids at equal error, and the round trips of adaptive solves.

Prints one JSON document (docs/mathematics.md §11).  Three problems, each measured in one
run, side by side:

* ``ode``: the Van der Pol oscillator with ``μ = 5`` (stiff-ish: slow arcs and fast
  jumps) over ``[0, 12]``, a batch of 8 starts, float64; reference: ``dopri5`` at
  ``rtol = atol = 1e-12``.  The wrappers run with ``zeta = 0.5``: at the default 0.999
  their coupling is unstable on this dissipative problem, as Reversible Heun is at any
  step (the ``unstable`` runs: fixed grids blow up, adaptive solves use up their
  steps).  Its round trips run on the non-stiff oscillator (``μ = 1``) over ``[0, 3]``,
  at the default zeta and at 0.5 (whose inverse divides by zeta at every step).
* ``sde``: a diagonal-noise Stratonovich SDE (``benchmarks/common.py``-sized MLP drift
  and diffusion, state 8, batch 32), float64, one ``torchsde.BrownianInterval`` path for
  every solve; reference: Reversible Heun on 2^14 steps of that path.
* ``diffusion``: the probability-flow ODE of the shipped ``small-unet`` (case
  ``ode_x0``), a batch of 4 noises, float64 state; reference: ``rex_rk4`` on 256 steps.

For each, the work-precision points (:mod:`revsde.convergence.workprecision`: error
against network evaluations and seconds, fixed grids over step counts, adaptive solves
over tolerances) and ``equal_error``: for each method, the evaluations and seconds its
fixed grid and its adaptive solve need for the same error (log-linear between measured
points), at the errors the fixed grid reached at its middle step counts.

Round trips: an adaptive forward solve, then

* ``replay``: the inverse on the recorded accepted grid (revsde's);
* ``own_controller``: an inverse that runs its own controller, the way the official Rex
  adaptive mode inverts: its grid is chosen by an adaptive solve in the inverse
  direction, and the exact inverse steps run on that grid, which is not the forward's.

and, for the diffusion model, ``revsde.diffusion.encode``/``decode`` with ``rex_adaptive``
(the decode replays ``Latents.accepted``) against a decode that runs its own controller
(a fresh adaptive sample from the latent).  ``torchsde_adaptive``: torchsde's adaptive
``sdeint`` (Heun, step doubling) on the SDE, its evaluations at its tolerances (torchsde
has no inverse).  ``batch``: the diffusion encode's accepted steps for the batch and for
each sample alone (one controller serves the batch).

``--rex-official PATH`` (a checkout of https://github.com/zblasingame/Rex-solver; imported
from PATH at run time, nothing of it is part of revsde): the official ``RexTorchdynWrapper``
runs the diffusion round trip its own way, ``backward_solve`` from the pictures to
``t = 1`` (encode) and ``forward_solve`` back (decode), each direction with its own
controller, through a thin adapter (:func:`official_roundtrips`), in float32 and float64,
beside revsde's ``rex_adaptive`` encode/decode (replayed grid) and the own-controller
decode in the same dtype.  Its fixed-step mode on the same problem is the control: there
the two directions share the grid and the round trip comes back.  (The official solver
is built for diffusion schedules, so the invented ODE and SDE have no official row.)

    python benchmarks/bench_adaptive.py [--quick] [--rex-official PATH]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch
import torchsde

import revsde
from revsde.convergence.workprecision import (
    WorkPrecision,
    solver_runs,
    strong_error,
    work_precision,
)

F64 = torch.float64


class VanDerPol(torch.nn.Module):
    """``x' = v``, ``v' = μ (1 - x²) v - x``."""

    def __init__(self, mu: float):
        super().__init__()
        self.mu = mu

    def forward(self, t, y):
        x, v = y[:, 0], y[:, 1]
        return torch.stack([v, self.mu * (1 - x * x) * v - x], 1)


class NeuralSDE(torch.nn.Module):
    """Diagonal Stratonovich SDE with small MLP drift and diffusion (fixed random weights)."""

    noise_type = "diagonal"
    sde_type = "stratonovich"

    def __init__(self, state: int = 8, width: int = 32):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(state, width, generator=gen, dtype=F64) / state ** 0.5
        self.w2 = torch.randn(width, state, generator=gen, dtype=F64) / width ** 0.5
        self.v1 = torch.randn(state, width, generator=gen, dtype=F64) / state ** 0.5
        self.v2 = torch.randn(width, state, generator=gen, dtype=F64) / width ** 0.5

    def f(self, t, y):
        return torch.tanh(y @ self.w1) @ self.w2 - 0.5 * y

    def g(self, t, y):
        return 0.3 * torch.sigmoid(torch.tanh(y @ self.v1) @ self.v2)


def equal_error(wp: WorkPrecision, pairs: dict[str, tuple[str, str]]) -> list[dict]:
    """For each method, its fixed grid against its adaptive solve at equal error: at the
    error of every measured point of either curve, the other's evaluations and seconds
    interpolated log-linearly (where its points bracket that error)."""
    out = []
    for method, (fixed, adaptive) in pairs.items():
        for own, other in ((fixed, adaptive), (wp.curve(adaptive) and adaptive, fixed)):
            if not own:
                continue
            for p in wp.curve(own):
                if p.failed is not None or not math.isfinite(p.error) or p.error == 0:
                    continue
                q = wp.at_error(other, p.error)
                if q is None:
                    continue
                f_nfe, a_nfe = (p.nfe, q["nfe"]) if own == fixed else (q["nfe"], p.nfe)
                f_sec, a_sec = ((p.seconds, q["seconds"]) if own == fixed
                                else (q["seconds"], p.seconds))
                out.append({"method": method, "error": p.error, "measured": p.kind,
                            "fixed_nfe": f_nfe, "adaptive_nfe": a_nfe,
                            "fixed_seconds": f_sec, "adaptive_seconds": a_sec,
                            "nfe_ratio_fixed_over_adaptive": f_nfe / a_nfe})
    return out


def _own_controller_inverse(f, state, ts, method, rtol, atol, bm=None, **options):
    """An inverse with its own controller: a grid chosen by an adaptive solve from the end
    back to the start, then the exact inverse steps on it."""
    probe = revsde.sdeint(f, None, ts.flip(0), method=method, state=tuple(state),
                          adaptive=True, rtol=rtol, atol=atol, bm=bm, **options)
    back = revsde.sdeint_inverse(f, tuple(state), ts, method=method, bm=bm,
                                 grid=probe.grid.flip(0), **options)
    return back, probe.stats["nfe"] + back.stats["nfe"]


def roundtrips(f, y0, ts, methods, rtol, atol, bm=None, **options) -> list[dict]:
    out = []
    for m in methods:
        try:
            sol = revsde.sdeint(f, y0, ts, method=m, adaptive=True, rtol=rtol, atol=atol,
                                bm=bm, **options)
            back = revsde.sdeint_inverse(f, sol.state, ts, method=m, bm=bm, **options)
            own, own_nfe = _own_controller_inverse(f, sol.state, ts, m, rtol, atol, bm,
                                                   **options)
        except (revsde.StepBudgetError, revsde.NonFiniteError) as err:
            # Reversible Heun's parasitic mode; an inverse dividing by zeta < 1
            out.append({"method": m, **options, "rtol": rtol, "atol": atol,
                        "failed": str(err)})
            continue
        out.append({"method": m, **options, "rtol": rtol, "atol": atol,
                    "forward_nfe": sol.stats["nfe"],
                    "accepted": sol.stats["steps"], "rejected": sol.stats["rejected"],
                    "replay_error": float((back.ys[0] - y0).abs().max()),
                    "replay_bit_for_bit": bool(torch.equal(back.state[0], y0)),
                    "replay_nfe": back.stats["nfe"],
                    "own_controller_error": float((own.ys[0] - y0).abs().max()),
                    "own_controller_nfe": own_nfe})
    return out


def vdp_start() -> torch.Tensor:
    """The ODE problem's batch of 8 starts."""
    return torch.stack([torch.linspace(1.5, 2.5, 8, dtype=F64), torch.zeros(8, dtype=F64)], 1)


def ode_roundtrip_problem():
    """The ODE round trips' problem: the non-stiff oscillator (``μ = 1``) over ``[0, 3]``
    from the starts shifted off zero (a compensated zero is ±tiny)."""
    y0 = vdp_start() + torch.tensor([0.0, 0.1], dtype=F64)
    return VanDerPol(1.0), y0, torch.tensor([0.0, 3.0], dtype=F64)


#: the ODE round trips: (methods, rtol, atol, options)
ODE_ROUNDTRIPS = ((("mcf_bs3", "mcf_tsit5"), 1e-6, 1e-8, {}),
                  (("mcf_bs3", "mcf_tsit5"), 1e-6, 1e-8, {"compensated": True}),
                  (("mcf_tsit5",), 1e-6, 1e-8, {"zeta": 0.5}))


def ode_problem(quick: bool) -> dict:
    f = VanDerPol(5.0)
    y0 = vdp_start()
    ts = torch.tensor([0.0, 3.0 if quick else 12.0], dtype=F64)
    ref = revsde.sdeint(f, y0, ts, method="dopri5", adaptive=True, rtol=1e-12,
                        atol=1e-12).ys[-1]
    scale = 1 if quick else 4
    # the McCallum-Foster wrappers with zeta = 0.5: at the default 0.999 the coupling is
    # unstable on this dissipative problem (and Reversible Heun is at any step), which
    # the "unstable" runs show: fixed grids blow up, adaptive ones run out of steps
    steps = {"mcf_bs3": (50, 100, 200, 400, 800), "mcf_tsit5": (25, 50, 100, 200, 400),
             "tsit5": (25, 50, 100, 200, 400)}
    tols = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
    if quick:
        steps = {k: v[:3] for k, v in steps.items()}
        tols = tols[:3]
    runs: dict = {}
    for m in ("mcf_bs3", "mcf_tsit5"):
        runs.update(solver_runs(f, y0, ts, [m], steps=[scale * n for n in steps[m]],
                                tolerances=tols, label=" (zeta=0.5)", zeta=0.5))
    runs.update(solver_runs(f, y0, ts, ["tsit5"], steps=[scale * n for n in steps["tsit5"]],
                            tolerances=tols, label=" (not reversible)"))
    if not quick:  # each adaptive one runs through its whole budget of 10000 steps
        runs.update(solver_runs(f, y0, ts, ["reversible_heun"], steps=(scale * 800,),
                                tolerances=(1e-3,), label=" (unstable)"))
        runs.update(solver_runs(f, y0, ts, ["mcf_tsit5"], steps=(scale * 400,),
                                tolerances=(1e-3,), label=" (zeta=0.999, unstable)"))
    wp = work_precision(runs, ref, "ode")
    pairs = {m: (f"{m}{lab}", f"{m}{lab} adaptive")
             for m, lab in (("mcf_bs3", " (zeta=0.5)"), ("mcf_tsit5", " (zeta=0.5)"),
                            ("tsit5", " (not reversible)"))}
    # Round trips: the inverse of a wrapper with zeta < 1 divides by zeta at every step
    # (round-off grows like zeta^-N, docs/mathematics.md §3), so they run at the default
    # zeta = 0.999 on the non-stiff oscillator (mu = 1), where that coupling is stable.
    # (over [0, 3]: on longer spans the coupling's parasitic mode grows on the dissipative
    # arcs even at mu = 1, and the round-trip defect holds the steps small)
    mild, y0, short = ode_roundtrip_problem()
    trips = []
    for methods, rtol, atol, options in ODE_ROUNDTRIPS:
        trips += roundtrips(mild, y0, short, list(methods), rtol, atol, **options)
    if not quick:
        trips += roundtrips(mild, y0, short, ["reversible_heun"], 1e-3, 1e-3)
    return {"points": wp.to_dict()["points"], "equal_error": equal_error(wp, pairs),
            "roundtrip": trips}


class _Counted:
    """torchsde's view of an SDE, counting the drift evaluations."""

    def __init__(self, sde):
        self.sde, self.nfe = sde, 0
        self.noise_type, self.sde_type = sde.noise_type, sde.sde_type

    def f(self, t, y):
        self.nfe += 1
        return self.sde.f(t, y)

    def g(self, t, y):
        return self.sde.g(t, y)


def sde_problem(quick: bool) -> dict:
    sde = NeuralSDE()
    batch = 8 if quick else 32
    y0 = torch.randn(batch, 8, generator=torch.Generator().manual_seed(1), dtype=F64)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    bm = revsde.make_brownian(0.0, 1.0, (batch, 8), dtype=F64, device="cpu", entropy=7,
                              dt=2.0 ** -14)
    fine = 2 ** (10 if quick else 14)
    ref = revsde.sdeint(sde, y0, ts, method="reversible_heun", dt=1.0 / fine, bm=bm).ys[-1]
    methods = ["reversible_heun", "mcf_bs3"]
    steps = (16, 32, 64, 128, 256, 512)
    tols = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
    if quick:
        steps, tols = steps[:3], tols[:3]
    runs = solver_runs(sde, y0, ts, methods, steps=steps, tolerances=tols, bm=bm)
    wp = work_precision(runs, ref, "sde")
    tsde = []
    for tol in tols:
        counted = _Counted(sde)
        ys = torchsde.sdeint(counted, y0, ts, bm=bm, method="heun", adaptive=True, rtol=tol,
                             atol=tol, dt=0.05)
        tsde.append({"rtol": tol, "atol": tol, "nfe": counted.nfe,
                     "error": strong_error(ys[-1], ref)})
    return {"points": wp.to_dict()["points"],
            "equal_error": equal_error(wp, {m: (m, f"{m} adaptive") for m in methods}),
            "torchsde_adaptive": tsde,
            "roundtrip": roundtrips(sde, y0, ts, methods, 1e-2, 1e-2, bm=bm)}


def diffusion_problem(quick: bool, official: str | None = None) -> dict:
    from revsde.diffusion import decode, encode, get_sampler, pretrained, time_grid

    model = pretrained("small-unet", dtype=F64)
    batch = 2 if quick else 4
    gen = torch.Generator().manual_seed(3)
    size = 8 if quick else 16
    x_T = torch.randn(batch, model.channels, size, size, generator=gen, dtype=F64)
    x_T = x_T * float(model.schedule.sigma(torch.tensor(model.schedule.t_max, dtype=F64)))
    ts = time_grid(model.schedule, 2, "uniform_lambda")
    ref_steps = 16 if quick else 256
    ref = get_sampler("rex_rk4").sample(model, x_T, time_grid(model.schedule, ref_steps,
                                                              "uniform_lambda"))

    def fixed(name):
        def run(n):
            calls = _count(model)
            x = get_sampler(name).sample(model, x_T, time_grid(model.schedule, int(n),
                                                               "uniform_lambda"))
            return x, calls()
        return run

    def adaptive(name):
        def run(tol):
            s = get_sampler(name, rtol=tol, atol=tol)
            calls = _count(model)
            x = s.sample(model, x_T, ts)
            return x, calls()
        return run

    steps = (2, 4, 8) if quick else (4, 8, 16, 32, 64)
    tols = (1e-2, 1e-3) if quick else (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5)
    runs = {"rex_rk4": ("fixed", fixed("rex_rk4"), steps),
            "rex_heun": ("fixed", fixed("rex_heun"), () if quick else steps),
            "rev_heun": ("fixed", fixed("rev_heun"), tuple(4 * s for s in steps)),
            "rex_adaptive": ("adaptive", adaptive("rex_adaptive"), tols),
            "rev_heun_adaptive": ("adaptive", adaptive("rev_heun_adaptive"), tols)}
    wp = work_precision(runs, ref, "diffusion")
    # round trips through encode/decode (Latents), the decode replaying the accepted grid,
    # against a decode that runs its own controller (a fresh adaptive sample)
    x0 = ref.clamp(-1, 1).float()  # float32 pictures: the decode gives back their bits
    tol = 1e-2 if quick else 1e-3
    trips = []
    for name in ("rex_adaptive", "rev_heun_adaptive"):
        calls = _count(model)
        lat = encode(model, x0, steps=2, sampler=name, rtol=tol, atol=tol,
                     reproducible=False)
        enc_nfe = calls()
        calls = _count(model)
        x = decode(model, lat)
        dec_nfe = calls()
        s = get_sampler(name, rtol=tol, atol=tol)
        calls = _count(model)
        own = s.sample(model, lat.noise, lat.ts)
        own_nfe = calls()
        trips.append({"sampler": name, "rtol": tol, "atol": tol, "encode_nfe": enc_nfe,
                      "accepted": lat.accepted.numel() - 1,
                      "replay_decode_nfe": dec_nfe,
                      "replay_error": float((x - x0).abs().max()),
                      "replay_bit_for_bit": bool(torch.equal(x, x0)),
                      "own_controller_decode_nfe": own_nfe,
                      "own_controller_error": float((own - x0).abs().max())})
    # one controller for the batch: the encode's accepted steps, the batch against each alone
    s = get_sampler("rex_adaptive", rtol=tol, atol=tol)
    together = s.encode_state(model, x0, ts).grid.numel() - 1
    alone = [s.encode_state(model, x0[i:i + 1], ts).grid.numel() - 1 for i in range(batch)]
    out = {"points": wp.to_dict()["points"],
           "equal_error": equal_error(wp, {"rex (bs3 / heun, rk4)": ("rex_rk4", "rex_adaptive"),
                                           "rev_heun": ("rev_heun", "rev_heun_adaptive")}),
           "roundtrip": trips,
           "batch": {"accepted_steps_batch": together, "accepted_steps_alone": alone}}
    if official is not None:
        out["rex_official"] = official_roundtrips(official, x0, tol, quick)
    return out


# -- the official Rex code (github.com/zblasingame/Rex-solver), run from the user's checkout --
#: the official wrapper's settings: (tableau, adaptive, rtol = atol (None: the bench's
#: tolerance), n_steps): its two embedded pairs closest to rex_adaptive (bs3) and its
#: adaptive default (dopri5) at the bench's tolerance, dopri5 at the official defaults
#: (1e-5), and the fixed-step control on 20 steps (n_steps also sets the adaptive first
#: step: span / n_steps)
OFFICIAL_RUNS = (("bogacki_shampine", True, None, 20), ("dopri5", True, None, 20),
                 ("dopri5", True, 1e-5, 20), ("bogacki_shampine", False, None, 20))


def load_official(path: str):
    """``samplers.rex`` of an official Rex checkout at ``path`` (its root or its
    ``image-experiments`` folder), and the checkout's commit (None if not a git checkout)."""
    root = Path(path).expanduser().resolve()
    pkg = root / "image-experiments" if (root / "image-experiments").is_dir() else root
    if not (pkg / "samplers" / "rex.py").is_file():
        raise SystemExit(f"--rex-official {path}: no image-experiments/samplers/rex.py there; "
                         "pass a checkout of https://github.com/zblasingame/Rex-solver")
    for name in [m for m in sys.modules if m == "samplers" or m.startswith("samplers.")]:
        del sys.modules[name]  # a "samplers" imported before, from elsewhere
    sys.path.insert(0, str(pkg))
    try:
        rex = importlib.import_module("samplers.rex")
    finally:
        sys.path.remove(str(pkg))
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return rex, commit


class _OfficialScheduler:
    """What the official wrapper reads of a diffusers scheduler: ``betas`` (it derives the
    continuous linear-VP ``α(t)`` from the first and last), from the model's
    ``alphas_cumprod``, in the solve's dtype."""

    def __init__(self, schedule, dtype):
        acp = torch.as_tensor(schedule.alphas_cumprod, dtype=dtype)
        self.betas = torch.cat([1 - acp[:1], 1 - acp[1:] / acp[:-1]])


class _OfficialNet:
    """The official wrapper's ``model(t, x) -> ε`` (``model_type="noise"``), ``t`` a
    one-element tensor in its clock ``[eps, 1]``, which is revsde's ``t`` of the same
    ``alphas_cumprod`` (``t = (timestep + 1) / N``); counts its evaluations."""

    def __init__(self, model):
        self.model, self.nfe = model, 0

    def __call__(self, t, x):
        self.nfe += 1
        return self.model.eps(x, t.reshape(()).to(x.dtype).expand(x.shape[0]))


def official_roundtrips(path: str, x0: torch.Tensor, tol: float, quick: bool) -> dict:
    """The official adaptive Rex round trip on the shipped small-unet's probability-flow ODE:
    encode (``backward_solve`` from ``t_min`` to 1) then decode (``forward_solve`` back),
    float32 and float64, against revsde's ``rex_adaptive`` encode/decode (replayed grid)
    and its own-controller decode on the same pictures and dtype."""
    from revsde.diffusion import decode, encode, get_sampler, pretrained

    rex, commit = load_official(path)
    runs = OFFICIAL_RUNS[:2] + OFFICIAL_RUNS[3:] if quick else OFFICIAL_RUNS
    rows = []
    for dtype in (torch.float32, torch.float64):
        model = pretrained("small-unet", dtype=dtype)
        sched = model.schedule
        x = x0.to(dtype)
        t_min, t_max = float(sched.t_min), float(sched.t_max)
        for tableau, adaptive, rt, n_steps in runs:
            r = tol if rt is None else rt
            net = _OfficialNet(model)
            solver = rex.create_rex_solver(net, tableau=tableau, n_steps=n_steps,
                                           prediction_type="data", adaptive=adaptive,
                                           atol=r, rtol=r, eps=t_min,
                                           scheduler=_OfficialScheduler(sched, dtype),
                                           sched_type="linear")
            start = time.perf_counter()
            # float32 t_spans, as the official scripts make them (torch.tensor([eps, T]))
            with torch.no_grad():
                x_T, x_hat_T = solver.backward_solve(x.clone(), x.clone(),
                                                     torch.tensor([t_min, t_max]))
                enc_nfe = net.nfe
                back, _ = solver.forward_solve(x_T, x_hat_T, torch.tensor([t_max, t_min]))
            rows.append({"code": "official", "dtype": str(dtype).replace("torch.", ""),
                         "tableau": tableau, "adaptive": adaptive, "rtol": r, "atol": r,
                         "n_steps": n_steps, "encode_nfe": enc_nfe,
                         "decode_nfe": net.nfe - enc_nfe,
                         "roundtrip_error": float((back - x).abs().max()),
                         "seconds": time.perf_counter() - start})
        # revsde on the same pictures and dtype: the decode replays Latents.accepted; the
        # own-controller decode is a fresh adaptive sample from the latent
        calls = _count(model)
        start = time.perf_counter()
        lat = encode(model, x, steps=2, sampler="rex_adaptive", rtol=tol, atol=tol,
                     reproducible=False)
        enc_nfe = calls()
        calls = _count(model)
        back = decode(model, lat)
        row = {"dtype": str(dtype).replace("torch.", ""), "tableau": "bogacki_shampine",
               "adaptive": True, "rtol": tol, "atol": tol, "encode_nfe": enc_nfe,
               "accepted": lat.accepted.numel() - 1}
        rows.append({"code": "revsde replay", **row, "decode_nfe": calls(),
                     "roundtrip_error": float((back - x).abs().max()),
                     "bit_for_bit": bool(torch.equal(back, x)),
                     "seconds": time.perf_counter() - start})
        calls = _count(model)
        start = time.perf_counter()
        own = get_sampler("rex_adaptive", rtol=tol, atol=tol).sample(model, lat.noise, lat.ts)
        rows.append({"code": "revsde own controller", **row, "decode_nfe": calls(),
                     "roundtrip_error": float((own - x).abs().max()),
                     "seconds": time.perf_counter() - start})
    return {"repository": "https://github.com/zblasingame/Rex-solver", "commit": commit,
            "class": "samplers.rex.RexTorchdynWrapper (create_rex_solver)",
            "schedule": "linear VP from the model's betas (sched_type='linear'), "
                        "prediction_type='data', model_type='noise', zeta=0.999, "
                        "step_domain='t'",
            "pictures": list(x0.shape), "rows": rows}


def _count(model):
    """Count the network's evaluations from now on: returns a function giving the count."""
    net = model.net
    start = [0]
    if not hasattr(net, "_bench_calls"):
        def hook(*_):
            net._bench_calls += 1
        net._bench_calls = 0
        net.register_forward_hook(hook)
    start[0] = net._bench_calls
    return lambda: net._bench_calls - start[0]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small settings (a smoke run)")
    ap.add_argument("--only", choices=["ode", "sde", "diffusion"], nargs="*",
                    help="run these problems only")
    ap.add_argument("--rex-official", metavar="PATH",
                    help="a checkout of github.com/zblasingame/Rex-solver: also run its "
                         "adaptive round trip on the diffusion problem")
    args = ap.parse_args(argv)
    if args.rex_official is not None:
        load_official(args.rex_official)  # a bad path fails before the long runs
    torch.set_num_threads(1)
    todo = args.only or ["ode", "sde", "diffusion"]
    doc: dict = {"benchmark": "adaptive", "quick": args.quick, "torch": torch.__version__,
                 "revsde": revsde.__version__, "problems": {}}
    for name in todo:
        start = time.perf_counter()
        if name == "diffusion":
            doc["problems"][name] = diffusion_problem(args.quick, args.rex_official)
        else:
            doc["problems"][name] = {"ode": ode_problem, "sde": sde_problem}[name](args.quick)
        doc["problems"][name]["seconds"] = time.perf_counter() - start
    json.dump(doc, sys.stdout, indent=1, allow_nan=True,
              default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
    print()


if __name__ == "__main__":
    main()
