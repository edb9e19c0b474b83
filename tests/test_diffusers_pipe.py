"""from_pipeline and load_diffusers(DIR, prompt=...): whole tiny pipelines (SD 1.x with
v-prediction, SDXL, SD3, FLUX.1) saved to a folder and loaded back offline; exact round
trips with a prompt and guidance (latent bit for bit, the pixels exactly the VAE's own
reconstruction), the network in bfloat16 under a float64 state, and one-line errors."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

pytest.importorskip("transformers")

import test_diffusers_pipe_cases as C  # noqa: E402

import revsde.diffusion as D  # noqa: E402
from revsde.diffusion.adapters import (  # noqa: E402
    DiffusersAdapterError,
    check_attention,
    load_diffusers,
    load_pipeline,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Each family's tiny pipeline saved with save_pretrained (SD with v-prediction)."""
    out = {}
    for family in C.FAMILIES:
        root = tmp_path_factory.mktemp(family)
        C.pipeline(family, v_prediction=family == "sd").save_pretrained(root)
        out[family] = root
    return out


@pytest.mark.parametrize("family", C.FAMILIES)
def test_saved_pipeline_round_trips_exactly_with_prompt_and_guidance(folders, family):
    model = load_diffusers(folders[family], **C.GUIDED[family], **C.options(family))
    assert model.pipeline_record["prompt"] == "red cat"
    if family == "sd":
        assert model.prediction == "v"  # the scheduler's v_prediction
    if family == "flux":
        assert model.distilled_guidance == 3.5 and model.guidance_scale == 4.0
    else:
        assert model.guidance_scale == C.GUIDED[family]["guidance_scale"]
    x = C.pictures(2)
    with torch.no_grad():
        lat = D.encode(model, x, steps=3, verify=True)
        back = D.decode(model, lat)
        # the VAE as encode/decode run it by default (reproducible mode: one picture per
        # call); the contiguous layout of z (the VAE's own layout gives other conv bits)
        vae_only = torch.cat([model.autoencoder.decode(
            model.autoencoder.encode(x[i:i + 1]).contiguous()) for i in range(len(x))])
    assert lat.verify_error == 0.0  # the latent, bit for bit
    # the pixel error is the autoencoder's own reconstruction error, nothing more
    assert torch.equal(back, vae_only)
    assert float((back - x).abs().max()) > 0


def test_the_conditioning_is_the_pipelines_own(folders):
    pipe = load_pipeline(folders["sdxl"])
    model = D.from_pipeline(pipe, "red cat", guidance_scale=5.0)
    pe, npe, ppe, nppe = pipe.encode_prompt("red cat", device="cpu",
                                            do_classifier_free_guidance=True)
    assert torch.equal(model.net.default_cond["encoder_hidden_states"], pe)
    assert torch.equal(model.net.uncond["added_cond_kwargs"]["text_embeds"], nppe)
    assert not nppe.any()  # force_zeros_for_empty_prompt
    # SDXL's time ids: the picture's own size, as its pipeline makes them
    cond = model.net._with_time_ids(model.net.default_cond, torch.zeros(1, 4, 8, 8))
    ref = pipe._get_add_time_ids((16, 16), (0, 0), (16, 16), torch.float32,
                                 text_encoder_projection_dim=8)
    assert torch.equal(cond["added_cond_kwargs"]["time_ids"], ref)
    # the guided velocity is the UNet's on [uncond; cond]
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([0.5])
    with torch.no_grad():
        out = model(x, t)
        ts = model.net.timestep(t, x)
        added = {"text_embeds": torch.cat([nppe, ppe]), "time_ids": torch.cat([ref, ref])}
        u, c = pipe.unet(torch.cat([x, x]), torch.cat([ts, ts]), torch.cat([npe, pe]),
                         added_cond_kwargs=added).sample.chunk(2)
    assert torch.equal(out, u + 5.0 * (c - u))


@pytest.mark.parametrize("family,dtype", [("sd3", torch.bfloat16), ("flux", torch.float16)])
def test_half_precision_network_under_a_float64_state_stays_exact(folders, family, dtype):
    pipe = load_pipeline(folders[family], dtype=dtype)
    model = D.from_pipeline(pipe, **C.GUIDED[family], **C.options(family))
    assert model.network_dtype == dtype and next(pipe.vae.parameters()).dtype == dtype
    with torch.no_grad():
        lat = D.encode(model, C.pictures(1), steps=5, verify=True)
    assert lat.dtype == "float64" and lat.verify_error == 0.0


def test_batches_of_prompts_sample_and_gradient(folders):
    pipe = load_pipeline(folders["flux"])
    model = D.from_pipeline(pipe, ["red cat", "big dog"], **C.options("flux"))
    x = C.pictures(2)
    with torch.no_grad():
        lat = D.encode(model, x, steps=4, verify=True)
        assert lat.verify_error == 0.0
        z = D.sample(model, (2, 4, 8, 8), steps=3, seed=0)
    assert z.shape == (2, 4, 8, 8) and torch.isfinite(z).all()
    noise = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    res = D.gradient(lambda s: s.square().mean(), model, noise, steps=2)
    assert res.grad_x_T.shape == noise.shape and torch.isfinite(res.grad_x_T).all()


