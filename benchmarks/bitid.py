"""Bit-identity harness: many outputs of the public API, dumped and compared bit for bit.

Used to show that a refactor changes no output bit::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bitid.py dump OUT.pt
    python benchmarks/bitid.py compare A.pt B.pt

``dump`` computes a dict ``name -> tensor | tuple of tensors | str`` and saves it
with ``torch.save``; ``compare`` prints one JSON document ``{"total", "identical",
"differing", "missing", "extra"}`` and exits 1 if anything differs or is missing.
Bit-identical means the same dtype and shape and ``torch.equal`` (NaNs equal where
both have them).

Only the public API is called (``revsde.sdeint``, ``sdeint_inverse``,
``get_solver``, ``list_solvers``, ``BrownianGrid``, and ``revsde.diffusion``:
``sample``, ``encode``, ``decode``, ``decode_state``, ``gradient``, the samplers,
the oracles, the shipped models, the baselines), so that the same script measures
the tree before and after a refactor: ``revsde`` is imported normally and
``PYTHONPATH`` decides which tree is measured.  Every case runs under
``try``/``except``: a call that fails is recorded as ``"ERROR: ..."`` under the
case's name, and ``compare`` reports the outputs it should have made as differing.

Categories (name prefixes): ``core/`` (every registry solver on toy SDEs and an
ODE, forward and inverse, with options), ``grad/`` (adjoint and backprop gradients
through ``sdeint``), ``sample/`` (every diffusion sampler on the shipped model and
two Gaussian oracles), ``encode/`` (encode, decode and decode_state with every
reversible sampler and the baselines), ``dgrad/`` (``revsde.diffusion.gradient``
with every method).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

F64, F32 = torch.float64, torch.float32
DTYPES = {"f64": F64, "f32": F32}


# -- recording -------------------------------------------------------------------------


def _freeze(v: Any) -> Any:
    """A stored copy of an output: tensors detached on the CPU, tuples of those, strings."""
    if torch.is_tensor(v):
        return v.detach().to("cpu").clone()
    if isinstance(v, (tuple, list)):
        return tuple(_freeze(x) for x in v)
    if v is None:
        return "None"
    if isinstance(v, bool):
        return torch.tensor(v)
    if isinstance(v, int):
        return torch.tensor(v, dtype=torch.int64)
    if isinstance(v, float):
        return torch.tensor(v, dtype=F64)
    if isinstance(v, str):
        return v
    raise TypeError(f"cannot record a {type(v).__name__}")


def _error(e: BaseException) -> str:
    msg = re.sub(r"0x[0-9a-fA-F]+", "0x?", str(e))
    return f"ERROR: {type(e).__name__}: {msg}"


class Recorder:
    """Runs cases; each returns a dict of outputs (keys starting with ``_`` are not stored)."""

    def __init__(self) -> None:
        self.out: dict[str, Any] = {}
        self.errors = 0

    def case(self, name: str, fn: Callable[[], dict]) -> dict | None:
        torch.manual_seed(0)
        try:
            res = fn()
            frozen = {k: _freeze(v) for k, v in res.items() if not k.startswith("_")}
        except Exception as e:  # noqa: BLE001 - a broken call is an output, not a crash
            self.out[name] = _error(e)
            self.errors += 1
            return None
        for k, v in frozen.items():
            key = f"{name}/{k}"
            if key in self.out:
                raise RuntimeError(f"duplicate output name {key!r}")
            self.out[key] = v
        return res


def _randn(shape, dtype, seed: int) -> torch.Tensor:
    """Normal numbers drawn in float64 from ``seed`` and cast: the same values in each dtype."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64).to(dtype)


# -- 1. core solvers -------------------------------------------------------------------

D, M, B = 3, 2, 2  # state dimension, Brownian dimension (general/additive), batch


