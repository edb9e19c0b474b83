"""Noise schedules and time grids (docs/mathematics.md §4.1): inverses, monotonicity, round
trips."""

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revsde.diffusion.schedules import (
    GRID_KINDS,
    VE,
    FlowMatching,
    VPCosine,
    VPDiscrete,
    VPLinear,
    VPScaledLinear,
    schedule_from_dict,
    time_grid,
)

F64 = torch.float64

SCHEDULES = {
    "vp_linear": VPLinear(),
    "vp_linear_const": VPLinear(beta_0=1.0, beta_1=1.0),
    "vp_cosine": VPCosine(),
    "vp_scaled_linear": VPScaledLinear(),
    "vp_discrete_ddpm": VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64)),
    "vp_discrete_short": VPDiscrete(alphas_cumprod=[0.9, 0.5, 0.2, 0.01]),
    "ve": VE(0.002, 80.0),
    "flow": FlowMatching(),
}
VP = [k for k, s in SCHEDULES.items() if s.variance_preserving]


def _dense(s, n=4001, dtype=F64):
    return torch.linspace(s.t_min, s.t_max, n, dtype=dtype)


@pytest.mark.parametrize("name", SCHEDULES)
def test_lambda_inverse_and_monotone(name):
    s = SCHEDULES[name]
    t = _dense(s)
    lam = s.lambda_(t)
    assert lam.dtype == F64
    assert bool((lam[1:] < lam[:-1]).all()), "λ must be strictly decreasing in t"
    t2 = s.t_of_lambda(lam)
    assert torch.allclose(t2, t, rtol=1e-12, atol=0)
    # and the other way, on a λ grid
    lams = torch.linspace(float(lam[-1]), float(lam[0]), 1001, dtype=F64)
    assert torch.allclose(s.lambda_(s.t_of_lambda(lams)), lams, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", SCHEDULES)
def test_consistency_of_primitives(name):
    s = SCHEDULES[name]
    t = _dense(s, 257)
    assert torch.allclose(s.alpha(t), s.log_alpha(t).exp(), rtol=1e-15)
    assert torch.allclose(s.sigma(t), s.log_sigma(t).exp(), rtol=1e-15)
    assert torch.allclose(s.lambda_(t), torch.log(s.alpha(t) / s.sigma(t)), rtol=1e-12, atol=1e-13)
    if s.variance_preserving:
        assert torch.allclose(s.alpha(t) ** 2 + s.sigma(t) ** 2, torch.ones_like(t), atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("name", SCHEDULES)
def test_dtype_and_scalars(name, dtype):
    s = SCHEDULES[name]
    t = _dense(s, 9, dtype)
    for fn in (s.log_alpha, s.log_sigma, s.alpha, s.sigma, s.lambda_):
        assert fn(t).dtype == dtype
    assert s.t_of_lambda(s.lambda_(t)).dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(s.t_of_lambda(s.lambda_(t)), t, rtol=tol)
    # python floats are read as float64
    mid = 0.5 * (s.t_min + s.t_max)
    out = s.lambda_(mid)
    assert out.dtype == F64 and out.dim() == 0
    assert math.isclose(float(s.t_of_lambda(float(out))), mid, rel_tol=1e-13)


@settings(max_examples=60, deadline=None)
@given(u=st.floats(0.0, 1.0), name=st.sampled_from(sorted(SCHEDULES)))
def test_property_roundtrip(u, name):
    s = SCHEDULES[name]
    t = torch.tensor(s.t_min + u * (s.t_max - s.t_min), dtype=F64)
    t2 = s.t_of_lambda(s.lambda_(t))
    assert abs(float(t2 - t)) <= 1e-10 * float(t)
    if s.variance_preserving:
        assert abs(float(s.alpha(t) ** 2 + s.sigma(t) ** 2) - 1.0) < 1e-14


@settings(max_examples=40, deadline=None)
@given(b0=st.floats(0.0, 5.0), db=st.floats(0.01, 30.0), u=st.floats(0.0, 1.0))
def test_property_vp_linear_params(b0, db, u):
    s = VPLinear(beta_0=b0, beta_1=b0 + db)
    t = torch.tensor(s.t_min + u * (s.t_max - s.t_min), dtype=F64)
    assert abs(float(s.t_of_lambda(s.lambda_(t)) - t)) <= 1e-10 * float(t)


def test_discrete_reproduces_alphas_cumprod():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=F64)
    ac = torch.cumprod(1 - betas, 0)
    s = VPDiscrete(betas=betas)
    n = ac.numel()
    t = (torch.arange(n, dtype=F64) + 1) / n
    assert torch.allclose(s.alpha(t) ** 2, ac, rtol=1e-13)
    assert s.t_min == 1.0 / n and s.t_max == 1.0
    assert torch.allclose(s.timestep_of_t(t), torch.arange(n, dtype=F64), atol=1e-9)
    # the SD schedule is a discrete one with its own betas
    sd = VPScaledLinear()
    b = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=F64) ** 2
    assert torch.allclose(sd.alpha(t) ** 2, torch.cumprod(1 - b, 0), rtol=1e-13)


