"""Local diffusers folders: load_diffusers offline, clear errors, and the invert job on them."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler
from diffusers_cases import pictures, sd_scheduler, tiny_cond_unet, tiny_unet, tiny_vae

from revsde.app.invert_model import invert_with_diffusers
from revsde.diffusion.adapters import DiffusersAdapterError, load_diffusers


@pytest.fixture(scope="module")
def pixel_dir(tmp_path_factory):
    """A DDPMPipeline folder (model_index.json, unet/, scheduler/)."""
    root = tmp_path_factory.mktemp("ddpm")
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler()).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def latent_dir(tmp_path_factory):
    """unet/, scheduler/, vae/ saved with save_pretrained, and a hand-written model_index.json."""
    root = tmp_path_factory.mktemp("ldm")
    tiny_cond_unet().save_pretrained(root / "unet")
    sd_scheduler().save_pretrained(root / "scheduler")
    tiny_vae().save_pretrained(root / "vae")
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "DDPMScheduler"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": [None, None]}))
    return root


def test_load_pixel_folder_gives_the_same_model(pixel_dir):
    model = load_diffusers(pixel_dir)
    ref = tiny_unet()
    x = pictures()
    t = torch.tensor(0.25)
    with torch.no_grad():
        assert torch.equal(model(x, t), ref(x, torch.full((2,), 249.0)).sample)
    assert model.autoencoder is None and model.prediction == "eps"


def test_load_latent_folder_with_vae_and_dtype(latent_dir):
    model = load_diffusers(latent_dir, dtype=torch.float64)
    assert model.autoencoder is not None
    assert next(model.parameters()).dtype == torch.float64
    assert model.autoencoder.scaling_factor == pytest.approx(0.18215)


def test_single_model_folder_layout(tmp_path):
    tiny_unet().save_pretrained(tmp_path)
    DDPMScheduler(prediction_type="v_prediction").save_pretrained(tmp_path)
    assert load_diffusers(tmp_path).prediction == "v"


def test_missing_and_incomplete_folders_get_clear_errors(tmp_path, pixel_dir):
    with pytest.raises(DiffusersAdapterError, match="does not exist"):
        load_diffusers(tmp_path / "nowhere")
    with pytest.raises(DiffusersAdapterError, match="incomplete diffusers folder"):
        load_diffusers(tmp_path)
    broken = tmp_path / "broken"
    (broken / "unet").mkdir(parents=True)
    (broken / "unet" / "config.json").write_text((pixel_dir / "unet" / "config.json").read_text())
    with pytest.raises(DiffusersAdapterError, match=r"missing .*diffusion_pytorch_model.*"
                                                    r"scheduler_config\.json"):
        load_diffusers(broken)
    wrong = tmp_path / "wrong"
    tiny_vae().save_pretrained(wrong / "unet")
    DDPMScheduler().save_pretrained(wrong / "scheduler")
    with pytest.raises(DiffusersAdapterError, match="holds a 'AutoencoderKL'"):
        load_diffusers(wrong)


def _png(path, size=(12, 10), mode="RGB"):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_invert_job_on_a_pixel_folder(pixel_dir, tmp_path):
    rep = invert_with_diffusers(pixel_dir, str(_png(tmp_path / "p.png")), steps=3,
                                sampler="rev_heun", dtype="float64")
    assert rep["size"] == [10, 12] and rep["channels"] == 3 and rep["padded_to"] == [10, 12]
    assert rep["pixel_error"] < 1e-9 and rep["latent_error"] is None
    assert rep["nfe"] == 4


def test_invert_job_refuses_an_unreadable_picture(pixel_dir, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(ValueError, match="cannot read"):
        invert_with_diffusers(pixel_dir, str(bad), steps=2)


def test_invert_job_on_a_latent_folder(latent_dir, tmp_path):
    # 18x14: padded to the factor 4 (VAE 2 x UNet 2) and cropped back
    rep = invert_with_diffusers(latent_dir, str(_png(tmp_path / "q.png", size=(18, 14), mode="L")),
                                steps=3, sampler="rex_euler", dtype="float64")
    assert rep["padded_to"] == [16, 20] and rep["conditioning"] == ["encoder_hidden_states"]
    assert rep["latent_error"] < 1e-9
    # the pixel error is the autoencoder's (random weights: large), not the inversion's
    assert rep["pixel_error"] == pytest.approx(rep["autoencoder_error"], abs=1e-9)
