"""What a sampler keeps between solves, and the per-step shortcuts.

Speed is measured by ``benchmarks/bench_samplers.py``; these tests pin that the
shortcuts change no number and never hand out a stale table:

* a sampler keeps the lifted clock grid and its drift table of its earlier calls
  (:class:`~revsde.diffusion.samplers.drift_table.Tables`, an object it holds),
  matched by value: schedule (class and attributes), case, grid, dtype, device and
  batch.  A second solve on the same grid reuses them and gives the bits of a solve
  that built them afresh; a schedule changed in value since, another grid, dtype,
  batch or case, a subclassed schedule or one with a gradient, are not served;
  writing into a problem's clocks changes nothing kept;
* the solver's data of a grid (the exponential Reversible Heun's weights) is kept
  with the :class:`~revsde.grid.Grid` a sampler solves on: its solves on one grid
  compute it once;
* an SDE that declares ``unit_diffusion`` is never asked for ``g`` and ``g·dW`` is
  ``dW`` itself, with the numbers of the explicit ``g = 1``;
* the grid's step times are 0-d views, made a block at a time;
* the finite check of a solve's outputs decides by one sum, and entry by entry when
  the sum is not finite (an overflowing sum of finite outputs is still finite).
"""

import pytest
import torch
from diffusion_cases import TanhNet

import revsde
import revsde.loop as loop
from revsde.diffusion import DiffusionModel, LiftedProblem, VPLinear, get_sampler, time_grid
from revsde.diffusion.samplers.drift_table import Tables
from revsde.diffusion.schedules import VE, VPCosine, VPDiscrete
from revsde.grid import VIEW_BLOCK, Grid
from revsde.sde import SDEAdapter

F32, F64 = torch.float32, torch.float64


Net = TanhNet


def _x(shape=(2, 1, 4, 4), dtype=F64, seed=0):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _kept(s) -> int:
    return len(s._tables._entries)


@pytest.mark.parametrize("name", ["rev_heun", "rex_rk4", "rev_heun_sde", "rev_heun_exp",
                                  "rex_shark"])
@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(),
                                      VPDiscrete(betas=torch.linspace(1e-4, 0.02, 100,
                                                                      dtype=F64))],
                         ids=lambda s: type(s).__name__)
def test_second_solve_reuses_the_grid_and_changes_no_bit(name, schedule):
    model = DiffusionModel(Net(), schedule, "eps")
    ts = time_grid(schedule, 9, "uniform_lambda")
    s = get_sampler(name)
    kw = {"seed": 2} if s.stochastic else {}
    x = _x()
    with torch.no_grad():
        first = s.sample(model, x, ts, **kw)
        assert _kept(s) == 1
        pb1, _ = s.lift(model, ts, None, x)
        pb2, _ = s.lift(model, ts, None, x)
        assert pb1.sde._table is pb2.sde._table and _kept(s) == 1
        second = s.sample(model, x, ts, **kw)
        fresh = get_sampler(name).sample(model, x, ts, **kw)  # a new sampler builds afresh
    assert torch.equal(first, second) and torch.equal(first, fresh)


def test_changed_schedule_misses():
    """Every way to change a schedule's numbers after a solve gives a new table, with the
    new schedule's numbers."""
    sch = VPLinear()
    model = DiffusionModel(Net(), sch, "eps")
    ts = time_grid(VPLinear(), 8, "uniform_lambda")
    s = get_sampler("rev_heun")
    x = _x()
    with torch.no_grad():
        before = s.sample(model, x, ts)
        sch.beta_1 = 15.0  # an attribute set
        after = s.sample(model, x, ts)
        want = get_sampler("rev_heun").sample(model, x, ts)
    assert not torch.equal(before, after) and torch.equal(after, want)
    assert _kept(s) == 2


