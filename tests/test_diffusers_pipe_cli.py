"""``revsde invert IMAGE --model DIR --prompt ...`` on saved tiny pipelines, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

import test_diffusers_pipe_cases as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _png(path):
    from PIL import Image

    Image.new("RGB", (20, 14), (200, 40, 90)).save(path)
    return path


def _run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "revsde", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_invert_a_saved_pipeline_folder_with_a_prompt(tmp_path, capsys):
    from revsde.cli import main

    C.pipeline("sd").save_pretrained(tmp_path / "pipe")
    image = _png(tmp_path / "red.png")
    out = _run("invert", str(image), "--model", str(tmp_path / "pipe"), "--prompt", "red cat",
               "--guidance-scale", "6", "--steps", "4", "--no-progress", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["prompt"] == "red cat" and report["latent_diffusion"]
    assert report["latent_error"] == 0.0  # the exact inversion, bit for bit
    assert report["pixel_error"] > 0 and report["autoencoder_error"] is not None
    assert report["size"] == [14, 20] and report["padded_to"] == [16, 20]  # VAE × UNet/2×2
    C.pipeline("flux").save_pretrained(tmp_path / "flux")  # in-process: the same job
    assert main(["invert", str(image), "--model", str(tmp_path / "flux"), "--prompt", "red cat",
                 "--guidance-scale", "3.5", "--steps", "2", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "prompt 'red cat'" in text and "latent round-trip error (exact inversion): 0" in text


def test_a_prompt_for_an_unconditional_folder_is_a_one_line_error(tmp_path, capsys):
    from diffusers import DDPMPipeline, DDPMScheduler
    from diffusers_cases import tiny_unet

    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler()).save_pretrained(tmp_path / "ddpm")
    from revsde.cli import main

    assert main(["invert", str(_png(tmp_path / "a.png")), "--model", str(tmp_path / "ddpm"),
                 "--prompt", "red cat", "--no-progress"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no text encoder" in last and "drop --prompt" in last
    assert main(["invert", "--prompt", "red cat", "--no-progress"]) == 2
    assert "--prompt works with a diffusers pipeline folder" in capsys.readouterr().err
