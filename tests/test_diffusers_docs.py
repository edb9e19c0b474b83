"""docs/howto-diffusers.md: its Python code runs against small models saved to a folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler
from diffusers_cases import sd_scheduler, tiny_cond_unet, tiny_unet, tiny_vae
from page_code import blocks, run_blocks

PAGE = Path(__file__).resolve().parents[1] / "docs" / "howto-diffusers.md"


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """The folders the page names: my-ddpm/, my-latent-model/ and photo.png."""
    from PIL import Image

    # v-prediction: a random-weight ε-UNet is no denoiser (see test_diffusers_roundtrip.py)
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(prediction_type="v_prediction")
                 ).save_pretrained(tmp_path / "my-ddpm")
    root = tmp_path / "my-latent-model"
    tiny_cond_unet().save_pretrained(root / "unet")
    sd_scheduler().save_pretrained(root / "scheduler")
    tiny_vae().save_pretrained(root / "vae")
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "DDPMScheduler"], "vae": ["diffusers", "AutoencoderKL"]}))
    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(24, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(arr).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_page_code_runs(workdir, capsys):
    assert len(blocks(PAGE, "python")) >= 3
    ns = run_blocks(PAGE, "python")
    out = capsys.readouterr().out
    errors = [float(v) for v in re.findall(r"round-trip error ([0-9.e+-]+)", out)]
    assert len(errors) == 2 and max(errors) <= 1e-6, out  # pixel model; latent model
    assert (workdir / "photo.latents").exists()
    assert ns["model"].guidance_scale is None and ns["lat"].exact  # the last block: exact mode


def test_page_names_the_command_and_the_vae_caveat():
    bash = "\n".join(blocks(PAGE, "bash"))
    assert "revsde invert photo.png --model my-ddpm" in bash
    assert "The VAE is not invertible" in PAGE.read_text()
