"""The reversible adjoint (docs/mathematics.md §6): exact gradients in O(1) memory.

Layer 3 of the test pyramid: adjoint against backpropagation through
the same discrete solve, gradcheck in float64, the refusals, and the O(1)
memory structure (counted saved tensors; nothing is timed).
"""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import revsde
from revsde.adjoint import DOUBLE_BACKWARD, GenericRule, rule_for
from revsde.adjoint.rules import GradSink
from revsde.solvers import ReversibleHeun, SolverError

F64, F32 = torch.float64, torch.float32
#: Reversible methods for an equation in any time variable (exp_reversible_heun needs the
#: positive clock of the lifted diffusion equations: tests/test_rev_heun_exp.py).
REVERSIBLE = [s for s in revsde.list_solvers() if s["reversible"]
              and not revsde.get_solver(s["name"]).needs_positive_clock]
TOL = {F64: 1e-10, F32: 1e-4}


class NeuralSDE(nn.Module):
    """MLP/trig drift and a state-dependent diffusion of the requested noise type."""

    def __init__(self, d=4, m=2, noise_type="diagonal", sde_type="stratonovich", width=16):
        super().__init__()
        self.noise_type, self.sde_type, self.d, self.m = noise_type, sde_type, d, m
        self.net = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, d))
        self.a = nn.Parameter(0.3 * torch.randn(d))
        if noise_type == "diagonal":
            self.gnet = nn.Linear(d, d)
        elif noise_type == "scalar":
            self.gnet = nn.Linear(d, d)
        elif noise_type == "general":
            self.gnet = nn.Linear(d, d * m)
        else:  # additive: constant in y, depends on a parameter and on t
            self.sigma = nn.Parameter(0.3 * torch.randn(d, m))

    def f(self, t, y):
        return self.net(y) * (1 + 0.5 * torch.sin(3 * t)) + self.a * torch.sin(y)

    def g(self, t, y):
        if self.noise_type == "diagonal":
            return 0.5 * torch.sigmoid(self.gnet(y))
        if self.noise_type == "scalar":
            return 0.5 * torch.sigmoid(self.gnet(y)).unsqueeze(-1)
        if self.noise_type == "general":
            return 0.3 * torch.tanh(self.gnet(y)).view(y.shape[0], self.d, self.m)
        return self.sigma.expand(y.shape[0], self.d, self.m)


class NeuralODE(nn.Module):
    def __init__(self, d=4, width=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, d))

    def f(self, t, y):
        return self.net(y) * torch.cos(t) - 0.1 * y**3


def _cases():
    for info in REVERSIBLE:
        sde_type = info["sde_types"][0] if info["sde_types"] else None
        for noise in [*info["noise_types"], "ode"]:
            yield info["name"], noise, sde_type


CASES = list(_cases())


def _model(noise, sde_type, dtype, seed=0):
    torch.manual_seed(seed)
    model = NeuralODE() if noise == "ode" else NeuralSDE(noise_type=noise, sde_type=sde_type)
    return model.to(dtype)


def _loss(sol):
    """Depends on several output times and on the whole final state."""
    w = torch.arange(1, len(sol.ys) + 1, dtype=sol.ys.dtype)
    out = (sol.ys**2 * w.view(-1, 1, 1)).sum() + torch.sin(sol.state[0]).sum()
    for j, s in enumerate(sol.state[1:]):
        out = out + 0.1 * (j + 1) * torch.cos(s).sum()
    return out


def _grads(model, y0, ts, method, adjoint, bm, dt=1 / 16, **kw):
    sol = revsde.sdeint(model, y0, ts, method=method, dt=dt, bm=bm, adjoint=adjoint, **kw)
    tensors = [y0, *model.parameters()]
    return sol, torch.autograd.grad(_loss(sol), tensors)


