"""bench_diffusers.py --quick: one JSON document; DDIM inversion and revsde at equal NFE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_diffusers.py"


def test_bench_diffusers_quick():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    rows = {r["method"]: r for r in doc["results"]}
    ddim = rows.pop("diffusers DDIMInverseScheduler + DDIMScheduler")
    assert ddim["nfe_per_direction"] == doc["steps"] == 4
    assert {"revsde rev_heun", "revsde rev_heun_exp", "revsde rex_euler",
            "revsde rev_heun_sde", "revsde rex_em", "revsde rev_heun exact mode"} <= set(rows)
    for r in rows.values():  # the required bound; DDIM inversion does not come back
        assert r["max_abs_error"] <= 1e-6 < ddim["max_abs_error"]
    assert rows["revsde rev_heun exact mode"]["bit_exact"]
    for r in [ddim, *rows.values()]:
        assert r["nfe_per_direction"] == 4
        assert r["seconds_per_roundtrip"] > 0 and r["max_abs_error"] >= 0 and r["mse"] >= 0
