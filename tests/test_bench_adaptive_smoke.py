"""``benchmarks/bench_adaptive.py --quick`` runs and prints one JSON document with its
three problems, the equal-error comparisons and the round trips (nothing is timed here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_adaptive_quick():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_adaptive.py"), "--quick"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    doc = json.loads(out.stdout)
    assert set(doc["problems"]) == {"ode", "sde", "diffusion"}
    for name, pb in doc["problems"].items():
        kinds = {p["kind"] for p in pb["points"]}
        assert kinds == {"fixed", "adaptive"}, name
        assert all(p["nfe"] > 0 and p["error"] >= 0 for p in pb["points"])
    for name in ("ode", "sde"):
        # the replayed grid comes back at round-off (grown over ~1500 steps by the
        # inverse's division by zeta); an inverse with its own controller comes back at the
        # tolerance's error (a solve that ran out of steps, or blew up, says so)
        done = [r for r in doc["problems"][name]["roundtrip"] if "failed" not in r]
        assert {r["method"] for r in done} >= {"mcf_bs3"}, name
        for r in done:
            assert r["replay_error"] <= 1e-11, (name, r)
            assert r["own_controller_error"] > 1e3 * r["replay_error"], (name, r)
    for r in doc["problems"]["diffusion"]["roundtrip"]:
        assert r["replay_bit_for_bit"] and r["replay_error"] == 0.0
        assert r["own_controller_error"] > 1e-6
    assert all(t["nfe"] > 0 for t in doc["problems"]["sde"]["torchsde_adaptive"])
    batch = doc["problems"]["diffusion"]["batch"]
    assert len(batch["accepted_steps_alone"]) == 2