def _rel(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def _max_rel(ga, gb):
    return max(_rel(a, b) for a, b in zip(ga, gb))


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("method,noise,sde_type", CASES, ids=[f"{m}-{n}" for m, n, _ in CASES])
def test_adjoint_matches_backprop(method, noise, sde_type, dtype):
    model = _model(noise, sde_type, dtype)
    y0 = torch.randn(3, 4, dtype=dtype, requires_grad=True)
    ts = torch.tensor([0.0, 0.3, 0.5, 1.0], dtype=dtype)
    sol_bp, g_bp = _grads(model, y0, ts, method, False, None, entropy=7)
    sol_adj, g_adj = _grads(model, y0, ts, method, True, sol_bp.bm)
    torch.testing.assert_close(sol_adj.ys, sol_bp.ys, rtol=0, atol=0)
    assert _max_rel(g_adj, g_bp) <= TOL[dtype]


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint", "mcf_heun"])
def test_adjoint_brownian_grid_backward_time_and_state(method):
    """BrownianGrid noise, decreasing ts, a given state with ŷ ≠ y, extra params."""
    model = _model("general", "stratonovich", F64, seed=1)
    scale_log = torch.tensor(0.2, dtype=F64, requires_grad=True)
    unused = torch.zeros(3, dtype=F64, requires_grad=True)

    class Scaled(nn.Module):
        noise_type, sde_type = "general", "stratonovich"

        def __init__(self, scale):
            super().__init__()
            self.inner, self.scale = model, scale

        def f(self, t, y):
            return self.scale * self.inner.f(t, y)

        def g(self, t, y):
            return self.inner.g(t, y)

    ts = torch.tensor([1.0, 0.6, 0.0], dtype=F64)
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    yh0 = (y0 + 0.1 * torch.randn(3, 4, dtype=F64)).detach().requires_grad_()
    results = []
    for adjoint in (False, True):
        scale = scale_log.exp()  # a non-leaf tensor closed over by the drift
        sde = Scaled(scale)
        solver = revsde.get_solver(method)
        state = solver.init(revsde.sde.SDEAdapter(sde), ts[0], y0, yh0)
        params = [scale, unused, *model.parameters()]
        sol = revsde.sdeint(sde, None, ts, method=method, dt=0.1, bm="grid", entropy=3,
                            state=state, adjoint=adjoint, params=params)
        loss = _loss(sol)
        results.append(torch.autograd.grad(loss, [y0, yh0, scale_log, *model.parameters()]))
    assert _max_rel(results[1], results[0]) <= 1e-9


def test_y0_without_grad_and_unused_param():
    model = _model("diagonal", "stratonovich", F64)
    y0 = torch.randn(3, 4, dtype=F64)
    unused = torch.ones(2, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    params = [*model.parameters(), unused]
    sol = revsde.sdeint(model, y0, ts, dt=0.1, adjoint=True, params=params, entropy=1)
    grads = torch.autograd.grad(sol.ys[-1].sum(), params)
    assert torch.equal(grads[-1], torch.zeros(2, dtype=F64))
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint"])
def test_gradcheck(method):
    torch.manual_seed(0)
    w = torch.randn(2, 2, dtype=F64, requires_grad=True)
    y0 = torch.randn(2, 2, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 0.25, 0.5], dtype=F64)
    bm = revsde.BrownianGrid(torch.linspace(0, 0.5, 7, dtype=F64), (2, 2), dtype=F64, entropy=5)

    def fn(y0, w):
        class SDE:
            noise_type, sde_type = "diagonal", "stratonovich"

            def f(self, t, y):
                return torch.tanh(y @ w) - 0.5 * y

            def g(self, t, y):
                return 0.3 * torch.sigmoid(y * w[0])

        sol = revsde.sdeint(SDE(), y0, ts, method=method, dt=1 / 12, bm=bm, adjoint=True,
                            params=[w])
        return sol.ys, sol.state[1]

    assert torch.autograd.gradcheck(fn, (y0, w), eps=1e-6, atol=1e-8, rtol=1e-6)


# -- refusals ------------------------------------------------------------------------------
def _simple(dtype=F64):
    return _model("diagonal", "stratonovich", dtype), torch.randn(2, 4, dtype=dtype)


def test_error_non_reversible_method():
    model, y0 = _simple()
    with pytest.raises(SolverError, match="not reversible.*mcf_midpoint"):
        revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), method="midpoint",
                      dt=0.1, adjoint=True)


