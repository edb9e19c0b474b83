"""Dataset inversion (revsde.app.dataset): one latents file per picture and a manifest,
resumable, and the same files from one process and from a 2-process torchrun job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from revsde.app.dataset import DatasetError, invert_dataset, list_pictures
from revsde.brownian import key_of
from revsde.diffusion import Latents, decode, pretrained

ROOT = Path(__file__).resolve().parents[1]
JOB = dict(sampler="rex_em", steps=2, seed=3, max_side=12, batch=2, progress=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    (d / "sub").mkdir()
    for name in ("a.png", "b.png", "sub/c.png"):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(d / name)
    (d / "notes.txt").write_text("not a picture")
    return d


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "job.json"}


@pytest.fixture(scope="module")
def one_process(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    manifest = invert_dataset(folder, out, **JOB)
    return out, manifest


def test_one_file_per_picture_and_a_manifest(folder, one_process):
    out, manifest = one_process
    assert list_pictures(folder) == ["a.png", "b.png", "sub/c.png"]
    assert manifest["complete"] and manifest["count"] == 3
    rec = {r["picture"]: r for r in manifest["pictures"]}
    assert rec["sub/c.png"]["key"] == key_of("sub/c.png")
    assert json.loads((out / "manifest.json").read_text()) == manifest
    model = pretrained("small-unet")
    lat = Latents.load(out / "latents" / "sub" / "c.png.pt")
    assert lat.keys == [key_of("sub/c.png")] and lat.run["mode"] == "reproducible"
    r = rec["sub/c.png"]
    assert r["roundtrip_error"] == lat.verify_error < 1e-4
    assert {"latent_std", "latent_ks", "fingerprint"} <= set(r)
    assert decode(model, lat).shape == (1, 3, 12, 12)


def test_resume_finishes_with_the_same_files(folder, one_process, tmp_path):
    out, _ = one_process
    part = invert_dataset(folder, tmp_path, limit=1, **JOB)  # "killed" after one picture
    assert not part["complete"] and part["missing"] == ["b.png", "sub/c.png"]
    first = tmp_path / "latents" / "a.png.pt"
    stamp = first.stat().st_mtime_ns
    (tmp_path / "latents" / "b.png.pt.tmp-99").write_bytes(b"partial")  # a killed write
    invert_dataset(folder, tmp_path, **JOB)
    assert first.stat().st_mtime_ns == stamp  # a finished picture is not redone
    assert _files(tmp_path) == _files(out)
    with pytest.raises(DatasetError, match="differs in steps"):
        invert_dataset(folder, tmp_path, **{**JOB, "steps": 3})


def test_torchrun_two_processes_give_the_same_files(folder, one_process, tmp_path):
    out, _ = one_process
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "revsde.app.dataset", str(folder), "--out", str(tmp_path), "--sampler",
           JOB["sampler"], "--steps", str(JOB["steps"]), "--seed", str(JOB["seed"]),
           "--size", str(JOB["max_side"]), "--batch", "2", "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["pictures"] == 3
    assert _files(tmp_path) == _files(out)


def test_cli_dispatches_a_folder(folder, tmp_path, capsys):
    from revsde.cli import main

    code = main(["invert", str(folder), "--out", str(tmp_path), "--steps", "2", "--size", "12",
                 "--sampler", "rex_euler", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip())["pictures"] == 3
    assert (tmp_path / "latents" / "sub" / "c.png.pt").is_file()


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="no pictures"):
        invert_dataset(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="not a folder"):
        invert_dataset(tmp_path / "nope", tmp_path / "out", progress=False)
    assert torch.get_num_threads() >= 1
