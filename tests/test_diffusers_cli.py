"""`revsde invert IMAGE --model DIR` on folders saved with save_pretrained (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler
from diffusers_cases import tiny_unet

ENV = dict(os.environ, OMP_NUM_THREADS="1")
pytestmark = pytest.mark.slow  # three fresh interpreters importing torch and diffusers


def _run(*args):
    return subprocess.run([sys.executable, "-m", "revsde", "invert", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("cli")
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(prediction_type="v_prediction")
                 ).save_pretrained(root / "model")
    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(20, 28, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(arr).save(root / "photo.png")
    return root


def test_invert_with_a_saved_diffusers_folder(folder):
    done = _run(folder / "photo.png", "--model", folder / "model", "--steps", "3",
                "--sampler", "rev_heun_sde", "--json")
    assert done.returncode == 0, done.stderr
    rep = json.loads(done.stdout)
    assert rep["unet"] == "UNet2DModel" and rep["size"] == [20, 28] and rep["channels"] == 3
    assert rep["sampler"] == "rev_heun_sde" and rep["steps"] == 3
    assert rep["pixel_error"] <= 1e-6  # network in float32, exact round trip


def test_invert_refuses_a_missing_or_incomplete_folder(folder, tmp_path):
    done = _run(folder / "photo.png", "--model", tmp_path / "nowhere")
    assert done.returncode != 0 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "half" / "unet").mkdir(parents=True)
    done = _run(folder / "photo.png", "--model", tmp_path / "half")
    assert done.returncode != 0 and "incomplete diffusers folder" in done.stderr
    assert "Traceback" not in done.stderr