def test_error_params_without_grad():
    model, y0 = _simple()
    frozen = torch.ones(3, dtype=F64)
    with pytest.raises(ValueError, match=r"params\[0\] .* does not require grad"):
        revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.1, adjoint=True,
                      params=[frozen])
    with pytest.raises(TypeError, match=r"params\[0\] is a Linear, not a tensor"):
        revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.1, adjoint=True,
                      params=[model.gnet])


def test_error_brownian_not_replayable():
    model, y0 = _simple()

    class FreshNoise:  # a new sample at every query: cannot be replayed backwards
        def __call__(self, ta, tb, return_U=False):
            return torch.randn(2, 4, dtype=F64) * abs(tb - ta) ** 0.5

    with pytest.raises(ValueError, match="cannot be replayed"):
        revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.1,
                      bm=FreshNoise(), adjoint=True)


@pytest.mark.parametrize("method,opts", [("reversible_heun", {}), ("mcf_midpoint", {"zeta": 1})])
def test_error_exact_mode(method, opts):
    model, y0 = _simple()
    with pytest.raises(ValueError, match="quantum.*zero gradient.*Drop quantum"):
        revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), method=method, dt=0.1,
                      adjoint=True, quantum=2.0**-30, **opts)


def test_error_closure_not_in_params():
    model, y0 = _simple()
    hidden = torch.tensor(1.5, dtype=F64, requires_grad=True)

    class SDE:
        noise_type, sde_type = "diagonal", "stratonovich"

        def f(self, t, y):
            return hidden * model.f(t, y)

        def g(self, t, y):
            return model.g(t, y)

    sol = revsde.sdeint(SDE(), y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.1, adjoint=True,
                        params=list(model.parameters()))
    with pytest.raises(ValueError, match=r"1 tensor\(s\) that require grad but are not in params"):
        sol.ys.sum().backward()


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_euler_heun"])
def test_double_backward_refused(method):
    model, y0 = _simple()
    y0.requires_grad_()
    sol = revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), method=method, dt=0.1,
                        adjoint=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        torch.autograd.grad(sol.ys.pow(2).sum(), y0, create_graph=True)
    assert "adjoint=False" in DOUBLE_BACKWARD


# -- memory structure ------------------------------------------------------------------------
class _Count:
    """Counts tensors saved for backward: total, and the most alive at once."""

    def __init__(self):
        self.total = self.live = self.peak = 0

    def pack(self, t):
        self.total += 1
        return _Handle(self, t)

    @staticmethod
    def unpack(handle):
        return handle.t


class _Handle:
    def __init__(self, counter, t):
        self.counter, self.t = counter, t
        counter.live += 1
        counter.peak = max(counter.peak, counter.live)

    def __del__(self):
        self.counter.live -= 1


def _saved_counts(method, steps, adjoint):
    model = _model("additive" if "shark" in method else "diagonal", "stratonovich", F32)
    y0 = torch.randn(3, 4, requires_grad=True)
    ts = torch.tensor([0.0, 0.5, 1.0])
    fwd, bwd = _Count(), _Count()
    with torch.autograd.graph.saved_tensors_hooks(fwd.pack, fwd.unpack):
        sol = revsde.sdeint(model, y0, ts, method=method, dt=1.0 / steps, bm="grid", entropy=0,
                            adjoint=adjoint)
    fwd_total = fwd.total
    with torch.autograd.graph.saved_tensors_hooks(bwd.pack, bwd.unpack):
        sol.ys.pow(2).sum().backward()
    return fwd_total, bwd.peak


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint", "mcf_shark"])
def test_memory_is_constant_in_steps(method):
    small = _saved_counts(method, 8, adjoint=True)
    large = _saved_counts(method, 128, adjoint=True)
    # Forward: only the init evaluation's graph outside the Function; backward: one step alive.
    assert small == large
    # The same counters see backprop's graph grow with the number of steps.
    bp_small, bp_large = _saved_counts(method, 8, False), _saved_counts(method, 128, False)
    assert bp_large[0] > 8 * bp_small[0]


