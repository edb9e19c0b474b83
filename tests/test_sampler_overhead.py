"""The samplers' per-evaluation work: what is computed once per solve, read by index.

The speed itself is measured by ``benchmarks/bench_samplers.py``; these tests pin
the mechanisms and that they change no number:

* the lifted drift's coefficient table equals the per-clock coefficients bit for
  bit (so a grid point read in the table and the same clock computed again give the
  same drift) for the schedules whose operations give the same bits on a whole
  vector as on one element; FlowMatching's ``torch.sigmoid`` does not on the CPU
  (its vector kernel differs from its one-element one in the last bit for ~3% of
  inputs), so there the table is checked to round-off;
* the table is read during a solve (the schedule is not evaluated per step);
* the Runge–Kutta stage clocks ``t + c·h`` of the McCallum–Foster samplers and their
  coefficients are the table's, read at the point (step, stage, direction): the same
  bits as ``t + c * h`` computed by the solver, and the per-clock coefficients;
* the exponential Reversible Heun weights of a whole grid are bit for bit the
  per-step :func:`exp_weights`, computed once per solve;
* the Runge–Kutta bases multiply by 0-d tensors of a solve's numbers (steps,
  tableau weights) made once per solve: the same products as by python numbers;
* a grid fed step by step (as an adaptive solve will) runs through the same per-grid
  data and gives the bits of the whole grid;
* the network's dtype is read once per solve, not at every evaluation;
* ``alpha_sigma`` gives the numbers of ``alpha`` and ``sigma``.
"""

import pytest
import torch
from diffusion_cases import TanhNet

import revsde
from revsde import loop
from revsde.brownian import BrownianGrid
from revsde.diffusion import (
    DiffusionModel,
    LiftedProblem,
    VPCosine,
    VPLinear,
    get_sampler,
    time_grid,
)
from revsde.diffusion.samplers import lifted
from revsde.diffusion.samplers.lifted import VECTOR_SCHEDULES
from revsde.diffusion.schedules import VE, FlowMatching, VPDiscrete
from revsde.grid import Grid, Point
from revsde.solvers import AdditiveSRK, StratRK
from revsde.solvers.exp_reversible_heun import exp_weights, weight_rows
from revsde.solvers.scalars import MAX_STEPS, as_tensors, keeps_tensors

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
            sde = pb.sde
            assert pb.clocks.dtype == dtype
            for n in range(pb.clocks.numel()):
                at, clock = pb.at(n), pb.clocks[n]
                row = at.data.row(at, y)
                assert row is not None
                alone = sde.coefficients(clock, y)
                with torch.no_grad():
                    pairs = [(g, w) for g, w in zip(row, alone) if w is not None]
                    pairs.append((sde.f(clock, y, at), sde.f(clock, y)))
                for got, want in pairs:
                    want = want.expand(got.shape)  # the table holds t expanded to the batch
                    if isinstance(schedule, FlowMatching):  # torch.sigmoid: module docstring
                        scale = float(want.abs().max())
                        torch.testing.assert_close(got, want, rtol=64 * eps, atol=64 * eps * scale)
                    else:
                        assert torch.equal(got, want), (pred, case, n)