def test_decoding_with_another_prompt_or_guidance_says_what_to_change(folders, tmp_path):
    pipe = load_pipeline(folders["sd"])
    model = D.from_pipeline(pipe, "red cat", guidance_scale=7.5)
    with torch.no_grad():
        lat = D.encode(model, C.pictures(1), steps=3)
    lat.save(tmp_path / "lat.pt")
    lat = D.Latents.load(tmp_path / "lat.pt")
    other = D.from_pipeline(pipe, "big dog", guidance_scale=7.5)
    with pytest.raises(ValueError, match=r"prompt='red cat' \(this model: 'big dog'\).*"
                                         r"from_pipeline\(pipe, prompt='red cat'\)") as err:
        D.decode(other, lat)
    assert "\n" not in str(err.value)
    weaker = D.from_pipeline(pipe, "red cat", guidance_scale=3.0)
    with pytest.raises(ValueError, match=r"guidance_scale=7.5 \(this model: 3.0\)"):
        D.decode(weaker, lat)
    plain = D.from_diffusers(pipe.unet, pipe.scheduler, vae=pipe.vae)
    with pytest.raises(ValueError, match="from_pipeline"):
        D.decode(plain, lat)


def test_bad_folders_and_prompts_get_one_line_errors(folders, tmp_path):
    import shutil

    from diffusers import DDPMPipeline, DDPMScheduler
    from diffusers_cases import tiny_unet

    novae = tmp_path / "novae"
    shutil.copytree(folders["sd"], novae)
    shutil.rmtree(novae / "vae")
    with pytest.raises(DiffusersAdapterError, match=r"has no VAE .*add the vae/ folder") as e:
        load_diffusers(novae, prompt="red cat")
    assert "\n" not in str(e.value)
    index = json.loads((novae / "model_index.json").read_text())
    index["vae"] = [None, None]
    (novae / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(DiffusersAdapterError, match="has no VAE"):
        load_diffusers(novae, prompt="red cat")
    ddpm = tmp_path / "ddpm"
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler()).save_pretrained(ddpm)
    with pytest.raises(DiffusersAdapterError, match="no text encoder.*unconditional: drop the "
                                                    "prompt"):
        load_diffusers(ddpm, prompt="red cat")
    pipe = DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler())
    with pytest.raises(DiffusersAdapterError, match=r"unconditional .*drop \['prompt'\]"):
        D.from_pipeline(pipe, prompt="red cat")
    assert D.from_pipeline(pipe).prediction == "eps"  # no prompt: the bare UNet
    sd = load_pipeline(folders["sd"])
    with pytest.raises(DiffusersAdapterError, match="guidance_scale > 1"):
        D.from_pipeline(sd, "red cat", negative_prompt="dog")
    with pytest.raises(DiffusersAdapterError, match="true_cfg_scale is FLUX's"):
        D.from_pipeline(sd, "red cat", true_cfg_scale=3.0)
    with pytest.raises(DiffusersAdapterError, match="encode_prompt does not take"):
        D.from_pipeline(sd, "red cat", prompt_7="x")
    schnell = C.pipeline("flux", guidance_embeds=False)
    with pytest.raises(DiffusersAdapterError, match="not guidance-distilled .*true_cfg_scale"):
        D.from_pipeline(schnell, "red cat", guidance_scale=3.5, **C.options("flux"))
    flux = D.from_pipeline(schnell, "red cat", **C.options("flux"))
    with pytest.raises(DiffusersAdapterError, match=r"from_pipeline\(\.\.\., height=, width="):
        flux(torch.randn(1, 4, 16, 16), torch.tensor([0.5]))


def test_an_unsupported_pipeline_is_a_one_line_error():
    from types import SimpleNamespace

    from test_diffusers_flow_cases import transformer

    pipe = SimpleNamespace(transformer=transformer("lumina2"), text_encoder=object(),
                           scheduler=None, vae=None)
    with pytest.raises(DiffusersAdapterError, match=r"Lumina2Transformer2DModel\) is not "
                                                    r"supported; from_pipeline takes") as e:
        D.from_pipeline(pipe, "red cat")
    assert "\n" not in str(e.value)


def test_attention_that_cannot_promise_determinism_warns():
    pipe = C.pipeline("sd3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_attention(pipe.transformer) == []  # diffusers' default processors

    class XFormersLikeProcessor:
        def __call__(self, *args, **kwargs):  # pragma: no cover - never called
            raise AssertionError

    block = next(m for m in pipe.transformer.modules() if hasattr(m, "processor"))
    block.processor = XFormersLikeProcessor()
    with pytest.warns(RuntimeWarning, match="XFormersLikeProcessor.*set_default_attn_processor"):
        D.from_pipeline(pipe, "red cat", **C.options("sd3"))