def test_vp_linear_matches_formula():
    s = VPLinear(0.1, 20.0)
    t = torch.tensor([0.3], dtype=F64)
    expected = -(19.9) * 0.09 / 4 - 0.1 * 0.3 / 2
    assert math.isclose(float(s.log_alpha(t)), expected, rel_tol=1e-15)


@pytest.mark.parametrize("name", SCHEDULES)
def test_dict_roundtrip_exact(name):
    s = SCHEDULES[name]
    d = json.loads(json.dumps(s.to_dict()))
    s2 = schedule_from_dict(d)
    assert type(s2) is type(s) and s2 == s and s2.to_dict() == s.to_dict()
    t = _dense(s, 101)
    assert torch.equal(s2.lambda_(t), s.lambda_(t))
    assert torch.equal(s2.t_of_lambda(s.lambda_(t)), s.t_of_lambda(s.lambda_(t)))


@pytest.mark.parametrize("kind", GRID_KINDS)
@pytest.mark.parametrize("name", SCHEDULES)
def test_time_grid(name, kind):
    s = SCHEDULES[name]
    ts = time_grid(s, 17, kind)
    assert ts.shape == (18,) and ts.dtype == F64
    assert float(ts[0]) == s.t_max and float(ts[-1]) == s.t_min
    assert bool((ts[1:] < ts[:-1]).all())
    lam = s.lambda_(ts)
    if kind == "uniform_lambda":
        d = lam[1:] - lam[:-1]
        assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-9)
    if kind == "karras":
        c = torch.exp(-lam / 7.0)
        d = c[1:] - c[:-1]
        assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-9)
    sub = time_grid(s, 5, kind, t_start=float(ts[2]), t_end=float(ts[-3]), dtype=torch.float32)
    assert sub.dtype == torch.float32 and sub.shape == (6,)
    assert float(sub[0]) == float(ts[2].float()) and float(sub[-1]) == float(ts[-3].float())


def test_karras_matches_edm_on_ve():
    s = VE(0.002, 80.0)
    ts = time_grid(s, 10, "karras")
    i = torch.arange(11, dtype=F64)
    ref = (80.0 ** (1 / 7) + i / 10 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    assert torch.allclose(ts, ref, rtol=1e-12)


def test_errors_say_what_to_change():
    with pytest.raises(ValueError, match="valid kinds"):
        time_grid(VPLinear(), 10, "linear")
    with pytest.raises(ValueError, match="positive integer"):
        time_grid(VPLinear(), 0)
    with pytest.raises(ValueError, match="t_start must exceed t_end"):
        time_grid(VPLinear(), 4, t_start=0.1, t_end=0.5)
    with pytest.raises(ValueError, match="strictly decreasing"):
        VPDiscrete(alphas_cumprod=[0.5, 0.6])
    with pytest.raises(ValueError, match="clip"):
        VPDiscrete(alphas_cumprod=[0.5, 0.0])
    with pytest.raises(ValueError, match="exactly one"):
        VPDiscrete()
    with pytest.raises(ValueError, match="valid types"):
        schedule_from_dict({"type": "Nope"})
    with pytest.raises(ValueError, match="t_min"):
        FlowMatching(t_min=0.0)
    with pytest.raises(ValueError, match="beta_0"):
        VPLinear(beta_0=2.0, beta_1=1.0)