def test_function_saves_only_the_final_state():
    model = _model("diagonal", "stratonovich", F32)
    y0 = torch.randn(3, 4, requires_grad=True)
    for steps in (4, 64):
        sol = revsde.sdeint(model, y0, torch.tensor([0.0, 0.5, 1.0]), dt=1.0 / steps,
                            adjoint=True)
        node = sol.ys.grad_fn
        assert type(node).__name__ == "AdjointFunctionBackward"
        assert len(node.saved_tensors) == len(sol.state) == 4  # (y, ŷ, f, g)


def _reach(tensors):
    """Number of autograd nodes reachable from ``tensors``."""
    stack = [t.grad_fn for t in tensors if torch.is_tensor(t) and t.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(nxt for nxt, _ in node.next_functions)
    return len(seen)


def _max_graph_per_vjp(monkeypatch, method, steps):
    """Largest graph that one backward step differentiates, over a solve of ``steps``."""
    reach = []

    def wrapped(self, outputs, cotangents, leaves, _orig=GradSink.vjp):
        assert not any(t.requires_grad for t in cotangents if torch.is_tensor(t))
        assert all(x.grad_fn is None for x in leaves)  # fresh leaves, no chain behind them
        reach.append(_reach(outputs))
        return _orig(self, outputs, cotangents, leaves)

    monkeypatch.setattr(GradSink, "vjp", wrapped)
    model = _model("diagonal", "stratonovich", F32)
    y0 = torch.randn(3, 4, requires_grad=True)
    sol = revsde.sdeint(model, y0, torch.tensor([0.0, 0.5, 1.0]), method=method,
                        dt=1.0 / steps, bm="grid", entropy=0, adjoint=True)
    sol.ys.sum().backward()
    monkeypatch.undo()
    assert len(reach) == steps * (1 if method == "reversible_heun" else 2)
    return max(reach)


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_heun"])
def test_no_graph_chain_across_steps(monkeypatch, method):
    """Between backward steps only one step's graph is alive (states carry none)."""
    small = _max_graph_per_vjp(monkeypatch, method, 8)
    large = _max_graph_per_vjp(monkeypatch, method, 64)
    assert small == large


class CustomReversibleHeun(ReversibleHeun):
    """A reversible solver without a dedicated rule: the adjoint uses GenericRule."""

    name = "custom_reversible_heun"


def test_generic_rule_matches_backprop():
    assert isinstance(rule_for(CustomReversibleHeun()), GenericRule)
    model = _model("general", "stratonovich", F64)
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 0.4, 1.0], dtype=F64)
    sol, g_bp = _grads(model, y0, ts, CustomReversibleHeun(), False, None, entropy=2)
    _, g_adj = _grads(model, y0, ts, CustomReversibleHeun(), True, sol.bm)
    assert _max_rel(g_adj, g_bp) <= 1e-10


class BroadcastODE(nn.Module):
    """Drift of shape (d,), broadcast against the batch: its cotangent must be summed."""

    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.tensor([0.5, -1.0, 2.0, 0.1], dtype=F64))

    def f(self, t, y):
        return self.b * torch.cos(t)


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint"])
def test_broadcast_drift(method):
    model = BroadcastODE()
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    sol, g_bp = _grads(model, y0, ts, method, False, None)
    _, g_adj = _grads(model, y0, ts, method, True, None)
    assert _max_rel(g_adj, g_bp) <= 1e-12


