"""Compensated states (docs/mathematics.md §4.6): ``y`` and ``ŷ`` carried as ``hi + lo`` pairs.

* the pair arithmetic of :mod:`revsde.solvers.compensated` is exact where it says so
  (checked against rational arithmetic) and twice as wide as the dtype elsewhere;
* every solver with ``compensated_mode`` round-trips bit for bit a solve whose state
  grows by orders of magnitude (the lifted SDEs' shape), where plain sums do not;
* the option is validated, recorded in the state layout and refused where it cannot
  apply (exact mode, float16);
* the reversible adjoint differentiates a compensated solve as backpropagation does.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import revsde
from revsde import BrownianGrid, sdeint, sdeint_inverse
from revsde.sde import SDEAdapter
from revsde.solvers import compensated as cw

F64, F32 = torch.float64, torch.float32

finite = st.floats(min_value=-1e150, max_value=1e150, allow_nan=False, allow_infinity=False)


def _exact(t: torch.Tensor) -> list[Fraction]:
    return [Fraction(v) for v in t.tolist()]


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=8), st.data())
def test_two_sum_is_exact(a, data):
    b = data.draw(st.lists(finite, min_size=len(a), max_size=len(a)))
    ta, tb = torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)
    s, e = cw.two_sum(ta, tb)
    for x, y, si, ei in zip(a, b, s.tolist(), e.tolist()):
        assert Fraction(si) + Fraction(ei) == Fraction(x) + Fraction(y)
        assert si == x + y  # s is the rounded sum


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=-1e100, max_value=1e100, allow_nan=False), min_size=1,
                max_size=8),
       st.floats(min_value=-1e100, max_value=1e100, allow_nan=False))
def test_two_prod_is_exact(a, c):
    """Exact without underflow (products above ~1e-290 in size, or zero factors)."""
    a = [x if x == 0 or abs(x * c) > 1e-280 else 1.0 for x in a]
    if c != 0 and abs(c) < 1e-140:
        c = 0.0
    ta = torch.tensor(a, dtype=F64)
    p, e = cw.two_prod(ta, torch.tensor(c, dtype=F64))
    for x, pi, ei in zip(a, p.tolist(), e.tolist()):
        assert Fraction(pi) + Fraction(ei) == Fraction(x) * Fraction(c)


@pytest.mark.parametrize("dtype", [F64, F32])
def test_pair_operations_are_twice_as_wide(dtype):
    """add, scale and divide of pairs: relative error ~ eps^2, far below the dtype's eps."""
    g = torch.Generator().manual_seed(0)
    eps = torch.finfo(dtype).eps
    hi = torch.randn(200, generator=g, dtype=F64).to(dtype)
    lo = (hi.to(F64) * eps * 0.3 * torch.rand(200, generator=g, dtype=F64)).to(dtype)
    x = cw.two_sum(hi, lo)
    v = (torch.randn(200, generator=g, dtype=F64) * 1e3).to(dtype)
    c = 0.7310585786300049 if dtype is F64 else 0.73105857

    def val(p):
        return [Fraction(a) + Fraction(b) for a, b in zip(p[0].tolist(), p[1].tolist())]

    xv, vv = val(x), _exact(v)
    cf = Fraction(torch.tensor(c, dtype=dtype).item())
    checks = [(cw.add(x, v), [a + b for a, b in zip(xv, vv)]),
              (cw.scale(x, c), [a * cf for a in xv]),
              (cw.divide(x, c), [a / cf for a in xv]),
              (cw.sub_pair(cw.add(x, v), x), vv)]
    for got, want in checks:
        for g_, w in zip(val(got), want):
            assert abs(g_ - w) <= Fraction(8 * eps * eps) * max(abs(w), 1)
        # normalised: hi is the rounding of the pair's value
        assert torch.equal(got[0], got[0] + got[1])


class Growing:
    """A nonlinear SDE whose state grows by ~5 orders of magnitude over the solve (the
    shape of the lifted data-prediction SDE, docs/mathematics.md §4.6): plain sums lose the early
    state's low bits, so the inverse evaluates the drift at other inputs."""

    noise_type = "additive"
    sde_type = "stratonovich"

    def f(self, t, y):
        return 3e3 * torch.tanh(y / (1.0 + t)) + 2e3

    def g(self, t, y):
        return torch.ones_like(y).unsqueeze(-1)


class GrowingDiag(Growing):
    noise_type = "diagonal"

    def g(self, t, y):
        return 0.3 + 0.1 * torch.cos(y)


COMPENSATED = [info["name"] for info in revsde.list_solvers()
               if revsde.get_solver(info["name"]).compensated_mode]


def _solve(name, compensated, sde, ts, y0, bm):
    solver = revsde.get_solver(name, compensated=compensated)
    sol = sdeint(sde, y0, ts, method=solver, bm=bm)
    back = sdeint_inverse(sde, sol.state, ts, method=solver, bm=bm)
    return sol, back


def test_every_reversible_core_solver_has_the_mode():
    assert {"reversible_heun", "exp_reversible_heun", "mcf_euler", "mcf_rk4",
            "mcf_shark"} <= set(COMPENSATED)
    assert all(revsde.get_solver(n).reversible for n in COMPENSATED)


class GrowingODE:
    """The drift of :class:`Growing`, without noise."""

    f = Growing.f


