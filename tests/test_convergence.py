"""revsde.convergence: order fitting on known slopes and on real solvers."""

import math

import pytest

from revsde.convergence import fit_order, strong_convergence


def test_fit_order_recovers_a_known_slope():
    hs = [2.0**-k for k in range(3, 8)]
    assert fit_order(hs, [3.0 * h**1.5 for h in hs]) == pytest.approx(1.5, abs=1e-12)


def test_fit_order_is_not_fooled_by_constant_errors():
    hs = [0.1, 0.05, 0.025]
    assert fit_order(hs, [1e-3] * 3) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method,problem,order", [
    ("mcf_rk4", "ode", 4.0),
    ("mcf_sra1", "additive", 1.5),
    ("reversible_heun", "general", 0.5),
])
def test_strong_convergence_matches_theory(method, problem, order):
    res = strong_convergence(method, problem, batch=128)
    assert res.expected == order
    assert res.order == pytest.approx(order, abs=0.2)
    assert all(math.isfinite(e) and e > 0 for e in res.errors)


def test_unknown_problem():
    with pytest.raises(ValueError, match="valid problems"):
        strong_convergence("heun", "banana")