def test_table_refuses_other_dtype_batch_and_other_times():
    model = DiffusionModel(Net(), VPLinear(), "eps")
    y = torch.randn(1, 4, dtype=F64)
    pb = LiftedProblem(model, "ode_x0", time_grid(VPLinear(), 5), like=y)
    at = pb.at(2)
    assert at.data.row(at, y) is not None
    assert at.data.row(at, y.float()) is None  # another state dtype: computed
    assert at.data.row(at, y.expand(3, 4)) is None  # another batch size: computed
    assert at.data.row(at, y)[1].shape == (1,)  # t as the network takes it
    times = pb.clocks.tolist()
    assert pb.sde.prepare(Grid(times, F32, y.device)) is None  # another dtype: none
    # a grid with one time that is not a clock: that time and its steps are not read
    other = pb.sde.prepare(Grid([*times[:3], 0.5 * (times[3] + times[4]), *times[4:]],
                                F64, y.device))
    assert other.index == [0, 1, 2, None, 4, 5]
    assert other.row(Point(3, 0.0, False, other), y) is None
    assert other.row(Point(2, 0.5, False, other), y) is None
    assert other.row(Point(4, 0.5, False, other), y) is not None
    # part of the grid, backwards: the table's steps in the other direction
    part = pb.sde.prepare(Grid(times[3:0:-1], F64, y.device))
    assert part.index == [3, 2, 1]
    for c in (0.5, 1.0):
        assert part.clock(Point(0, c, False, part)) is pb.sde._table.stage(2, c, False)[0]
        assert part.clock(Point(0, c, True, part)) is pb.sde._table.stage(2, c, True)[0]


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
    # CountingVP only counts VPLinear's own operations: its stage rows may be vectors
    monkeypatch.setattr(lifted, "VECTOR_SCHEDULES", (*VECTOR_SCHEDULES, CountingVP))
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
    # the same solve with every clock computed at its evaluation (an equation without a
    # table)
    pb, clocks = s.lift(model, ts, None, x)
    state = s._init(pb, 0, pb.to_lifted(x, pb.ts[0]))
    bm = s.brownian(clocks, x, 3) if s.stochastic else None
    bare = LiftedProblem(model, pb.case_name)
    CountingVP.calls = 0
    with torch.no_grad():
        sol = revsde.sdeint(bare.sde, None, clocks, method=s.solver(), state=state, bm=bm)
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
def test_stage_clocks_are_the_solvers_and_read_by_point(schedule, dtype):
    """The stage clock at the point ``(n, c, back)`` is ``t_n + c * h`` (``back``:
    ``t_{n+1} + c * (-h)``) bit for bit (what the solver computes), and its row holds the
    coefficients of that clock alone, for every schedule: a row of stage clocks as one
    vector where the schedule gives the bits of one clock alone on a vector, else
    clock by clock (VPCosine's atan2 and FlowMatching's sigmoid)."""
    ts = time_grid(schedule, 9, "karras")
    assert (type(schedule) in VECTOR_SCHEDULES) == (not isinstance(schedule,
                                                                   (VPCosine, FlowMatching)))
    y = torch.randn(2, 1, 3, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    model = DiffusionModel(Net(), schedule, "eps")
    for case in ("ode_x0", "ode_eps", "sde_x0"):
        pb = LiftedProblem(model, case, ts, like=y)
        sde, clocks, grid = pb.sde, pb.clocks, pb.clocks.tolist()
        data = sde.prepare(Grid(grid, dtype, y.device))
        for c in (0.5, 1.0, 2 / 3, 0.8333333333333334):
            for n in range(len(grid) - 1):
                h = grid[n + 1] - grid[n]
                for back, t, ch in ((False, clocks[n], h), (True, clocks[n + 1], -h)):
                    at = Point(n, c, back, data)
                    st = sde.stage_time(t, c, ch, at)
                    assert torch.equal(st, t + c * ch), (case, c, n)
                    row = data.row(at, y)
                    alone = sde.coefficients(st.clone(), y)
                    for got, want in zip(row, alone):
                        if want is not None:
                            assert torch.equal(got, want.expand(got.shape)), (case, c, n)
                    assert sde.stage_time(t, c, ch, at) is st  # one clock per stage point


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_exp_weights_of_a_grid_are_the_per_step_weights(schedule, dtype):
    """Row n of :func:`weight_rows` of a whole grid == ``exp_weights(t_n, h_n)`` of one
    step bit for bit, on the clock grids of the lifted cases, as tensors and as floats."""
    for case in ("ode_x0", "ode_eps", "sde_x0"):
        for kind in ("uniform_lambda", "karras"):
            y = torch.zeros(1, dtype=dtype)
            clocks = LiftedProblem(DiffusionModel(Net(), schedule, "eps"), case,
                                   time_grid(schedule, 13, kind), like=y).clocks
            grid = clocks.tolist()
            rows = weight_rows(clocks[:-1], [b - a for a, b in zip(grid[:-1], grid[1:])])
            for n, (floats, cols, k) in enumerate(rows):
                h = grid[n + 1] - grid[n]
                w0, w1 = exp_weights(clocks[n], h)
                want = (w0, w1, w1 / w0, w0 / w1, w0 / h, w1 / h)
                for got, f, w in zip((c[k] for c in cols), floats, want):
                    assert torch.equal(got, w) and f == w.item(), (case, n)


@pytest.mark.parametrize("name", ["rev_heun_exp", "rev_heun_exp_sde"])
def test_solve_computes_the_exp_weights_once(name, monkeypatch, exp_weight_calls):
    """A solve computes the weights once, for its whole grid, not at every step; their
    numbers are those of the weights computed step by step."""
    calls = exp_weight_calls
    model = DiffusionModel(Net(), VPLinear(), "eps")
    steps = 10
    ts = time_grid(VPLinear(), steps, "uniform_lambda")
    x = torch.randn(2, 1, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    s = get_sampler(name)
    pb, clocks = s.lift(model, ts, None, x)
    state = s._init(pb, 0, pb.to_lifted(x, pb.ts[0]))
    bm = s.brownian(clocks, x, 5) if s.stochastic else None
    solver = s.solver()
    out = {}
    with torch.no_grad():
        for prepared in (True, False):
            if not prepared:  # the reference: the weights computed at every (inverse) step
                monkeypatch.setattr(type(solver), "prepare", lambda self, grid, prior=None: None)
            calls.clear()
            fwd = revsde.sdeint(pb.sde, None, clocks, method=solver, state=state, bm=bm)
            back = revsde.sdeint_inverse(pb.sde, fwd.state, clocks, method=solver, bm=bm)
            out[prepared] = (fwd.ys, back.ys)
            assert calls == ([steps, steps] if prepared else [1] * (2 * steps))
    for a, b in zip(out[True], out[False]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_tensors_give_the_products_of_python_numbers(dtype):
    """``x * as_tensors([v])[0]`` == ``x * v`` bit for bit, both orders, over magnitudes."""
    g = torch.Generator().manual_seed(6)
    x = (torch.randn(4000, dtype=F64, generator=g)
         * torch.exp2(torch.rand(4000, dtype=F64, generator=g) * 60 - 30)).to(dtype)
    vs = (torch.rand(300, dtype=F64, generator=g) * 2 - 1) * torch.exp2(
        torch.rand(300, dtype=F64, generator=g) * 40 - 20)
    grid = Grid([0.0, 1.0], dtype, torch.device("cpu"))
    for v, c in zip(vs.tolist(), as_tensors(vs.tolist(), grid)):
        assert torch.is_tensor(c) and c.dtype == dtype
        assert torch.equal(x * c, x * v) and torch.equal(c * x, v * x)
    assert not keeps_tensors(Grid([0.0, 0.5, 1.0], torch.float16, torch.device("cpu")))
    long = [float(k) for k in range(MAX_STEPS + 2)]
    assert not keeps_tensors(Grid(long, F64, torch.device("cpu")))


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
    """A solve (and an inverse) with the 0-d numbers of its grid gives the bits of one with
    python numbers, and the numbers are the steps ±h_n (or their products) and weights."""
    solver = revsde.registry.get_solver(method)
    base = getattr(solver, "base", solver)
    sde = _Ode() if base.noise_types == () or "rk4" in method else _Additive()
    y0 = torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3).to(dtype)
    ts = torch.tensor([0.1, 0.45, 1.0], dtype=dtype)
    grid = Grid([0.1 + 0.09 * k for k in range(11)], dtype, torch.device("cpu"))
    nums = base.prepare(grid)
    h = grid.h(2)
    if isinstance(base, StratRK):
        assert [v.item() for v in nums.steps[2]] == [torch.tensor(v, dtype=dtype).item()
                                                     for v in (h, -h)]
        assert [v.item() for v in nums.b] == [torch.tensor(v, dtype=dtype).item()
                                              for v in base.tableau.b]
    else:
        (ah, bh), _ = nums.steps[2]
        assert [v.item() for v in bh] == [torch.tensor(b * h, dtype=dtype).item()
                                          for b in base.tableau.b]
    out = {}
    for prepared in (True, False):
        if not prepared:
            monkeypatch.setattr(type(base), "prepare", lambda self, grid, prior=None: None)
        sol = revsde.sdeint(sde, y0, ts, method=solver, dt=0.09, entropy=1)
        ys = [sol.ys]
        if solver.reversible:
            ys.append(revsde.sdeint_inverse(sde, sol.state, ts, method=solver, dt=0.09,
                                            entropy=1).ys)
        out[prepared] = ys
    for a, b in zip(out[True], out[False]):
        assert torch.equal(a, b)
    assert isinstance(base, (StratRK, AdditiveSRK))


def _lifted(case):
    """A lifted problem on a VPCosine grid (its stage clocks computed one by one) and a
    data-shaped state."""
    model = DiffusionModel(Net(), VPCosine(), "eps")
    y = torch.randn(2, 1, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(9))
    return LiftedProblem(model, case, time_grid(VPCosine(), 7, "karras"), like=y), y


def _walk_grown(sde, y0, grid, method, bm, at0):
    """Solve on ``grid`` fed one step at a time (the grid grows as the walk needs it), then
    invert on the grown grid; the outputs and every state."""
    problem = loop.setup(sde, y0, grid[:2], method, None, bm, None, {})
    state = problem.solver.init(problem.sde, problem.t(0), y0, at=at0(problem))
    states = [state]
    for n in range(len(grid) - 1):
        if n + 1 == problem.grid.steps + 1:
            problem.extend(grid[n + 1])
        state = problem.step(n, state)
        states.append(state)
    for n in range(len(grid) - 2, -1, -1):
        state = problem.inverse(n, state)
        states.append(state)
    return states, problem


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_rk4", "mcf_shark",
                                    "exp_reversible_heun", "mcf_euler_heun"])