def test_error_diffusion_returns_unlisted_parameter():
    """A diffusion that *is* a tensor requiring grad (no graph) is checked too."""
    sigma = torch.full((2, 4), 0.3, dtype=F64, requires_grad=True)

    class SDE:
        noise_type, sde_type = "additive", "stratonovich"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return sigma

    y0 = torch.randn(2, 4, dtype=F64)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    sol = revsde.sdeint(SDE(), y0, ts, dt=0.1, adjoint=True)
    with pytest.raises(ValueError, match="not in params"):
        sol.ys.sum().backward()
    # Listed, it gets the gradient backprop gives.
    grads = []
    for adjoint in (False, True):
        sol = revsde.sdeint(SDE(), y0, ts, dt=0.1, bm="grid", entropy=1, adjoint=adjoint,
                            params=[sigma])
        grads.append(torch.autograd.grad(_loss(sol), sigma)[0])
    assert _rel(grads[1], grads[0]) <= 1e-12


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint"])
def test_long_solve_float32(method):
    """1000 steps in float32: the reconstruction error stays far below the tolerance."""
    model = _model("diagonal", "stratonovich", F32)
    y0 = torch.randn(8, 4, requires_grad=True)
    ts = torch.tensor([0.0, 1.0, 2.0])
    sol, g_bp = _grads(model, y0, ts, method, False, "grid", dt=2 / 1000, entropy=3)
    _, g_adj = _grads(model, y0, ts, method, True, sol.bm, dt=2 / 1000)
    assert _max_rel(g_adj, g_bp) <= 1e-4


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from([s["name"] for s in REVERSIBLE]),
    zeta=st.sampled_from([1.0, 0.999, 0.9]),
    steps=st.integers(1, 12),
    batch=st.integers(1, 3),
    reverse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_adjoint_equals_backprop_property(method, zeta, steps, batch, reverse, seed):
    """ODE solves (every reversible method supports them): any grid, ζ, direction."""
    opts = {"zeta": zeta} if method.startswith("mcf_") else {}
    model = _model("ode", None, F64, seed=seed % 7)
    gen = torch.Generator().manual_seed(seed)
    y0 = torch.randn(batch, 4, dtype=F64, generator=gen).requires_grad_()
    ts = torch.tensor([0.0, 0.3, 0.7], dtype=F64)
    ts = ts.flip(0) if reverse else ts
    g = [_grads(model, y0, ts, method, adjoint, None, dt=0.7 / steps, **opts)[1]
         for adjoint in (False, True)]
    # Backwards in time the -0.1 y^3 term blows up in finite time from a large y0: there
    # the gradients reach 1e14 and both computations are round-off amplified by about
    # as much.  The claim is for solves that stay bounded.
    assume(max(x.abs().max().item() for x in g[0]) < 1e8)
    assert _max_rel(g[1], g[0]) <= 1e-10


def test_adjoint_under_no_grad_is_a_plain_solve():
    model, y0 = _simple()
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    with torch.no_grad():
        sol = revsde.sdeint(model, y0, ts, dt=0.1, bm="grid", entropy=2, adjoint=True)
    ref = revsde.sdeint(model, y0, ts, dt=0.1, bm="grid", entropy=2)
    assert sol.ys.grad_fn is None
    assert torch.equal(sol.ys, ref.ys.detach())


# -- where parameter gradients go (GradSink) ---------------------------------------------


def test_grad_sink_keeps_and_adds_to_existing_grads():
    """``.backward()`` twice accumulates, as for any autograd op; .grad is never clobbered."""
    model = _model("diagonal", "stratonovich", F64)
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    ref = _grads(model, y0, ts, "reversible_heun", True, "grid", entropy=3)[1]
    for _ in range(2):
        sol = revsde.sdeint(model, y0, ts, dt=1 / 16, bm="grid", entropy=3, adjoint=True)
        _loss(sol).backward()
    for p, g in zip([y0, *model.parameters()], ref):
        torch.testing.assert_close(p.grad, 2 * g, rtol=1e-13, atol=0)


