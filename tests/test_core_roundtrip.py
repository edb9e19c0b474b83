"""Round trips: ``sdeint`` then ``sdeint_inverse`` on the same Brownian path recovers y0.

Every reversible method in the registry is run on every noise type it declares
and on an ODE, on nonlinear drift with state-dependent diffusion (docs/mathematics.md §2,
§3; the torchsde reversibility template).  Also: intermediate
outputs, output times off the step grid, decreasing time, image-shaped states,
restarts from ``Solution.state``, both noise sources, and property tests.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import revsde
from revsde import BrownianGrid, make_brownian, sdeint, sdeint_inverse
from revsde.grid import step_grid
from revsde.solvers.arithmetic import Plain

F64, F32 = torch.float64, torch.float32
TOL = {F64: 1e-10, F32: 1e-4}
STEPS = 1000

#: Reversible methods for an equation in any time variable (exp_reversible_heun needs the
#: positive clock of the lifted diffusion equations: tests/test_rev_heun_exp.py).
REVERSIBLE = [info for info in revsde.list_solvers() if info["reversible"]
              and not revsde.get_solver(info["name"]).needs_positive_clock]
CASES = [(info["name"], noise) for info in REVERSIBLE for noise in info["noise_types"] + ["ode"]]


class NonlinearSDE:
    """Nonlinear time-dependent drift; state-dependent diffusion of the given noise type.

    Additive noise cannot depend on the state, so it depends on time instead.
    (The terms are kept few: the cost of a 1000-step solve is Python overhead.)
    """

    sde_type = "stratonovich"

    def __init__(self, noise_type, m=3):
        self.noise_type = noise_type
        self.m = m

    def f(self, t, y):
        return torch.sin(y + t) - 0.5 * y

    def g(self, t, y):
        if self.noise_type == "diagonal":
            return 0.4 * torch.cos(y) + 0.1
        if self.noise_type == "scalar":
            return (0.3 * torch.sin(y) + 0.4).unsqueeze(-1)
        if self.noise_type == "additive":
            return torch.full((*y.shape, self.m), 0.3 + 0.2 * math.sin(2 * float(t)),
                              dtype=y.dtype)
        # general: column k is 0.3 sin(y + k), so the columns do not commute
        return 0.3 * torch.sin(y.unsqueeze(-1) + torch.arange(self.m, dtype=y.dtype))


def ode_f(t, y):
    return torch.sin(y + t) - 0.5 * y


def equation(noise):
    return ode_f if noise == "ode" else NonlinearSDE(noise)


def start(dtype, shape=(8, 3)):
    n = 1
    for s in shape:
        n *= s
    return torch.linspace(-1.2, 1.1, n, dtype=dtype).reshape(shape)


def round_trip(method, noise, dtype, bm="grid", ts=None, dt=1.0 / STEPS, y0=None, **options):
    y0 = start(dtype) if y0 is None else y0
    ts = torch.linspace(0, 1, 5, dtype=dtype) if ts is None else ts
    sde = equation(noise)
    sol = sdeint(sde, y0, ts, method=method, dt=dt, bm=bm, entropy=7, **options)
    inv = sdeint_inverse(sde, sol.state, ts, method=method, dt=dt, bm=sol.bm, **options)
    return y0, sol, inv


# -- the main matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("method,noise", CASES, ids=[f"{m}-{n}" for m, n in CASES])
def test_round_trip_recovers_y0(method, noise, dtype):
    y0, sol, inv = round_trip(method, noise, dtype)
    assert sol.stats["steps"] == STEPS
    assert sol.ys.dtype == dtype and inv.ys.dtype == dtype
    err = (inv.ys[0] - y0).abs().max().item()
    assert err <= TOL[dtype], f"{method}/{noise}/{dtype}: round-trip error {err:.2e}"
    # every intermediate output agrees, not just the start
    gap = (inv.ys - sol.ys).abs().max().item()
    assert gap <= TOL[dtype], f"{method}/{noise}: forward and inverse outputs differ by {gap:.2e}"
    # the inverse's full state is the initial state (ŷ0 = y0)
    assert (inv.state[1] - y0).abs().max().item() <= TOL[dtype]
    # and the solve moved: a round trip of the identity would pass trivially
    assert (sol.ys[-1] - y0).abs().max().item() > 0.05


@pytest.mark.parametrize(
    "method,noise",
    [(i["name"], i["noise_types"][0]) for i in REVERSIBLE if i["noise_types"]],
)
def test_round_trip_brownian_interval(method, noise):
    y0, sol, inv = round_trip(method, noise, F64, bm="interval")
    assert type(sol.bm).__name__ == "BrownianInterval"
    assert (inv.ys - sol.ys).abs().max().item() <= TOL[F64]
    assert (inv.ys[0] - y0).abs().max().item() <= TOL[F64]


def test_round_trip_with_explicit_brownian_objects():
    sde = NonlinearSDE("diagonal")
    y0 = start(F64)
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    grid, _ = step_grid(ts.tolist(), 0.01)
    for bm in (
        make_brownian(0.0, 1.0, y0.shape, dtype=F64, device="cpu", entropy=3, dt=0.01),
        BrownianGrid(grid, y0.shape, dtype=F64, entropy=3),
    ):
        sol = sdeint(sde, y0, ts, method="mcf_heun", dt=0.01, bm=bm)
        assert sol.bm is bm
        inv = sdeint_inverse(sde, sol.state, ts, method="mcf_heun", dt=0.01, bm=bm)
        assert (inv.ys[0] - y0).abs().max().item() <= 1e-12


# -- time grids ---------------------------------------------------------------------------


class TimeRecorder:
    """ODE ``y' = 1`` that records every time it is evaluated at."""

    def __init__(self):
        self.times = []

    def __call__(self, t, y):
        self.times.append(float(t))
        return torch.ones_like(y)


