"""Reversible Heun with exponential weights (``rev_heun_exp``, ``rev_heun_exp_sde``).

Layers: the weights against a 50-digit reference and their
small-step limit h/2; exactness (exact quadrature of a drift linear in log-clock,
the exponential-Euler predictor, step-level and encode/decode round trips on
the ideal denoiser of four scikit-image pictures, Latents save/load); orders
(PF-ODE order 2 in both ODE cases, strong order 1 for the lifted SDE); and the
registry metadata and errors.
"""

import math
from decimal import Decimal, localcontext

import pytest
import torch
from diffusion_cases import F32, F64, SCH, TOL, pf_ode_reference
from diffusion_cases import fit_order as _fit
from diffusion_cases import max_err as _err
from diffusion_cases import mixture as _mixture
from diffusion_cases import rms as _rms

import revsde
from revsde import BrownianGrid
from revsde.diffusion import (
    DiffusionModel,
    Latents,
    LiftedProblem,
    decode,
    encode,
    get_sampler,
    list_samplers,
    time_grid,
)
from revsde.diffusion.samplers import SAMPLERS
from revsde.grid import Step
from revsde.sde import SDEAdapter
from revsde.solvers.exp_reversible_heun import ExponentialReversibleHeun, exp_weights, phi2


def _ref_weights(s0: float, h: float):
    """50 digits: ``w0 = s0 (e^H-1-H)/H``, ``w1 = s0 (H e^H - e^H + 1)/H``, H = log(1 + h/s0)."""
    with localcontext() as ctx:
        ctx.prec = 50
        s0d, hd = Decimal(s0), Decimal(h)
        H = (1 + hd / s0d).ln()
        e = H.exp()
        return float(s0d * (e - 1 - H) / H), float(s0d * (H * e - e + 1) / H)


# -- weights ---------------------------------------------------------------------------
@pytest.mark.parametrize("H", [1e-9, -1e-9, 1e-6, 0.01, -0.01, 0.2499, 0.25, -0.25, 0.2501,
                               1.07, -1.07, 3.0, -3.0, 8.0])
@pytest.mark.parametrize("s0", [0.0066, 1.0, 98.6])
def test_weights_match_a_50_digit_reference(s0, H):
    h = s0 * math.expm1(H)
    w0, w1 = exp_weights(torch.tensor(s0, dtype=F64), h)
    r0, r1 = _ref_weights(s0, h)
    assert w0.dtype == F64 and w1.dtype == F64
    assert abs(float(w0) - r0) <= 1e-14 * abs(h) and abs(float(w1) - r1) <= 1e-14 * abs(h)


def test_weights_tend_to_the_trapezoid_and_sum_to_h():
    s0 = torch.tensor(2.5, dtype=F64)
    for rel in (1e-3, 1e-6, 1e-9, -1e-9, -1e-6):
        h = 2.5 * rel
        w0, w1 = exp_weights(s0, h)
        assert float(w0 + w1) == pytest.approx(h, rel=1e-15)
        # w0/h = 1/2 - H/6 + O(H²): the deviation from h/2 is first order in the step.
        assert abs(float(w0) / h - 0.5) <= abs(rel) / 6 * 1.01 + 1e-15
        assert abs(float(w1) / h - 0.5) <= abs(rel) / 6 * 1.01 + 1e-15
    # phi2 on both sides of the series/closed-form switch, against 50 digits; float32 too.
    hs = [0.0, 1e-8, 0.1, 0.25 - 1e-12, 0.25, 0.3, 2.0, -1e-8, -0.25 + 1e-12, -0.25,
          -0.3, -5.0]
    H = torch.tensor(hs, dtype=F64)
    v = phi2(H)
    with localcontext() as ctx:
        ctx.prec = 50
        want = [0.5 if x == 0 else float((Decimal(x).exp() - 1 - Decimal(x)) / Decimal(x) ** 2)
                for x in hs]
    assert torch.allclose(v, torch.tensor(want, dtype=F64), rtol=2e-15, atol=0)
    v32 = phi2(H.to(F32))
    assert v32.dtype == F32 and torch.allclose(v32.double(), v, rtol=1e-6)
    # a float32 clock still gives float64 weights, equal to those of its float64 value
    s32 = torch.tensor(0.3, dtype=F32)
    a, b = exp_weights(s32, 0.7), exp_weights(s32.double(), 0.7)
    assert a[0].dtype == F64 and float(a[0]) == float(b[0])


# -- exactness -------------------------------------------------------------------------
class _LogLinear:
    """``dy/ds = a + b log s``, independent of y: the weights integrate it exactly."""

    def f(self, s, y):
        return (0.7 - 1.3 * torch.log(s)) * torch.ones_like(y)


