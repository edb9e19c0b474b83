"""docs/guided-generation.md's order table, full-schedule sentence and exactness figures are
the rendering of docs/data/gradient_numbers.json, and a fresh run reproduces that JSON
within the tolerances the page states (docs/scripts/gen_gradient_numbers.py)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "scripts"))
import gen_gradient_numbers as G  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return G.load()


def test_the_blocks_are_the_saved_measurement(data):
    for name, render in G.BLOCKS:
        assert G.block(name) == render(data), f"guided-generation.md <!-- {name} --> is stale"


def test_the_saved_orders_are_the_declared_ones(data):
    """The table shows what the page says: AdjointDEIS-1 first order, -2M second."""
    o = data["orders"]
    assert [(r["sampler"], r["sde"], r["method"]) for r in o["rows"]] == list(G.ORDER_ROWS)
    assert o["steps"] == list(G.ORDER_STEPS)
    for r in o["rows"]:
        declared = 1.0 if r["method"].endswith("-1") else 2.0
        for k, e in r["errors"].items():
            assert r["orders"][k] == pytest.approx(G.fit_order(o["steps"], e), abs=1e-12)
            assert abs(r["orders"][k] - declared) < 0.2, (r, k)
    f = data["full_schedule"]["rows"]
    assert f["adjointdeis-1"]["x_T"] > 0.1 and f["adjointdeis-2m"]["x_T"] > 0.05  # slow there


@pytest.mark.slow
def test_a_fresh_gaussian_run_reproduces_the_table(data):
    bad = G.gaussian_differences(data, G.orders_table(), G.full_schedule())
    assert bad == []


def test_a_fresh_trained_model_run_reproduces_the_exactness_figures(data):
    fresh = G.exactness(G.CHECK_SAMPLERS)["rows"]
    assert [r["sampler"] for r in fresh] == list(G.CHECK_SAMPLERS)
    assert G.exactness_differences(data, fresh) == []


def test_the_checks_are_not_vacuous(data):
    """A changed saved number is caught, by the block test and by the fresh comparisons."""
    bad = copy.deepcopy(data)
    bad["orders"]["rows"][0]["errors"]["x_T"][0] *= 1.01
    assert G.render_orders(bad) != G.render_orders(data)
    assert G.gaussian_differences(bad, data["orders"], data["full_schedule"])
    bad = copy.deepcopy(data)
    bad["full_schedule"]["rows"]["adjointdeis-1"]["x_T"] *= 1.02
    assert G.render_orders(bad) != G.render_orders(data)
    assert G.gaussian_differences(bad, data["orders"], data["full_schedule"])
    rows = copy.deepcopy(data["exactness"]["rows"])
    rows[0]["x_T"] = 1e-9  # plain-sum round-off would be caught
    rows[1]["grad_x_T_norm"] *= 1.001
    bad = G.exactness_differences(data, rows)
    assert len(bad) == 2, bad
