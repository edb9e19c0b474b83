"""The samplers' per-evaluation work (issue 9, point 6): what is computed once per solve.

The speed itself is measured by ``benchmarks/bench_samplers.py``; these tests pin
the mechanisms and that they change no number:

* the lifted drift's coefficient table equals the per-clock coefficients bit for
  bit (so a clock found in the table and the same value computed again give the
  same drift) for the schedules whose operations give the same bits on a whole
  vector as on one element; FlowMatching's ``torch.sigmoid`` does not on the CPU
  (its vector kernel differs from its one-element one in the last bit for ~3% of
  inputs), so there the table is checked to round-off;
* the table is read during a solve (the schedule is not evaluated per step);
* the network's dtype is read once per solve, not at every evaluation;
* ``alpha_sigma`` gives the numbers of ``alpha`` and ``sigma``.
"""

import pytest
import torch

import revsde
from revsde.diffusion import (
    DiffusionModel,
    LiftedProblem,
    VPCosine,
    VPLinear,
    get_sampler,
    time_grid,
)
from revsde.diffusion.schedules import VE, FlowMatching, VPDiscrete

F32, F64 = torch.float32, torch.float64
SCHEDULES = [VPLinear(), VPCosine(), VE(), FlowMatching(),
             VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))]
CASES = ["ode_eps", "ode_x0", "sde_x0", "sde_eps"]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x, t):
        return torch.tanh(self.w * x) + t.reshape(-1, *[1] * (x.dim() - 1)).to(x.dtype)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_table_is_the_per_clock_coefficients(schedule, dtype):
    """Row n of the table == coefficients(clocks[n]) computed alone, bit for bit; and the
    drift at a grid clock (table) == the drift at a copy of it (computed)."""
    ts = time_grid(schedule, 17, "uniform_lambda")
    eps = torch.finfo(dtype).eps
    y = torch.randn(2, 1, 3, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    preds = ("eps", "x0", "v", "flow") if isinstance(schedule, FlowMatching) else ("eps", "x0")
    for pred in preds:
        model = DiffusionModel(Net(), schedule, pred)
        for case in CASES:
            pb = LiftedProblem(model, case, ts, like=y)
            sde, table = pb.sde, pb.sde._table
            assert pb.clocks.dtype == dtype
            for n in range(pb.clocks.numel()):
                grid_clock, copy = pb.clocks[n], pb.clocks[n].clone()
                row = table.at(grid_clock, y)
                assert row is not None and table.at(copy, y) is None
                alone = sde.coefficients(copy, y)
                with torch.no_grad():
                    pairs = [(g, w) for g, w in zip(row, alone) if w is not None]
                    pairs.append((sde.f(grid_clock, y), sde.f(copy, y)))
                for got, want in pairs:
                    if isinstance(schedule, FlowMatching):  # torch.sigmoid: module docstring
                        scale = float(want.abs().max())
                        torch.testing.assert_close(got, want, rtol=64 * eps, atol=64 * eps * scale)
                    else:
                        assert torch.equal(got, want), (pred, case, n)


def test_table_refuses_other_dtype_and_a_written_grid():
    model = DiffusionModel(Net(), VPLinear(), "eps")
    y = torch.randn(1, 4, dtype=F64)
    pb = LiftedProblem(model, "ode_x0", time_grid(VPLinear(), 5), like=y)
    table = pb.sde._table
    assert table.at(pb.clocks[2], y) is not None
    assert table.at(pb.clocks[2], y.float()) is None  # another state dtype: computed
    pb.clocks.mul_(1.0)  # written to (same values): the table no longer answers
    assert table.at(pb.clocks[2], y) is None


class CountingVP(VPLinear):
    """VPLinear that counts its λ -> t evaluations (what the lifted drift needs per clock)."""

    calls = 0

    def at_lambda(self, lam):
        CountingVP.calls += lam.numel()
        return super().at_lambda(lam)


@pytest.mark.parametrize("name", ["rev_heun", "rex_euler", "rev_heun_sde"])
def test_solve_reads_the_table(name):
    """On a grid-point solver, a whole sample evaluates the schedule only to build the
    table (once per grid clock), not at each step; the result is the per-step one."""
    sch = CountingVP()
    model = DiffusionModel(Net(), sch, "eps")
    steps = 12
    ts = time_grid(sch, steps, "uniform_lambda")
    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    s = get_sampler(name)
    kw = {"seed": 3} if s.stochastic else {}
    CountingVP.calls = 0
    with torch.no_grad():
        out = s.sample(model, x, ts, **kw)
    assert CountingVP.calls == steps + 1  # one table of the steps + 1 clocks
    # the same solve with every clock computed at its evaluation (a grid the table
    # does not know: a copy of the clocks)
    pb, clocks = s.lift(model, ts, None, x)
    state = s._init(pb, clocks[0], pb.to_lifted(x, pb.ts[0]))
    bm = s.brownian(clocks, x, 3) if s.stochastic else None
    CountingVP.calls = 0
    with torch.no_grad():
        sol = revsde.sdeint(pb.sde, None, clocks.clone(), method=s.solver(), state=state, bm=bm)
    assert CountingVP.calls >= steps  # computed per evaluation
    assert torch.equal(pb.from_lifted(sol.state[0], pb.ts[-1]), out)


class CountingModel(DiffusionModel):
    reads = 0

    @property
    def network_dtype(self):
        CountingModel.reads += 1
        return super().network_dtype


@pytest.mark.parametrize("name", ["rev_heun", "rex_rk4", "ddim", "dpmpp_2m", "sde_dpmpp_1"])
def test_network_dtype_read_once_per_solve(name):
    model = CountingModel(Net(), VPLinear(), "eps")
    ts = time_grid(VPLinear(), 10, "uniform_lambda")
    x = torch.randn(1, 1, 4, 4, dtype=F64)
    s = get_sampler(name)
    CountingModel.reads = 0
    with torch.no_grad():
        s.sample(model, x, ts, **({"seed": 1} if s.stochastic else {}))
    assert 1 <= CountingModel.reads <= 2  # not once per evaluation (>= 10)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_alpha_sigma_is_alpha_and_sigma(schedule, dtype):
    t = torch.linspace(schedule.t_min, schedule.t_max, 101, dtype=dtype)
    a, s = schedule.alpha_sigma(t)
    assert torch.equal(a, schedule.alpha(t)) and torch.equal(s, schedule.sigma(t))