def test_tensor_attributes_are_matched_by_value():
    sch = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 100, dtype=F64))
    model = DiffusionModel(Net(), sch, "eps")
    ts = time_grid(sch, 8, "uniform_lambda")
    s = get_sampler("rev_heun")
    x = _x()
    with torch.no_grad():
        s.sample(model, x, ts)
        tensors = [v for v in vars(sch).values() if torch.is_tensor(v)]
        assert tensors
        tensors[0].mul_(1.0)  # the same values: the same table
        s.sample(model, x, ts)
        assert _kept(s) == 1
        tensors[0].mul_(1.001)  # other values: another table
        s.sample(model, x, ts)
    assert _kept(s) == 2


def test_grid_dtype_batch_and_case_are_part_of_the_key():
    model = DiffusionModel(Net(), VPLinear(), "eps")
    ts = time_grid(VPLinear(), 8, "uniform_lambda")
    s = get_sampler("rev_heun")
    with torch.no_grad():
        pb = s.lift(model, ts, None, _x())[0]
        for other in (s.lift(model, time_grid(VPLinear(), 9, "uniform_lambda"), None, _x())[0],
                      s.lift(model, ts, None, _x(dtype=F32))[0],
                      s.lift(model, ts, None, _x((3, 1, 4, 4)))[0]):
            assert other.sde._table is not pb.sde._table
    assert _kept(s) == 4
    eps = get_sampler("rev_heun", case="ode_eps")
    with torch.no_grad():
        assert eps.lift(model, ts, None, _x())[0].sde._table is not pb.sde._table


def test_written_clocks_change_nothing_kept():
    """A user who writes into ``LiftedProblem.clocks`` does not hand the next solve a
    corrupted grid."""
    model = DiffusionModel(Net(), VPLinear(), "eps")
    ts = time_grid(VPLinear(), 8, "uniform_lambda")
    s = get_sampler("rev_heun")
    x = _x()
    with torch.no_grad():
        want = s.sample(model, x, ts)
        pb, _ = s.lift(model, ts, None, x)
        pb.clocks.mul_(2.0)
        got = s.sample(model, x, ts)
    assert torch.equal(got, want)


def test_subclassed_schedule_and_gradients_are_not_kept():
    class MyVP(VPLinear):
        pass

    tables = Tables()
    sch = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 100, dtype=F64))
    sch.alphas_cumprod.requires_grad_(True)
    for schedule in (MyVP(), sch):
        model = DiffusionModel(Net(), schedule, "eps")
        with torch.no_grad():
            LiftedProblem(model, "ode_x0", time_grid(VPLinear(), 5, "uniform_lambda"),
                          like=_x(), tables=tables)
    assert tables._entries == []


def test_kept_tables_are_bounded():
    model = DiffusionModel(Net(), VPLinear(), "eps")
    s = get_sampler("rev_heun")
    with torch.no_grad():
        for steps in range(2, 4 + Tables.KEEP):
            s.lift(model, time_grid(VPLinear(), steps, "uniform_lambda"), None, _x())
    assert _kept(s) == Tables.KEEP


def test_end_conversions_are_the_coordinate_maps():
    model = DiffusionModel(Net(), VPCosine(), "eps")
    ts = time_grid(VPCosine(), 7, "karras")
    for case in ("ode_x0", "ode_eps", "sde_x0", "sde_eps"):
        for dtype in (F32, F64):
            x = _x(dtype=dtype)
            pb = LiftedProblem(model, case, ts, like=x)
            for i in (0, -1):
                assert torch.equal(pb.to_lifted_at(x, i), pb.to_lifted(x, pb.ts[i]))
                assert torch.equal(pb.from_lifted_at(x, i), pb.from_lifted(x, pb.ts[i]))


