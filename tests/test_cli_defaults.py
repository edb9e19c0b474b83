"""Every `revsde` subcommand as a user meets it: defaults, one JSON document, one-line errors.

Run in subprocesses (``python -m revsde``), as a shell would.  ``revsde
convergence`` with its defaults is run by tests/test_convergence.py.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def _run(*args, cwd=None, timeout=600, pre=""):
    code = (f"{pre}import sys; from revsde.cli import main; "
            f"sys.exit(main({list(args)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def _one_json(out: str):
    doc, end = json.JSONDecoder().raw_decode(out.strip())
    assert end == len(out.strip()), "more than one JSON document on stdout"
    return doc


@pytest.mark.parametrize("args", [["solvers"], ["bench"]])
def test_subcommand_defaults_and_json(args):
    text = _run(*args)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip()
    doc = _run(*args, "--json")
    assert doc.returncode == 0, doc.stderr
    _one_json(doc.stdout)


def test_bench_lists_the_benchmarks():
    doc = _one_json(_run("bench", "--json").stdout)
    assert {"inversion", "forward", "memory"} <= set(doc["benchmarks"])


@pytest.mark.slow
def test_invert_defaults_256_rgb(invert_defaults):
    """`revsde invert --json`: the packaged 256x256 RGB photograph, rev_heun_exp at 20 steps,
    float32; its latent is the picture's noise (the old default, rex_euler on ode_x0 at 10
    steps, gave std 3.4 and a max error of 7.2 against the converged encoding)."""
    # the defaults, with a cheaper converged reference than the default 100/200 steps
    # (the fidelity figures are then good to ~0.1; the old default's error was 7.2):
    # the run of tests/conftest.py, shared with the README's check
    done, tmp_path = invert_defaults
    assert done.returncode == 0, done.stderr
    doc = _one_json(done.stdout)
    assert doc["image"] == "astronaut" and doc["image_shape"] == [1, 3, 256, 256]
    assert (tmp_path / "out" / "invert.png").stat().st_size > 50_000
    rows = doc["results"]
    rex = [r for r in rows if r["comparison"] == "reference"]
    assert len(rex) == 1 and rex[0]["steps"] == 20 and rex[0]["dtype"] == "float32"
    assert rex[0]["method"] == doc["rex_sampler"] == "rev_heun_exp"
    assert rex[0]["max_abs"] <= 1e-6
    fid = rex[0]["fidelity"]
    ref_std = doc["reference"]["latent_std"]  # the picture's own noise: 0.82 for astronaut
    assert abs(fid["latent_stats"]["std"] - ref_std) < 0.1 and fid["latent_max_abs"] < 1.0
    assert doc["reference"]["steps"] == [32, 64] and doc["reference"]["error_estimate"] < 0.3
    ddim = [r for r in rows if r["method"] == "ddim" and r["comparison"] != "equal_steps"]
    assert fid["latent_max_abs"] < ddim[0]["fidelity"]["latent_max_abs"]
    for m in ("ddim", "edict", "bdia", "obelm"):  # every baseline at equal steps and NFE
        kinds = {r["comparison"] for r in rows if r["method"] == m}
        assert kinds in ({"both"}, {"equal_steps", "equal_nfe"})
        nfe = [r["nfe"] for r in rows if r["method"] == m and r["comparison"] != "equal_steps"]
        assert 0.9 * rex[0]["nfe"] <= nfe[0] <= rex[0]["nfe"]


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_invert_a_users_picture_keeps_size_and_colour(tmp_path, suffix):
    rng = np.random.default_rng(0)
    img = (rng.random((30, 44, 3)) * 255).astype(np.uint8)
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(img).save(path)
    done = _run("invert", str(path), "--baselines", "edict", "--no-figure", "--json")
    assert done.returncode == 0, done.stderr
    doc = _one_json(done.stdout)
    assert doc["image_shape"] == [1, 3, 30, 44]
    assert all(r["max_abs"] <= 1e-6 for r in doc["results"])
    capped = _one_json(_run("invert", str(path), "--size", "22", "--baselines",
                            "--no-figure", "--json").stdout)
    assert capped["image_shape"] == [1, 3, 15, 22]


def test_invert_without_scikit_image(tmp_path):
    """`pip install revsde` alone: packaged pictures and user files need only Pillow."""
    block = "import sys; sys.modules['skimage'] = None; "
    path = tmp_path / "gray.png"
    Image.fromarray((np.arange(24 * 20) % 251).astype(np.uint8).reshape(24, 20)).save(path)
    for args in (["--size", "24"], [str(path)]):
        done = _run("invert", *args, "--baselines", "--no-figure", "--json", pre=block)
        assert done.returncode == 0, done.stderr
    done = _run("invert", "camera", "--no-figure", pre=block)  # a scikit-image picture
    assert done.returncode == 2 and "needs scikit-image" in done.stderr


@pytest.mark.parametrize("what,msg", [
    ("garbage", "cannot read"), ("missing", "no picture"), ("folder", "is a folder"),
    ("empty", "cannot read"), ("size", "--size must be at least 4"),
])
def test_invert_bad_input_is_one_line(tmp_path, what, msg):
    path = tmp_path / "x.png"
    if what == "garbage":
        path.write_bytes(b"not a picture at all")
    elif what == "empty":
        path.write_bytes(b"")
    args = {"garbage": [str(path)], "empty": [str(path)], "missing": [str(path)],
            "folder": [str(tmp_path)], "size": ["--size", "2"]}[what]
    done = _run("invert", *args, "--no-figure")
    assert done.returncode == 2
    assert msg in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
