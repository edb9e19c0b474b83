"""Property-based test of the core's contract.

Random SDEs (every noise type, Itô and Stratonovich, ODEs), shapes, dtypes,
time grids, noises and reversible methods; in most examples one argument is
corrupted, at the forward solve or at the inverse.  Every run must either

* return the right answer: the inverse rebuilds ``y0`` to round-off, or
* raise one of the library's own exceptions with a message: a ``ValueError``,
  ``TypeError`` or ``FloatingPointError`` (``SolverError``, ``SDEOutputError``,
  ``NonFiniteError``, ...) raised by revsde's own code,

never a raw torch error and never a wrong result.  A corruption that is
always invalid must raise.  The examples are tiny (a few entries, a few steps)
so that the 2,200 examples take seconds.
"""

from __future__ import annotations

import math
import random
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torchsde
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import revsde
from revsde import BrownianGrid, sdeint, sdeint_inverse

EXAMPLES = int(__import__("os").environ.get("CONTRACT_EXAMPLES", 2200))
REVSDE = str(Path(revsde.__file__).resolve().parent)
LIBRARY_ERRORS = (ValueError, TypeError, FloatingPointError)
# Core reversible methods and the noise types they take.
METHODS = {
    "reversible_heun": ("scalar", "diagonal", "additive", "general"),
    "mcf_midpoint": ("scalar", "diagonal", "additive", "general"),
    "mcf_heun": ("scalar", "diagonal", "additive", "general"),
    "mcf_euler_heun": ("scalar", "diagonal", "additive", "general"),
    "mcf_euler": ("additive",),
    "mcf_sea": ("additive",),
    "mcf_shark": ("additive",),
    "mcf_sra1": ("additive",),
}
NOISES = ("ode", "scalar", "diagonal", "additive", "general")


class RandomSDE:
    """``f = a y + b sin y``; ``g`` of the noise type, small so that a solve stays tame."""

    def __init__(self, noise, sde_type, a, b, c, m, dtype, *, f_bad=None, g_bad=None,
                 drop=None):
        self.noise, self.a, self.b, self.c, self.m, self.dtype = noise, a, b, c, m, dtype
        self.f_bad, self.g_bad = f_bad, g_bad
        if noise != "ode":
            self.noise_type, self.sde_type = noise, sde_type
            if drop == "noise_type_value":
                self.noise_type = "diagonals"
            elif drop is not None:
                delattr_name = drop
                setattr(self, delattr_name, None)  # None: the attribute is missing

    def __getattribute__(self, name):
        if name in ("noise_type", "sde_type") and object.__getattribute__(self, "__dict__").get(
                name, 0) is None:
            raise AttributeError(name)
        if name == "g" and object.__getattribute__(self, "noise") == "ode":
            raise AttributeError(name)
        return object.__getattribute__(self, name)

    def f(self, t, y):
        out = self.a * y + self.b * torch.sin(y)
        bad = self.f_bad
        if bad is None:
            return out
        if bad == "grow":
            return out.unsqueeze(0).expand(2, *out.shape)
        if bad == "none":
            return None
        if bad == "numpy":
            return out.detach().numpy()
        if bad == "dtype":
            return out.to(torch.float32 if out.dtype == torch.float64 else torch.float64)
        if bad == "later" and float(t) != float(self.t0) and y.dim() == 2:
            return out.unsqueeze(0).expand(2, *out.shape)  # once: the state grows one dim
        return out

    def g(self, t, y):
        if self.noise == "diagonal":
            out = self.c * torch.cos(y)
        elif self.noise == "additive":
            out = torch.full((*y.shape, self.m), self.c, dtype=y.dtype)
        else:
            m = 1 if self.noise == "scalar" else self.m
            base = self.c * torch.cos(y).unsqueeze(-1)
            out = base * torch.linspace(0.5, 1.0, m, dtype=y.dtype)
        bad = self.g_bad
        if bad is None:
            return out
        if bad == "none":
            return None
        if bad == "shape":
            return out[..., :1, None] if out.dim() > 1 else out[..., None, None]
        if bad == "dtype":
            return out.to(torch.float32 if out.dtype == torch.float64 else torch.float64)
        if bad == "later" and float(t) != float(self.t0) and y.dim() == 2:
            return out.unsqueeze(-1)
        return out


