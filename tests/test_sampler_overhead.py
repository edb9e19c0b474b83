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
* the Runge–Kutta stage clocks ``t + c·h`` of the McCallum–Foster samplers come
  from stage rows of the table: the same bits as ``t + c * h`` computed by the
  solver, and their coefficients the per-clock ones;
* the exponential Reversible Heun weights come from a table of the whole grid,
  bit for bit the per-step :func:`exp_weights`, and a solve and its inverse compute
  them once;
* the Runge–Kutta bases multiply by 0-d tensors of a solve's numbers (steps,
  tableau weights) made once per solve: the same products as by python numbers;
* the network's dtype is read once per solve, not at every evaluation;
* ``alpha_sigma`` gives the numbers of ``alpha`` and ``sigma``.
"""

import pytest
import torch
from diffusion_cases import TanhNet

import revsde
from revsde.diffusion import (
    DiffusionModel,
    LiftedProblem,
    VPCosine,
    VPLinear,
    get_sampler,
    time_grid,
)
from revsde.diffusion.samplers import lifted
from revsde.diffusion.samplers.lifted import STAGE_ROW_SCHEDULES
from revsde.diffusion.schedules import VE, FlowMatching, VPDiscrete
from revsde.sde import SDEAdapter
from revsde.solvers import AdditiveSRK, StratRK
from revsde.solvers.exp_reversible_heun import ExpWeightsTable, exp_weights
from revsde.solvers.scalars import MAX_STEPS, Scalars

F32, F64 = torch.float32, torch.float64
SCHEDULES = [VPLinear(), VPCosine(), VE(), FlowMatching(),
             VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))]
CASES = ["ode_eps", "ode_x0", "sde_x0", "sde_eps"]


Net = TanhNet


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
                    want = want.expand(got.shape)  # the table holds t expanded to the batch
                    if isinstance(schedule, FlowMatching):  # torch.sigmoid: module docstring
                        scale = float(want.abs().max())
                        torch.testing.assert_close(got, want, rtol=64 * eps, atol=64 * eps * scale)
                    else:
                        assert torch.equal(got, want), (pred, case, n)


def test_table_refuses_other_dtype_batch_and_a_written_grid():
    model = DiffusionModel(Net(), VPLinear(), "eps")
    y = torch.randn(1, 4, dtype=F64)
    pb = LiftedProblem(model, "ode_x0", time_grid(VPLinear(), 5), like=y)
    table = pb.sde._table
    assert table.at(pb.clocks[2], y) is not None
    assert table.at(pb.clocks[2], y.float()) is None  # another state dtype: computed
    assert table.at(pb.clocks[2], y.expand(3, 4)) is None  # another batch size: computed
    assert table.at(pb.clocks[2], y)[1].shape == (1,)  # t as the network takes it
    pb.clocks.mul_(1.0)  # written to (same values): the table no longer answers
    assert table.at(pb.clocks[2], y) is None


class CountingVP(VPLinear):
    """VPLinear that counts its λ -> t evaluations (what the lifted drift needs per clock)."""

    calls = 0

    def at_lambda(self, lam):
        CountingVP.calls += lam.numel()
        return super().at_lambda(lam)


def _stage_rows(solver) -> int:
    """Stage rows a solve of ``solver`` builds: one per distinct non-zero node ``c`` of a
    McCallum–Foster base, forward and backward; none for a grid-point solver."""
    base = getattr(solver, "base", None)
    tab = getattr(base, "tableau", None)
    return 0 if tab is None else 2 * len({c for c in tab.c if c != 0.0})


@pytest.mark.parametrize("name", ["rev_heun", "rex_euler", "rev_heun_sde", "rex_rk4",
                                  "rex_midpoint", "rex_shark"])
def test_solve_reads_the_table(name, monkeypatch):
    """A whole sample evaluates the schedule only to build the table (once per grid
    clock and once per stage clock of the steps), not at each evaluation; the result is
    the one computed evaluation by evaluation."""
    # CountingVP only counts VPLinear's own operations: its stage clocks may be tabulated
    monkeypatch.setattr(lifted, "STAGE_ROW_SCHEDULES", (*STAGE_ROW_SCHEDULES, CountingVP))
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
    rows = _stage_rows(s.solver())
    assert rows == {"rex_rk4": 4, "rex_midpoint": 2, "rex_shark": 2}.get(name, 0)
    # one table of the steps + 1 clocks, and a row of `steps` clocks per stage node
    assert CountingVP.calls == steps + 1 + rows * steps
    # the same solve with every clock computed at its evaluation (a grid the table
    # does not know: a copy of the clocks)
    pb, clocks = s.lift(model, ts, None, x)
    state = s._init(pb, clocks[0], pb.to_lifted(x, pb.ts[0]))
    bm = s.brownian(clocks, x, 3) if s.stochastic else None
    CountingVP.calls = 0
    with torch.no_grad():
        sol = revsde.sdeint(pb.sde, None, clocks.clone(), method=s.solver(), state=state, bm=bm)
    assert CountingVP.calls >= steps * s.nfe_per_step  # computed per evaluation
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


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_stage_clocks_are_the_solvers_and_tabulated(schedule, dtype):
    """``stage_time(t_n, c, ±h)`` is ``t_n + c * h`` bit for bit (what the solver computed
    before), an element of a stage row whose coefficients are the per-clock ones bit for
    bit; a step that is not the grid's, a clock that is not an element of it, or a
    schedule outside STAGE_ROW_SCHEDULES (VPCosine's atan2 and FlowMatching's sigmoid
    give an element alone other bits than within a vector) is computed."""
    ts = time_grid(schedule, 9, "karras")
    tabulated = type(schedule) in STAGE_ROW_SCHEDULES
    assert tabulated == (not isinstance(schedule, (VPCosine, FlowMatching)))
    y = torch.randn(2, 1, 3, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    model = DiffusionModel(Net(), schedule, "eps")
    for case in ("ode_x0", "ode_eps", "sde_x0"):
        pb = LiftedProblem(model, case, ts, like=y)
        sde, clocks, grid = pb.sde, pb.clocks, pb.clocks.tolist()
        adapter = SDEAdapter(sde)
        for c in (0.5, 1.0, 2 / 3, 0.8333333333333334):
            for n in range(len(grid) - 1):
                for t, h in ((clocks[n], grid[n + 1] - grid[n]),  # forward from t_n
                             (clocks[n + 1], -(grid[n + 1] - grid[n]))):  # backward from t_n+1
                    st = adapter.stage_time(t, c, h)
                    assert torch.equal(st, t + c * h), (case, c, n)
                    row = sde._table.at(st, y)
                    if not tabulated:  # computed at each evaluation, as the solver did
                        assert row is None
                        continue
                    assert row is not None
                    alone = sde.coefficients(st.clone(), y)
                    for got, want in zip(row, alone):
                        if want is not None:
                            assert torch.equal(got, want.expand(got.shape)), (case, c, n)
                    assert sde.stage_time(t, c, h) is st  # one view per stage clock
        off = adapter.stage_time(clocks[1], 0.5, 0.25 * (grid[2] - grid[1]))  # not a grid step
        assert torch.equal(off, clocks[1] + 0.5 * (0.25 * (grid[2] - grid[1])))
        assert sde._table.at(off, y) is None
        copy = clocks[1].clone()
        assert sde._table.at(sde.stage_time(copy, 0.5, grid[2] - grid[1]), y) is None


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_exp_weights_table_is_the_per_step_weights(schedule, dtype):
    """Row n of :class:`ExpWeightsTable` == ``exp_weights(t_n, h_n)`` bit for bit, on the
    clock grids of the lifted cases; another step or a copy of a clock is not answered."""
    for case in ("ode_x0", "ode_eps", "sde_x0"):
        for kind in ("uniform_lambda", "karras"):
            y = torch.zeros(1, dtype=dtype)
            clocks = LiftedProblem(DiffusionModel(Net(), schedule, "eps"), case,
                                   time_grid(schedule, 13, kind), like=y).clocks
            grid = clocks.tolist()
            table = ExpWeightsTable(clocks, grid)
            for n in range(len(grid) - 1):
                h = grid[n + 1] - grid[n]
                got, want = table.at(clocks[n], h), exp_weights(clocks[n], h)
                assert got is not None
                assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), (case, n)
                assert table.at(clocks[n], 0.5 * h) is None
                assert table.at(clocks[n].clone(), h) is None
            assert table.at(clocks[-1], grid[-2] - grid[-1]) is None  # t_N starts no step


@pytest.mark.parametrize("name", ["rev_heun_exp", "rev_heun_exp_sde"])
def test_solve_computes_the_exp_weights_once(name, monkeypatch, exp_weight_calls):
    """A solve and its inverse on the same grid compute the weights once (the table of
    the grid, kept by the solver), not at every step; their numbers are those of the
    weights computed step by step."""
    calls = exp_weight_calls
    model = DiffusionModel(Net(), VPLinear(), "eps")
    steps = 10
    ts = time_grid(VPLinear(), steps, "uniform_lambda")
    x = torch.randn(2, 1, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    s = get_sampler(name)
    pb, clocks = s.lift(model, ts, None, x)
    state = s._init(pb, clocks[0], pb.to_lifted(x, pb.ts[0]))
    bm = s.brownian(clocks, x, 5) if s.stochastic else None
    solver = s.solver()
    out = {}
    with torch.no_grad():
        for tabulated in (True, False):
            if not tabulated:  # the reference: the weights computed at every (inverse) step
                monkeypatch.setattr(type(solver), "tabulate", lambda self, times, grid: None)
            calls.clear()
            fwd = revsde.sdeint(pb.sde, None, clocks, method=solver, state=state, bm=bm)
            back = revsde.sdeint_inverse(pb.sde, fwd.state, clocks, method=solver, bm=bm)
            out[tabulated] = (fwd.ys, back.ys)
            assert calls == ([steps] if tabulated else [1] * (2 * steps))
    for a, b in zip(out[True], out[False]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_scalars_give_the_products_of_python_numbers(dtype):
    """``x * Scalars(...)(v)`` == ``x * v`` bit for bit, both orders, over magnitudes."""
    g = torch.Generator().manual_seed(6)
    x = (torch.randn(4000, dtype=F64, generator=g)
         * torch.exp2(torch.rand(4000, dtype=F64, generator=g) * 60 - 30)).to(dtype)
    vs = (torch.rand(300, dtype=F64, generator=g) * 2 - 1) * torch.exp2(
        torch.rand(300, dtype=F64, generator=g) * 40 - 20)
    table = Scalars(vs.tolist(), dtype, torch.device("cpu"))
    for v in vs.tolist():
        c = table(v)
        assert torch.is_tensor(c) and c.dtype == dtype
        assert torch.equal(x * c, x * v) and torch.equal(c * x, v * x)
    assert table(0.125) == 0.125 and not torch.is_tensor(table(0.125))  # not in the table
    assert Scalars.for_grid(torch.zeros(3, dtype=torch.float16), [0.0, 0.5, 1.0], []) is None
    long = [float(k) for k in range(MAX_STEPS + 2)]
    assert Scalars.for_grid(torch.zeros(1, dtype=F64), long, []) is None


class _Ode(torch.nn.Module):
    def f(self, t, y):
        return torch.sin(3 * t) * y - 0.3 * y ** 3


class _Additive(_Ode):
    noise_type, sde_type = "additive", "stratonovich"

    def g(self, t, y):
        return 0.4 * torch.ones_like(y)


@pytest.mark.parametrize("method", ["rk4", "heun", "midpoint", "mcf_rk4", "shark", "mcf_shark",
                                    "sra1"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_solvers_numbers_as_tensors_change_nothing(method, dtype, monkeypatch):
    """A solve (and an inverse) with the table of 0-d numbers gives the bits of one with
    python numbers, and the table holds the steps ±h_n and the weights."""
    solver = revsde.registry.get_solver(method)
    base = getattr(solver, "base", solver)
    sde = _Ode() if base.noise_types == () or "rk4" in method else _Additive()
    y0 = torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3).to(dtype)
    ts = torch.tensor([0.1, 0.45, 1.0], dtype=dtype)
    grid = [0.1 + 0.09 * k for k in range(11)]
    table = solver.tabulate(torch.tensor(grid, dtype=dtype), grid)
    assert isinstance(table, Scalars)
    h = grid[3] - grid[2]
    for v in (h, -h, *(b for b in base.tableau.b if b and isinstance(base, StratRK))):
        assert torch.is_tensor(table(v)) and table(v).item() == torch.tensor(v, dtype=dtype)
    out = {}
    for tabulated in (True, False):
        if not tabulated:
            monkeypatch.setattr(type(base), "tabulate", lambda self, times, grid: None)
            assert solver.tabulate(torch.tensor(grid, dtype=dtype), grid) is None
        sol = revsde.sdeint(sde, y0, ts, method=solver, dt=0.09, entropy=1)
        ys = [sol.ys]
        if solver.reversible:
            ys.append(revsde.sdeint_inverse(sde, sol.state, ts, method=solver, dt=0.09,
                                            entropy=1).ys)
        out[tabulated] = ys
    for a, b in zip(out[True], out[False]):
        assert torch.equal(a, b)
    assert isinstance(base, (StratRK, AdditiveSRK))


class _PlainPath:
    """A user's Brownian motion (not a kind the loop knows to be replayable): an inverse
    solve probes a copy of it on a twin problem that shares the solve's adapter."""

    def __init__(self, bm):
        self.bm = bm

    def __call__(self, ta, tb=None, return_U=False):
        return self.bm(ta, tb, return_U)