@pytest.mark.parametrize("grid", [[0.01, 0.1, 1.0, 10.0], [50.0, 3.0, 0.02]])
def test_exact_for_a_drift_linear_in_log_clock(grid):
    y0 = torch.zeros(3, 2, dtype=F64)
    ts = torch.tensor(grid, dtype=F64)

    def exact(s):
        return 0.7 * s - 1.3 * (s * math.log(s) - s)

    want = exact(grid[-1]) - exact(grid[0])
    got = revsde.sdeint(_LogLinear(), y0, ts, method=ExponentialReversibleHeun()).ys[-1]
    assert float((got - want).abs().max()) <= 1e-12 * abs(want)
    plain = revsde.sdeint(_LogLinear(), y0, ts, method="reversible_heun").ys[-1]
    assert float((plain - want).abs().max()) > 1e-2 * abs(want)  # the trapezoid is not


def test_predictor_from_yhat_equal_y_is_dpm_solver_pp_1():
    """From ``ŷ0 = y0`` the stretched reflection gives ŷ1 = exponential Euler (DPM-Solver++(1))."""
    orc = _mixture()
    model = orc.model()
    x_T = orc.sample(16, torch.Generator().manual_seed(0), t=SCH.t_max)
    ts = time_grid(SCH, 6, "uniform_lambda")
    pb = LiftedProblem(model, "ode_x0", ts)
    solver = ExponentialReversibleHeun()
    sde = SDEAdapter(pb.sde)
    state = solver.init(sde, pb.clocks[0], pb.to_lifted(x_T, ts[0]))
    s0, s1 = pb.clocks[0], pb.clocks[1]
    state1 = solver.step(sde, Step(0, s0, s1, float(s1 - s0)), state, None)
    dpm1 = get_sampler("dpmpp_1").sample(model, x_T, ts[:2])
    assert float((pb.from_lifted(state1[1], ts[1]) - dpm1).abs().max()) < 1e-12


@pytest.mark.parametrize("case", ["ode_x0", "ode_eps", "sde_x0"])
def test_step_then_inverse_is_the_identity(case):
    orc = _mixture()
    model = orc.model()
    x_T = orc.sample(8, torch.Generator().manual_seed(1), t=SCH.t_max)
    ts = time_grid(SCH, 5, "uniform_lambda")
    pb = LiftedProblem(model, case, ts)
    solver = ExponentialReversibleHeun()
    sde = SDEAdapter(pb.sde)
    y = pb.to_lifted(x_T, ts[0])
    if case == "sde_x0":
        sde.configure_noise(sde.g(pb.clocks[0], y), y)
    state = solver.init(sde, pb.clocks[0], y, yhat0=y + 0.01)  # ŷ != y: a general state
    for n in range(5):
        s0, s1 = pb.clocks[n], pb.clocks[n + 1]
        h = float(s1 - s0)
        dw = None if case.startswith("ode") else (torch.randn_like(y) * abs(h) ** 0.5, None)
        nxt = solver.step(sde, Step(n, s0, s1, h), state, dw)
        back = solver.inverse(sde, Step(n, s0, s1, h), nxt, dw)
        # 1e-12: near t_max the x0 prediction amplifies a change of ŷ by ~1/α ~ 150
        for a, b in zip(back, state):
            assert float((a - b).abs().max()) <= 1e-12 * max(1.0, float(b.abs().max()))
        state = nxt


# The noise-prediction case is checked in float64 only, as for the other samplers
# (tests/test_inversion.py): its float32 round trip is limited by the lifting
# (Y = x/α grows ~150x at the noise end), measured 2.4e-4 at 10 steps (rev_heun: 1e-2).
ROUND_TRIPS = [("rev_heun_exp", "ode_x0", F64), ("rev_heun_exp", "ode_x0", F32),
               ("rev_heun_exp", "ode_eps", F64), ("rev_heun_exp_sde", "sde_x0", F64),
               ("rev_heun_exp_sde", "sde_x0", F32)]


@pytest.mark.parametrize("steps", [10, 100])
@pytest.mark.parametrize("name,case,dtype", ROUND_TRIPS,
                         ids=[f"{n}-{c}-{str(d)[6:]}" for n, c, d in ROUND_TRIPS])
def test_round_trip_on_images(model, images, name, case, steps, dtype):
    x0 = images.to(dtype)
    lat = encode(model, x0, steps=steps, sampler=name, seed=1, case=case)
    back = decode(model, lat)
    assert back.dtype == dtype and back.shape == x0.shape
    assert _err(back, x0) <= TOL[dtype], (name, case, steps, _err(back, x0))
    assert lat.nfe == steps + 1 and lat.base == "exp_reversible_heun"
    # (y, ŷ, f(ŷ)[, g(ŷ)], y·lo, ŷ·lo): encode's default compensated state
    assert len(lat.state) == (6 if name.endswith("sde") else 5)


@pytest.mark.parametrize("name", ["rev_heun_exp", "rev_heun_exp_sde"])
def test_latents_save_load_decode_bit_identical(model, images, tmp_path, name):
    lat = encode(model, images, steps=12, sampler=name, seed=9)
    path = tmp_path / "lat.pt"
    lat.save(path)
    again = Latents.load(path)
    assert again.sampler == name and again.options == lat.options
    a, b = decode(model, lat), decode(model, again)
    assert torch.equal(a, b) and _err(a, images) <= 1e-10


