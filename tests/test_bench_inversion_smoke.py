"""Smoke test of benchmarks/bench_inversion.py --quick: one JSON document, sane numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inversion.py"


@pytest.fixture(scope="module")
def doc():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # exactly one JSON document on stdout


def test_document_shape(doc):
    assert doc["benchmark"] == "inversion" and doc["quick"] is True
    assert doc["pictures"] == ["astronaut", "coffee"] and doc["picture_shape"] == [3, 8, 8]
    methods = {r["method"] for r in doc["rows"]}
    assert methods == {"rex_euler", "rev_heun_sde", "rex_em", "ddim", "edict", "bdia", "obelm"}
    assert {r["network_dtype"] for r in doc["rows"]} == {"float32", "float64"}
    for r in doc["rows"]:
        assert r["seconds"] > 0 and r["nfe"] > 0 and len(r["max_abs_per_picture"]) == 2
        assert r["median_abs"] <= r["max_abs"] and r["state_dtype"] == "float64"
    assert set(doc["summary"]) == {"float32", "float64"}


def test_baselines_at_equal_steps_and_equal_nfe(doc):
    ref = {r["network_dtype"]: r for r in doc["rows"] if r["comparison"] == "reference"}
    for r in doc["rows"]:
        if r["comparison"] == "equal_steps":
            assert r["steps"] == 10
        if r["comparison"] == "equal_nfe":
            budget = ref[r["network_dtype"]]["nfe"]
            assert 0.9 * budget <= r["nfe"] <= budget, r
    n = 10
    want = {"ddim": 2 * n, "edict": 4 * n, "bdia": 2 * n - 1, "obelm": 2 * n - 1}
    for r in doc["rows"]:
        if r["comparison"] == "equal_steps":
            assert r["nfe"] == want[r["method"]], r


def test_exact_samplers_hold_the_bounds_and_beat_ddim(doc):
    s = doc["summary"]
    assert s["float32"]["over_bound"] == [] and s["float32"]["bound"] == 1e-6
    assert "rex_euler" in s["float64"]["within_bound"]
    ddim = min(r["max_abs"] for r in doc["rows"] if r["method"] == "ddim")
    assert ddim > 1e-3
    for r in doc["rows"]:
        if r["method"] in ("edict", "bdia", "obelm"):
            assert r["max_abs"] < 1e-6


def test_fidelity_section(doc):
    """--quick: the default, the old default, DDIM inversion and EDICT at 10 encode NFE,
    against a (small) converged reference."""
    fid = doc["fidelity"]
    rows = fid["rows"]
    assert {(r["method"], r["case"]) for r in rows} == {
        ("rev_heun_exp", "ode_x0"), ("rex_euler", "ode_x0"), ("ddim", None), ("edict", None)}
    for r in rows:
        assert r["budget"] == 10 and r["encode_nfe"] <= 10
        assert len(r["latent_max_abs_per_picture"]) == 2
        assert r["latent_max_abs"] >= r["latent_rms"] > 0 and r["regen_max_abs"] > 0
        assert r["exact"] == (r["method"] != "ddim")
    ref = fid["reference"]
    assert ref["steps"] == [16, 32] and set(ref["convergence"]) == {
        "ddim_8_vs_16", "ddim_16_vs_32", "richardson_8_16_vs_16_32"}
    s = fid["summary"]["10"]
    assert s["default"]["method"] == fid["default"]["sampler"] == "rev_heun_exp"
    old = next(r for r in rows if r["method"] == "rex_euler")
    assert s["default"]["latent_max_abs"] < old["latent_max_abs"] / 5
