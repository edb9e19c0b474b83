"""Flow-matching transformers of diffusers (SD3, FLUX.1, FLUX.2, Lumina 2) in from_diffusers.

Issue 22, build point 1: the schedule from FlowMatchEulerDiscreteScheduler's config, each
family called as its pipeline calls it, every reversible sampler round-tripping the latents
bit for bit with the transformer in float32 and bfloat16, with and without guidance; and
the one-line errors for what cannot be used.  Tiny transformers with seeded random weights
(tests/test_diffusers_flow_cases.py); the full 10/50-step table is
docs/scripts/gen_flow_table.py's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import test_diffusers_flow_cases as C
import torch
from diffusers import DDPMScheduler, FlowMatchEulerDiscreteScheduler
from script_util import load_script

import revsde.diffusion as D
from revsde.diffusion.adapters import (
    DiffusersAdapterError,
    flow_schedule_from_config,
    flow_scheduler_config,
    flux2_mu,
    linear_mu,
    pack_2x2,
    unpack_2x2,
)
from revsde.diffusion.schedules import FlowMatching, schedule_from_dict
from revsde.docblocks import read_block

# (adaptive samplers choose their own grid: on a random-weight network they take many
# steps; their round trips on the shipped models are in tests/test_adaptive.py)
REVERSIBLE = [s["name"] for s in D.list_samplers() if s["reversible"] and not s.get("adaptive")]
F64 = torch.float64


# -- the schedule ------------------------------------------------------------------------


def test_unshifted_flow_matching_is_unchanged():
    s = FlowMatching()
    assert s.to_dict() == {"type": "FlowMatching", "t_min": 1e-3, "t_max": 1 - 1e-3}
    t = torch.linspace(0.01, 0.99, 9, dtype=F64)
    assert torch.equal(s.log_alpha(t), torch.log1p(-t))
    assert torch.equal(s.log_sigma(t), torch.log(t))
    assert torch.equal(s.t_of_lambda(t), torch.sigmoid(-t))


@pytest.mark.parametrize("shift", [0.5, 3.0, math.exp(1.15)])
def test_shifted_schedule(shift):
    s = FlowMatching(shift=shift)
    t = torch.linspace(s.t_min, s.t_max, 33, dtype=F64)
    sigma = shift * t / (1 + (shift - 1) * t)
    assert torch.allclose(s.sigma(t), sigma, rtol=1e-14, atol=0)
    assert torch.allclose(s.alpha(t) + s.sigma(t), torch.ones_like(t), rtol=0, atol=1e-15)
    assert torch.allclose(s.lambda_(t), torch.log((1 - t) / t) - math.log(shift), atol=1e-13)
    assert torch.allclose(s.t_of_lambda(s.lambda_(t)), t, rtol=1e-14, atol=0)
    assert schedule_from_dict(s.to_dict()) == s and s != FlowMatching()


def test_terminal_stretch():
    s = FlowMatching(t_min=0.1, shift=3.0, terminal=0.2)
    t = torch.linspace(0.1, 0.9, 9, dtype=F64)
    assert float(s.sigma(torch.tensor(0.1, dtype=F64))) == pytest.approx(0.2, abs=1e-15)
    assert torch.allclose(s.t_of_lambda(s.lambda_(t)), t, rtol=1e-13, atol=0)
    assert schedule_from_dict(s.to_dict()) == s


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shift": 0.0}, "shift > 0"), ({"shift": float("nan")}, "shift > 0"),
    ({"terminal": 1.0}, r"terminal .* \(0, 1\)"), ({"t_min": 0.0}, "0 < t_min")])
def test_bad_schedule(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowMatching(**kwargs)


@pytest.mark.parametrize("config", [
    {"shift": 3.0},
    {"use_dynamic_shifting": True, "mu": 0.8},
    {"use_dynamic_shifting": True, "time_shift_type": "linear", "mu": 1.7},
    {"shift": 3.0, "shift_terminal": 0.1},
])
def test_schedule_matches_the_scheduler_sigmas(config):
    """σ(t) on a uniform grid of t is the scheduler's own σ grid (diffusers' pipelines
    pass sigmas = linspace(1, 1/n, n)); shift_terminal anchored at the grid's end."""
    config = dict(config)
    mu = config.pop("mu", None)
    n = 10
    sch = FlowMatchEulerDiscreteScheduler(**config)
    grid = torch.linspace(1.0, 1.0 / n, n, dtype=F64)
    sch.set_timesteps(sigmas=grid.numpy(), mu=mu)
    ours = flow_schedule_from_config(flow_scheduler_config(sch), mu)
    if config.get("shift_terminal"):
        ours = FlowMatching(t_min=1.0 / n, shift=ours.shift, terminal=ours.terminal)
    grid[0] = 1 - 1e-9  # the schedule's λ is finite inside (0, 1)
    assert torch.allclose(ours.sigma(grid), sch.sigmas[:-1].to(F64), rtol=0, atol=2e-7)
    assert torch.allclose(sch.timesteps.to(F64), 1000 * sch.sigmas[:-1].to(F64))


