"""A new user's first hour with the `revsde` command and the examples.

Each case is run in a subprocess, as a user runs it, on the command's defaults
(plus the options that make it short): it gives the right result, or a one-line
error that says what to change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pty_util import run_on_a_terminal

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
FAST = ("--size", "16", "--steps", "2", "--baselines")  # the shortest real run


def _run(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "revsde", *map(str, args)],
                          capture_output=True, text=True, env=env or ENV, cwd=cwd,
                          timeout=timeout)


def _script(name, *args, cwd=None, pre="pass", timeout=600):
    """examples/NAME as `python examples/NAME ...`, after the Python lines ``pre``."""
    path = ROOT / "examples" / name
    code = (f"import sys, runpy; {pre}; sys.argv = [{str(path)!r}, *{list(map(str, args))!r}]; "
            f"runpy.run_path({str(path)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout)


def _one_line_error(done, *parts):
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for p in parts:
        assert p in err, (p, err)
    return err


def _on_a_terminal(*args, cwd):
    """Run with stderr on a pseudo-terminal; ``(returncode, stdout, what the terminal got)``."""
    done = run_on_a_terminal([sys.executable, "-m", "revsde", *map(str, args)], env=ENV, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def _bright_jpeg(path, h=24, w=40):
    y, x = np.mgrid[0:h, 0:w]
    ramp = 140 + 110 * (x / (w - 1) + y / (h - 1)) / 2  # every pixel in [140, 250]
    Image.fromarray(np.stack([ramp, ramp[::-1], np.full_like(ramp, 200)], -1).astype(np.uint8)
                    ).save(path, quality=95)
    return path


# -- their own pictures -------------------------------------------------------------------------
def test_invert_a_bright_photograph(tmp_path):
    """Every pixel >= 128 (snow, a scanned page) was refused as 'no negative value'."""
    path = _bright_jpeg(tmp_path / "snow.jpg")
    assert np.asarray(Image.open(path)).min() >= 128
    done = _run("invert", path, "--steps", "3", "--baselines", "edict", "--no-figure", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["image_shape"] == [1, 3, 24, 40]
    assert all(r["max_abs"] <= 1e-6 for r in doc["results"])


# -- progress -----------------------------------------------------------------------------------
def test_invert_shows_progress_on_a_terminal_only(tmp_path):
    code, out, term = _on_a_terminal("invert", *FAST, "edict", "--no-figure", cwd=tmp_path)
    assert code == 0, term
    assert "invert" in term and "NFE" in term and "%|" in term, term  # a tqdm bar
    assert "rev_heun_exp" in out and "%|" not in out  # the table on stdout, no bar in it
    code, out, term = _on_a_terminal("invert", *FAST, "--no-figure", "--json", cwd=tmp_path)
    assert code == 0 and "%|" not in term and json.loads(out)  # --json: no bar
    done = _run("invert", *FAST, "--no-figure")  # stderr not a terminal: no bar
    assert done.returncode == 0 and done.stderr == "", done.stderr


# -- limits before allocating -------------------------------------------------------------------
def test_a_billion_steps_is_refused_at_once():
    t0 = time.perf_counter()
    done = _run("invert", "--steps", "1000000000", timeout=120)
    err = _one_line_error(done, "1,000,000,000 steps", "limit of 10,000", "--steps 10,000 or "
                          "fewer")
    assert "GB" in err  # what it would need
    assert time.perf_counter() - t0 < 60


def test_a_run_past_the_memory_limit_is_refused(tmp_path):
    _one_line_error(_run("invert", "--max-memory", "0.01", "--no-figure"),
                    "256x256 picture would need about", "--size", "--max-memory")
    _one_line_error(_run("invert", "--max-memory", "-1"), "--max-memory must be a positive")


# -- options: refused or honoured, never ignored ------------------------------------------------
def test_a_non_reversible_sampler_is_refused():
    err = _one_line_error(_run("invert", "--sampler", "ddim"), "'ddim' is not a reversible",
                          "--baselines")
    assert "rex_euler" in err and "rev_heun" in err  # the list of the reversible ones
    _one_line_error(_run("invert", "--sampler", "dpmpp_2m"), "not a reversible sampler")


def test_model_folder_options_are_refused_not_ignored(tmp_path):
    """With --model DIR, the options of the shipped-model report are refused before loading."""
    (tmp_path / "model").mkdir()
    photo = _bright_jpeg(tmp_path / "photo.jpg")
    for flag in (["--baselines", "edict"], ["--baselines"], ["--figure", "f.png"],
                 ["--max-memory", "4"], ["--reference-steps", "8"]):
        _one_line_error(_run("invert", photo, "--model", tmp_path / "model", *flag),
                        f"{flag[0]} works with the shipped models only")


def test_default_sampler_is_the_one_the_help_names():
    from revsde.app.demo import DEFAULT_SAMPLER
    from revsde.cli import build_parser

    helptext = _run("invert", "--help").stdout
    assert f"default {DEFAULT_SAMPLER}" in " ".join(helptext.split())
    sub = build_parser()._subparsers._group_actions[0].choices["invert"]  # type: ignore
    assert sub.get_default("sampler") is None  # resolved to DEFAULT_SAMPLER for every model


def test_a_picture_given_as_the_model():
    photo = ROOT / "revsde" / "app" / "pictures" / "coffee.jpg"
    _one_line_error(_run("invert", "--model", photo), "is a file, not a model",
                    "revsde invert PICTURE --model MODEL")
    assert "does not exist" not in _run("invert", "--model", photo).stderr


def test_figure_without_a_suffix_is_written_where_it_says(tmp_path):
    done = _run("invert", *FAST, "--figure", "noext", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    said = done.stdout.rsplit("figure: ", 1)[1].strip()
    assert said == "noext.png" and (tmp_path / said).stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noext.png"]
    _one_line_error(_run("invert", "--figure", "f.xyz"), "cannot write a figure as '.xyz'")


@pytest.mark.parametrize("tol", ["-1", "0", "nan", "inf"])
def test_convergence_refuses_a_bad_tolerance(tol):
    _one_line_error(_run("convergence", "--quick", "--tol", tol), "--tol must be a positive")


def test_every_option_has_help_and_there_is_a_version():
    from revsde.cli import build_parser

    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices  # type: ignore
    for name, sub in subs.items():
        for action in sub._actions:
            assert action.help, f"revsde {name} {action.option_strings or action.dest}: no help"
    bench = _run("bench", "--help").stdout
    assert "--quick" in bench and "smoke run" in bench
    invert = " ".join(_run("invert", "--help").stdout.split())
    assert "--no-figure draw no figure" in invert and "--figure FILE where to draw" in invert
    import revsde

    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"revsde {revsde.__version__}"


# -- revsde bench after pip install -------------------------------------------------------------
@pytest.fixture
def installed(tmp_path):
    """The package alone, as `pip install` puts it in site-packages (no benchmarks/)."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "revsde", site / "revsde",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    return {**ENV, "PYTHONPATH": str(site)}, home


