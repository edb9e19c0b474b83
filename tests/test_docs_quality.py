"""The sample-quality, inversion and lifted-case numbers of the docs match their data and a
fresh run.

``docs/scripts/gen_quality.py`` writes ``docs/benchmarks.md``'s sample-quality and
inversion sections and ``docs/diffusion.md``'s lifted-case table (and its sentence on the
noise-prediction samplers at few steps) from ``docs/data/sample_quality.json``,
``inversion_sweep.json``, ``inversion.json`` and ``lifted_case.json``.  Here: (a) every
block is what the script renders from the saved data, exactly; (b) a fresh run of a subset
of each measurement agrees with the saved data within the tolerance the docs state; (c) the
tolerances would catch a stale number; (d) no measured number is left outside the blocks
in the text the script owns.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

gen_quality = pytest.importorskip("gen_quality")


def _saved(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_blocks_are_the_saved_data():
    assert gen_quality.stale_blocks() == []
    sq = _saved(gen_quality.SAMPLE_QUALITY)
    assert sq["args"] == list(gen_quality.SAMPLE_QUALITY_ARGS) and not sq["quick"]
    # the sweep covers every fixed-step reversible sampler of the registry
    sweep = _saved(gen_quality.SWEEP)
    assert sweep["samplers"] == gen_quality.sweep_samplers()
    assert {(r["method"], r["state"], r["network_dtype"], r["steps"]) for r in sweep["rows"]} \
        == {(m, s, d, n) for m in sweep["samplers"] for s in sweep["states"]
            for d in sweep["dtypes"] for n in sweep["steps"]}
    lifted = _saved(gen_quality.LIFTED)
    assert [(r["sampler"], r["steps"], r["case"]) for r in lifted["rows"]] == list(
        gen_quality.LIFTED_ROWS)


def _outside_blocks(text: str) -> str:
    return re.sub(r"<!-- ([\w:-]+) -->\n.*?<!-- /\1 -->", "", text, flags=re.S)


def test_no_measured_number_is_kept_by_hand_in_the_owned_text():
    """The sample-quality and inversion sections of docs/benchmarks.md (up to the fidelity
    table, another script's) and the lifted-case table's surroundings of docs/diffusion.md
    quote measurements only inside generated blocks."""
    page = (DOCS / "benchmarks.md").read_text()
    owned = [page[page.index("## Sample quality"):page.index("**Fidelity table**")]]
    diff = (DOCS / "diffusion.md").read_text()
    owned.append(diff[diff.index("**Round trip and latent std**"):
                      diff.index("- **`sde_eps` is unstable")])
    for text in owned:
        rest = re.sub(r"§[\d.]+", "", _outside_blocks(text))  # section numbers
        assert rest.count("<!--") == 0
        hand = re.findall(r"\d\.\d|\de-?\d|\d×|10[⁰¹²³⁴⁵⁶⁷⁸⁹]", rest)
        assert hand == [], f"hand-kept numbers: {hand}"


def test_a_fresh_lifted_case_run_agrees():
    saved = _saved(gen_quality.LIFTED)
    fresh = gen_quality.measure_lifted()
    assert gen_quality.lifted_differences(saved, fresh) == []
    # not vacuous: noise prediction at round-off (the compensated state's level, not what
    # plain sums give) and a latent std 5 % off are each caught
    stale = copy.deepcopy(saved)
    for r in stale["rows"]:
        if r["case"] == "ode_eps":
            r["roundtrip"]["float64"] = 2e-16
    assert len(gen_quality.lifted_differences(stale, fresh)) == sum(
        r["case"] == "ode_eps" for r in saved["rows"])
    stale = copy.deepcopy(saved)
    stale["rows"][0]["latent_std"] *= 1.05
    assert len(gen_quality.lifted_differences(stale, fresh)) == 1


def test_a_fresh_sample_quality_subset_agrees():
    """DPM-Solver++(2M) and the best reversible sampler at 10 NFE on their best grids (the
    first seed) and the noise floors, run afresh with the benchmark's code (a few s)."""
    saved = _saved(gen_quality.SAMPLE_QUALITY)
    fresh = gen_quality.measure_sample_quality_subset(saved)
    assert set(fresh) == set(saved["problems"])
    assert all(len(f["rows"]) == 2 for f in fresh.values())
    assert gen_quality.sample_quality_differences(saved, fresh) == []
    # not vacuous: a best reversible SW2 2 % off, and a noise floor 2 % off, are caught
    name = next(iter(saved["problems"]))
    t = saved["problems"][name]["target"][str(gen_quality.SQ_CHECK_NFE)]
    stale = copy.deepcopy(saved)
    for r in stale["problems"][name]["summary"]:
        if (r["sampler"], r["grid"], r["nfe_budget"]) == (
                t["best_reversible"], t["best_reversible_grid"], gen_quality.SQ_CHECK_NFE):
            r["sw2_per_seed"][0] *= 1.02
    assert len(gen_quality.sample_quality_differences(stale, fresh)) == 1
    stale = copy.deepcopy(saved)
    stale["problems"][name]["floor_sw2"] *= 1.02
    assert len(gen_quality.sample_quality_differences(stale, fresh)) == 1


@pytest.mark.slow
def test_a_fresh_inversion_sweep_subset_agrees():
    """A compensated and two plain-sum rows of the sweep on the first pictures (~5-10 s)."""
    saved = _saved(gen_quality.SWEEP)
    fresh = gen_quality.measure_sweep_subset(saved)
    assert len(fresh["rows"]) == len(gen_quality.SWEEP_CHECK)
    assert gen_quality.sweep_differences(saved, fresh) == []
    # not vacuous: plain sums at the compensated state's round-off, and a compensated round
    # trip of 1e-12 (what plain sums lose), are each caught
    stale = copy.deepcopy(saved)
    for r in stale["rows"]:
        if r["state"] == "plain" and r["stochastic"]:
            r["max_abs_per_picture"] = [1.1e-16] * len(r["max_abs_per_picture"])
    assert len(gen_quality.sweep_differences(stale, fresh)) == 2
    stale = copy.deepcopy(saved)
    for r in stale["rows"]:
        if r["state"] == "compensated":
            r["max_abs_per_picture"] = [1e-12] * len(r["max_abs_per_picture"])
    assert len(gen_quality.sweep_differences(stale, fresh)) == 1
