"""`revsde edit` as a user meets it: its defaults and a picture file with --json in
subprocesses (``python -m revsde``, as a shell would), and its one-line errors (in this
process: ``revsde.cli.main`` prints them and returns 2, as the command exits)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "revsde", "edit", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env=env)


def test_edit_works_on_its_defaults(tmp_path):
    done = _run(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # held-out digit 0 is a 1; the default target is 1 + 5 = 6
    assert "held-out digit 0: label 1 -> 6" in out
    assert "target reached: the independent judge reads 6" in out
    assert (tmp_path / "out" / "edit.png").stat().st_size > 2_000
    assert "figure: out/edit.png" in out


def test_edit_of_a_picture_file_with_json(tmp_path):
    from revsde.diffusion.pretrained.digits import digits_data

    x, y = digits_data(16, "test")
    # a held-out digit as a user's scan: dark ink on white paper, 64x64 pixels
    ink = ((1.0 - (x[5, 0].numpy() + 1.0) / 2.0) * 255).astype(np.uint8)
    Image.fromarray(ink).resize((64, 64), Image.NEAREST).save(tmp_path / "digit.png")
    src = int(y[5])
    done = _run("digit.png", "--source", str(src), "--target", str((src + 2) % 10),
                "--strength", "0.75", "--json", "--no-figure", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # exactly one JSON document
    assert doc["source"] == src and doc["target"] == (src + 2) % 10
    assert doc["steps_regenerated"] == 18 and doc["steps"] == 24 and doc["t_start"] < 1.0
    assert doc["reconstruction_error"] < 1e-6 and doc["figure"] is None
    assert doc["judge_reads_source"] == src  # the picture was read the right way round
    assert isinstance(doc["target_reached"], bool) and doc["nfe"] > 0


@pytest.mark.parametrize("args, message", [
    (["--strength", "2"], "--strength must be in (0, 1]"),
    (["--guidance-scale", "-1"], "--guidance-scale must be a number >= 0"),
    (["--digit", "400"], "--digit must be a held-out digit index 0..296"),
    (["--target", "12"], "--target must be a digit label 0..9"),
    (["nothing.png"], "is not a picture file"),
    (["--model", "small-unet", "--no-figure"], "takes no digit label"),
])
def test_edit_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    from revsde.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["edit", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revsde edit: error: ")
    assert message in lines[0]


def test_a_picture_file_needs_its_label(tmp_path, monkeypatch, capsys):
    from revsde.cli import main

    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "d.png")
    monkeypatch.chdir(tmp_path)
    assert main(["edit", "d.png", "--no-figure"]) == 2
    assert "needs --source LABEL" in capsys.readouterr().err