class ToySDE:
    """A nonlinear drift with a diffusion of the requested noise type (constants from a seed)."""

    def __init__(self, noise_type: str, sde_type: str, dtype: torch.dtype, unit: bool = False):
        self.noise_type, self.sde_type = noise_type, sde_type
        self.A = 0.4 * _randn((D, D), dtype, 11)
        self.Bm = 0.4 * _randn((D, D * M), dtype, 12)
        self.sig = 0.3 * _randn((D, M), dtype, 13)
        self.c = 0.2 * _randn((D,), dtype, 14)
        if unit:
            self.unit_diffusion = True

    def f(self, t, y):
        t = torch.as_tensor(t, dtype=y.dtype)
        return torch.sin(y) @ self.A.T - 0.5 * y + self.c * torch.cos(2 * t)

    def g(self, t, y):
        t = torch.as_tensor(t, dtype=y.dtype)
        if getattr(self, "unit_diffusion", False):
            return torch.ones_like(y)
        if self.noise_type == "diagonal":
            return 0.3 * torch.sigmoid(y) * (1 + 0.1 * t)
        if self.noise_type == "scalar":
            return (0.4 * torch.tanh(y) + 0.1).unsqueeze(-1)
        if self.noise_type == "general":
            return 0.3 * torch.tanh(y @ self.Bm).view(y.shape[0], D, M)
        return (self.sig * (1 + 0.2 * torch.sin(t))).expand(y.shape[0], D, M)


class ToyODE:
    def __init__(self, dtype: torch.dtype):
        self.A = 0.4 * _randn((D, D), dtype, 21)

    def f(self, t, y):
        t = torch.as_tensor(t, dtype=y.dtype)
        return torch.tanh(y) @ self.A.T * torch.cos(t) - 0.1 * y**3


TS = [0.2, 0.45, 0.7, 0.95, 1.2]  # positive times: exp_reversible_heun needs a positive clock
H = 0.25
ENTROPY = 1234


def _problems(info: dict) -> list[tuple[str, str | None]]:
    out = [(noise, sde) for noise in info["noise_types"] for sde in info["sde_types"]]
    return [*out, ("ode", None)]


def _equation(noise: str, sde_type: str | None, dtype):
    if noise == "ode":
        return ToyODE(dtype)
    if noise == "unit":
        return ToySDE("additive", sde_type, dtype, unit=True)
    return ToySDE(noise, sde_type, dtype)


def _y0(dtype, seed=5):
    return _randn((B, D), dtype, seed)


def _solve_outputs(sol) -> dict:
    stats = sol.stats
    return {"ys": sol.ys, "state": tuple(sol.state),
            "stats": torch.tensor([stats.get("nfe", -1), stats.get("nge", -1),
                                   stats.get("steps", -1)]), "_sol": sol}


def _core_case(rec: Recorder, prefix: str, method: str, noise: str, sde_type, dtype, *,
               reversible: bool, ts=TS, dt=None, grid=None, bm=None, inv_bm=False,
               **options) -> None:
    import revsde

    eq = _equation(noise, sde_type, dtype)
    kw: dict[str, Any] = {"method": method, "dt": dt, **options}
    if grid is not None:
        kw["grid"] = torch.tensor(grid, dtype=dtype)
    ts_t = torch.tensor(ts, dtype=dtype)

    def forward():
        extra = {"bm": bm} if bm is not None else {}
        return _solve_outputs(revsde.sdeint(eq, _y0(dtype), ts_t, entropy=ENTROPY, **kw,
                                            **extra))

    res = rec.case(prefix, forward)
    if not reversible or res is None:
        return
    sol = res["_sol"]

    def inverse():
        noise_kw = {"bm": sol.bm} if inv_bm else {"entropy": ENTROPY}
        return _solve_outputs(revsde.sdeint_inverse(eq, sol.state, ts_t, **kw, **noise_kw))

    rec.case(prefix + "/inverse", inverse)


