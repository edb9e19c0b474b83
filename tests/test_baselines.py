"""Exact-inversion baselines (docs/mathematics.md §5): round trips, step formulas, orders, bad
input."""

import math

import pytest
import torch

from revsde.diffusion import Latents
from revsde.diffusion.baselines import (
    BASELINES,
    Levels,
    generate,
    get_baseline,
    invert,
    list_baselines,
)
from revsde.diffusion.oracles import GaussianOracle, IdealDenoiser
from revsde.diffusion.samplers.reference import sample_ddim
from revsde.diffusion.schedules import VPDiscrete, time_grid

pytest.importorskip("skimage")
from revsde.app.images import bundled_image, to_model_image  # noqa: E402

F64 = torch.float64
SCH = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))
NAMES = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon", "rocket", "page")
EXACT = [("edict", {}), ("edict", {"swap": False}), ("bdia", {}), ("bdia", {"gamma": 0.8}),
         ("obelm", {})]


@pytest.fixture(scope="module")
def images():
    return torch.cat([to_model_image(bundled_image(n), 16, F64) for n in NAMES])


@pytest.fixture(scope="module")
def oracle(images):
    """The ideal denoiser of eight real 16x16 pictures (docs/mathematics.md §9)."""
    return IdealDenoiser(images, SCH, prediction="x0").model()