def test_output_times_off_the_dt_grid_are_hit_exactly():
    ts = torch.tensor([0.0, 0.13, 0.4, 0.77, 1.0], dtype=F64)
    y0 = torch.zeros(2, 1, dtype=F64)
    rec = TimeRecorder()
    sol = sdeint(rec, y0, ts, method="euler", dt=0.1)
    # 0.13/0.1 -> 2 steps, 0.27 -> 3, 0.37 -> 4, 0.23 -> 3; each uniform within its interval
    assert sol.stats["steps"] == 12
    for t in ts[:-1].tolist():
        assert t in rec.times, f"output time {t} was not a step point: {rec.times}"
    steps = [b - a for a, b in zip(rec.times[:-1], rec.times[1:])]
    assert max(steps) <= 0.1 + 1e-15
    # y' = 1 is integrated exactly by Euler, so ys are exactly y0 + ts (not a nearby point)
    assert (sol.ys[:, :, 0] - ts[:, None]).abs().max().item() <= 1e-15


def test_off_grid_outputs_equal_a_solve_that_stops_there():
    sde = NonlinearSDE("general")
    y0 = start(F64)
    bm = make_brownian(0.0, 1.0, (8, 3), dtype=F64, device="cpu", entropy=2, dt=0.01)
    ts = torch.tensor([0.0, 0.133, 0.5, 0.871], dtype=F64)
    long = sdeint(sde, y0, ts, method="reversible_heun", dt=0.05, bm=bm)
    for k in (1, 2, 3):
        short = sdeint(sde, y0, ts[: k + 1], method="reversible_heun", dt=0.05, bm=bm)
        assert torch.equal(short.ys[-1], long.ys[k])
    inv = sdeint_inverse(sde, long.state, ts, method="reversible_heun", dt=0.05, bm=bm)
    assert (inv.ys - long.ys).abs().max().item() <= 1e-12


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_midpoint", "mcf_shark"])
def test_decreasing_ts(method):
    noise = "additive" if method == "mcf_shark" else "diagonal"
    ts = torch.linspace(1.0, 0.0, 4, dtype=F64)
    y0, sol, inv = round_trip(method, noise, F64, ts=ts, dt=0.01)
    assert sol.ts[0] == 1.0 and sol.ts[-1] == 0.0
    assert (inv.ys - sol.ys).abs().max().item() <= TOL[F64]
    assert (inv.ys[0] - y0).abs().max().item() <= TOL[F64]


