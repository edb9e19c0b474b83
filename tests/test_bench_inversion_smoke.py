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
    assert doc["images"] == ["camera"] and doc["steps"] == [5, 10]
    methods = {r["method"] for r in doc["rows"]}
    assert methods == {doc["rex_sampler"], "ddim", "edict", "bdia", "bdia_gamma0.5", "obelm"}
    assert {(r["steps"], r["dtype"]) for r in doc["rows"]} == {
        (n, d) for n in (5, 10) for d in ("float32", "float64")}
    assert set(doc["anchor_sd15_fp32"]) == {"ddim", "edict", "bdia", "obelm", "rex"}
    for r in doc["rows"]:
        assert r["seconds"] > 0 and r["nfe"] > 0


def test_network_evaluations(doc):
    for r in doc["rows"]:
        n = r["steps"]
        want = {"ddim": 2 * n, "edict": 4 * n, "bdia": 2 * n - 1, "obelm": 2 * n - 1}
        if r["family"] in want:
            assert r["nfe"] == want[r["family"]], r


def test_exact_methods_beat_ddim_by_orders_of_magnitude(doc):
    rows = {(r["method"], r["steps"], r["dtype"]): r for r in doc["rows"]}
    exact = [doc["rex_sampler"], "edict", "bdia", "obelm"]
    for n in (5, 10):
        ddim64 = rows[("ddim", n, "float64")]["mse"]
        assert ddim64 > 1e-6  # visibly inexact on a trained model
        for m in exact:
            assert rows[(m, n, "float64")]["mse"] < 1e-20
            assert rows[(m, n, "float32")]["mse"] < 1e-3 * rows[("ddim", n, "float32")]["mse"]
