"""The adaptive-step figures of the docs match the saved run and a fresh one.

``docs/scripts/gen_adaptive.py`` saves ``benchmarks/bench_adaptive.py --rex-official PATH``
into ``docs/data/adaptive.json`` and renders the blocks of docs/howto-adaptive.md and
docs/benchmarks.md from it.  Here: the blocks are the JSON's rendering; the official Rex
rows (which CI cannot re-run: the official code is not part of revsde) are present for
float32 and float64 and go the way of revsde's imitation of them (the official adaptive
round trip and the own-controller decode do not come back, the replayed grid and the
official fixed-step control do); and a fresh run of the ODE round trips, one ODE
work-precision point and the SDE problem agrees with the JSON within the script's
tolerances (counts within 2%, a solve's errors within 10%, round-off within a factor 10).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

import gen_adaptive as gen  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return gen.load()


def test_the_docs_blocks_are_the_saved_measurement(data):
    for page, name, render in gen.BLOCKS:
        assert gen.block(page, name) == render(data), f"{page.name} <!-- {name} --> is stale"


def test_the_saved_data_is_the_full_run_with_the_official_rows(data):
    assert data["benchmark"] == "adaptive" and data["quick"] is False
    assert list(data["problems"]) == ["ode", "sde", "diffusion"]
    for name, pb in data["problems"].items():
        assert {p["kind"] for p in pb["points"]} == {"fixed", "adaptive"}, name
        assert any(e["measured"] == "fixed" for e in pb["equal_error"]), name
    off = data["problems"]["diffusion"]["rex_official"]
    assert off["repository"] == "https://github.com/zblasingame/Rex-solver"
    assert off["commit"] and len(off["commit"]) == 40
    for dtype in ("float32", "float64"):
        tableaus = {r["tableau"] for r in gen.official_rows(data, "official", dtype)}
        assert tableaus == {"bogacki_shampine", "dopri5"}, dtype
    assert len(data["problems"]["sde"]["torchsde_adaptive"]) >= 3


def test_the_official_rows_go_the_imitations_way(data):
    assert gen.official_direction(data) == []
    # the imitation in the invented problems too: an inverse with its own controller comes
    # back at the tolerance's error, the replayed grid at round-off (grown over up to
    # ~3900 steps of Reversible Heun)
    for name in ("ode", "sde"):
        done = [r for r in data["problems"][name]["roundtrip"] if "failed" not in r]
        assert done, name
        for r in done:
            assert r["replay_error"] <= 1e-9 and r["own_controller_error"] > 1e3 * max(
                r["replay_error"], 1e-16), (name, r)


def test_the_direction_check_is_not_vacuous(data):
    official = data["problems"]["diffusion"]["rex_official"]["rows"]
    came_back = copy.deepcopy(data)
    for r in came_back["problems"]["diffusion"]["rex_official"]["rows"]:
        if r["code"] == "official":
            r["roundtrip_error"] = 1e-15
    assert gen.official_direction(came_back)
    missing = copy.deepcopy(data)
    missing["problems"]["diffusion"]["rex_official"]["rows"] = [
        r for r in official if r["dtype"] != "float32"]
    assert gen.official_direction(missing)
    del missing["problems"]["diffusion"]["rex_official"]
    assert gen.official_direction(missing)


def test_the_fresh_tolerances_are_not_vacuous(data):
    doc = data["problems"]["ode"]["roundtrip"]
    off = copy.deepcopy(doc)
    off[0]["forward_nfe"] = int(off[0]["forward_nfe"] * 1.05) + 1
    assert gen._roundtrip_differences("ode", doc, off)
    off = copy.deepcopy(doc)
    off[0]["own_controller_error"] *= 1.2
    assert gen._roundtrip_differences("ode", doc, off)
    assert gen._roundtrip_differences("ode", doc, copy.deepcopy(doc)) == []


def test_a_fresh_ode_measurement_agrees_with_the_docs(data):
    assert gen.fresh_ode(data) == []


@pytest.mark.slow
def test_a_fresh_sde_measurement_agrees_with_the_docs(data):
    assert gen.fresh_sde(data) == []
