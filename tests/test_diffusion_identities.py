"""Lifted equations (docs/mathematics.md §4.2) and the identities of §4.4, through the revsde
core."""

import pytest
import torch

import revsde
from revsde.diffusion.oracles import GaussianMixtureOracle, GaussianOracle
from revsde.diffusion.samplers.lifted import LIFTED_CASES, LiftedProblem
from revsde.diffusion.samplers.reference import sample_ddim, sample_dpmpp_1, sample_sde_dpmpp_1
from revsde.diffusion.schedules import (
    VE,
    FlowMatching,
    VPCosine,
    VPLinear,
    VPScaledLinear,
    time_grid,
)

F64 = torch.float64
SCHEDS = [VPLinear(), VPCosine(), VPScaledLinear(), VE(0.01, 20.0), FlowMatching()]
IDS = [type(s).__name__ for s in SCHEDS]


def _model(schedule, prediction="eps", shape=(3,)):
    g = torch.Generator().manual_seed(11)
    means = torch.randn((3, *shape), generator=g, dtype=F64)
    orc = GaussianMixtureOracle([0.3, 0.5, 0.2], means, [0.6, 0.5, 0.8], schedule, prediction)
    return orc, orc.model()


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("schedule", SCHEDS, ids=IDS)
@pytest.mark.parametrize("case,reference", [("ode_eps", sample_ddim), ("ode_x0", sample_dpmpp_1)])
def test_euler_on_lifted_pf_ode_is_the_reference_sampler(schedule, case, reference):
    """Euler in (χ, x/α) is DDIM; Euler in (γ, x/σ) is DPM-Solver++(1)
    (docs/mathematics.md §4.4)."""
    orc, model = _model(schedule, "x0" if case == "ode_x0" else "eps", (2, 2))
    ts = time_grid(schedule, 25, "uniform_lambda")
    x_T = orc.sample(8, torch.Generator().manual_seed(0), t=ts[0])
    pb = LiftedProblem(model, case, ts)
    sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), pb.clocks, method="euler")
    xs = []
    ref = reference(model, x_T, ts, callback=lambda d: xs.append(d["x"]))
    for n in range(1, ts.numel()):
        assert _rel(pb.from_lifted(sol.ys[n], ts[n]), xs[n - 1]) < 1e-12
    assert _rel(pb.from_lifted(sol.ys[-1], ts[-1]), ref.x) < 1e-12
    assert sol.stats["nfe"] == ref.nfe


@pytest.mark.parametrize("schedule", SCHEDS, ids=IDS)
def test_euler_maruyama_on_lifted_sde_x0_is_sde_dpmpp_1(schedule):
    """Euler–Maruyama in (ρ, xα/σ²) is SDE-DPM-Solver++(1) with z = ΔW/sqrt(Δρ)
    (docs/mathematics.md §4.4)."""
    orc, model = _model(schedule, "x0")
    ts = time_grid(schedule, 30, "uniform_lambda")
    x_T = orc.sample(16, torch.Generator().manual_seed(1), t=ts[0])
    pb = LiftedProblem(model, "sde_x0", ts)
    rho = pb.clocks
    assert pb.clock_increases and bool((rho[1:] > rho[:-1]).all())
    bm = revsde.BrownianGrid(rho, x_T.shape, dtype=F64, entropy=7)
    sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), rho, method="euler", bm=bm)

    def noise(t_s, t_t):
        a, b = pb.clock(t_s), pb.clock(t_t)
        return bm(float(a), float(b)) / torch.sqrt(b - a)

    ref = sample_sde_dpmpp_1(model, x_T, ts, noise=noise)
    assert _rel(pb.from_lifted(sol.ys[-1], ts[-1]), ref.x) < 1e-12


def _t_derivative(fn, t):
    tt = torch.tensor(float(t), dtype=F64, requires_grad=True)
    (d,) = torch.autograd.grad(fn(tt), tt)
    return d


