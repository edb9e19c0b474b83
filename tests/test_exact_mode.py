"""Exact mode (docs/mathematics.md §7): with a power-of-two ``quantum`` and ζ = 1 the round trip
returns the initial (quantized) state bit for bit, for any number of steps."""

from __future__ import annotations

import pytest
import torch

from revsde import sdeint, sdeint_inverse
from revsde.solvers.base import quantize

F64 = torch.float64
Q = 2.0**-40


class NonlinearSDE:
    sde_type = "stratonovich"

    def __init__(self, noise_type):
        self.noise_type = noise_type

    def f(self, t, y):
        return torch.sin(y + t) - 0.5 * y**3

    def g(self, t, y):
        if self.noise_type == "additive":
            return torch.full((*y.shape, 2), 0.4, dtype=y.dtype)
        return 0.4 * torch.cos(y) + 0.1


def ode(t, y):
    return torch.sin(y + t) - 0.5 * y**3


CASES = [
    ("reversible_heun", {}, "diagonal"),
    ("reversible_heun", {}, "ode"),
    ("mcf_heun", {"zeta": 1.0}, "diagonal"),
    ("mcf_heun", {"zeta": 1.0}, "ode"),
    ("mcf_shark", {"zeta": 1.0}, "additive"),
]


def y0():
    # not on the grid: the solver quantizes it first
    return torch.linspace(-1.3, 1.1, 12, dtype=F64).reshape(4, 3) / 3


def on_grid(x):
    scaled = x / Q
    return torch.equal(scaled, scaled.round())


@pytest.mark.parametrize("steps", [10, 100, pytest.param(1000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("method,options,noise", CASES,
                         ids=[f"{m}-{n}" for m, _, n in CASES])
def test_round_trip_is_bit_exact(method, options, noise, steps):
    eq = ode if noise == "ode" else NonlinearSDE(noise)
    ts = torch.linspace(0, 1, 3, dtype=F64)
    dt = 1.0 / steps
    bm = "interval" if steps == 100 else "grid"
    sol = sdeint(eq, y0(), ts, method=method, dt=dt, bm=bm, entropy=steps, quantum=Q, **options)
    assert sol.stats["steps"] == steps
    start = quantize(y0(), Q)
    assert torch.equal(sol.ys[0], start)
    assert not torch.equal(start, y0())
    assert on_grid(sol.state[1]) and on_grid(2 * sol.state[0])  # y lives on the half grid
    assert (sol.ys[-1] - start).abs().max().item() > 0.05  # it moved
    inv = sdeint_inverse(eq, sol.state, ts, method=method, dt=dt, bm=sol.bm, quantum=Q, **options)
    assert torch.equal(inv.ys[0], start)
    assert torch.equal(inv.state[1], start)  # ŷ0 = y0 as well
    assert torch.equal(inv.ys, sol.ys)  # every output on the way back


@pytest.mark.parametrize("method,options,noise", CASES[::2], ids=["rh", "mcf_heun", "mcf_shark"])
def test_split_inverse_is_bit_exact(method, options, noise):
    """Forward in one solve, inverse in two segments: still bit for bit."""
    eq = NonlinearSDE(noise)
    ts = torch.tensor([0.0, 0.4, 1.0], dtype=F64)
    kw = dict(method=method, dt=0.01, quantum=Q, **options)
    sol = sdeint(eq, y0(), ts, bm="grid", entropy=3, **kw)
    back = sdeint_inverse(eq, sol.state, ts[1:], bm=sol.bm, **kw)
    assert torch.equal(back.ys[0], sol.ys[1])
    first = sdeint_inverse(eq, back.state, ts[:2], bm=sol.bm, **kw)
    assert torch.equal(first.ys[0], quantize(y0(), Q))


def test_without_quantum_the_round_trip_is_only_close():
    """The contrast that makes the tests above meaningful: plain ζ=1 is off by round-off."""
    eq = NonlinearSDE("diagonal")
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    sol = sdeint(eq, y0(), ts, method="mcf_heun", zeta=1.0, dt=1e-3, bm="grid", entropy=1)
    inv = sdeint_inverse(eq, sol.state, ts, method="mcf_heun", zeta=1.0, dt=1e-3, bm=sol.bm)
    err = (inv.ys[0] - y0()).abs().max().item()
    assert 0 < err < 1e-12


def test_quantization_error_is_far_below_the_discretisation_error():
    eq = NonlinearSDE("diagonal")
    ts = torch.tensor([0.0, 1.0], dtype=F64)
    kw = dict(method="reversible_heun", dt=0.01, bm="grid", entropy=2)
    exact_mode = sdeint(eq, y0(), ts, quantum=Q, **kw).ys[-1]
    plain = sdeint(eq, y0(), ts, **kw).ys[-1]
    assert (exact_mode - plain).abs().max().item() < 1e3 * Q


def test_quantum_too_fine_for_float32_is_refused():
    """2^-40 is below float32's resolution at |y| ~ 1: rounding would do nothing."""
    sde = lambda t, y: torch.sin(y)  # noqa: E731
    y = torch.ones(4, 3, dtype=torch.float32)
    ts = torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match="too fine for torch.float32"):
        sdeint(sde, y, ts, method="reversible_heun", dt=0.1, quantum=2.0**-40)
    # a coarser grid fits and is bit-exact
    sol = sdeint(sde, y, ts, method="mcf_heun", dt=0.1, quantum=2.0**-16, zeta=1.0)
    back = sdeint_inverse(sde, sol.state, ts, method="mcf_heun", dt=0.1, quantum=2.0**-16,
                          zeta=1.0)
    assert torch.equal(back.ys[0], y)
