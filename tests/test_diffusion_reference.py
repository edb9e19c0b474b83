"""Reference samplers (DDIM, DPM-Solver++(1), (2M), SDE-DPM-Solver++(1)): orders and contracts."""

import numpy as np
import pytest
import torch

from revsde.diffusion.oracles import GaussianMixtureOracle, GaussianOracle
from revsde.diffusion.samplers.reference import (
    sample_ddim,
    sample_dpmpp_1,
    sample_dpmpp_2m,
    sample_sde_dpmpp_1,
)
from revsde.diffusion.schedules import VE, VPLinear, time_grid

F64 = torch.float64
STEPS = [10, 20, 40, 80]


def _mixture(schedule, prediction="eps"):
    means = [[-1.0, 0.5, 0.2], [1.0, 1.0, -0.4], [0.0, -1.5, 0.8]]
    return GaussianMixtureOracle([0.3, 0.5, 0.2], means, [0.6, 0.5, 0.8], schedule, prediction)


CASES = {
    "vp_lambda": (VPLinear(), "uniform_lambda"),
    "ve_karras": (VE(0.01, 20.0), "karras"),
}
# (sampler, expected order)
TABLE = [(sample_ddim, 1.0), (sample_dpmpp_1, 1.0), (sample_dpmpp_2m, 2.0)]


@pytest.fixture(scope="module", params=sorted(CASES))
def problem(request):
    schedule, kind = CASES[request.param]
    orc = _mixture(schedule)
    model = orc.model()
    x_T = orc.sample(32, torch.Generator().manual_seed(0), t=schedule.t_max)
    ref = sample_dpmpp_2m(model, x_T, time_grid(schedule, 1000, kind)).x
    return model, x_T, ref, schedule, kind


def _order(errs):
    return -np.polyfit(np.log(STEPS), np.log(errs), 1)[0]