@pytest.mark.parametrize("lifted_eq", [False, True])
def test_grid_fed_step_by_step_gives_the_bits_of_the_whole_grid(method, lifted_eq):
    """A grid that grows one step at a time (as an adaptive solve will) prepares each new
    step's data (the solver's numbers, the equation's coefficients) by the same path as a
    whole grid, and every state, forward and inverse, has the whole grid's bits."""
    if not lifted_eq:
        sde = _Ode() if "rk4" in method else _Additive()
        y0 = torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3)
        grid = [0.1 + 0.09 * k + 0.003 * k * k for k in range(12)]

        def at0(problem):
            return problem.at(0)
    else:
        pb, y = _lifted("ode_x0" if "rk4" in method else "sde_x0")
        sde, y0, grid = pb.sde, pb.to_lifted(y, pb.ts[0]), pb.clocks.tolist()

        def at0(problem):
            return pb.at(0)
    solver = revsde.get_solver(method)
    bm = None
    if getattr(sde, "noise_type", None) is not None:
        bm = BrownianGrid(sorted(grid), tuple(y0.shape), dtype=F64, entropy=5,
                          levy_area=solver.needs_levy_area)
    with torch.no_grad():
        grown, problem = _walk_grown(sde, y0, grid, solver, bm, at0)
        whole = loop.setup(sde, y0, grid, solver, None, bm, None, {})
        state = solver.init(whole.sde, whole.t(0), y0, at=at0(whole))
        states = [state]
        for n in range(whole.steps):
            state = whole.step(n, state)
            states.append(state)
        for n in range(whole.steps - 1, -1, -1):
            state = whole.inverse(n, state)
            states.append(state)
    assert problem.grid.times == grid
    for a, b in zip(grown, states, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    if lifted_eq:  # the grown grid read the table at every point
        assert problem.eq.index == list(range(len(grid)))


class _PlainPath:
    """A user's Brownian motion (not a kind the loop knows to be replayable): an inverse
    solve probes a copy of it on a twin problem that shares the solve's adapter."""

    def __init__(self, bm):
        self.bm = bm

    def __call__(self, ta, tb=None, return_U=False):
        return self.bm(ta, tb, return_U)


def test_a_probe_of_the_noise_keeps_the_solves_table(exp_weight_calls):
    """The replay probe of a user's noise does not touch the solve's weights (they would
    then be computed per step)."""
    calls = exp_weight_calls
    model = DiffusionModel(Net(), VPLinear(), "eps")
    steps = 6
    x = torch.randn(1, 1, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(8))
    s = get_sampler("rev_heun_exp_sde")
    pb, clocks = s.lift(model, time_grid(VPLinear(), steps, "uniform_lambda"), None, x)
    state = s._init(pb, 0, pb.to_lifted(x, pb.ts[0]))
    bm = _PlainPath(s.brownian(clocks, x, 2))
    with torch.no_grad():
        fwd = revsde.sdeint(pb.sde, None, clocks, method=s.solver(), state=state, bm=bm)
        calls.clear()
        back = revsde.sdeint_inverse(pb.sde, fwd.state, clocks, method=s.solver(), bm=bm)
        # the inverse's own table, once (weights computed per step would show here)
        assert calls == [steps]
        # the same solves on the grid noise itself (not probed): the same numbers
        fwd2 = revsde.sdeint(pb.sde, None, clocks, method=s.solver(), state=state, bm=bm.bm)
        plain = revsde.sdeint_inverse(pb.sde, fwd2.state, clocks, method=s.solver(), bm=bm.bm)
    assert torch.equal(fwd.ys, fwd2.ys) and torch.equal(back.ys, plain.ys)
