"""``benchmarks/bench_memory.py --quick`` runs and prints one JSON document.

Nothing here is timed; the memory check uses the deterministic tensor count
(torch allocation events with the noise precomputed).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_memory_quick():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--quick",
         "--steps", "8", "32"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    doc = json.loads(out.stdout)
    assert doc["arguments"] == {"quick": True, "steps": [8, 32], "rounds": 1, "clock": "cpu"}
    methods = {r["method"] for r in doc["results"]}
    assert methods == {"revsde_adjoint", "revsde_backprop", "torchsde_adjoint",
                       "torchsde_backprop", "revsde_adjoint_interval",
                       "revsde_backprop_interval"}
    for r in doc["results"]:
        assert r["time_s"] > 0 and r["peak_tensor_mb"] > 0
    mem = {(r["method"], r["steps"]): r["peak_tensor_mb_own"] for r in doc["results"]}
    # The adjoint's own memory does not grow with the steps; backprop's does.
    assert mem["revsde_adjoint", 32] <= 1.01 * mem["revsde_adjoint", 8]
    assert mem["revsde_backprop", 32] > 1.5 * mem["revsde_backprop", 8]
    # With its default noise too: the grid holds one chunk (8 cells) at any step count.
    cold = {(r["method"], r["steps"]): r["peak_tensor_mb"] for r in doc["results"]}
    assert cold["revsde_adjoint", 32] <= 1.05 * cold["revsde_adjoint", 8]
    assert {t["what"].split(" ")[0] for t in doc["targets"]} >= {"revsde_adjoint"}
    # Timing: every (method, steps) timed once per round; the targets use the paired ratios.
    for r in doc["results"]:
        assert r["time_s_min"] <= r["time_s"]
    pair = doc["paired_time_ratios"]["revsde_adjoint/torchsde_adjoint.32"]
    t = {r["method"]: r["time_s"] for r in doc["results"] if r["steps"] == 32}
    assert pair["per_round"] == [pytest.approx(t["revsde_adjoint"] / t["torchsde_adjoint"])]
    assert pair["median"] == pair["per_round"][0]
    timed = [x for x in doc["targets"] if "time" in x["what"]]
    assert timed and all(x["measured"] > 0 for x in timed)