def test_grad_sink_fires_parameter_hooks_once():
    """A hooked parameter gets the whole gradient once, not once per step."""
    model = _model("diagonal", "stratonovich", F64)
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    ref = _grads(model, y0, ts, "reversible_heun", True, "grid", entropy=3)[1]
    calls = []
    model.a.register_hook(lambda g: calls.append(g.clone()))
    sol = revsde.sdeint(model, y0, ts, dt=1 / 16, bm="grid", entropy=3, adjoint=True)
    _loss(sol).backward()
    assert len(calls) == 1
    torch.testing.assert_close(calls[0], ref[1 + [n for n, _ in model.named_parameters()]
                                            .index("a")], rtol=1e-13, atol=0)


def test_grad_sink_restores_grads_when_the_backward_fails():
    model = _model("diagonal", "stratonovich", F64)
    y0 = torch.randn(3, 4, dtype=F64)
    hidden = torch.ones(4, dtype=F64, requires_grad=True)
    f = model.f
    model.f = lambda t, y: f(t, y) * hidden  # closes over a tensor not in params
    before = [torch.full_like(p, 7.0) for p in model.parameters()]
    for p, b in zip(model.parameters(), before):
        p.grad = b
    sol = revsde.sdeint(model, y0, torch.tensor([0.0, 1.0], dtype=F64), dt=0.25,
                        adjoint=True)
    with pytest.raises(ValueError, match="not in params"):
        sol.ys.sum().backward()
    assert all(p.grad is b for p, b in zip(model.parameters(), before))


def test_grad_sink_hook_on_a_non_leaf_param_fires_once():
    """A hook that rescales the gradient of a computed (non-leaf) param: applied once."""
    base = torch.tensor([0.5, -1.0, 0.3, 0.2], dtype=F64, requires_grad=True)

    def grad_of_base(adjoint):
        a = base * 2
        calls = []
        a.register_hook(lambda g: (calls.append(1), g * 3)[1])

        class SDE:
            noise_type, sde_type = "diagonal", "stratonovich"

            def f(self, t, y):
                return -a * y

            def g(self, t, y):
                return 0.1 * torch.ones_like(y)

        sol = revsde.sdeint(SDE(), torch.ones(2, 4, dtype=F64),
                            torch.tensor([0.0, 1.0], dtype=F64), dt=0.1, entropy=1,
                            adjoint=adjoint, params=[a] if adjoint else None)
        return torch.autograd.grad(sol.ys[-1].sum(), base)[0], len(calls)

    (g_bp, n_bp), (g_adj, n_adj) = grad_of_base(False), grad_of_base(True)
    assert n_bp == n_adj == 1
    torch.testing.assert_close(g_adj, g_bp, rtol=1e-12, atol=0)


@pytest.mark.parametrize("noise", ["diagonal", "general", "ode"])
@pytest.mark.parametrize("pattern", ["every step", "alternate steps", "first and last"])
def test_outputs_at_many_steps(noise, pattern):
    """Output cotangents injected at consecutive, alternate and sparse steps: the fused
    Reversible Heun loop keeps a_y lazily as 2v and must split the next step's Rᵀ
    products exactly where an output adds to it."""
    model = _model(noise, "stratonovich", F64, seed=3)
    y0 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    grid = torch.linspace(0.0, 1.0, 13, dtype=F64)
    ts = {"every step": grid, "alternate steps": grid[::2],
          "first and last": grid[[0, 1, 11, 12]]}[pattern]
    sol_bp, g_bp = _grads(model, y0, ts, "reversible_heun", False, None, dt=1 / 12,
                          entropy=11)
    sol_adj, g_adj = _grads(model, y0, ts, "reversible_heun", True, sol_bp.bm, dt=1 / 12)
    assert torch.equal(sol_adj.ys, sol_bp.ys.detach())
    assert _max_rel(g_adj, g_bp) <= 1e-12
