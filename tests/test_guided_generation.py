"""examples/guided_generation.py runs end to end in a tiny configuration."""

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guided_generation.py"


@pytest.mark.slow
def test_guided_generation_tiny(tmp_path):
    spec = importlib.util.spec_from_file_location("guided_generation", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--iters", "1", "--steps", "3", "--batch", "2", "--out", str(tmp_path),
                     "--methods", "greedy", "adjointdeis-2m", "reversible"]) == 0
    out = json.loads((tmp_path / "guided_generation.json").read_text())
    assert (tmp_path / "guided_generation.png").stat().st_size > 10_000
    for task in ("classifier", "low-res"):
        res = out["results"][task]
        assert set(res) == {"greedy", "adjointdeis-2m", "reversible"}
        for r in res.values():
            assert r["peak_tensor_mb"] > 0 and r["nfe_total"] > 0
            assert 0.0 <= r["success_rate"] <= 1.0