@pytest.mark.parametrize("schedule", SCHEDS, ids=IDS)
@pytest.mark.parametrize("case", LIFTED_CASES)
def test_lifted_equation_is_the_change_of_variables(schedule, case):
    """f and g equal the reverse SDE / PF-ODE of §4.1 pushed through Y = x/κ, ς = ς(t)."""
    orc, model = _model(schedule)
    pb = LiftedProblem(model, case)
    sch = schedule
    for u in (0.1, 0.5, 0.9):
        t = torch.tensor(sch.t_min + u * (sch.t_max - sch.t_min), dtype=F64)
        x = orc.sample(4, torch.Generator().manual_seed(2), t=t)
        s = sch.sigma(t)
        f = _t_derivative(sch.log_alpha, t)
        g2 = -2 * s * s * _t_derivative(sch.lambda_, t)
        c = 0.5 if case.startswith("ode") else 1.0
        dxdt = f * x + c * g2 / s * model.eps(x, t)
        kappa = pb.kappa(t)
        dlk = _t_derivative(pb.log_kappa, t)
        dsdt = _t_derivative(pb.clock, t)
        expected = (dxdt - dlk * x) / kappa / dsdt
        clock = pb.clock_of_lambda(sch.lambda_(t))  # not memoised: exercises the inverse
        got = pb.sde.f(clock, pb.to_lifted(x, t))
        assert torch.allclose(got, expected, rtol=1e-8, atol=1e-10)
        if case.startswith("sde"):
            # unit diffusion: (g/κ)² dt = |dς|
            assert torch.allclose(g2 / kappa**2 / dsdt.abs(), torch.ones((), dtype=F64),
                                  rtol=1e-9)
            assert torch.equal(pb.sde.g(clock, x), torch.ones_like(x))
        else:
            assert not hasattr(pb.sde, "g")


@pytest.mark.parametrize("schedule", SCHEDS, ids=IDS)
@pytest.mark.parametrize("case", LIFTED_CASES)
def test_clock_and_state_maps(schedule, case):
    _, model = _model(schedule)
    pb = LiftedProblem(model, case)
    ts = torch.linspace(schedule.t_min, schedule.t_max, 501, dtype=F64)
    clocks = pb.clock_of_lambda(schedule.lambda_(ts))
    back = pb.t_of_clock(clocks)
    assert torch.allclose(back, ts, rtol=1e-12, atol=0)
    d = clocks[1:] - clocks[:-1]
    assert bool((d < 0).all()) if pb.clock_increases else bool((d > 0).all())
    # t_of_clock is a pure function of (schedule, case, clock): nothing is memoised, a
    # float32 clock is read in float64 and gives t to its own rounding (float32 ulps)
    before = pb.t_of_clock(clocks[:50])
    pb.clock(ts[:50])
    assert torch.equal(pb.t_of_clock(clocks[:50]), before)
    assert not hasattr(pb, "_memo")
    c32 = clocks.float()
    assert c32.dtype == torch.float32 and pb.t_of_clock(c32).dtype == F64
    assert torch.allclose(pb.t_of_clock(c32), pb.t_of_clock(c32.double()), rtol=0, atol=0)
    x = torch.randn(5, 2, 3, dtype=F64)
    tb = ts[[3, 100, 200, 300, 400]]
    assert torch.allclose(pb.from_lifted(pb.to_lifted(x, tb), tb), x, rtol=1e-15)
    y = pb.to_lifted(x, ts[7])
    assert torch.allclose(y * pb.kappa(ts[7]), x, rtol=1e-15)


def test_lifted_problem_errors():
    _, model = _model(VPLinear())
    with pytest.raises(ValueError, match="valid cases"):
        LiftedProblem(model, "ode_v")
    with pytest.raises(TypeError, match="DiffusionModel"):
        LiftedProblem(lambda x, t: x, "ode_eps")


# Round-trip error of a 20-step mcf_midpoint solve, relative.  The data-prediction
# SDE is ill-conditioned for inversion (Y grows from ~1e-2 to ~1e4 and the backward
# half-steps are dissipative with |z| ~ Δρ/ρ > 1), cf. docs/mathematics.md §4.5.
ROUND_TRIP_TOL = {"ode_eps": 1e-13, "ode_x0": 1e-10, "sde_eps": 1e-12, "sde_x0": 1e-4}