def core_cases(rec: Recorder) -> None:
    import revsde

    infos = revsde.list_solvers()
    for info in infos:
        name, rev = info["name"], info["reversible"]
        opts = info["options"]
        probs = _problems(info)
        if "additive" in info["noise_types"]:
            probs.append(("unit", info["sde_types"][0]))
        first = probs[0]
        for noise, sde in probs:
            for dname, dtype in DTYPES.items():
                base = f"core/{name}/{noise}-{sde}/{dname}"
                _core_case(rec, base + "/step", name, noise, sde, dtype, reversible=rev)
                _core_case(rec, base + "/dt", name, noise, sde, dtype, reversible=rev, dt=H / 3)
        noise, sde = first
        for dname, dtype in DTYPES.items():
            base = f"core/{name}/{noise}-{sde}/{dname}"
            _core_case(rec, base + "/interval", name, noise, sde, dtype, reversible=rev,
                       dt=H / 2, bm="interval", inv_bm=True)
            grid = [0.2, 0.3, 0.45, 0.5, 0.62, 0.7, 0.8, 0.95, 1.0, 1.1, 1.2]
            _core_case(rec, base + "/grid", name, noise, sde, dtype, reversible=rev, grid=grid)
            if rev:
                # a BrownianGrid passed in, built on the output times (one step each)
                cells = torch.tensor(TS, dtype=dtype)
                bmg = revsde.BrownianGrid(cells.tolist(),
                                          _bm_size(noise), dtype=dtype, entropy=77,
                                          levy_area=info["needs_levy_area"])
                _core_case(rec, base + "/browniangrid", name, noise, sde, dtype,
                           reversible=rev, bm=bmg, inv_bm=True)
                _continue_case(rec, base + "/continue", name, noise, sde, dtype)
            if "zeta" in opts:
                _core_case(rec, base + "/zeta0.9", name, noise, sde, dtype, reversible=rev,
                           dt=H / 3, zeta=0.9)
            if "quantum" in opts:
                q = 2.0**-30 if dtype == F64 else 2.0**-16
                zeta = {"zeta": 1.0} if "zeta" in opts else {}
                _core_case(rec, base + "/exact", name, noise, sde, dtype, reversible=rev,
                           dt=H / 3, quantum=q, **zeta)
            if "compensated" in opts:
                _core_case(rec, base + "/compensated", name, noise, sde, dtype,
                           reversible=rev, dt=H / 3, compensated=True)
        # the ODE with interval noise (not needed by an ODE, accepted all the same)
        if rev and first[0] != "ode":
            for dname, dtype in DTYPES.items():
                _core_case(rec, f"core/{name}/ode-None/{dname}/interval", name, "ode", None,
                           dtype, reversible=rev, dt=H / 2, bm="interval", inv_bm=True)


def _bm_size(noise: str) -> tuple:
    return (B, D) if noise in ("diagonal", "ode", "unit") else (B, 1) if noise == "scalar" \
        else (B, M)


def _continue_case(rec, prefix, method, noise, sde, dtype):
    """A solve continued from a previous solve's full state (``state=``)."""
    import revsde

    eq = _equation(noise, sde, dtype)

    def run():
        a = revsde.sdeint(eq, _y0(dtype), torch.tensor(TS[:3], dtype=dtype), method=method,
                          entropy=ENTROPY)
        b = revsde.sdeint(eq, None, torch.tensor(TS[2:], dtype=dtype), method=method,
                          state=a.state, entropy=ENTROPY + 1)
        return {"ys": b.ys, "state": tuple(b.state)}

    rec.case(prefix, run)


# -- 2. gradients through sdeint -------------------------------------------------------


def _neural_sde(noise: str, sde_type, dtype):
    from torch import nn

    class NeuralSDE(nn.Module):
        def __init__(self):
            super().__init__()
            self.noise_type, self.sde_type = noise, sde_type
            self.net = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, D))
            self.a = nn.Parameter(0.3 * torch.randn(D))
            self.gnet = nn.Linear(D, D * M if noise == "general" else D)
            self.sigma = nn.Parameter(0.3 * torch.randn(D, M))

        def f(self, t, y):
            t = torch.as_tensor(t, dtype=y.dtype)
            return self.net(y) * (1 + 0.5 * torch.sin(3 * t)) + self.a * torch.sin(y)

        def g(self, t, y):
            if noise == "diagonal":
                return 0.5 * torch.sigmoid(self.gnet(y))
            if noise == "scalar":
                return 0.5 * torch.sigmoid(self.gnet(y)).unsqueeze(-1)
            if noise == "general":
                return 0.3 * torch.tanh(self.gnet(y)).view(y.shape[0], D, M)
            return self.sigma.expand(y.shape[0], D, M)

    class NeuralODE(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, D))

        def f(self, t, y):
            t = torch.as_tensor(t, dtype=y.dtype)
            return self.net(y) * torch.cos(t) - 0.1 * y**3

    torch.manual_seed(3)
    model = NeuralODE() if noise == "ode" else NeuralSDE()
    return model.to(dtype)