def test_bench_after_pip_install_says_where_the_scripts_are(installed):
    env, home = installed
    names = sorted(p.stem[len("bench_"):] for p in (ROOT / "benchmarks").glob("bench_*.py"))
    done = _run("bench", "--json", env=env, cwd=home)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["benchmarks"] == names  # all of them, not 4 of 7
    assert doc["runnable"] == [] and doc["available"] is False and doc["folder"] is None
    text = _run("bench", env=env, cwd=home)
    assert text.returncode == 0
    assert "none can run here" in text.stdout and "source repository" in text.stdout
    assert "site-packages" not in text.stdout
    err = _one_line_error(_run("bench", "forward", env=env, cwd=home), "source repository",
                          "--dir")
    assert "site-packages" not in err
    listed = json.loads(_run("bench", "--json", "--dir", ROOT / "benchmarks", env=env,
                             cwd=home).stdout)
    assert listed["runnable"] == names


# -- the examples -------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["guided_generation.py", "train_digits.py"])
def test_examples_without_scikit_learn_say_what_to_install(script, tmp_path):
    done = _script(script, cwd=tmp_path, pre="sys.modules['sklearn'] = None")
    assert done.returncode == 1, done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "pip install scikit-learn" in err
    assert list(tmp_path.iterdir()) == []


def test_guided_example_prints_no_profiler_lines(tmp_path):
    done = _script("guided_generation.py", "--iters", "1", "--steps", "2", "--batch", "1",
                   "--methods", "reversible", "backprop", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no "profiler_start" lines from the C++ profiler
    assert json.loads(done.stdout)["results"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_training_scripts_write_to_the_current_directory(tmp_path):
    """Their defaults never overwrite the weights shipped inside the package."""
    weights = ROOT / "revsde" / "diffusion" / "pretrained" / "weights"
    before = {p.name: _digest(p) for p in weights.glob("*.pt")}
    done = _script("train_small_model.py", "--steps", "1", "--batch", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == "small_unet.pt"
    assert (tmp_path / "small_unet.pt").stat().st_size > 10_000
    done = _script("train_digits.py", "--steps", "1", "--classifier-steps", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"small_unet.pt", "digits_unet.pt",
                                                     "digits_classifier.pt"}
    assert {p.name: _digest(p) for p in weights.glob("*.pt")} == before


@pytest.mark.slow
def test_model_folder_honours_state_dtype_and_the_default_sampler(tmp_path):
    """--model DIR: the same default sampler as the help (rev_heun_exp), --state-dtype used."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler
    from diffusers_cases import tiny_unet

    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(prediction_type="v_prediction")
                 ).save_pretrained(tmp_path / "model")
    g = torch.Generator().manual_seed(0)
    Image.fromarray((torch.rand(16, 20, 3, generator=g) * 255).to(torch.uint8).numpy()).save(
        tmp_path / "photo.png")
    bright = _bright_jpeg(tmp_path / "snow.jpg", 16, 20)
    for picture, state in ((tmp_path / "photo.png", "float32"), (bright, "float64")):
        done = _run("invert", picture, "--model", tmp_path / "model", "--steps", "3",
                    "--state-dtype", state, "--json")
        assert done.returncode == 0, done.stderr
        rep = json.loads(done.stdout)
        assert rep["sampler"] == "rev_heun_exp" and rep["state_dtype"] == state
        assert rep["pixel_error"] <= 1e-5


def test_reference_steps_are_checked_and_zero_skips_the_fidelity(tmp_path):
    _one_line_error(_run("invert", *FAST, "--reference-steps", "3"),
                    "--reference-steps must be 0", "at least 4")
    done = _run("invert", *FAST, "--no-figure", "--json", "--reference-steps", "0",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["reference"] is None and all("fidelity" not in r for r in doc["results"])