def test_decreasing_ts_ode_solves_backwards():
    """y' = y on [0, 1] solved from t=1 to t=0 gives y0·e^{-1} (order 2 accuracy)."""
    y0 = torch.ones(3, 1, dtype=F64)
    ts = torch.tensor([1.0, 0.5, 0.0], dtype=F64)
    sol = sdeint(lambda t, y: y, y0, ts, method="mcf_rk4", dt=0.01)
    expected = torch.exp(ts - 1.0)[:, None, None]
    assert ((sol.ys - expected) / expected).abs().max().item() <= 1e-9


# -- shapes and restarts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", [i["name"] for i in REVERSIBLE if "diagonal" in i["noise_types"]]
)
def test_image_shaped_state_diagonal_noise(method):
    """y0 of shape (batch, c, h, w): round trip, and the same result as the flat solve."""
    shape = (3, 2, 4, 4)
    y0 = start(F64, shape)
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    sde = NonlinearSDE("diagonal")  # elementwise f and g, so flattening is exact
    sol = sdeint(sde, y0, ts, method=method, dt=0.01, bm="grid", entropy=5)
    assert sol.ys.shape == (3, *shape)
    inv = sdeint_inverse(sde, sol.state, ts, method=method, dt=0.01, bm=sol.bm)
    assert (inv.ys[0] - y0).abs().max().item() <= TOL[F64]
    flat = sdeint(sde, y0.reshape(3, -1), ts, method=method, dt=0.01, bm="grid", entropy=5)
    assert torch.equal(flat.ys.reshape(sol.ys.shape), sol.ys)


@pytest.mark.parametrize("bm_kind", ["interval", "grid"])
@pytest.mark.parametrize("method,noise", [("reversible_heun", "diagonal"),
                                          ("mcf_heun", "general"), ("mcf_sra1", "additive")])
def test_state_restart_equals_one_longer_solve(method, noise, bm_kind):
    sde = equation(noise)
    y0 = start(F64)
    ts = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=F64)
    whole = sdeint(sde, y0, ts, method=method, dt=0.02, bm=bm_kind, entropy=9)
    bm = whole.bm
    first = sdeint(sde, y0, ts[:3], method=method, dt=0.02, bm=bm)
    second = sdeint(sde, None, ts[2:], method=method, dt=0.02, bm=bm, state=first.state)
    assert torch.equal(first.ys, whole.ys[:3])
    assert torch.equal(second.ys, whole.ys[2:])
    assert all(torch.equal(a, b) for a, b in zip(second.state, whole.state))
    # and the inverse can be split the same way
    back = sdeint_inverse(sde, second.state, ts[2:], method=method, dt=0.02, bm=bm)
    inv = sdeint_inverse(sde, back.state, ts[:3], method=method, dt=0.02, bm=bm)
    assert (inv.ys[0] - y0).abs().max().item() <= TOL[F64]


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    method=st.sampled_from(["reversible_heun", "mcf_heun", "mcf_midpoint", "mcf_euler_heun"]),
    zeta=st.floats(0.9, 1.0),
    dt=st.floats(0.01, 0.3),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    bm_kind=st.sampled_from(["interval", "grid"]),
    entropy=st.integers(0, 2**20),
)
def test_round_trip_property(method, zeta, dt, shape, bm_kind, entropy):
    options = {} if method == "reversible_heun" else {"zeta": zeta}
    y0 = start(F64, tuple(shape))
    sde = NonlinearSDE("diagonal")
    ts = torch.tensor([0.0, 0.37, 1.0], dtype=F64)
    sol = sdeint(sde, y0, ts, method=method, dt=dt, bm=bm_kind, entropy=entropy, **options)
    inv = sdeint_inverse(sde, sol.state, ts, method=method, dt=dt, bm=sol.bm, **options)
    assert inv.ys.shape == sol.ys.shape == (3, *shape)
    # ζ^-N amplification: at most 0.9^-100 ≈ 4e4 times round-off
    assert (inv.ys - sol.ys).abs().max().item() <= 1e-9


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    method=st.sampled_from(["mcf_sea", "mcf_shark", "mcf_sra1", "mcf_euler"]),
    zeta=st.floats(0.9, 1.0),
    n_steps=st.integers(1, 80),
    batch=st.integers(1, 5),
    dim=st.integers(1, 4),
)
def test_round_trip_property_additive(method, zeta, n_steps, batch, dim):
    y0 = start(F64, (batch, dim))
    sde = NonlinearSDE("additive", m=2)
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    dt = 1.0 / n_steps
    sol = sdeint(sde, y0, ts, method=method, dt=dt, bm="grid", entropy=n_steps, zeta=zeta)
    assert sol.stats["steps"] == n_steps
    inv = sdeint_inverse(sde, sol.state, ts, method=method, dt=dt, bm=sol.bm, zeta=zeta)
    assert (inv.ys[0] - y0).abs().max().item() <= 1e-9


