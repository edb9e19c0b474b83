"""The docs' figures and the numbers quoted from them match a fresh run.

``docs/scripts/gen_figures.py`` regenerates ``docs/img/roundtrip.png`` (and
``convergence.png``) from ``docs/data/convergence.json`` and writes the round-trip
numbers into ``docs/convergence.md``; here the quoted numbers are checked against
the JSON exactly, and against a fresh measurement within the script's stated
tolerance (a factor of 4, or both at round-off level).  The solver table is
checked against the registry by ``tests/test_docs.py``.

The README's measured numbers (``<!-- readme:... -->`` blocks) are written by the same
script from ``docs/data/convergence.json`` and ``docs/data/invert.json``; here they are
checked against those files exactly, and ``invert.json`` against a fresh ``revsde
invert`` run at the command's current defaults (round-off-level numbers within a
factor of 4, truncation errors within 5 %; another configuration: regenerate).
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


def test_the_readme_numbers_are_the_saved_measurements():
    from gen_solver_table import load_measured

    assert gen_figures.readme_quoted() == gen_figures.readme_blocks(
        load_measured(), gen_figures.load_invert()), (
        "regenerate: python docs/scripts/gen_figures.py")
    readme = gen_figures.README.read_text()
    # no hand-kept measurement left outside the generated blocks: every number with an
    # exponent or a unit of time/memory/ratio in the README's prose is in one of them
    # (the code blocks run, and assert their own numbers, in tests/test_docs.py)
    outside = re.sub(r"^```.*?^```", "", readme, flags=re.S | re.M)
    for body in gen_figures.readme_quoted().values():
        outside = outside.replace(body, "")
    hand = re.findall(r"\d(?:\.\d+)?e-?\d+|\d+(?:\.\d+)? ?(?:(?:MB|GB|ms)\b|×)|\d+ s\b",
                      outside)
    assert hand == [], f"hand-kept numbers in README.md: {hand}"


@pytest.mark.slow
def test_a_fresh_invert_run_agrees_with_the_readme(invert_defaults):
    """``invert_defaults`` is ``revsde invert --json`` with every default (tests/conftest.py,
    shared with tests/test_cli_defaults.py); ``gen_figures.measure_invert`` is the same
    run, in-process and without the figure."""
    done, _ = invert_defaults
    assert done.returncode == 0, done.stderr
    saved = gen_figures.load_invert()
    fresh = gen_figures.invert_numbers(json.loads(done.stdout))
    assert gen_figures.invert_differences(saved, fresh) == []
    # not vacuous: an EDICT error above the float32 network's rounding band (the README
    # quotes EDICT, BDIA and O-BELM through a float32 network as "below" the band, since
    # their value under it depends on the CPU), a DDIM error off by 10 %, and another
    # default would each have been caught
    stale = copy.deepcopy(saved)
    (edict,) = [r for r in stale["results"]
                if r["method"] == "edict" and r["comparison"] in ("equal_nfe", "both")]
    edict["max_abs"] = 10 * gen_figures.NETWORK_BAND["float32"]
    assert gen_figures.invert_differences(stale, fresh)
    stale = copy.deepcopy(saved)
    (ddim,) = [r for r in stale["results"]
               if r["method"] == "ddim" and r["comparison"] in ("equal_nfe", "both")]
    ddim["max_abs"] *= 1.1
    assert gen_figures.invert_differences(stale, fresh)
    stale = copy.deepcopy(saved)
    stale["results"][0]["steps"] += 1
    assert "defaults changed" in gen_figures.invert_differences(stale, fresh)[0]


def test_the_pretrained_page_is_the_weight_files_record():
    """docs/pretrained.md's training numbers and denoising table are the shipped weight
    file's record (tests/test_pretrained.py re-measures the denoising check against it)."""
    record = gen_figures.small_unet_record()
    assert gen_figures.pretrained_quoted() == gen_figures.pretrained_blocks(record), (
        "regenerate: python docs/scripts/gen_figures.py")
    # not vacuous: the tolerance of the fresh denoising check catches a 2 % change
    (row,) = record["training"]["denoise_vs_blur"][:1]
    assert gen_figures.denoise_agrees(row, dict(row))
    assert not gen_figures.denoise_agrees(row, {**row, "model_mse": row["model_mse"] * 1.02})


def test_the_convergence_page_counts_are_the_saved_study():
    from gen_solver_table import load_measured

    assert gen_figures.convergence_quoted() == gen_figures.convergence_blocks(load_measured()), (
        "regenerate: python docs/scripts/gen_figures.py --study")


def test_the_limits_the_docs_quote_are_the_codes():
    """Constants quoted in prose (not measurements): the code's own values."""
    from revsde.app.demo import MAX_STEPS
    from revsde.diffusion.inversion.reproducible import EXPECTED_ERROR

    assert f"past {MAX_STEPS:,} steps" in gen_figures.README.read_text()
    page = " ".join((DOCS / "howto-invert.md").read_text().split())
    ode, sde = (f"{EXPECTED_ERROR[k]:.0e}".replace("e-0", "e-") for k in ("ode", "sde"))
    assert f"costs about {ode} (max abs, data in [-1, 1]) with an ODE sampler and about " \
           f"{sde} with an SDE sampler" in page


