"""Smoke test of benchmarks/bench_reproducible.py --quick: one JSON document, sane numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reproducible.py"


def test_quick_document():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert doc["benchmark"] == "reproducible" and doc["picture_shape"] == [3, 16, 16]
    for row in doc["cost"]:
        assert row["slowdown"] > 0 and row["reproducible"]["encode_s_per_picture"] > 0
    for row in doc["table"]:
        assert row["nothing"] < 1e-4
        if row["mode"] == "reproducible":  # the bits do not depend on batch or threads
            assert row["threads_2"] == 0 and row["alone_vs_batch"] == 0
