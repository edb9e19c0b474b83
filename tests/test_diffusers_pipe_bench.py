"""Smoke test of benchmarks/bench_flow_inversion.py --quick, and the committed table of its
full run in docs/howto-diffusers.md (docs/scripts/gen_flow_bench_table.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from revsde.docblocks import read_block

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_flow_inversion.py"


def test_quick_run_prints_one_document_with_exact_revsde_rows():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert doc["benchmark"] == "flow_inversion" and doc["quick"] is True
    assert "RF-Inversion" in doc["rf_inversion"]
    naive = {r["steps"]: r for r in doc["rows"] if r["method"] == "naive_euler"}
    assert sorted(naive) == [2, 4] and all(r["nfe_round_trip"] == 2 * n
                                           for n, r in naive.items())
    assert all(r["max_abs"] > 1e-3 for r in naive.values())  # the naive inversion drifts
    # ... at first order, as the docs' reading of the full run says (and checks here)
    G = _gen()
    for key in ("max_abs", "rms"):
        lo, hi = G.FIRST_ORDER_BAND
        assert lo < G.per_doubling(naive[2], naive[4], key) < hi, (key, naive)
    ours = [r for r in doc["rows"] if r["method"] != "naive_euler"]
    assert {r["method"] for r in ours} >= {"rex_euler", "rev_heun"}
    for r in ours:  # exact, at no more network evaluations than the naive round trip
        assert r["bit_exact"] and r["max_abs"] == 0.0
        assert r["nfe_round_trip"] <= r["equal_nfe_to"]["nfe_round_trip"]
        assert r["seconds_round_trip"] > 0


def _gen():
    sys.path.insert(0, str(ROOT / "docs" / "scripts"))
    try:
        import gen_flow_bench_table as G
    finally:
        sys.path.pop(0)
    return G


def test_committed_bench_table_is_the_render_of_the_saved_data():
    G = _gen()
    doc = json.loads(G.DATA.read_text())
    assert doc["benchmark"] == "flow_inversion" and doc["quick"] is False
    assert doc["transformer"]["parameters"] > 2e8  # a realistic width
    assert read_block(G.PAGE, G.BLOCK, end=G.END) == G.render(doc), (
        "run `python docs/scripts/gen_flow_bench_table.py --render`")
    # the saved naive rows are first order too (what the rendered reading says)
    naive = sorted((r for r in doc["rows"] if r["method"] == "naive_euler"),
                   key=lambda r: r["steps"])
    assert len(naive) >= 2
    for key in ("max_abs", "rms"):
        assert G.FIRST_ORDER_BAND[0] < G.per_doubling(naive[0], naive[-1], key) \
            < G.FIRST_ORDER_BAND[1]


@pytest.mark.parametrize("budget,per_step,fixed,expected", [(8, 2, 2, 3), (16, 2, 1, 7),
                                                           (4, 8, 8, 1)])
def test_equal_nfe_steps(budget, per_step, fixed, expected):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench_flow_inversion as B
    finally:
        sys.path.pop(0)
    assert B.steps_for(budget, per_step, fixed) == expected
