"""examples/guided_generation.py runs end to end in a tiny configuration, and the tables of
docs/guided-generation.md are what it renders from its saved full run."""

import json
from pathlib import Path

import pytest
from script_util import load_script

from revsde.docblocks import read_block

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guided_generation.py"

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def mod():
    return load_script(EXAMPLE)


@pytest.mark.slow
def test_guided_generation_tiny(tmp_path, mod):
    assert mod.main(["--iters", "1", "--steps", "3", "--batch", "2", "--out", str(tmp_path),
                     "--methods", "greedy", "adjointdeis-2m", "reversible"]) == 0
    out = json.loads((tmp_path / "guided_generation.json").read_text())
    assert (tmp_path / "guided_generation.png").stat().st_size > 10_000
    for task in ("classifier", "low-res"):
        res = out["results"][task]
        assert set(res) == {"greedy", "adjointdeis-2m", "reversible"}
        for r in res.values():
            assert r["peak_tensor_mb"] > 0 and r["nfe_total"] > 0
            for key in ("success_rate", "judge_success_rate", "confirmed_rate"):
                assert 0.0 <= r[key] <= 1.0
            assert r["confirmed_rate"] <= min(r["success_rate"], r["judge_success_rate"])
    q = out["quality"]
    assert q["judge_real"] > 0.9 and q["classifier_real"] > 0.9
    mod.render(out)  # a tiny run renders too


def test_docs_tables_are_rendered_from_the_saved_full_run(mod):
    data = json.loads(mod.DOCS_DATA.read_text())
    assert read_block(mod.DOCS_PAGE, mod.BLOCK) == mod.render(data), (
        "run `python examples/guided_generation.py --render` (or --write-docs to re-measure)")
    # the saved run is the example's defaults, with every registered gradient method
    defaults = {"iters": 25, "steps": 20, "batch": 8, "sampler": "rev_heun", "seed": 0}
    assert {k: data[k] for k in defaults} == defaults
    assert data["methods"] == list(mod.METHODS)
    for res in data["results"].values():
        assert list(res) == list(mod.METHODS)
    assert mod.DOCS_IMG.stat().st_size > 10_000


def test_memory_table_is_rendered_from_the_saved_benchmark():
    bench = load_script(EXAMPLE.parents[1] / "benchmarks" / "bench_gradients.py")
    data = json.loads(bench.DOCS_DATA.read_text())
    assert read_block(bench.DOCS_PAGE, bench.BLOCK) == bench.render(data), (
        "run `python benchmarks/bench_gradients.py --render` (or --write-docs to re-measure)")
    assert not data["quick"] and {r["method"] for r in data["results"]} == set(bench.METHODS)
    # the claim the page makes in words: the O(1) methods' memory is flat in the steps and
    # backprop's grows with them
    ratio = data["summary"]["memory_ratio_last_over_first"]
    steps = sorted({r["steps"] for r in data["results"]})
    assert all(ratio[m] <= 1.1 for m in bench.O1)
    assert ratio["backprop"] > 0.5 * steps[-1] / steps[0]
