"""Tableaus check themselves and give their number of stages."""

from __future__ import annotations

import pytest

from revsde.solvers import BASE_METHODS, StratRK
from revsde.solvers import tableaus as tb

SHIPPED = [tb.EULER, tb.MIDPOINT, tb.HEUN, tb.RK4, tb.SEA, tb.SHARK, tb.SRA1, tb.BS3,
           tb.DOPRI5, tb.TSIT5]


@pytest.mark.parametrize("tab", SHIPPED, ids=lambda t: t.name)
def test_shipped_tableaus_are_consistent(tab):
    for row, c in zip(tab.a, tab.c):
        assert abs(sum(row) - c) <= tb.TOL
    assert abs(sum(tab.b) - 1.0) <= tb.TOL
    assert tab.stages == len(tab.b) == len(tab.a)


@pytest.mark.parametrize("cls", [c for c in BASE_METHODS if hasattr(c, "tableau")],
                         ids=lambda c: c.name)
def test_evaluations_per_step_are_the_stages(cls):
    """Every stage, but a last one of weight zero in b (the end point of an embedded pair,
    evaluated only by an error-controlled step)."""
    tab = cls.tableau
    assert cls.nfe_per_step == tab.stages - (tab.b[-1] == 0.0 and tab.b_hat is not None)


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


# -- embedded pairs: the order conditions, from the rooted trees (Butcher) -------------------
def _trees(order: int) -> list[tuple]:
    """The rooted trees with ``order`` nodes, each a sorted tuple of its children."""
    if order == 1:
        return [()]
    out = set()

    def forests(n: int, most: int) -> list[tuple]:
        """Multisets of trees with ``n`` nodes in all, children of size <= ``most``."""
        if n == 0:
            return [()]
        found = []
        for k in range(min(n, most), 0, -1):
            for t in _trees(k):
                for rest in forests(n - k, k):
                    found.append(tuple(sorted((t,) + rest)))
        return found

    for f in forests(order - 1, order - 1):
        out.add(f)
    return sorted(out)


def _size(tree: tuple) -> int:
    return 1 + sum(_size(c) for c in tree)


def _gamma(tree: tuple) -> int:
    out = _size(tree)
    for c in tree:
        out *= _gamma(c)
    return out


def _weights(tab, tree: tuple) -> list[float]:
    """``Φ_i(τ)`` per stage: the product over children of ``Σ_j a_ij Φ_j(child)``."""
    s = len(tab.c)
    out = [1.0] * s
    for child in tree:
        inner = _weights(tab, child)
        for i in range(s):
            out[i] *= sum(a * x for a, x in zip(tab.a[i], inner))
    return out


@pytest.mark.parametrize("tab, order, embedded", [(tb.BS3, 3, 2), (tb.DOPRI5, 5, 4),
                                                  (tb.TSIT5, 5, 4)], ids=lambda x: str(x))
def test_embedded_pairs_satisfy_their_order_conditions(tab, order, embedded):
    """``b`` meets every condition ``Σ b_i Φ_i(τ) = 1/γ(τ)`` up to its order and misses one
    of the next; ``b̂`` likewise at the embedded order (17 trees up to order 5)."""
    for weights, p in ((tab.b, order), (tab.b_hat, embedded)):
        for n in range(1, p + 2):
            misses = [abs(sum(w * x for w, x in zip(weights, _weights(tab, t))) - 1 / _gamma(t))
                      for t in _trees(n)]
            if n <= p:
                assert max(misses) < 1e-12, (tab.name, p, n, max(misses))
            else:
                assert max(misses) > 1e-4, (tab.name, p, n)


def test_embedded_weights_are_checked():
    base = dict(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0))
    with pytest.raises(tb.TableauError, match="b_hat has 1 entries"):
        tb.RKTableau(name="broken", b_hat=(1.0,), **base)
    with pytest.raises(tb.TableauError, match="b_hat sum to"):
        tb.RKTableau(name="broken", b_hat=(1.0, 0.5), **base)
    with pytest.raises(tb.TableauError, match="b_hat equals b"):
        tb.RKTableau(name="broken", b_hat=(0.5, 0.5), **base)
    assert tb.RKTableau(name="heun-euler", b_hat=(1.0, 0.0), **base).error_weights == (-0.5, 0.5)