def grad_cases(rec: Recorder) -> None:
    import revsde

    for info in revsde.list_solvers():
        if not info["reversible"]:
            continue
        name = info["name"]
        probs = [(info["noise_types"][0], info["sde_types"][0])] if info["noise_types"] else []
        probs.append(("ode", None))
        for noise, sde in probs:
            for dname, dtype in DTYPES.items():
                for adjoint in (True, False):
                    def run(noise=noise, sde=sde, dtype=dtype, adjoint=adjoint, name=name):
                        model = _neural_sde(noise, sde, dtype)
                        y0 = _y0(dtype, 8).requires_grad_(True)
                        ts = torch.tensor(TS, dtype=dtype)
                        sol = revsde.sdeint(model, y0, ts, method=name, dt=H / 2,
                                            adjoint=adjoint, entropy=ENTROPY)
                        w = torch.linspace(0.5, 1.5, sol.ys.numel(), dtype=dtype)
                        loss = (sol.ys.reshape(-1) * w).sum() + (sol.ys[-1] ** 2).sum()
                        params = [p for p in model.parameters() if p.requires_grad]
                        grads = torch.autograd.grad(loss, [y0, *params], allow_unused=True)
                        grads = tuple(torch.zeros(()) if g is None else g for g in grads)
                        return {"ys": sol.ys, "loss": loss, "grad_y0": grads[0],
                                "grad_params": grads[1:]}

                    tag = "adjoint" if adjoint else "backprop"
                    rec.case(f"grad/{name}/{noise}-{sde}/{dname}/{tag}", run)


# -- 3. diffusion samplers -------------------------------------------------------------


def _oracles(dtype):
    from revsde.diffusion import GaussianMixtureOracle, GaussianOracle, VPCosine, VPLinear

    shape = (1, 8, 8)
    mu = 0.3 * _randn(shape, dtype, 31)
    g1 = GaussianOracle(mu, 0.5, VPLinear(), "eps").model()
    means = 0.5 * _randn((3, *shape), dtype, 32)
    g2 = GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.4, 0.3, 0.5], VPCosine(),
                               "x0").model()
    return {"gauss-vplinear": (g1, shape), "mixture-vpcosine": (g2, shape)}


def _models(dtype):
    from revsde.diffusion import pretrained

    out = {"small-unet": (pretrained("small-unet", dtype=dtype), (3, 16, 16))}
    out.update(_oracles(dtype))
    return out


def sample_cases(rec: Recorder) -> None:
    from revsde.diffusion import list_samplers, sample

    samplers = [s["name"] for s in list_samplers()]
    for dname, dtype in DTYPES.items():
        try:
            models = _models(dtype)
        except Exception as e:  # noqa: BLE001
            rec.out[f"sample/models/{dname}"] = _error(e)
            continue
        for mname, (model, shape) in models.items():
            for steps in (10, 25):
                for s in samplers:
                    def run(model=model, shape=shape, steps=steps, s=s, dtype=dtype):
                        x = sample(model, (B, *shape), steps=steps, sampler=s, seed=7,
                                   dtype=dtype)
                        return {"x0": x}

                    rec.case(f"sample/{mname}/{dname}/{steps}/{s}", run)
            # an explicit x_T and another grid kind
            for s in ("rev_heun", "rex_rk4", "dpmpp_2m", "rev_heun_sde"):
                def run2(model=model, shape=shape, s=s, dtype=dtype):
                    x_T = _randn((B, *shape), dtype, 41)
                    out = {}
                    for kind in ("uniform_t", "karras"):
                        out[kind] = sample(model, x_T, steps=8, sampler=s, seed=3, grid=kind)
                    return out

                rec.case(f"sample/{mname}/{dname}/x_T/{s}", run2)


# -- 4. encode / decode ----------------------------------------------------------------


def _pictures(dtype) -> torch.Tensor:
    """Two colour pictures of skimage, 16x16, in [-1, 1]."""
    import numpy as np
    from skimage import data

    pics = []
    for arr in (data.astronaut(), data.coffee()):
        x = torch.from_numpy(np.asarray(arr, dtype=np.float64)).permute(2, 0, 1)[None] / 255.0
        x = torch.nn.functional.interpolate(x, size=(16, 16), mode="area")
        pics.append(x * 2 - 1)
    return torch.cat(pics).clamp(-1, 1).to(dtype)