@pytest.mark.parametrize("case", LIFTED_CASES)
def test_reversible_round_trip_through_lifted_equation(case):
    """A reversible core solve of each lifted equation inverts (docs/mathematics.md §3, §4.3)."""
    sch = VPLinear()
    orc, model = _model(sch)
    ts = time_grid(sch, 20, "uniform_lambda")
    pb = LiftedProblem(model, case, ts)
    x_T = orc.sample(4, torch.Generator().manual_seed(3), t=ts[0])
    y0 = pb.to_lifted(x_T, ts[0])
    bm = "grid" if pb.stochastic else None
    sol = revsde.sdeint(pb.sde, y0, pb.clocks, method="mcf_midpoint", bm=bm, entropy=5)
    inv = revsde.sdeint_inverse(pb.sde, sol.state, pb.clocks, method="mcf_midpoint", bm=sol.bm)
    assert _rel(pb.from_lifted(inv.ys[0], ts[0]), x_T) < ROUND_TRIP_TOL[case]


class _ImpulseBM:
    """A "Brownian motion" whose increment on cell n is sqrt(|Δς|) in batch row n + 2 only.

    With an affine drift, the output is ``c + P y0 + Σ_n Q_n z_n``: feeding unit
    impulses reads off P and Q_n, hence the exact law of the Euler–Maruyama output.
    """

    def __init__(self, grid, batch):
        self.times = sorted(float(v) for v in grid)
        self.t0, self.t1 = self.times[0], self.times[-1]
        self.shape = (batch, 1)
        self.dtype = F64

    def __call__(self, ta, tb):
        n = self.times.index(float(ta))
        assert self.times[n + 1] == float(tb)
        w = torch.zeros(self.shape, dtype=F64)
        w[n + 2] = (tb - ta) ** 0.5
        return w


@pytest.mark.parametrize("case", ["sde_eps", "sde_x0"])
def test_lifted_sdes_sample_the_right_law(case):
    """Euler–Maruyama on the lifted SDE reaches the data marginal (weak order 1), exactly."""
    sch = VPLinear()
    mu, sd = 1.5, 0.5
    model = GaussianOracle(torch.tensor([mu], dtype=F64), sd, sch).model()
    t_end = torch.tensor(sch.t_min, dtype=F64)
    mean = float(sch.alpha(t_end) * mu)
    var = float(sch.alpha(t_end) ** 2 * sd**2 + sch.sigma(t_end) ** 2)
    errs = {}
    for n in (50, 100, 200):
        ts = time_grid(sch, n, "uniform_lambda")
        pb = LiftedProblem(model, case, ts)
        x_T = torch.zeros(n + 2, 1, dtype=F64)
        x_T[1] = 1.0
        bm = _ImpulseBM(pb.clocks, n + 2)
        sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), pb.clocks, method="euler", bm=bm)
        out = pb.from_lifted(sol.ys[-1], ts[-1])[:, 0]
        c, p, q = out[0], out[1] - out[0], out[2:] - out[0]
        a_T, s_T = sch.alpha(ts[0]), sch.sigma(ts[0])
        m = float(c + p * a_T * mu)
        v = float(p * p * (a_T**2 * sd**2 + s_T**2) + (q * q).sum())
        errs[n] = abs(m - mean) + abs(v - var)
    assert errs[200] < 0.05 * var
    for lo, hi in ((50, 100), (100, 200)):
        assert 1.7 < errs[lo] / errs[hi] < 2.3, errs


def test_float32_lifted_euler_matches_ddim():
    sch = VPLinear()
    orc, model = _model(sch)
    ts = time_grid(sch, 20, "uniform_lambda")
    x_T = orc.sample(8, torch.Generator().manual_seed(5), t=ts[0]).float()
    pb = LiftedProblem(model, "ode_eps", ts)
    sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), pb.clocks.float(), method="euler")
    out = pb.from_lifted(sol.ys[-1], ts[-1])
    assert out.dtype == torch.float32
    ref = sample_ddim(model, x_T.double(), ts).x
    assert _rel(out.double(), ref) < 1e-5