class FreshNoise:
    """New numbers on every query: it cannot be replayed."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype

    def __call__(self, ta, tb=None, return_U=False):
        w = torch.randn(self.shape, dtype=self.dtype) * abs(tb - ta) ** 0.5
        return (w, torch.zeros_like(w)) if return_U else w


FORWARD = {  # corruption -> must it raise?
    "y0_nan": True, "y0_int": True, "y0_0d": True, "y0_numpy": True,
    "ts_non_monotone": True, "ts_duplicate": True, "ts_nan": True, "ts_dtype": True,
    "ts_single": True, "ts_2d": True, "ts_string": True,
    "dt_zero": True, "dt_negative": True, "dt_nan": True, "dt_inf": True, "dt_string": True,
    "dt_bool": True,
    "entropy_string": True, "entropy_float": True, "entropy_bool": True, "entropy_negative": True,
    "zeta_bool": True, "zeta_string": True, "zeta_zero": True, "zeta_big": True, "zeta_nan": True,
    "option_unknown": True,
    "method_unknown": True, "method_int": True,
    "bm_string": True, "bm_size": True, "bm_dtype": True, "bm_span": True,
    "f_grow": True, "f_none": True, "f_numpy": True, "f_dtype": True, "f_later": True,
    "g_none": True, "g_shape": True, "g_dtype": True, "g_later": True,
    "no_noise_type": True, "no_sde_type": True, "noise_type_value": True,
    "adjoint_string": True, "state_short": True, "flag_int": True,
}
INVERSE = {
    "inv_entropy": True, "inv_dt": False, "inv_ts_reversed": True, "inv_ts_short": True,
    "inv_method": True, "inv_zeta": True, "inv_bm_other": True, "inv_state_short": True,
    "inv_state_tensor": True, "inv_fresh_noise": True, "inv_plain_tuple": False,
    "inv_no_noise": True,
}


# About one case in five is valid (no corruption).
CORRUPTIONS = [None] * 15 + sorted(FORWARD) + sorted(INVERSE)


def make_case(corrupt: str | None, noise: str, seed: int) -> dict:
    """One case: the corruption and the noise type drawn by hypothesis, the rest from ``seed``.

    (Drawing each of the twenty parameters through hypothesis costs more than the
    solve itself; a seeded generator keeps the 2,200 examples to seconds.)
    """
    rng = random.Random(seed)
    methods = [k for k, v in METHODS.items() if noise == "ode" or noise in v]
    method = rng.choice(methods)
    n_ts = rng.randint(2, 4)
    t0 = rng.choice([-1.0, 0.0, 0.25, 2.0])
    sign = rng.choice([1.0, -1.0])
    ts = [t0]
    for _ in range(n_ts - 1):
        ts.append(ts[-1] + sign * rng.choice([0.1, 0.25, 0.5]))
    return dict(
        noise=noise, method=method, corrupt=corrupt, ts=ts,
        dtype=rng.choice([torch.float32, torch.float64]),
        shape=(rng.randint(1, 3), rng.randint(1, 3)),
        # every core reversible method is Stratonovich; additive noise takes either
        sde_type=rng.choice(["ito", "stratonovich"]) if noise == "additive" else "stratonovich",
        a=rng.uniform(-1.0, 0.5), b=rng.uniform(-0.5, 0.5), c=rng.uniform(0.05, 0.5),
        m=rng.randint(1, 2), dt=rng.choice([None, 0.05, 0.1, 0.2]),
        bm=rng.choice(["grid", "interval", "user_grid", "user_interval"]),
        entropy=rng.randint(0, 2**31 - 1),
        zeta=rng.uniform(0.9, 1.0) if method.startswith("mcf") else None,
        seed=rng.randint(0, 2**16),
    )


def cases() -> st.SearchStrategy[dict]:
    return st.builds(make_case, st.sampled_from(CORRUPTIONS), st.sampled_from(NOISES),
                     st.integers(0, 2**32 - 1))


def _user_bm(case, grid_lo, grid_hi, size, grid_times):
    dtype = case["dtype"]
    if case["bm"] == "user_grid":
        return BrownianGrid(grid_times, size, dtype=dtype, entropy=case["entropy"],
                            levy_area=case["method"] in ("mcf_sea", "mcf_shark", "mcf_sra1"))
    levy = case["method"] in ("mcf_sea", "mcf_shark", "mcf_sra1")
    return torchsde.BrownianInterval(
        grid_lo, grid_hi, size=size, dtype=dtype, entropy=case["entropy"], dt=0.05,
        levy_area_approximation="space-time" if levy else "none")


def _setup(case):
    """The arguments of the forward solve and of its inverse, before any corruption."""
    c = case.get("corrupt")
    dtype, shape = case["dtype"], case["shape"]
    gen = torch.Generator().manual_seed(case["seed"])
    y0 = torch.rand(shape, generator=gen, dtype=torch.float64).mul(2).sub(1).to(dtype)
    ts = torch.tensor(case["ts"], dtype=dtype)
    drop = {"no_noise_type": "noise_type", "no_sde_type": "sde_type",
            "noise_type_value": "noise_type_value"}.get(c)
    sde = RandomSDE(case["noise"], case["sde_type"], case["a"], case["b"], case["c"],
                    case["m"], dtype,
                    f_bad=c[2:] if c and c.startswith("f_") else None,
                    g_bad=c[2:] if c and c.startswith("g_") else None, drop=drop)
    sde.t0 = case["ts"][0]
    kw = dict(method=case["method"], dt=case["dt"], entropy=case["entropy"])
    if case["zeta"] is not None:
        kw["zeta"] = case["zeta"]
    times = ts.tolist()  # the times as the solve sees them (float32 ones rounded)
    lo, hi = min(times), max(times)
    if case["noise"] == "diagonal":
        size = shape
    elif case["noise"] == "scalar":
        size = (shape[0], 1)
    else:
        size = (shape[0], case["m"])
    if case["noise"] == "ode":
        kw["bm"] = None
    elif case["bm"] in ("grid", "interval"):
        kw["bm"] = case["bm"]
    else:
        from revsde.grid import step_grid

        grid, _ = step_grid(times, case["dt"])
        kw["bm"] = _user_bm(case, lo, hi, size, sorted(grid))
    return sde, y0, ts, kw, size


def _corrupt_forward(case, sde, y0, ts, kw, size):
    c = case["corrupt"]
    dtype = case["dtype"]
    if c == "y0_nan":
        y0 = y0.clone()
        y0.view(-1)[0] = math.nan
    elif c == "y0_int":
        y0 = (y0 * 10).to(torch.int64)
    elif c == "y0_0d":
        y0 = y0.reshape(-1)[0]
    elif c == "y0_numpy":
        y0 = y0.numpy()
    elif c == "ts_non_monotone":
        ts = torch.cat([ts, ts[:1]])
    elif c == "ts_duplicate":
        ts = torch.cat([ts, ts[-1:]])
    elif c == "ts_nan":
        ts = ts.clone()
        ts[-1] = math.nan
    elif c == "ts_dtype":
        ts = ts.to(torch.float64 if dtype == torch.float32 else torch.float32)
    elif c == "ts_single":
        ts = ts[:1]
    elif c == "ts_2d":
        ts = ts[None]
    elif c == "ts_string":
        ts = "0 to 1"
    elif c.startswith("dt_"):
        kw["dt"] = {"dt_zero": 0.0, "dt_negative": -0.1, "dt_nan": math.nan,
                    "dt_inf": math.inf, "dt_string": "0.1", "dt_bool": True}[c]
    elif c.startswith("entropy_"):
        kw["entropy"] = {"entropy_string": "abc", "entropy_float": 1.5, "entropy_bool": True,
                         "entropy_negative": -3}[c]
        if case["noise"] == "ode" or kw.get("bm") not in ("grid", "interval"):
            kw["bm"] = "grid"  # a seed matters only where a noise is built from it
    elif c.startswith("zeta_"):
        kw["method"] = "mcf_midpoint" if case["noise"] != "additive" else "mcf_shark"
        kw["zeta"] = {"zeta_bool": True, "zeta_string": "0.9", "zeta_zero": 0.0,
                      "zeta_big": 1.5, "zeta_nan": math.nan}[c]
        if kw.get("bm") not in (None, "grid", "interval"):
            kw["bm"] = "grid"
    elif c == "option_unknown":
        kw["zeta" if kw["method"] == "reversible_heun" else "gamma"] = 0.5
    elif c == "method_unknown":
        kw["method"] = "reversible_heun2"
    elif c == "method_int":
        kw["method"] = 3
    elif c.startswith("bm_"):
        if case["noise"] == "ode":
            return None  # an ODE has no noise to corrupt
        lo, hi = min(case["ts"]), max(case["ts"])
        if c == "bm_string":
            kw["bm"] = "brownian"
        elif c == "bm_size":
            kw["bm"] = revsde.make_brownian(lo, hi, (size[0] + 1, *size[1:]), dtype=dtype,
                                            device="cpu", entropy=1)
        elif c == "bm_dtype":
            other = torch.float64 if dtype == torch.float32 else torch.float32
            kw["bm"] = revsde.make_brownian(lo, hi, size, dtype=other, device="cpu", entropy=1)
        elif c == "bm_span":
            kw["bm"] = revsde.make_brownian(lo, lo + 0.5 * (hi - lo), size, dtype=dtype,
                                            device="cpu", entropy=1)
    elif c in ("f_grow", "f_none", "f_numpy", "f_dtype", "f_later"):
        pass  # set on the SDE
    elif c in ("g_none", "g_shape", "g_dtype", "g_later"):
        if case["noise"] == "ode":
            return None
    elif c in ("no_noise_type", "no_sde_type", "noise_type_value"):
        if case["noise"] == "ode":
            return None
    elif c == "adjoint_string":
        kw["adjoint"] = "yes"
    elif c == "state_short":
        kw["state"] = (y0,) if case["method"] != "mcf_euler" else (y0, y0, y0)
        if case["method"].startswith("mcf") and not case["method"] == "mcf_euler":
            kw["state"] = (y0,)
    elif c == "flag_int":
        kw["check_finite"] = 1
    return sde, y0, ts, kw


def _corrupt_inverse(case, sde, ts, kw, sol, size):
    c = case["corrupt"]
    kw = dict(kw)
    kw.pop("state", None)
    state = sol.state
    if kw.get("bm") in ("grid", "interval"):
        kw["bm"] = sol.bm if kw["bm"] == "interval" else None
    has_noise = case["noise"] != "ode"
    if c == "inv_entropy":
        if not has_noise:
            return None
        kw["bm"], kw["entropy"] = None, kw["entropy"] + 1
    elif c == "inv_dt":
        kw["dt"] = 0.03 if kw["dt"] != 0.03 else 0.07
    elif c == "inv_ts_reversed":
        ts = ts.flip(0)
    elif c == "inv_ts_short":
        ts = ts[:-1] if len(ts) > 2 else torch.stack([ts[0], 0.5 * (ts[0] + ts[1])])
    elif c == "inv_method":
        kw["method"] = "reversible_heun" if kw["method"] != "reversible_heun" else "mcf_midpoint"
        kw.pop("zeta", None)
        if has_noise and case["noise"] == "additive" and kw["method"] == "mcf_midpoint":
            pass
    elif c == "inv_zeta":
        if not kw["method"].startswith("mcf"):
            return None
        kw["zeta"] = 0.5
    elif c == "inv_bm_other":
        if not has_noise:
            return None
        lo, hi = min(case["ts"]), max(case["ts"])
        kw["bm"] = revsde.make_brownian(lo, hi, size, dtype=case["dtype"], device="cpu",
                                        entropy=kw["entropy"] + 1, dt=0.05,
                                        levy_area=sol.bm.levy_area if isinstance(
                                            sol.bm, BrownianGrid) else False)
        if case["method"] in ("mcf_sea", "mcf_shark", "mcf_sra1"):
            kw["bm"] = revsde.make_brownian(lo, hi, size, dtype=case["dtype"], device="cpu",
                                            entropy=kw["entropy"] + 1, dt=0.05, levy_area=True)
    elif c == "inv_state_short":
        state = tuple(state)[:-1] if len(state) > 1 else (state[0], state[0])
    elif c == "inv_state_tensor":
        state = state[0]
    elif c == "inv_fresh_noise":
        if not has_noise:
            return None
        kw["bm"] = FreshNoise(size, case["dtype"])
    elif c == "inv_plain_tuple":
        state = tuple(state)
        if has_noise and kw.get("bm") is None:
            kw["entropy"] = sol.state.provenance.entropy
    elif c == "inv_no_noise":
        if not has_noise:
            return None
        kw["bm"], kw["entropy"] = None, None
    return ts, kw, state


def _is_library_error(err: BaseException) -> bool:
    if not isinstance(err, LIBRARY_ERRORS) or not str(err):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(REVSDE)


def _tolerance(dtype, y0):
    scale = 1.0 + float(y0.abs().max())
    return (1e-9 if dtype == torch.float64 else 2e-4) * scale


def check_case(case) -> str:
    """Run one case; return its outcome (``"round trip"`` or ``"refused"``), or fail."""
    c = case["corrupt"]
    sde, y0, ts, kw, size = _setup(case)
    must_raise = False
    if c in FORWARD:
        out = _corrupt_forward(case, sde, y0, ts, kw, size)
        if out is None:
            return "not applicable"
        sde, y0, ts, kw = out
        must_raise = FORWARD[c]
    try:
        sol = sdeint(sde, y0, ts, **kw)
    except Exception as err:  # noqa: BLE001 - the property is about which errors
        assert _is_library_error(err), f"raw error from the forward solve: {err!r}\n" + "".join(
            traceback.format_exception(err))
        return "refused"
    assert not must_raise, f"corruption {c!r} was accepted by sdeint"
    ikw = dict(kw)
    ikw.pop("adjoint", None)
    ikw.pop("check_finite", None)
    inv_ts, state = ts, sol.state
    if ikw.get("bm") == "interval":
        ikw["bm"] = sol.bm
    elif ikw.get("bm") == "grid":
        ikw["bm"] = None
    if c in INVERSE:
        out = _corrupt_inverse(case, sde, ts, kw, sol, size)
        if out is None:
            return "not applicable"
        inv_ts, ikw, state = out
        must_raise = INVERSE[c]
    try:
        inv = sdeint_inverse(sde, state, inv_ts, **ikw)
    except Exception as err:  # noqa: BLE001
        assert _is_library_error(err), f"raw error from the inverse: {err!r}\n" + "".join(
            traceback.format_exception(err))
        return "refused"
    assert not must_raise, f"corruption {c!r} was accepted by sdeint_inverse"
    err = float((inv.ys[0] - y0).abs().max())
    assert err <= _tolerance(case["dtype"], y0), (
        f"wrong result with no error: the inverse misses y0 by {err:.3g} (corruption {c!r})")
    return "round trip"


OUTCOMES: Counter = Counter()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def _property(case):
    OUTCOMES[(case["corrupt"] is None, check_case(case))] += 1


def test_contract_property():
    """At least 2,000 random cases: right answers or the library's own errors, nothing else."""
    OUTCOMES.clear()
    with np.errstate(all="ignore"):
        _property()
    total = sum(OUTCOMES.values())
    print("contract property outcomes (valid?, outcome):", dict(OUTCOMES))
    assert total >= 2000, OUTCOMES
    # the valid cases all round-trip, and both kinds of outcome occur often
    assert OUTCOMES[(True, "refused")] == 0, OUTCOMES
    assert OUTCOMES[(True, "round trip")] >= 200, OUTCOMES
    assert OUTCOMES[(False, "refused")] >= 800, OUTCOMES