@pytest.mark.parametrize("name", ["rev_heun_exp", "rev_heun_exp_sde"])
def test_exp_weights_are_computed_once_per_grid(name, exp_weight_calls):
    """A sampler's solves on one grid (forward, inverse, the next batch) compute the
    weights of the whole grid once, kept with the grid (``Grid.keep``), and give the
    numbers of a sampler that computes them afresh."""
    calls = exp_weight_calls
    model = DiffusionModel(Net(), VPLinear(), "eps")
    ts = time_grid(VPLinear(), 10, "uniform_lambda")
    s = get_sampler(name)
    x = _x()
    kw = {"seed": 4} if s.stochastic else {}
    with torch.no_grad():
        state = s.noise_state(model, x, ts)
        fwd = s.forward_state(model, state, ts, **kw)
        back = s.inverse_state(model, fwd, ts, **kw)
        s.sample(model, x, ts, **kw)
        assert calls == [10]
        again = get_sampler(name)
        assert all(torch.equal(a, b) for a, b in zip(fwd, again.forward_state(model, state,
                                                                              ts, **kw)))
        assert all(torch.equal(a, b) for a, b in zip(back, again.inverse_state(model, fwd,
                                                                               ts, **kw)))
    assert calls == [10, 10]


def test_grid_keeps_data_per_key_and_size():
    g = Grid([0.0, 0.5, 1.0], F64, torch.device("cpu"))
    made = []
    assert g.keep(("a",), lambda: made.append(1) or "A") == "A"
    assert g.keep(("a",), lambda: made.append(1) or "B") == "A"  # kept
    assert g.keep(("b",), lambda: made.append(1) or "C") == "C"  # another key
    g.append(1.5)
    assert g.keep(("a",), lambda: made.append(1) or "D") == "D"  # the grid grew
    assert len(made) == 3


def test_a_grid_of_another_dtype_is_refused():
    g = Grid([0.0, 0.5, 1.0], F32, torch.device("cpu"))
    with pytest.raises(TypeError, match="Grid of torch.float32"):
        revsde.sdeint(lambda t, y: -y, torch.ones(2, dtype=F64), torch.tensor([0.0, 1.0],
                      dtype=F64), grid=g)


class UnitSDE:
    noise_type, sde_type = "additive", "stratonovich"
    unit_diffusion = True

    def f(self, t, y):
        return -y * t

    def g(self, t, y):
        raise AssertionError("g is not called for a unit diffusion")


class OnesSDE(UnitSDE):
    unit_diffusion = False

    def g(self, t, y):
        return torch.ones_like(y)


@pytest.mark.parametrize("method", [i["name"] for i in revsde.list_solvers()
                                    if "additive" in i["noise_types"]])
def test_unit_diffusion_gives_the_numbers_of_g_equal_one(method):
    y0 = _x((3, 2))
    ts = torch.tensor([0.1, 0.5, 1.0], dtype=F64)  # a positive clock for the exponential one
    a = revsde.sdeint(UnitSDE(), y0, ts, method=method, dt=0.1, entropy=3)
    b = revsde.sdeint(OnesSDE(), y0, ts, method=method, dt=0.1, entropy=3)
    assert torch.equal(a.ys, b.ys)
    assert a.stats == b.stats
    if revsde.get_solver(method).reversible:
        back = revsde.sdeint_inverse(UnitSDE(), a.state, ts, method=method, dt=0.1, entropy=3)
        assert torch.equal(back.ys, revsde.sdeint_inverse(OnesSDE(), b.state, ts,
                                                          method=method, dt=0.1,
                                                          entropy=3).ys)


def test_unit_diffusion_contraction_is_dw_itself():
    sde = SDEAdapter(UnitSDE())
    y = _x((2, 3))
    g = sde.g(torch.tensor(0.0, dtype=F64), y)
    assert torch.equal(g, torch.ones_like(y))
    assert sde.g(torch.tensor(1.0, dtype=F64), y) is g  # one tensor, made once
    dw = _x((2, 3), seed=1)
    assert sde.prod(g, dw) is dw
    assert torch.equal(sde.prod(g.clone(), dw), dw)  # any other tensor is multiplied
    assert sde.g(torch.tensor(1.0, dtype=F64), y.float()).dtype == F32  # follows y


@pytest.mark.parametrize("bad, err, match", [
    (dict(noise_type="general"), ValueError, "additive' or 'diagonal"),
    (dict(unit_diffusion="yes"), TypeError, "True or False"),
])
def test_unit_diffusion_is_checked(bad, err, match):
    sde = type("Bad", (UnitSDE,), bad)()
    with pytest.raises(err, match=match):
        SDEAdapter(sde)


