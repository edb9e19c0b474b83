"""Smoke test: ``benchmarks/bench_sample_quality.py --quick`` prints one JSON document."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sample_quality.py"


def test_quick_run_prints_one_json_document():
    cmd = [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--samples", "500",
           "--seeds", "0", "1", "--grids", "uniform_lambda", "uniform_t",
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
        assert {(r["seed"], r["grid"]) for r in rows} == {
            (s, g) for s in (0, 1) for g in ("uniform_lambda", "uniform_t")}
        # the summary averages the two seeds of each (sampler, budget, grid)
        for m in prob["summary"]:
            runs = [r["sw2"] for r in rows if (r["sampler"], r["nfe_budget"], r["grid"])
                    == (m["sampler"], m["nfe_budget"], m["grid"])]
            assert m["sw2"] == sum(runs) / 2 and m["sw2_per_seed"] == runs
        for t in prob["target"].values():
            assert isinstance(t["within_10pct"], bool)
            assert t["ratio"] == t["best_reversible_sw2"] / t["dpmpp_2m_sw2"]
            assert len(t["ratio_per_seed"]) == 2
            assert set(t["same_grid"]) == {"uniform_lambda", "uniform_t"}
            assert any(k.startswith("rev_heun ") for k in t["rev_heun"])


def test_every_sampler_runs_within_the_nfe_budget():
    """The configurations are the fixed-step samplers: an adaptive one picks its own steps
    (about 20x the budget at 10 NFE), which would win an equal-NFE comparison unfairly."""
    import importlib.util

    from revsde.diffusion import list_samplers

    spec = importlib.util.spec_from_file_location("bench_sample_quality", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    adaptive = {e["name"] for e in list_samplers() if e.get("adaptive")}
    names = {name for _, name, _ in bench.configurations()}
    assert adaptive and not adaptive & names
    assert {e["name"] for e in list_samplers()} - adaptive <= names