@pytest.mark.parametrize("sampler,order", TABLE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_orders_on_mixture(problem, sampler, order):
    model, x_T, ref, schedule, kind = problem
    errs = []
    for n in STEPS:
        res = sampler(model, x_T, time_grid(schedule, n, kind))
        assert res.nfe == n
        errs.append(float((res.x - ref).pow(2).mean().sqrt()))
    fitted = _order(errs)
    assert abs(fitted - order) < 0.3, (sampler.__name__, errs, fitted)


def test_ddim_equals_dpmpp_1():
    """First-order exponential integrators coincide: DDIM = DPM-Solver(1) = DPM-Solver++(1)."""
    sch = VPLinear()
    model = _mixture(sch).model()
    x_T = torch.randn(16, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    ts = time_grid(sch, 20, "uniform_t")
    a, b = sample_ddim(model, x_T, ts).x, sample_dpmpp_1(model, x_T, ts).x
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_ode_samplers_track_gaussian_flow():
    sch = VPLinear()
    orc = GaussianOracle(torch.tensor([0.4, -0.6], dtype=F64), 0.8, sch)
    x_T = orc.sample(8, torch.Generator().manual_seed(2), t=sch.t_max)
    ts = time_grid(sch, 200, "uniform_lambda")
    exact = orc.pf_ode_map(x_T, sch.t_max, sch.t_min)
    for sampler, tol in ((sample_ddim, 5e-2), (sample_dpmpp_2m, 1e-3)):
        out = sampler(orc.model(), x_T, ts).x
        assert float((out - exact).abs().max()) < tol


def test_sde_sampler_noise_sources_agree():
    sch = VPLinear()
    model = _mixture(sch, "x0").model()
    ts = time_grid(sch, 20, "uniform_lambda")
    g = torch.Generator().manual_seed(3)
    x_T = torch.randn(8, 3, generator=g, dtype=F64)
    z = torch.randn((20, *x_T.shape), generator=g, dtype=F64)
    calls = []

    def noise(t_s, t_t):
        calls.append((float(t_s), float(t_t)))
        return z[len(calls) - 1]

    a = sample_sde_dpmpp_1(model, x_T, ts, noise=z).x
    b = sample_sde_dpmpp_1(model, x_T, ts, noise=noise).x
    assert torch.equal(a, b)
    assert calls[0] == (float(ts[0]), float(ts[1])) and len(calls) == 20
    c = sample_sde_dpmpp_1(model, x_T, ts, generator=torch.Generator().manual_seed(9))
    d = sample_sde_dpmpp_1(model, x_T, ts, generator=torch.Generator().manual_seed(9))
    assert c.nfe == 20 and torch.equal(c.x, d.x) and not torch.equal(c.x, a)


def _exact_output_law(model, orc, ts):
    """Mean and variance of the sampler's output for Gaussian data, where it is affine.

    The output is ``c + P x_T + Σ_n Q_n z_n``; feed unit inputs to read P and Q_n.
    """
    n = ts.numel() - 1
    x_T = torch.zeros(n + 2, 1, dtype=F64)
    x_T[1] = 1.0
    z = torch.zeros(n, n + 2, 1, dtype=F64)
    z[torch.arange(n), torch.arange(n) + 2] = 1.0
    out = sample_sde_dpmpp_1(model, x_T, ts, noise=z).x[:, 0]
    c, p, q = out[0], out[1] - out[0], out[2:] - out[0]
    sch, t = model.schedule, ts[0]
    m_T = sch.alpha(t) * orc.mu[0]
    v_T = sch.alpha(t) ** 2 * orc.s**2 + sch.sigma(t) ** 2
    return float(c + p * m_T), float(p * p * v_T + (q * q).sum())


def test_sde_sampler_weak_order_one_on_gaussian():
    """The law at the data end converges at weak order 1 (exact law, no Monte Carlo)."""
    sch = VPLinear()
    orc = GaussianOracle(torch.tensor([1.5], dtype=F64), 0.5, sch, prediction="x0")
    model = orc.model()
    t = torch.tensor(sch.t_min, dtype=F64)
    mean = float(sch.alpha(t) * 1.5)
    var = float(sch.alpha(t) ** 2 * 0.25 + sch.sigma(t) ** 2)
    errs = {}
    for n in (50, 100, 200):
        m, v = _exact_output_law(model, orc, time_grid(sch, n, "uniform_lambda"))
        errs[n] = (abs(m - mean) + abs(v - var))
    assert errs[200] < 0.05 * var
    for lo, hi in ((50, 100), (100, 200)):
        assert 1.7 < errs[lo] / errs[hi] < 2.3, errs


def test_contract_errors_and_callback():
    sch = VPLinear()
    model = _mixture(sch).model()
    x = torch.randn(4, 3, dtype=F64)
    with pytest.raises(ValueError, match="strictly decreasing"):
        sample_ddim(model, x, torch.linspace(0.1, 1.0, 5, dtype=F64))
    with pytest.raises(TypeError, match="DiffusionModel"):
        sample_ddim(lambda x, t: x, x, time_grid(sch, 3))
    seen = []
    out = sample_dpmpp_2m(model, x, time_grid(sch, 5), callback=seen.append)
    assert [d["i"] for d in seen] == list(range(5)) and out.nfe == 5
    assert torch.equal(seen[-1]["x"], out.x)
    lo = sample_dpmpp_2m(model, x, time_grid(sch, 5), lower_order_final=True).x
    assert not torch.equal(lo, out.x)


def test_float32_runs():
    sch = VPLinear()
    model = _mixture(sch).model()
    x = torch.randn(4, 3)
    ts = time_grid(sch, 10, "uniform_lambda")
    for s in (sample_ddim, sample_dpmpp_1, sample_dpmpp_2m, sample_sde_dpmpp_1):
        out = s(model, x, ts).x
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        ref = s(model, x.double(), ts).x if s is not sample_sde_dpmpp_1 else None
        if ref is not None:
            assert torch.allclose(out.double(), ref, atol=1e-4)
