"""The main job (examples/invert_image.py): JSON output, figure, picture files, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "invert_image.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=600)


def test_json_and_figure(tmp_path):
    fig = tmp_path / "f.png"
    done = _run("--size", "32", "--steps", "4", "8", "--dtype", "float32", "float64",
                "--json", "--figure", str(fig))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # exactly one JSON document
    assert doc["image"] == "astronaut" and doc["image_shape"] == [1, 3, 32, 32]
    assert doc["figure"] == str(fig) and fig.stat().st_size > 10_000
    rows = doc["results"]
    for d in ("float32", "float64"):
        for n in (4, 8):
            mine = [r for r in rows if r["dtype"] == d and r["rex_steps"] == n]
            rex = [r for r in mine if r["comparison"] == "reference"][0]
            assert rex["method"] == doc["rex_sampler"] and rex["steps"] == n
            assert rex["max_abs"] < (1e-6 if d == "float32" else 1e-12)
            for r in mine:  # every baseline at equal steps and at equal NFE (<= Rex's)
                assert r["steps"] == n or r["nfe"] <= rex["nfe"]
            ddim = [r for r in mine if r["method"] == "ddim"]
            assert {r["comparison"] for r in ddim} in ({"both"}, {"equal_steps", "equal_nfe"})
            assert min(r["max_abs"] for r in ddim) > 1e-3
            for m in ("edict", "bdia", "obelm"):
                assert all(r["max_abs"] < 1e-6 for r in mine if r["method"] == m)
            for r in mine:  # every method's fidelity against the run's converged encoding
                f = r["fidelity"]
                assert f["latent_max_abs"] >= f["latent_rms"] > 0
                assert {"std", "ks_statistic", "normaltest_p"} <= set(f["latent_stats"])
                assert f["regen_max_abs"] > 0 and len(f["latent_max_abs_per_picture"]) == 1
    ref = doc["reference"]
    assert ref["method"] == "ddim_richardson" and ref["steps"] == [100, 200]
    assert 0 < ref["error_estimate"] < 0.05


def test_picture_file_and_text_table(tmp_path):
    img = (np.linspace(0, 255, 48 * 40 * 3).reshape(48, 40, 3)).astype(np.uint8)
    path = tmp_path / "ramp.png"
    Image.fromarray(img).save(path)
    done = _run(str(path), "--steps", "3", "--dtype", "float64", "--methods", "rex", "edict",
                "--no-figure", "--reference-steps", "8")
    assert done.returncode == 0, done.stderr
    assert "edict" in done.stdout and "rev_heun_exp" in done.stdout and "ddim" not in done.stdout
    assert "latent err" in done.stdout and "converged encoding" in done.stdout
    assert "40x48x3" in done.stdout


def test_bad_input():
    for args, msg in ((["missing.png"], "no picture"), (["--steps", "1"], "integers >= 2")):
        done = _run(*args, "--no-figure")
        assert done.returncode == 2 and msg in done.stderr