def _digits(dtype) -> torch.Tensor:
    """Two sklearn digits, 16x16, in [-1, 1]."""
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images[:2], dtype=F64)[:, None] / 16.0
    x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    return (x * 2 - 1).clamp(-1, 1).to(dtype)


def _latent_outputs(lat) -> dict:
    out = {"state": tuple(lat.state), "ts": lat.ts, "y": lat.y, "x_T": lat.x_T}
    for k in ("yhat", "noise", "residual", "x_residual"):
        try:
            v = getattr(lat, k)
        except Exception as e:  # noqa: BLE001
            v = _error(e)
        out[k] = v
    out["nfe"] = lat.nfe
    return out


def encode_cases(rec: Recorder) -> None:
    from revsde.diffusion import decode, decode_state, encode, list_samplers, pretrained

    infos = [s for s in list_samplers() if s["reversible"]]
    reversible = [s["name"] for s in infos]
    #: exp_reversible_heun has no exact mode (encode refuses exact=True with it)
    exact_ok = {s["name"] for s in infos if s["solver"] != "exp_reversible_heun"}
    setups = [("small-unet", _pictures), ("digits-unet", _digits)]
    for mname, data in setups:
        try:
            model = pretrained(mname)
            x0 = data(F32)
        except Exception as e:  # noqa: BLE001
            rec.out[f"encode/{mname}"] = _error(e)
            continue
        for s in reversible:
            for exact in (False, True) if s in exact_ok else (False,):
                def run(model=model, x0=x0, s=s, exact=exact):
                    lat = encode(model, x0, steps=10, sampler=s, seed=5, exact=exact)
                    out = _latent_outputs(lat)
                    out["decode"] = decode(model, lat)
                    out["decode_state"] = tuple(decode_state(model, lat))
                    return out

                rec.case(f"encode/{mname}/{s}/{'exact' if exact else 'default'}", run)
        # float32 state, an explicit non-default option, another grid
        for s in ("rev_heun", "rex_rk4", "rex_shark"):
            def run2(model=model, x0=x0, s=s):
                lat = encode(model, x0, steps=8, sampler=s, seed=9, dtype=F32, grid="uniform_t")
                return {**_latent_outputs(lat), "decode": decode(model, lat)}

            rec.case(f"encode/{mname}/{s}/f32-uniform_t", run2)
        for s, zeta in (("rev_heun", {}), ("rex_euler", {"zeta": 0.9})):
            def run3(model=model, x0=x0, s=s, zeta=zeta):
                lat = encode(model, x0, steps=8, sampler=s, case="ode_eps", compensated=False,
                             **zeta)
                return {**_latent_outputs(lat), "decode": decode(model, lat)}

            rec.case(f"encode/{mname}/{s}/ode_eps", run3)
        for s in ("ddim", "edict", "bdia", "obelm"):
            def run4(model=model, x0=x0, s=s):
                lat = encode(model, x0, steps=10, sampler=s)
                return {"state": tuple(lat.state), "ts": lat.ts, "decode": decode(model, lat)}

            rec.case(f"encode/{mname}/baseline-{s}", run4)
    # the baselines module directly (invert / generate), on the digits model in float64
    try:
        from revsde.diffusion import baselines

        model = pretrained("digits-unet", dtype=F64)
        x0 = _digits(F64)
        names = [b["name"] for b in baselines.list_baselines()]
    except Exception as e:  # noqa: BLE001
        rec.out["encode/baselines"] = _error(e)
        return
    for b in names:
        def run5(b=b):
            lat = baselines.invert(model, x0, b, steps=6)
            back = baselines.generate(model, lat)
            z = _randn(x0.shape, F64, 51)
            gen = baselines.generate(model, z, b, steps=6)
            # a BaselineLatent had .states; the one Latents type has .state
            states = lat.states if hasattr(lat, "states") else lat.state
            return {"states": tuple(states), "decode": back, "generate": gen}

        rec.case(f"encode/baselines/{b}", run5)


# -- 5. diffusion gradients ------------------------------------------------------------


