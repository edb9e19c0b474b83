"""benchmarks/bench_editing.py: a --quick smoke run (one JSON document, sane numbers), and
docs/howto-edit.md's table is what the script renders from docs/data/editing.json."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from script_util import load_script

from revsde.docblocks import read_block

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_editing.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


def test_quick_run_prints_one_sane_document():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["benchmark"] == "editing" and doc["quick"] is True and doc["digits"] == 10
    assert {r["method"] for r in doc["rows"]} == {"rev_heun (edit's default)", "ddim"}
    for r in doc["rows"]:
        assert r["edits"] == 30 and 0 <= r["reached_judge"] <= 1 and r["nfe"] > 0
        assert -1 <= r["ssim"] <= 1 and r["pixel_mae"] > 0 and r["latent_rel_err"] > 0
    exact = [r for r in doc["rows"] if r["sampler"] == "rev_heun"]
    assert all(r["reconstruction_max"] < 1e-6 for r in exact)
    assert all(r["reconstruction_max"] > 1e-3 for r in doc["rows"] if r["sampler"] == "ddim")
    main = [r for r in doc["rows"] if "pair_success" in r]
    assert main and all(len(r["pair_success"]) == 10 for r in main)


def test_docs_table_is_rendered_from_the_saved_measurement(bench):
    data = json.loads(bench.DOCS_DATA.read_text())
    assert read_block(bench.DOCS_PAGE, bench.BLOCK) == bench.render(data), (
        "run `python benchmarks/bench_editing.py --render`")
    assert data["digits"] == 200 and not data["quick"]
    main = [r for r in data["rows"] if "pair_success" in r]
    assert main and min(r["pair_min_edits"] for r in main) >= 1  # every pair was edited
    assert 1_000 < bench.DOCS_IMG.stat().st_size < 200_000