@pytest.fixture(scope="module")
def x0(images):
    """Two pictures noised to the data end t_min: a sample of the marginal there."""
    t = torch.tensor(SCH.t_min, dtype=F64)
    z = torch.randn(images[:2].shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    return SCH.alpha(t) * images[:2] + SCH.sigma(t) * z


def _roundtrip(model, x, method, steps, **opt):
    lat = invert(model, x, method, steps=steps, **opt)
    return lat, generate(model, lat)


@pytest.mark.parametrize("steps", [10, 20])
@pytest.mark.parametrize("method,opt", EXACT, ids=lambda v: str(v))
def test_exact_roundtrip_float64(oracle, x0, method, opt, steps):
    lat, back = _roundtrip(oracle, x0, method, steps, **opt)
    assert isinstance(lat, Latents) and lat.sampler == method and lat.case is None
    assert lat.noise.shape == x0.shape and torch.isfinite(lat.noise).all()
    # a real latent: the state moved far from the data
    assert (lat.noise - x0).abs().max() > 0.5
    assert (back - x0).abs().max() < 1e-10


@pytest.mark.parametrize("steps", [10, 20])
def test_ddim_inversion_is_visibly_inexact(oracle, x0, steps):
    lat, back = _roundtrip(oracle, x0, "ddim", steps)
    ddim_err = (back - x0).abs().max()
    assert ddim_err > 1e-2
    # ... while every exact method is at round-off on the same problem
    for method, opt in EXACT:
        _, b = _roundtrip(oracle, x0, method, steps, **opt)
        assert (b - x0).abs().max() < 1e-8 * ddim_err


@pytest.mark.parametrize("method,opt", EXACT, ids=lambda v: str(v))
def test_exact_roundtrip_float32(oracle, x0, method, opt):
    x32 = x0.to(torch.float32)
    lat, back = _roundtrip(oracle, x32, method, 10, **opt)
    assert lat.noise.dtype == torch.float32 and back.dtype == torch.float32
    _, ddim_back = _roundtrip(oracle, x32, "ddim", 10)
    err = (back - x32).abs().max()
    assert err < 5e-3
    assert err < 1e-2 * (ddim_back - x32).abs().max()


def _levels_and_state(oracle, x0, n=6):
    ts = time_grid(SCH, n, "uniform_t")
    lv = Levels(oracle, ts)
    g = torch.Generator().manual_seed(1)
    za = x0 + 0.3 * torch.randn(x0.shape, generator=g, dtype=F64)
    zb = x0 + 0.3 * torch.randn(x0.shape, generator=g, dtype=F64)
    return ts, lv, za, zb


def _coef(i, lv):
    t = lv.t[i]
    return SCH.alpha(t), SCH.sigma(t)


def test_ddim_step_equals_reference_ddim(oracle, x0):
    ts, lv, za, _ = _levels_and_state(oracle, x0)
    ddim = get_baseline("ddim")
    (x1,) = ddim.step(oracle, lv, lv.n, (za,), {})
    ref = sample_ddim(oracle, za, ts[:2]).x
    assert torch.allclose(x1, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_bdia_step_matches_hand_formula(oracle, x0, gamma):
    _, lv, za, zb = _levels_and_state(oracle, x0)
    i = 3
    bdia = get_baseline("bdia", gamma=gamma)
    z_i, z_im1 = bdia.step(oracle, lv, i, (za, zb), {})
    (am, sm), (a0, s0), (ap, sp) = _coef(i - 1, lv), _coef(i, lv), _coef(i + 1, lv)
    e = oracle.eps(zb, lv.t[i])
    ddim_down = am * (zb - s0 * e) / a0 + sm * e
    ddim_up = ap * (zb - s0 * e) / a0 + sp * e
    hand = gamma * za + ddim_down - gamma * ddim_up
    assert torch.equal(z_i, zb)
    assert torch.allclose(z_im1, hand, rtol=1e-12, atol=1e-12)
    # and its inverse undoes it
    up, same = bdia.inverse(oracle, lv, i, (z_i, z_im1), {})
    assert torch.equal(same, zb) and torch.allclose(up, za, rtol=0, atol=1e-12)


def test_obelm_step_matches_formula_and_inverse_is_identity(oracle, x0):
    _, lv, za, zb = _levels_and_state(oracle, x0)
    i = 2
    ob = get_baseline("obelm")
    (am, sm), (a0, s0), (ap, sp) = _coef(i - 1, lv), _coef(i, lv), _coef(i + 1, lv)
    h0, h1 = s0 / a0 - sm / am, sp / ap - s0 / a0
    e = oracle.eps(zb, lv.t[i])
    hand = ((h0**2 / h1**2) * (am / ap) * za + ((h1**2 - h0**2) / h1**2) * (am / a0) * zb
            - (h0 * (h0 + h1) / h1) * am * e)
    z_i, z_im1 = ob.step(oracle, lv, i, (za, zb), {})
    assert torch.allclose(z_im1, hand, rtol=1e-12, atol=1e-12)
    up, same = ob.inverse(oracle, lv, i, (z_i, z_im1), {})
    assert torch.equal(same, zb) and torch.allclose(up, za, rtol=0, atol=1e-12)
    # step ∘ inverse = identity too
    z2, z1 = ob.step(oracle, lv, i, ob.inverse(oracle, lv, i, (zb, za), {}), {})
    assert torch.equal(z2, zb) and torch.allclose(z1, za, rtol=0, atol=1e-12)


@pytest.mark.parametrize("swap", [False, True])
def test_edict_step_matches_hand_formula(oracle, x0, swap):
    _, lv, za, zb = _levels_and_state(oracle, x0, n=6)
    p = 0.93
    ed = get_baseline("edict", p=p, swap=swap)
    for i in (6, 5):  # first (k = 0) and second (k = 1, swapped when swap=True) steps
        (am, sm), (a0, s0) = _coef(i - 1, lv), _coef(i, lv)
        a, b = am / a0, sm - (am / a0) * s0
        if swap and (lv.n - i) % 2 == 1:
            y1 = a * zb + b * oracle.eps(za, lv.t[i])
            x1 = a * za + b * oracle.eps(y1, lv.t[i])
        else:
            x1 = a * za + b * oracle.eps(zb, lv.t[i])
            y1 = a * zb + b * oracle.eps(x1, lv.t[i])
        xn = p * x1 + (1 - p) * y1
        yn = p * y1 + (1 - p) * xn
        sx, sy = ed.step(oracle, lv, i, (za, zb), {})
        assert torch.allclose(sx, xn, rtol=1e-12, atol=1e-12)
        assert torch.allclose(sy, yn, rtol=1e-12, atol=1e-12)
        bx, by = ed.inverse(oracle, lv, i, (sx, sy), {})
        assert torch.allclose(bx, za, rtol=0, atol=1e-11)
        assert torch.allclose(by, zb, rtol=0, atol=1e-11)


def test_edict_swap_changes_the_path(oracle, x0):
    a = invert(oracle, x0, "edict", steps=6, swap=True)
    b = invert(oracle, x0, "edict", steps=6, swap=False)
    assert (a.noise - b.noise).abs().max() > 1e-6


# (method, options, expected global order) on the Gaussian PF-ODE, whose flow is exact
ORDERS = [("ddim", {}, 1), ("edict", {}, 1), ("bdia", {"gamma": 1.0}, 2),
          ("bdia", {"gamma": 0.5}, 1), ("obelm", {}, 2)]


@pytest.mark.parametrize("method,opt,order", ORDERS, ids=lambda v: str(v))
def test_sampling_order_on_gaussian(method, opt, order):
    g = torch.Generator().manual_seed(0)
    orc = GaussianOracle(torch.randn(8, generator=g, dtype=F64), 0.5, SCH)
    model = orc.model()
    t0, t1 = 0.8, 0.05
    xT = orc.sample(16, g, t=t0)
    exact = orc.pf_ode_map(xT, t0, t1)
    errs = []
    for n in (32, 64, 128):
        ts = time_grid(SCH, n, "uniform_lambda", t_start=t0, t_end=t1)
        errs.append(float((generate(model, xT, method, ts=ts, **opt) - exact).abs().max()))
    slope = math.log2(errs[-2] / errs[-1])
    assert abs(slope - order) < 0.2, (errs, slope)


def test_nfe_and_listing(oracle, x0):
    rows = {r["name"]: r for r in list_baselines()}
    assert set(rows) == set(BASELINES) == {"ddim", "edict", "bdia", "obelm"}
    assert rows["ddim"]["exact"] is False and rows["edict"]["nfe_per_step"] == 2
    assert invert(oracle, x0, "edict", steps=5).nfe == 10
    assert invert(oracle, x0, "bdia", steps=5).nfe == 5
    assert invert(oracle, x0, "ddim", steps=5).nfe == 5


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), "x", None])
def test_edict_p_validated(bad):
    with pytest.raises(ValueError, match="EDICT p"):
        get_baseline("edict", p=bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, 1.01, float("inf")])