def test_a_probe_of_the_noise_keeps_the_solves_table(exp_weight_calls):
    """The replay probe of a user's noise builds a twin problem on the same adapter; it
    must not replace the solve's table of weights (they would then be computed per step)."""
    calls = exp_weight_calls
    model = DiffusionModel(Net(), VPLinear(), "eps")
    steps = 6
    x = torch.randn(1, 1, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(8))
    s = get_sampler("rev_heun_exp_sde")
    pb, clocks = s.lift(model, time_grid(VPLinear(), steps, "uniform_lambda"), None, x)
    state = s._init(pb, clocks[0], pb.to_lifted(x, pb.ts[0]))
    bm = _PlainPath(s.brownian(clocks, x, 2))
    with torch.no_grad():
        fwd = revsde.sdeint(pb.sde, None, clocks, method=s.solver(), state=state, bm=bm)
        calls.clear()
        back = revsde.sdeint_inverse(pb.sde, fwd.state, clocks, method=s.solver(), bm=bm)
        # the forward's table, kept by the solver (the twin made none, and took none away:
        # weights computed per step would show here)
        assert calls == []
        # the same solves on the grid noise itself (not probed): the same numbers
        fwd2 = revsde.sdeint(pb.sde, None, clocks, method=s.solver(), state=state, bm=bm.bm)
        plain = revsde.sdeint_inverse(pb.sde, fwd2.state, clocks, method=s.solver(), bm=bm.bm)
    assert torch.equal(fwd.ys, fwd2.ys) and torch.equal(back.ys, plain.ys)