def test_the_diffusion_page_orders_are_the_saved_study():
    from gen_solver_table import load_measured

    assert gen_figures.diffusion_quoted() == gen_figures.diffusion_blocks(load_measured()), (
        "regenerate: python docs/scripts/gen_figures.py")


def test_a_fresh_fit_of_the_sampler_orders_agrees_with_the_saved_study():
    """A representative subset (one PF-ODE sampler, a few seconds);
    ``gen_figures.py --study`` reruns all of it."""
    from gen_solver_table import load_measured

    data = load_measured()
    fresh = gen_figures.fresh_orders(data)
    assert gen_figures.order_differences(data, fresh) == []
    # not vacuous: an order off by 0.02 (a change in the table's last digit) is caught
    stale = copy.deepcopy(data)
    for r in stale["results"]:
        if (r["method"], r["problem"]) == gen_figures.ORDER_SUBSET[0]:
            r["order"] += 0.02
    assert len(gen_figures.order_differences(stale, fresh)) == 1


def test_the_ideal_denoiser_table_is_the_saved_measurement_and_a_fresh_one_agrees():
    """docs/diffusion.md's round trips of the ideal denoiser: the block is the saved JSON's
    table, and a fresh run of a representative subset (three rows, both dtypes and states,
    at the first step count) agrees within the round-trip tolerance."""
    saved = gen_figures.load_ideal()
    assert gen_figures.diffusion_quoted()["ideal"] == gen_figures.ideal_table(saved), (
        "regenerate: python docs/scripts/gen_figures.py --ideal")
    fresh = gen_figures.measure_ideal_roundtrips(gen_figures.IDEAL_STEPS[:1],
                                                 gen_figures.IDEAL_CHECK)
    assert len(fresh["rows"]) == 4 * len(gen_figures.IDEAL_CHECK)
    assert gen_figures.ideal_differences(saved, fresh) == []
    # not vacuous: a plain-sums noise-prediction error 5x off is caught
    stale = copy.deepcopy(saved)
    for r in stale["rows"]:
        if r["case"] == "ode_eps" and r["state"] == "plain" and r["dtype"] == "float32":
            r["errors"] = [5 * v for v in r["errors"]]
    assert gen_figures.ideal_differences(stale, fresh)


def test_the_baselines_tables_are_the_benchmarks_and_a_fresh_column_agrees():
    """docs/baselines.md's table is benchmarks/bench_inversion.py's saved JSON, its
    published anchor the benchmark's ANCHOR; the first step count's float32 column, run
    afresh by the benchmark's code, agrees (5 % for truncation errors, a factor of 4 at
    round-off level)."""
    doc = gen_figures.load_inversion()
    assert doc["args"] == list(gen_figures.INVERSION_ARGS)
    assert gen_figures.baselines_quoted() == gen_figures.baselines_blocks(doc), (
        "regenerate: python docs/scripts/gen_figures.py")
    fresh = gen_figures.measure_inversion_subset(doc)
    assert {r["method"] for r in fresh} == {r["method"] for r in doc["rows"]} - {"rex_rk4"}
    assert gen_figures.inversion_differences(doc, fresh) == []
    stale = copy.deepcopy(doc)
    for r in stale["rows"]:
        if r["method"] == "ddim":  # a DDIM error (truncation) 10 % off
            r["max_abs_per_picture"] = [1.1 * v for v in r["max_abs_per_picture"]]
    assert gen_figures.inversion_differences(stale, fresh)


def test_the_adjoint_tolerances_the_docs_quote_are_the_tests():
    """docs/adjoint.md quotes tests/test_adjoint.py's tolerances (and no measured values)."""
    source = (DOCS.parent / "tests" / "test_adjoint.py").read_text()
    (f64, f32), = re.findall(r"^TOL = \{F64: ([0-9.e-]+), F32: ([0-9.e-]+)\}", source, re.M)
    page = " ".join((DOCS / "adjoint.md").read_text().split())
    assert f"tolerance, {f64} in float64 and {f32} in float32" in page


def test_the_fixed_point_baselines_band_is_not_vacuous():
    """EDICT/BDIA/O-BELM through a float32 network: 7e-6 (one CPU) and 1e-13 (another)
    agree, as both are the network's rounding; an error above the band does not, nor does
    the same pair for DDIM inversion or a float64 network."""
    band = gen_figures.NETWORK_BAND["float32"]
    assert gen_figures.agrees_invert(7.2e-6, 1.2e-13, "float64", "edict", "float32")
    assert not gen_figures.agrees_invert(3 * band, 1.2e-13, "float64", "edict", "float32")
    assert not gen_figures.agrees_invert(7.2e-6, 1.2e-13, "float64", "ddim", "float32")
    assert not gen_figures.agrees_invert(7.2e-6, 1.2e-13, "float64", "edict", "float64")
