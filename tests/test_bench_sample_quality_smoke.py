"""Smoke test: ``benchmarks/bench_sample_quality.py --quick`` prints one JSON document."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sample_quality.py"


def test_quick_run_prints_one_json_document():
    cmd = [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--samples", "500",
           "--samplers", "dpmpp_2m", "ddim", "rex_rk4", "rev_heun", "rex_em"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    doc = json.loads(out.stdout)
    assert doc["benchmark"] == "sample_quality" and doc["quick"] is True
    assert set(doc["problems"]) == {"mixture_2d", "mixture_16d"}
    for prob in doc["problems"].values():
        assert prob["floor_sw2"] > 0
        rows = prob["results"]
        assert {r["sampler"] for r in rows} == {"dpmpp_2m", "ddim", "rex_rk4", "rev_heun",
                                                "rex_em"}
        for r in rows:
            if r["skipped"]:
                assert r["steps"] < 1
                continue
            assert r["nfe"] <= r["nfe_budget"] and r["sw2"] > 0
        for t in prob["target"].values():
            assert isinstance(t["within_10pct"], bool)
            assert t["ratio"] == t["best_reversible_sw2"] / t["dpmpp_2m_sw2"]
            assert "rev_heun" in t["rev_heun"]