def test_sampling_differs_from_rev_heun(model, images):
    """The weights change the samples (by about the discretisation error), not the API."""
    x_T = torch.randn(images.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    ts = time_grid(SCH, 10, "uniform_lambda")
    a = get_sampler("rev_heun").sample(model, x_T, ts)
    b = get_sampler("rev_heun_exp").sample(model, x_T, ts)
    assert 1e-4 < _err(a, b) < 1.0


# -- orders ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ode_problem():
    return pf_ode_reference(1024)


@pytest.mark.parametrize("case", ["ode_x0", "ode_eps"])
def test_pf_ode_order_two(ode_problem, case):
    model, x_T, ref = ode_problem
    s = get_sampler("rev_heun_exp", case=case)
    steps = [32, 64, 128, 256]
    errs = [_rms(s.sample(model, x_T, time_grid(SCH, n, "uniform_lambda")), ref) for n in steps]
    fitted = _fit(steps, errs)
    assert abs(fitted - 2.0) < 0.3, (case, errs, fitted)


def test_sde_strong_order_one():
    orc = _mixture()
    model = orc.model()
    x_T = orc.sample(64, torch.Generator().manual_seed(0), t=SCH.t_max)
    fine = 512
    ts = time_grid(SCH, fine, "uniform_t")
    pb = LiftedProblem(model, "sde_x0", ts)
    bm = BrownianGrid(sorted(pb.clocks.tolist()), tuple(x_T.shape), dtype=F64, entropy=7,
                      levy_area=True)
    sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), pb.clocks, method="shark", bm=bm)
    ref = pb.from_lifted(sol.ys[-1], ts[-1])
    s = get_sampler("rev_heun_exp_sde")
    steps = [16, 32, 64, 128]
    errs = [_rms(s.sample(model, x_T, ts[:: fine // n], bm=bm), ref) for n in steps]
    fitted = _fit(steps, errs)
    assert 0.7 < fitted < 1.3, (errs, fitted)


# -- registry --------------------------------------------------------------------------
def test_registry_metadata():
    entries = {e["name"]: e for e in list_samplers()}
    assert {"rev_heun_exp", "rev_heun_exp_sde"} <= set(SAMPLERS)
    e = entries["rev_heun_exp"]
    assert e["reversible"] and not e["stochastic"]
    assert e["nfe_per_step"] == 1 and e["init_nfe"] == 1
    assert e["case"] == "ode_x0" and e["cases"] == ["ode_eps", "ode_x0"]
    assert e["base"] == "exp_reversible_heun" and e["solver"] == "exp_reversible_heun"
    assert e["order"] == 2.0 and e["order_kind"] == "ode"
    assert list(e["options"]) == ["case", "quantum", "compensated"]
    assert e["options"]["quantum"] is None and e["options"]["compensated"] is False
    e = entries["rev_heun_exp_sde"]
    assert e["reversible"] and e["stochastic"] and e["case"] == "sde_x0"
    assert e["cases"] == ["sde_x0"] and e["order"] == 1.0 and e["order_kind"] == "strong"
    assert e["nfe_per_step"] == 1 and e["init_nfe"] == 1
    info = ExponentialReversibleHeun().info()
    assert info["reversible"] and info["noise_types"] == ["additive"]


def test_nfe_is_as_declared():
    orc = _mixture()
    calls = []

    def net(x, t, **cond):
        calls.append(1)
        return orc(x, t)

    model = DiffusionModel(net, SCH, "eps")
    x_T = orc.sample(4, torch.Generator().manual_seed(0), t=SCH.t_max)
    for name in ("rev_heun_exp", "rev_heun_exp_sde"):
        calls.clear()
        get_sampler(name).sample(model, x_T, time_grid(SCH, 7, "uniform_lambda"), seed=1)
        assert len(calls) == 7 + 1


def test_errors_say_what_to_change(model, images):
    with pytest.raises(ValueError, match="no exact mode"):
        encode(model, images, steps=5, sampler="rev_heun_exp", exact=True)
    with pytest.raises(ValueError, match="no exact mode"):
        get_sampler("rev_heun_exp", quantum=2.0**-40)
    with pytest.raises(ValueError, match="linear in log-clock"):
        get_sampler("rev_heun_exp_sde", case="sde_eps")
    with pytest.raises(ValueError, match=r"takes case in \['ode_eps', 'ode_x0'\]"):
        get_sampler("rev_heun_exp", case="sde_x0")
    with pytest.raises(ValueError, match="does not take option"):
        get_sampler("rev_heun_exp", zeta=0.9)
    with pytest.raises(ValueError, match="positive clock"):
        revsde.sdeint(_LogLinear(), torch.zeros(2, 1, dtype=F64),
                      torch.tensor([0.0, 1.0], dtype=F64), method=ExponentialReversibleHeun())
