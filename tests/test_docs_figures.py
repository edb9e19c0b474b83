"""The docs' figures and the numbers quoted from them match a fresh run.

``docs/scripts/gen_figures.py`` regenerates ``docs/img/roundtrip.png`` (and
``convergence.png``) from ``docs/data/convergence.json`` and writes the round-trip
numbers into ``docs/convergence.md``; here the quoted numbers are checked against
the JSON exactly, and against a fresh measurement within the script's stated
tolerance (a factor of 4, or both at round-off level).  The solver table is
checked against the registry by ``tests/test_docs.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

gen_figures = pytest.importorskip("gen_figures")


def test_the_quoted_numbers_are_the_saved_measurement():
    data = json.loads((DOCS / "data" / "convergence.json").read_text())
    assert gen_figures.quoted() == {
        k: float(f"{v:.2g}") for k, v in gen_figures.worst(data["roundtrip"]).items()}
    # the figure is drawn from the same JSON (by the same script): it exists and is fresh
    img = DOCS / "img" / "roundtrip.png"
    assert img.stat().st_size > 10_000


def test_a_fresh_round_trip_measurement_agrees_with_the_docs():
    fresh = gen_figures.measure_roundtrips()
    assert gen_figures.differences(fresh) == []
    # and the tolerance is not vacuous: the numbers of the stale figure (diffusion round
    # trips of ~1e-12 in float64 and ~7e-5 in float32) would have been caught
    assert not gen_figures.agrees(1e-12, gen_figures.worst(fresh)[("sampler", "float64")],
                                  "float64")
    assert not gen_figures.agrees(7e-5, gen_figures.worst(fresh)[("sampler", "float32")],
                                  "float32")