def test_unit_diffusion_needs_a_diffusion():
    class ODE:
        unit_diffusion = True

        def f(self, t, y):
            return y

    with pytest.raises(ValueError, match="needs an SDE with g"):
        SDEAdapter(ODE())


def test_lifted_sde_declares_its_unit_diffusion():
    pb = LiftedProblem(DiffusionModel(Net(), VPLinear(), "eps"), "sde_x0")
    assert SDEAdapter(pb.sde).unit


@pytest.mark.parametrize("steps", [5, VIEW_BLOCK + 1, 3 * VIEW_BLOCK + 7])
def test_step_times_are_views_of_the_grid(steps):
    """``Grid.t(n)`` is ``t_n`` as a 0-d tensor, read in any order from a block of views;
    at most one block is held, and a step's two times need at most one new block."""
    ts = torch.linspace(0.0, 1.0, steps, dtype=F64)
    g = Grid(ts.tolist(), F64, torch.device("cpu"))
    order = [*range(steps), *range(steps - 1, -1, -1), 0, steps - 1, steps // 2]
    for n in order:
        t = g.t(n)
        assert t.dim() == 0 and t.item() == ts[n].item()
        assert len(g._views[1]) <= VIEW_BLOCK + 1
    for n in range(steps - 1):
        lo = g._views[0]
        g.t(n), g.t(n + 1)
        assert g._views[0] in (lo, n - n % VIEW_BLOCK, (n + 1) - (n + 1) % VIEW_BLOCK)


def test_all_finite_decides_by_the_sum_and_entry_by_entry():
    big = torch.full((2, 3), 3e38, dtype=F32)  # finite entries whose sum overflows
    assert loop.all_finite(big, (big[-1],))
    for bad in (float("inf"), float("-inf"), float("nan")):
        ys = big.clone()
        ys[1, 2] = bad
        assert not loop.all_finite(ys, (ys[-1],))
    assert loop.all_finite(torch.zeros(3, 2), (torch.zeros(2),))


class UnitOU(torch.nn.Module):
    noise_type, sde_type = "additive", "stratonovich"
    unit_diffusion = True

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor(0.8, dtype=F64))

    def f(self, t, y):
        return -self.theta * torch.sin(y)

    def g(self, t, y):
        return torch.ones_like(y)


class OnesOU(UnitOU):
    unit_diffusion = False


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_euler"])
def test_unit_diffusion_under_the_adjoint(method):
    """The reversible adjoint through a unit diffusion gives the gradients of ``g = 1``
    bit for bit.  (The adjoint's final state holds the unit g as an autograd output, so
    the backward pass must not be handed that tensor again as a fresh g: on the trained
    model, tests/test_gradients.py's rev_heun_sde case fails if it is.)"""
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    grads = []
    for cls in (UnitOU, OnesOU):
        sde = cls()
        y0 = _x((3, 2)).requires_grad_(True)
        sol = revsde.sdeint(sde, y0, ts, method=method, dt=0.1, entropy=2, adjoint=True,
                           params=[sde.theta])
        (sol.ys ** 2).sum().backward()
        grads.append((y0.grad, sde.theta.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_threads_share_the_kept_tables_safely():
    """One sampler in several threads on a few grids: every result is the single-thread one."""
    import concurrent.futures

    model = DiffusionModel(Net(), VPLinear(), "eps")
    s = get_sampler("rev_heun")
    x = _x()
    grids = [time_grid(VPLinear(), n, "uniform_lambda") for n in range(3, 3 + 12)]
    with torch.no_grad():
        want = [get_sampler("rev_heun").sample(model, x, ts) for ts in grids]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda ts: s.sample(model, x, ts), grids * 3))
    assert all(torch.equal(g, want[i % len(grids)]) for i, g in enumerate(got))
    assert _kept(s) <= Tables.KEEP