def dgrad_cases(rec: Recorder) -> None:
    from revsde.diffusion import gradient, list_gradient_methods, pretrained

    methods = [m["name"] for m in list_gradient_methods()]
    for dname, dtype in DTYPES.items():
        try:
            model = pretrained("small-unet", dtype=dtype)
        except Exception as e:  # noqa: BLE001
            rec.out[f"dgrad/{dname}"] = _error(e)
            continue
        target = 0.2 * _randn((B, 3, 16, 16), dtype, 61)
        x_T = _randn((B, 3, 16, 16), dtype, 62)

        def loss_fn(x0, target=target):
            return ((x0 - target) ** 2).mean()

        for sampler, seed in (("rev_heun", None), ("rev_heun_sde", 4), ("rex_rk4", None)):
            for m in methods:
                def run(m=m, sampler=sampler, seed=seed, model=model, x_T=x_T, loss_fn=loss_fn):
                    r = gradient(loss_fn, model, x_T, steps=10, sampler=sampler, seed=seed,
                                 method=m)
                    return {"loss": r.loss, "sample": r.sample, "grad_x_T": r.grad_x_T,
                            "nfe": r.nfe}

                rec.case(f"dgrad/{dname}/{sampler}/{m}", run)
        # gradients with respect to some network parameters (a trainable copy)
        for m in ("reversible", "backprop"):
            def run2(m=m, dtype=dtype, x_T=x_T, loss_fn=loss_fn):
                net = pretrained("small-unet", dtype=dtype).requires_grad_(True)
                params = list(net.parameters())[-2:]
                r = gradient(loss_fn, net, x_T, steps=6, sampler="rev_heun", method=m,
                             params=params)
                return {"loss": r.loss, "grad_x_T": r.grad_x_T, "grad_params": tuple(r.grad_params)}

            rec.case(f"dgrad/{dname}/params/{m}", run2)


# -- dump / compare --------------------------------------------------------------------

CATEGORIES = [("core", core_cases), ("grad", grad_cases), ("sample", sample_cases),
              ("encode", encode_cases), ("dgrad", dgrad_cases)]


def dump(path: str) -> int:
    torch.set_num_threads(1)
    import revsde

    rec = Recorder()
    t0 = time.perf_counter()
    times = {}
    for cat, fn in CATEGORIES:
        t = time.perf_counter()
        try:
            fn(rec)
        except Exception as e:  # noqa: BLE001 - e.g. a registry listing that fails
            rec.out[f"{cat}/FAILED"] = _error(e)
            rec.errors += 1
        times[cat] = time.perf_counter() - t
    torch.save(rec.out, path)
    took = time.perf_counter() - t0
    parts = ", ".join(f"{c} {sum(k.startswith(c + '/') for k in rec.out)} ({times[c]:.0f}s)"
                      for c, _ in CATEGORIES)
    print(f"bitid dump: {len(rec.out)} outputs ({parts}), {rec.errors} error entries, "
          f"{took:.1f}s, revsde from {revsde.__file__} -> {path}", file=sys.stderr)
    return 0


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if not (torch.is_tensor(a) and torch.is_tensor(b)):
        return False
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if torch.equal(a, b):
        return True
    if a.is_floating_point() or a.is_complex():
        na, nb = torch.isnan(a), torch.isnan(b)
        return torch.equal(na, nb) and torch.equal(a[~na], b[~nb])
    return False


def _broken(name: str, other: dict) -> bool:
    """Whether ``other`` holds an ERROR entry for a case enclosing ``name``."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        v = other.get("/".join(parts[:i]))
        if isinstance(v, str) and v.startswith("ERROR"):
            return True
    return False


def compare(path_a: str, path_b: str) -> int:
    a = torch.load(path_a, weights_only=True)
    b = torch.load(path_b, weights_only=True)
    identical, differing, missing = 0, [], []
    for name, va in a.items():
        if name not in b:
            (differing if _broken(name, b) else missing).append(name)
        elif _same(va, b[name]):
            identical += 1
        else:
            differing.append(name)
    extra = [n for n in b if n not in a]
    doc = {"total": len(a), "identical": identical, "differing": differing,
           "missing": missing, "extra": extra}
    print(json.dumps(doc, indent=1))
    print(f"bitid compare: {identical}/{len(a)} identical, {len(differing)} differing, "
          f"{len(missing)} missing, {len(extra)} extra", file=sys.stderr)
    return 1 if differing or missing else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        return dump(argv[1])
    if len(argv) == 3 and argv[0] == "compare":
        return compare(argv[1], argv[2])
    print("usage: bitid.py dump OUT.pt | bitid.py compare A.pt B.pt", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
