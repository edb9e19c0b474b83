"""The main job (examples/invert_image.py): JSON output, figure, image files, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage")

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "invert_image.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=600)


def test_json_and_figure(tmp_path):
    fig = tmp_path / "f.png"
    done = _run("--steps", "4", "8", "--dtype", "float32", "float64", "--json",
                "--figure", str(fig))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # exactly one JSON document
    assert doc["image"] == "camera" and doc["image_shape"] == [1, 1, 32, 32]
    assert doc["figure"] == str(fig) and fig.stat().st_size > 10_000
    rows = {(r["method"], r["steps"], r["dtype"]): r for r in doc["results"]}
    assert len(rows) == 5 * 2 * 2
    for n in (4, 8):
        ddim = rows[("ddim", n, "float64")]["max_abs"]
        assert ddim > 1e-3
        for m in (doc["rex_sampler"], "edict", "bdia", "obelm"):
            assert rows[(m, n, "float64")]["max_abs"] < 1e-9
            assert rows[(m, n, "float32")]["max_abs"] < 0.1 * ddim


def test_image_file_and_text_table(tmp_path):
    from skimage.io import imsave

    img = (np.linspace(0, 255, 48 * 40).reshape(48, 40)).astype(np.uint8)
    path = tmp_path / "ramp.png"
    imsave(path, img)
    done = _run(str(path), "--steps", "3", "--dtype", "float64", "--methods", "rex", "edict",
                "--no-figure")
    assert done.returncode == 0, done.stderr
    assert "edict" in done.stdout and "rex_rk4" in done.stdout and "ddim" not in done.stdout


@pytest.mark.parametrize("args,msg", [
    (["missing.png"], "neither a bundled image"),
    (["--steps", "1"], "integers >= 2"),
])
def test_bad_input(args, msg):
    done = _run(*args, "--no-figure")
    assert done.returncode == 2 and msg in done.stderr