def test_mu_rules():
    config = flow_scheduler_config(C.scheduler("flux"))
    assert linear_mu(config, 256) == pytest.approx(0.5)
    assert linear_mu(config, 4096) == pytest.approx(1.15)
    assert flux2_mu(1024, 10) == pytest.approx(8.73809524e-05 * 1024 + 1.89833333)
    assert flux2_mu(1024, 200) == pytest.approx(0.00016927 * 1024 + 0.45666666)
    assert flux2_mu(5000, 10) == pytest.approx(0.00016927 * 5000 + 0.45666666)
    m = C.model("flux")
    assert m.schedule.shift == pytest.approx(math.exp(linear_mu(config, 16)))


# -- each family is called as its pipeline calls it ---------------------------------------


def _pipeline_call(family, net, x, sigma, cond, guidance=None):
    """The transformer's output as diffusers' pipeline computes it at noise level σ
    (written from the pipelines' code: packing, ids, time units)."""
    b, c, h, w = x.shape
    cond = {k: v.expand(b, *v.shape[1:]) for k, v in cond.items()}  # pipelines repeat them
    ts = torch.full((b,), float(sigma) * 1000, dtype=torch.float32)
    if family == "sd3":
        return net(hidden_states=x, timestep=ts, **cond, return_dict=False)[0]
    if family == "lumina2":
        return -net(hidden_states=x, timestep=1 - ts / 1000, **cond, return_dict=False)[0]
    packed = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(
        b, h * w // 4, 4 * c)
    text = cond["encoder_hidden_states"].shape[1]
    if family == "flux":
        img = torch.zeros(h // 2, w // 2, 3)
        img[..., 1] += torch.arange(h // 2)[:, None]
        img[..., 2] += torch.arange(w // 2)[None, :]
        ids = {"img_ids": img.reshape(-1, 3), "txt_ids": torch.zeros(text, 3)}
    else:
        o = torch.arange(1)
        ids = {"img_ids": torch.cartesian_prod(o, torch.arange(h // 2), torch.arange(w // 2), o),
               "txt_ids": torch.cartesian_prod(o, o, o, torch.arange(text))}
    g = None if guidance is None else torch.full([1], guidance).expand(b)
    out = net(hidden_states=packed, timestep=ts / 1000, guidance=g, **ids, **cond,
              return_dict=False)[0]
    return out.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


@pytest.mark.parametrize("family", C.FAMILIES)
def test_velocity_is_the_pipelines_call(family):
    guidance = "distilled" if family in ("flux", "flux2") else "none"
    m = C.model(family, guidance=guidance)
    x, cond = C.latents(), C.cond(family)
    tau = 0.37
    sigma = float(m.schedule.sigma(torch.tensor(tau, dtype=F64)))
    with torch.no_grad():
        ours = m(x, tau, **cond)
        ref = _pipeline_call(family, m.net.transformer, x, sigma, cond,
                             m.net.distilled_guidance)
        # the model's conversions: x0 = x - σu, ε = x + (1-σ)u
        eps, x0 = m.eps_and_x0(x.double(), torch.tensor(tau, dtype=F64), **cond)
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-5)
    assert torch.allclose(x0, x.double() - sigma * ours.double(), atol=1e-6)
    assert torch.allclose(eps, x.double() + (1 - sigma) * ours.double(), atol=1e-6)


def test_pack_round_trip():
    x = torch.randn(2, 3, 6, 4)
    p = pack_2x2(x)
    assert p.shape == (2, 6, 12)
    assert torch.equal(p[0, 1, 4 * 2 + 2 * 1 + 0], x[0, 2, 1, 2])  # token (0,1), channel 2, (1,0)
    assert torch.equal(unpack_2x2(p, 6, 4), x)


# -- exact round trips ---------------------------------------------------------------------


def _errors(model, x, cond, steps=10, samplers=REVERSIBLE) -> dict:
    out = {}
    with torch.no_grad():
        for s in samplers:
            lat = D.encode(model, x, steps=steps, sampler=s, seed=7, cond=cond)
            back = D.decode(model, lat, cond=cond)
            assert back.dtype == x.dtype and back.shape == x.shape
            out[s] = float((back.double() - x.double()).abs().max())
    return out


#: the fullest case of each family: bfloat16 with every guidance it takes
FULL = {f: C.GUIDANCE[f][-1] for f in C.FAMILIES}
#: every other dtype × guidance: one ODE and one SDE sampler (the table has them all)
OTHERS = [(f, d, g) for f in C.FAMILIES for d in ("float32", "bfloat16") for g in C.GUIDANCE[f]
          if (d, g) != ("bfloat16", FULL[f])]


@pytest.mark.parametrize("family", C.FAMILIES)
def test_every_reversible_sampler_round_trips_bit_for_bit(family):
    m = C.model(family, torch.bfloat16, FULL[family])
    assert m.network_dtype == torch.bfloat16 and m.prediction == "flow"
    assert _errors(m, C.latents(), C.cond(family)) == dict.fromkeys(REVERSIBLE, 0.0)


@pytest.mark.parametrize(("family", "dtype", "guidance"), OTHERS)
def test_round_trips_in_every_dtype_and_guidance(family, dtype, guidance):
    m = C.model(family, getattr(torch, dtype), guidance)
    samplers = ["rev_heun", "rex_em"]
    assert _errors(m, C.latents(), C.cond(family), samplers=samplers) == dict.fromkeys(
        samplers, 0.0)


def test_fifty_steps_bfloat16_flux_with_both_guidances():
    m = C.model("flux", torch.bfloat16, "distilled+cfg", steps=50)
    assert _errors(m, C.latents(), C.cond("flux"), steps=50, samplers=["rev_heun"]) == {
        "rev_heun": 0.0}


def test_latent_model_with_a_vae():
    """SD3 with an AutoencoderKL (a shift_factor, as SD3's VAE): exact in latent space,
    the pixel error is the autoencoder's own."""
    from diffusers_cases import pictures, tiny_vae

    m = D.from_diffusers(C.transformer("sd3"), C.scheduler("sd3"),
                         vae=tiny_vae(shift_factor=0.1), guidance_scale=3.0,
                         uncond=C.cond("sd3", seed=2))
    x, cond = pictures(size=16), C.cond("sd3")
    with torch.no_grad():
        lat = D.encode(m, x, steps=4, sampler="rev_heun", cond=cond, verify=True)
        back = D.decode(m, lat, cond=cond)
        vae_alone = m.autoencoder.decode(m.autoencoder.encode(x))
    assert lat.y.shape == (2, 4, 8, 8) and lat.verify_error == 0.0
    # the pixel error is the (random) autoencoder's, not the inversion's
    assert float((back - vae_alone).abs().max()) <= 1e-5


def test_decoding_with_another_guidance_is_refused():
    x, cond = C.latents(), C.cond("flux")
    m = C.model("flux", guidance="distilled")
    with torch.no_grad():
        lat = D.encode(m, x, steps=2, sampler="rev_heun", cond=cond)
    other = D.from_diffusers(m.net.transformer, C.scheduler("flux"), image_seq_len=16,
                             distilled_guidance=2.0)
    with pytest.raises(ValueError, match="decode with the model"):
        D.decode(other, lat, cond=cond)
    bigger = D.from_diffusers(m.net.transformer, C.scheduler("flux"), image_seq_len=64,
                              distilled_guidance=3.5)
    with pytest.raises(ValueError, match="schedule"):
        D.decode(bigger, lat, cond=cond)


# -- one-line errors that say what to change -----------------------------------------------


class SanaTransformer2DModel(torch.nn.Module):
    """Stands for a diffusers transformer family that is not supported."""

    def forward(self, *args, **kwargs):
        raise AssertionError("not called")


def _raises(match, fn, *args, **kwargs):
    with pytest.raises(DiffusersAdapterError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unsupported_family_and_scheduler():
    _raises("SanaTransformer2DModel is not supported.*FluxTransformer2DModel",
            D.from_diffusers, SanaTransformer2DModel(), C.scheduler("sd3"))
    _raises("DDPMScheduler is not a flow-matching scheduler.*FlowMatchEulerDiscreteScheduler",
            D.from_diffusers, C.transformer("sd3"), DDPMScheduler())
    _raises("invert_sigmas", D.from_diffusers, C.transformer("sd3"),
            C.scheduler("sd3", invert_sigmas=True))
    _raises("prediction", D.from_diffusers, C.transformer("sd3"), C.scheduler("sd3"),
            prediction="epsilon")
    from diffusers_cases import tiny_unet

    _raises("flow-matching transformers.*drop", D.from_diffusers, tiny_unet(), DDPMScheduler(),
            mu=1.0)


def test_shift_arguments():
    flux = C.transformer("flux", guidance_embeds=False)
    _raises("dynamic shifting.*image_seq_len=", D.from_diffusers, flux, C.scheduler("flux"))
    _raises("fixed.*drop", D.from_diffusers, flux, C.scheduler("sd3"), image_seq_len=16)
    _raises("fixed.*drop", D.from_diffusers, flux, C.scheduler("sd3"), mu=1.0)
    _raises("not both", D.from_diffusers, flux, C.scheduler("flux"), mu=1.0, image_seq_len=16)
    _raises("steps=", D.from_diffusers, C.transformer("flux2", guidance_embeds=False),
            C.scheduler("flux2"), image_seq_len=16)
    m = D.from_diffusers(flux, C.scheduler("flux"), mu=0.7)
    assert m.schedule.shift == pytest.approx(math.exp(0.7))


def test_guidance_arguments():
    _raises("guidance-distilled.*distilled_guidance=", D.from_diffusers,
            C.transformer("flux"), C.scheduler("flux"), image_seq_len=16)
    _raises("no guidance input.*drop distilled_guidance", D.from_diffusers,
            C.transformer("sd3"), C.scheduler("sd3"), distilled_guidance=3.5)
    _raises("vae=None", D.from_diffusers, C.transformer("flux2", guidance_embeds=False),
            C.scheduler("flux2"), mu=1.0, vae=object())


@pytest.mark.parametrize("family", C.FAMILIES)
def test_conditioning_missing_or_unexpected(family):
    m = C.model(family, guidance="distilled" if family in ("flux", "flux2") else "none")
    x, cond = C.latents(), C.cond(family)
    first = next(iter(cond))
    msg = _raises(f"needs cond=.*{first}", m, x, 0.5, **{k: v for k, v in cond.items()
                                                      if k != first})
    assert type(m.net.transformer).__name__ in msg
    _raises("does not take \\['img_ids'\\]", m, x, 0.5, **cond, img_ids=torch.zeros(1, 16, 3))


@pytest.mark.parametrize("family", C.FAMILIES)
def test_wrong_latent_shape(family):
    m = C.model(family, guidance="distilled" if family in ("flux", "flux2") else "none")
    cond = C.cond(family)
    _raises("multiples of 2", m, torch.randn(2, 4, 7, 8), 0.5, **cond)
    _raises(r"latents of shape \(batch, 4, H, W\)", m, torch.randn(2, 3, 8, 8), 0.5, **cond)
    if family in ("flux", "flux2"):
        _raises("packs the latent into 2×2 patches", m, torch.randn(2, 4, 8, 6 + 1), 0.5, **cond)
        _raises("image_seq_len=36", m, torch.randn(2, 4, 12, 12), 0.5, **cond)


def test_committed_table_is_rendered_from_the_saved_measurements():
    root = Path(__file__).resolve().parents[1]
    mod = load_script(root / "docs" / "scripts" / "gen_flow_table.py")
    data = json.loads(mod.DATA.read_text())
    assert read_block(mod.PAGE, mod.BLOCK, end=mod.END) == mod.render(data), (
        "run `python docs/scripts/gen_flow_table.py --render`")
    assert {r["sampler"] for r in data["results"]} == set(REVERSIBLE)