# -- the default noise ------------------------------------------------------------------


def test_default_noise_is_a_grid_rebuilt_from_entropy():
    """``bm`` left out: an exact grid path, which a separate inverse rebuilds from the seed."""
    sde = equation("diagonal")
    y0, ts = start(F64), torch.linspace(0, 1, 3, dtype=F64)
    sol = sdeint(sde, y0, ts, dt=0.01, entropy=11)
    assert isinstance(sol.bm, BrownianGrid) and sol.bm.entropy == 11
    inv = sdeint_inverse(sde, sol.state, ts, dt=0.01, entropy=11)  # no bm object passed
    assert (inv.ys[0] - y0).abs().max().item() <= TOL[F64]
    # another seed is another path: a plain tuple (no record of its setup) then lands
    # elsewhere, and the solution's own state refuses the wrong seed
    off = sdeint_inverse(sde, tuple(sol.state), ts, dt=0.01, entropy=12)
    assert (off.ys[0] - y0).abs().max().item() > 1e-3
    with pytest.raises(ValueError, match="entropy=12 but the forward solve used entropy=11"):
        sdeint_inverse(sde, sol.state, ts, dt=0.01, entropy=12)
    # without a seed, the path is random but kept on the solution
    a, b = sdeint(sde, y0, ts, dt=0.01), sdeint(sde, y0, ts, dt=0.01)
    assert not torch.equal(a.ys[-1], b.ys[-1])
    back = sdeint_inverse(sde, a.state, ts, dt=0.01, bm=a.bm)
    assert (back.ys[0] - y0).abs().max().item() <= TOL[F64]


@settings(max_examples=200)
@given(
    dtype=st.sampled_from([F32, F64]),
    exponent=st.integers(-30, 30),
    seed=st.integers(0, 2**31 - 1),
    size=st.sampled_from([1, 7, 64, 2049]),
)
def test_reflect_is_the_two_op_reflection_bit_for_bit(dtype, exponent, seed, size):
    """Reversible Heun's one-op ``2m - x`` (a lerp) gives the bits of ``(m - x) + m``,
    so the solver's arithmetic did not change when the reflection was fused."""
    gen = torch.Generator().manual_seed(seed)
    scale = 10.0**exponent
    m = torch.randn(size, generator=gen, dtype=dtype) * scale
    x = m + torch.randn(size, generator=gen, dtype=dtype) * scale * torch.rand(
        size, generator=gen, dtype=dtype).pow(6)
    ref = torch.sub(m, x).add_(m)
    got = Plain().mirror(x, m)
    assert torch.equal(got, ref)