def test_bdia_gamma_validated(bad):
    with pytest.raises(ValueError, match="BDIA gamma"):
        get_baseline("bdia", gamma=bad)


def test_bad_inputs(oracle, x0):
    with pytest.raises(ValueError, match="valid names"):
        get_baseline("nope")
    with pytest.raises(ValueError, match="does not take option"):
        get_baseline("obelm", gamma=0.5)
    with pytest.raises(ValueError, match="at least 2 steps"):
        invert(oracle, x0, "obelm", steps=1)
    with pytest.raises(ValueError, match="exactly one of"):
        invert(oracle, x0, "bdia")
    with pytest.raises(ValueError, match="strictly decreasing"):
        invert(oracle, x0, "bdia", ts=torch.tensor([0.1, 0.5, 0.9], dtype=F64))
    with pytest.raises(TypeError, match="DiffusionModel"):
        invert(lambda x, t: x, x0, "ddim", steps=3)
    lat = invert(oracle, x0, "bdia", steps=3)
    with pytest.raises(ValueError, match="made by"):
        generate(oracle, lat, "obelm")
    with pytest.raises(ValueError, match="carry their own"):
        generate(oracle, lat, steps=3)
    with pytest.raises(ValueError, match="needs method"):
        generate(oracle, x0, steps=3)
    with pytest.raises(ValueError, match="options"):
        generate(oracle, lat, gamma=0.7)


@pytest.mark.parametrize("method,opt", EXACT + [("ddim", {})], ids=lambda v: str(v))
def test_baselines_are_samplers_of_encode_and_decode(oracle, x0, method, opt, tmp_path):
    """encode(sampler=<baseline>) gives Latents (saved and reloaded) that decode like the
    baseline's own generate(invert(...)): one round-trip path for Rex and baselines."""
    from revsde.diffusion import Latents, decode, encode

    lat = encode(oracle, x0, steps=6, sampler=method, grid="uniform_t", **opt)
    assert isinstance(lat, Latents) and lat.sampler == method and lat.case is None
    ref = invert(oracle, x0, method, steps=6, grid="uniform_t", **opt)
    assert torch.equal(lat.ts, ref.ts) and lat.nfe == ref.nfe
    assert all(torch.equal(a, b) for a, b in zip(lat.state, ref.state))
    assert torch.equal(lat.noise, ref.noise)
    path = tmp_path / "lat.pt"
    lat.save(path)
    back = decode(oracle, Latents.load(path))
    assert torch.equal(back, generate(oracle, ref))
    assert lat.decode_nfe == get_baseline(method, **opt).decode_nfe(6)
    with pytest.raises(ValueError, match="encoded with sampler"):
        decode(oracle, lat, sampler="rex_rk4")
