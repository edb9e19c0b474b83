"""Tableaus check themselves and give their number of stages."""

from __future__ import annotations

import pytest

from revsde.solvers import BASE_METHODS, StratRK
from revsde.solvers import tableaus as tb

SHIPPED = [tb.EULER, tb.MIDPOINT, tb.HEUN, tb.RK4, tb.SEA, tb.SHARK, tb.SRA1]


@pytest.mark.parametrize("tab", SHIPPED, ids=lambda t: t.name)
def test_shipped_tableaus_are_consistent(tab):
    for row, c in zip(tab.a, tab.c):
        assert abs(sum(row) - c) <= tb.TOL
    assert abs(sum(tab.b) - 1.0) <= tb.TOL
    assert tab.stages == len(tab.b) == len(tab.a)


@pytest.mark.parametrize("cls", [c for c in BASE_METHODS if hasattr(c, "tableau")],
                         ids=lambda c: c.name)
def test_evaluations_per_step_are_the_stages(cls):
    assert cls.nfe_per_step == cls.tableau.stages


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.4)), r"row 1 of a sums to 0.5 but c\[1\]"),
        (dict(a=((), (0.5,)), b=(0.5, 0.6), c=(0.0, 0.5)), "weights b sum to 1.1"),
        (dict(a=((), (0.5, 0.1)), b=(0.0, 1.0), c=(0.0, 0.5)), "row 1 of a has 2 entries"),
        (dict(a=((),), b=(0.5, 0.5), c=(0.0, 0.5)), "a has 1 rows but b has 2"),
        (dict(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0,)), "c has 1 entries but b has 2"),
        (dict(a=(), b=(), c=()), "at least one stage"),
        (dict(a=((), (float("nan"),)), b=(0.0, 1.0), c=(0.0, 0.5)), "finite"),
    ],
)
def test_a_broken_tableau_is_refused(kw, match):
    with pytest.raises(tb.TableauError, match=match):
        tb.RKTableau(name="broken", **kw)


def test_a_broken_additive_tableau_is_refused():
    with pytest.raises(tb.TableauError, match="a_h has 1 entries but b has 2"):
        tb.AdditiveTableau(a=((), (0.75,)), b=(1 / 3, 2 / 3), c=(0.0, 0.75),
                           a_w=(0.0, 0.75), a_h=(0.0,), name="broken")
    with pytest.raises(tb.TableauError, match="row 1 of a sums to 0.75 but c"):
        tb.AdditiveTableau(a=((), (0.75,)), b=(1 / 3, 2 / 3), c=(0.0, 0.7),
                           a_w=(0.0, 0.75), a_h=(0.0, 1.5), name="broken")


def test_round_off_in_a_tableau_is_tolerated():
    """Fractions like 1/3 that do not sum to 1 bit for bit are accepted."""
    tab = tb.RKTableau(a=((), (1 / 3,), (0.0, 2 / 3)), b=(0.25, 0.0, 0.75),
                       c=(0.0, 1 / 3, 2 / 3), name="heun3")
    assert tab.stages == 3


def test_a_method_with_the_wrong_kind_of_tableau_is_refused():
    with pytest.raises(TypeError, match="tableau must be a RKTableau"):
        type("Bad", (StratRK,), {"name": "bad", "tableau": tb.SEA})


def test_a_new_method_derives_its_evaluations():
    three = tb.RKTableau(a=((), (0.5,), (-1.0, 2.0)), b=(1 / 6, 2 / 3, 1 / 6),
                         c=(0.0, 0.5, 1.0), name="kutta3")
    cls = type("Kutta3", (StratRK,), {"name": "kutta3", "tableau": three})
    assert cls.nfe_per_step == 3