def _problem(name):
    """The growing equation in the noise the solver takes, its Brownian motion (or None)."""
    solver = revsde.get_solver(name)
    ts = torch.linspace(1.0, 40.0, 41, dtype=F64)  # a positive clock (exp_reversible_heun)
    if not solver.noise_types:
        return GrowingODE(), ts, None
    if "diagonal" in solver.noise_types:
        return GrowingDiag(), ts, BrownianGrid(ts.tolist(), (4, 16), dtype=F64, entropy=5)
    return Growing(), ts, BrownianGrid(ts.tolist(), (4, 1), dtype=F64, entropy=5,
                                       levy_area=solver.needs_levy_area)


@pytest.mark.parametrize("name", COMPENSATED)
def test_compensated_round_trip_is_bit_exact_where_plain_is_not(name):
    sde, ts, bm = _problem(name)
    y0 = torch.linspace(-1.0, 1.0, 64, dtype=F64).reshape(4, 16)
    sol, back = _solve(name, True, sde, ts, y0, bm)
    assert float(sol.state[0].abs().max()) > 1e4 * float(y0.abs().max())  # it grew
    solver = revsde.get_solver(name, compensated=True)
    assert len(sol.state) == len(solver.state_names(SDEAdapter(sde)))
    assert torch.equal(back.state[0], y0) and torch.equal(back.state[1], y0)
    _, plain = _solve(name, False, sde, ts, y0, bm)
    assert not torch.equal(plain.state[0], y0)


@pytest.mark.parametrize("name", ["reversible_heun", "mcf_euler"])
def test_compensated_and_plain_forward_solves_agree_to_round_off(name):
    sde = Growing()
    ts = torch.linspace(1.0, 40.0, 41, dtype=F64)
    y0 = torch.linspace(-1.0, 1.0, 8, dtype=F64).reshape(2, 4)
    bm = BrownianGrid(ts.tolist(), (2, 1), dtype=F64, entropy=1)
    a = sdeint(sde, y0, ts, method=revsde.get_solver(name, compensated=True), bm=bm)
    b = sdeint(sde, y0, ts, method=revsde.get_solver(name), bm=bm)
    rel = float(((a.ys - b.ys).abs() / b.ys.abs().clamp_min(1)).max())
    assert rel < 1e-12  # the same method, summed more precisely


def test_state_layout_names_the_low_parts():
    sde = SDEAdapter(Growing())
    s = revsde.get_solver("reversible_heun", compensated=True)
    assert s.state_names(sde) == ("y", "ŷ", "f(ŷ)", "g(ŷ)", "y·lo", "ŷ·lo")
    assert revsde.get_solver("mcf_rk4", compensated=True).state_names(sde) == (
        "y", "ŷ", "y·lo", "ŷ·lo")
    assert s.options()["compensated"] is True
    y0 = torch.zeros(2, 3, dtype=F64)
    bm = BrownianGrid([0.0, 1.0], (2, 1), dtype=F64, entropy=0)
    with pytest.raises(Exception, match="state"):  # a plain state handed to a compensated solve
        sdeint(Growing(), None, torch.tensor([0.0, 1.0], dtype=F64), method=s, bm=bm,
               state=revsde.get_solver("reversible_heun").init(sde, torch.tensor(0.0,
                                                                  dtype=F64), y0))


def test_options_are_validated():
    with pytest.raises(TypeError, match="compensated must be True or False"):
        revsde.get_solver("reversible_heun", compensated=1)
    with pytest.raises(ValueError, match="exclude each other"):
        revsde.get_solver("mcf_euler", zeta=1.0, quantum=2.0**-30, compensated=True)
    s = revsde.get_solver("mcf_euler", compensated=True)
    with pytest.raises(ValueError, match="float64 or float32"):
        s.init(SDEAdapter(Growing()), torch.tensor(0.0), torch.zeros(3, dtype=torch.float16))


class GrowingModule(torch.nn.Module):
    """:class:`Growing` with a trainable drift scale (its ODE without ``g``)."""

    sde_type = "stratonovich"

    def __init__(self, noise: bool):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(3e3, dtype=F64))
        if noise:
            self.noise_type = "additive"
            self.g = Growing().g

    def f(self, t, y):
        return self.a * torch.tanh(y / (1.0 + t)) + 2e3


@pytest.mark.parametrize("name", COMPENSATED)
def test_the_adjoint_differentiates_a_compensated_solve(name):
    """The reversible adjoint of a compensated solve (its inverse on pairs) gives the
    gradients of backpropagation through the same compensated solve, to round-off."""
    solver = revsde.get_solver(name, compensated=True)
    ts = torch.linspace(1.0, 12.0, 12, dtype=F64)
    noise = bool(solver.noise_types)
    bm = (BrownianGrid(ts.tolist(), (2, 1), dtype=F64, entropy=3,
                       levy_area=solver.needs_levy_area) if noise else None)
    grads = []
    for adjoint in (True, False):
        sde = GrowingModule(noise)
        y0 = torch.linspace(-1.0, 1.0, 6, dtype=F64).reshape(2, 3).requires_grad_(True)
        sol = sdeint(sde, y0, ts, method=solver, bm=bm, adjoint=adjoint)
        (torch.sin(sol.ys * 1e-4).sum() + sol.state[0].pow(2).sum() * 1e-9).backward()
        grads.append((y0.grad, sde.a.grad))
    for got, want in zip(*grads):
        assert float((got - want).abs().max()) <= 1e-12 * float(want.abs().max())

