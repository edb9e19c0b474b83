"""Round trips through noise with diffusers UNets: every reversible sampler, float32 networks.

Acceptance: max abs error <= 1e-6 in latent space with the network in
float32, with and without classifier-free guidance, on UNets with seeded random weights.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler
from diffusers_cases import pictures, sd_scheduler, text_cond, tiny_cond_unet, tiny_unet, tiny_vae

import revsde.diffusion as D

# (adaptive samplers choose their own grid: on a random-weight network they take many
# steps; their round trips on the shipped models are in tests/test_adaptive.py)
REVERSIBLE = [s["name"] for s in D.list_samplers() if s["reversible"] and not s.get("adaptive")]
ODE = [n for n in REVERSIBLE if not D.get_sampler(n).stochastic]
STEPS = 4
UNCOND = {"encoder_hidden_states": torch.zeros(1, 5, 16)}
# Every reversible sampler with ε-, v- and x0-prediction UNets.  (A ε-UNet with *random*
# weights is no denoiser: its x0 = (x - σε)/α blows up by 1/α at the noise end and the SDE
# samplers' encoded latents reach |Y| ~ 1e7; with plain float64 sums their round trip lost
# up to 4e-3, and the compensated state of encode's default keeps it at round-off.)
CASES = [(p, s) for p in ("epsilon", "v_prediction", "sample") for s in REVERSIBLE]


@pytest.fixture(scope="module")
def pixel_models():
    return {p: D.from_diffusers(tiny_unet(), DDPMScheduler(prediction_type=p))
            for p in ("epsilon", "v_prediction", "sample")}


@pytest.fixture(scope="module")
def guided_models():
    return {p: D.from_diffusers(tiny_cond_unet(), sd_scheduler(prediction_type=p),
                                guidance_scale=5.0, uncond=UNCOND)
            for p in ("epsilon", "v_prediction", "sample")}


def _roundtrip(model, x, sampler, cond=None) -> float:
    with torch.no_grad():
        lat = D.encode(model, x, steps=STEPS, sampler=sampler, seed=7, cond=cond)
        back = D.decode(model, lat, cond=cond)
    assert back.dtype == x.dtype == torch.float32
    assert next(model.parameters()).dtype == torch.float32  # the network runs in float32
    return float((back.double() - x.double()).abs().max())


@pytest.mark.parametrize(("ptype", "sampler"), CASES)
def test_roundtrip_pixel_unet_float32(pixel_models, ptype, sampler):
    # the required bound is 1e-6; the compensated state gives the float32 input back
    assert _roundtrip(pixel_models[ptype], pictures(), sampler) == 0.0


@pytest.mark.parametrize("sampler", ["rex_em", "rex_shark", "rev_heun_sde"])
def test_plain_float64_sums_lose_the_random_eps_unet_sde_round_trip(pixel_models, sampler):
    """What the compensated default fixes (measured 1.9e-3..4.2e-3 at 4 steps)."""
    with torch.no_grad():
        m, x = pixel_models["epsilon"], pictures()
        lat = D.encode(m, x, steps=STEPS, sampler=sampler, seed=7, compensated=False)
        err = float((D.decode(m, lat).double() - x.double()).abs().max())
    assert err > 1e-5


@pytest.mark.parametrize(("ptype", "sampler"), CASES)
def test_roundtrip_with_guidance_float32(guided_models, ptype, sampler):
    err = _roundtrip(guided_models[ptype], pictures(channels=4), sampler, cond=text_cond())
    assert err == 0.0  # the required bound: 1e-6


def test_latent_model_round_trip_is_exact_in_latent_space():
    model = D.from_diffusers(tiny_cond_unet(), sd_scheduler(), vae=tiny_vae(shift_factor=0.1),
                             guidance_scale=3.0, uncond=UNCOND)
    x = pictures(size=16)
    cond = text_cond()
    codec = model.autoencoder
    with torch.no_grad():
        z = codec.encode(x)
        mean = codec.vae.encode(x).latent_dist.mean
        assert torch.allclose(z, (mean - 0.1) * codec.vae.config.scaling_factor)
        lat = D.encode(model, x, steps=STEPS, sampler="rex_rk4", cond=cond, verify=True)
        assert lat.y.shape == z.shape  # inverted in latent space
        back = D.decode(model, lat, cond=cond)
        vae_alone = codec.decode(z)
    assert lat.verify_error <= 1e-6
    assert back.shape == x.shape
    # the pixel error is the autoencoder's own (random weights: large), not the inversion's
    assert float((back - vae_alone).abs().max()) <= 1e-5
    assert float((vae_alone - x).abs().max()) > 1e-2


def test_latent_model_with_a_baseline_sampler():
    """encode(sampler='edict') goes through the VAE too: pictures in, pictures out."""
    f64 = torch.float64
    model = D.from_diffusers(tiny_cond_unet(dtype=f64),
                             sd_scheduler(prediction_type="v_prediction"), vae=tiny_vae(dtype=f64))
    x = pictures(size=16, dtype=f64)
    cond = text_cond(dtype=f64)
    with torch.no_grad():
        lat = D.encode(model, x, steps=STEPS, sampler="edict", cond=cond, verify=True)
        back = D.decode(model, lat, cond=cond)
        vae_alone = model.autoencoder.decode(model.autoencoder.encode(x))
    assert lat.y.shape == (2, 4, 8, 8) and lat.verify_error <= 1e-10
    assert back.shape == x.shape and float((back - vae_alone).abs().max()) <= 1e-9


@pytest.mark.parametrize("sampler", ["rev_heun", "rex_rk4"])
def test_exact_mode_is_bit_exact_with_a_float32_unet(pixel_models, sampler):
    """Fixed-point lifted state (docs/mathematics.md §7): the float32 ε-UNet is fed identical
    inputs."""
    x = pictures()
    with torch.no_grad():
        lat = D.encode(pixel_models["epsilon"], x, steps=8, sampler=sampler, exact=True,
                       data_range=8.0)
        back = D.decode(pixel_models["epsilon"], lat)
    assert torch.equal(back, x)
