"""from_diffusers: schedule from the scheduler config, timesteps, eps/x0/v conversions, guidance."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler
from diffusers_cases import pictures, sd_scheduler, text_cond, tiny_cond_unet, tiny_unet

import revsde.diffusion as D
from revsde.diffusion.adapters import (
    ZERO_SNR_FLOOR,
    DiffusersAdapterError,
    schedule_from_config,
)

F64 = torch.float64

SCHEDULER_CONFIGS = {
    "linear": {"beta_schedule": "linear"},
    "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"},
    "trained_betas": {"trained_betas": torch.linspace(2e-4, 0.03, 1000).tolist()},
    "linear_500": {"beta_schedule": "linear", "num_train_timesteps": 500},
    "zero_snr": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                 "rescale_betas_zero_snr": True},
}


def _node_times(n: int) -> torch.Tensor:
    return (torch.arange(n, dtype=F64) + 1) / n


@pytest.mark.parametrize("cls", [DDPMScheduler, DDIMScheduler, EulerDiscreteScheduler])
@pytest.mark.parametrize("name", list(SCHEDULER_CONFIGS))
def test_alphas_cumprod_match_the_scheduler(cls, name):
    if cls is EulerDiscreteScheduler and name == "trained_betas":
        pytest.importorskip("numpy")
    sched = cls(**SCHEDULER_CONFIGS[name])
    s = schedule_from_config(sched)
    n = sched.config.num_train_timesteps
    ref = sched.alphas_cumprod.to(F64)
    ours = s.alpha(_node_times(n)) ** 2
    if name == "zero_snr":
        # the scheduler's terminal ᾱ is 0 (Euler floors it itself); ours is the floor
        assert float(ours[-1]) == pytest.approx(ZERO_SNR_FLOOR, rel=1e-12)
        ref, ours = ref[:-1], ours[:-1]
    rel = ((ours - ref) / ref).abs().max()
    assert float(rel) <= 1e-6
    # the same at the schedule's own timestep mapping t = (i+1)/N  <=>  i = t·N - 1
    assert torch.allclose(s.timestep_of_t(_node_times(n)), torch.arange(n, dtype=F64))


@pytest.mark.parametrize("name", ["linear", "squaredcos_cap_v2", "zero_snr"])
def test_log_snr_is_monotone_with_a_monotone_inverse(name):
    s = schedule_from_config(DDPMScheduler(**SCHEDULER_CONFIGS[name]))
    t = torch.linspace(s.t_min, s.t_max, 20001, dtype=F64)
    lam = s.lambda_(t)
    assert bool((lam[1:] < lam[:-1]).all())
    back = s.t_of_lambda(lam)
    assert float((back - t).abs().max()) < 1e-12
    assert bool((back[1:] > back[:-1]).all())


def test_unsupported_schedulers_are_refused():
    with pytest.raises(DiffusersAdapterError, match="beta_schedule 'sigmoid' is not supported"):
        schedule_from_config(DDPMScheduler(beta_schedule="sigmoid"))
    with pytest.raises(DiffusersAdapterError, match="not a DDPM-family"):
        schedule_from_config({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0})
    with pytest.raises(DiffusersAdapterError, match="trained_betas has 3 values"):
        schedule_from_config({"trained_betas": [1e-4, 2e-4, 3e-4], "num_train_timesteps": 10})
    with pytest.raises(DiffusersAdapterError, match="prediction type 'flow'"):
        D.from_diffusers(tiny_unet(), {"num_train_timesteps": 1000, "prediction_type": "flow"})
    with pytest.raises(DiffusersAdapterError, match="scheduler must be a diffusers scheduler"):
        D.from_diffusers(tiny_unet(), 1000)


class _Spy(torch.nn.Module):
    """Records the timesteps the UNet is called with."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.config, self.seen = unet, unet.config, []

    def forward(self, x, timestep, **kw):
        self.seen.append(timestep)
        return self.unet(x, timestep, **kw)


def test_network_gets_float_timesteps_in_scheduler_units():
    unet = tiny_unet(dtype=F64)
    spy = _Spy(unet)
    model = D.from_diffusers(spy, DDPMScheduler())
    x = pictures(dtype=F64)
    with torch.no_grad():
        # t = (i+1)/N is training index i; halfway between nodes is a fractional timestep
        out_mid = model(x, torch.tensor(500.5 / 1000, dtype=F64))
        out_int = model(x, torch.tensor(500.0 / 1000, dtype=F64))
        ref_int = unet(x, torch.full((2,), 499.0, dtype=F64)).sample
    ts = spy.seen[0]
    assert torch.is_tensor(ts) and ts.is_floating_point() and ts.shape == (2,)
    assert torch.allclose(ts, torch.full((2,), 499.5, dtype=F64))
    assert torch.allclose(spy.seen[1], torch.full((2,), 499.0, dtype=F64))
    assert torch.equal(out_int, ref_int)
    # a fractional timestep really reaches the network (a Python float would be truncated)
    assert float((out_mid - out_int).abs().max()) > 1e-6


PREDICTION_TYPES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}


@pytest.mark.parametrize("ptype", list(PREDICTION_TYPES))
def test_conversions_agree_with_one_ddim_step(ptype):
    """eps/x0/v: revsde's DDIM step from timestep k to k - N/steps equals DDIMScheduler.step."""
    unet = tiny_unet(seed=4, dtype=F64)
    # clip_sample would clamp x0 to [-1, 1]: not a smooth (so not a reversible) map
    sched = DDIMScheduler(prediction_type=ptype, beta_schedule="scaled_linear",
                          beta_start=0.00085, beta_end=0.012, clip_sample=False)
    sched.set_timesteps(10)
    model = D.from_diffusers(unet, sched)
    assert model.prediction == PREDICTION_TYPES[ptype]
    x = pictures(dtype=F64) * 2
    n = sched.config.num_train_timesteps
    for k in (int(sched.timesteps[0]), int(sched.timesteps[4])):
        prev = k - n // 10
        with torch.no_grad():
            out = unet(x, k).sample
            ref = sched.step(out, k, x)
            t, t_prev = (k + 1) / n, (prev + 1) / n
            eps, x0 = model.eps_and_x0(x, torch.tensor(t, dtype=F64))
            ours = D.get_sampler("ddim").sample(model, x, torch.tensor([t, t_prev], dtype=F64))
        # the scheduler takes sqrt of its float32 ᾱ in float32: agreement to ~1e-7 relative
        assert _rel(x0, ref.pred_original_sample) < 1e-6
        assert _rel(ours, ref.prev_sample) < 1e-6
        if ptype == "v_prediction":
            with torch.no_grad():
                v = model.v(x, torch.tensor(t, dtype=F64))
            assert _rel(v, out) < 1e-12


def _rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_guided_output_is_uncond_plus_scale_times_difference():
    unet = tiny_cond_unet(dtype=F64)
    calls = []
    unet.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    s = 4.5
    model = D.from_diffusers(unet, sd_scheduler(), guidance_scale=s)
    x = pictures(batch=3, channels=4, dtype=F64)
    c = text_cond(batch=3, dtype=F64)
    u = text_cond(seed=9, dtype=F64)["encoder_hidden_states"]  # batch 1, broadcast
    t = torch.tensor(0.37, dtype=F64)
    with torch.no_grad():
        guided = model(x, t, **c, uncond={"encoder_hidden_states": u})
        assert calls == [6]  # one call on the batch [uncond; cond]
        timestep = torch.full((3,), 0.37 * 1000 - 1, dtype=F64)
        raw_c = unet(x, timestep, encoder_hidden_states=c["encoder_hidden_states"]).sample
        raw_u = unet(x, timestep, encoder_hidden_states=u.expand(3, -1, -1)).sample
    expected = raw_u + s * (raw_c - raw_u)
    assert float((guided - expected).abs().max()) < 1e-12
    assert float((raw_c - raw_u).abs().max()) > 1e-3  # the conditioning matters
    # the default uncond given at wrap time is the same thing
    model2 = D.from_diffusers(unet, sd_scheduler(), guidance_scale=s,
                              uncond={"encoder_hidden_states": u})
    with torch.no_grad():
        assert torch.equal(model2(x, t, **c), guided)


def test_guidance_needs_uncond_and_conditional_unet_needs_cond():
    unet = tiny_cond_unet()
    x = pictures(channels=4)
    t = torch.tensor(0.5)
    with pytest.raises(DiffusersAdapterError, match="needs unconditional inputs"):
        D.from_diffusers(unet, sd_scheduler(), guidance_scale=3.0)(x, t, **text_cond())
    with pytest.raises(DiffusersAdapterError, match="encoder_hidden_states"):
        D.from_diffusers(unet, sd_scheduler())(x, t)
    with pytest.raises(DiffusersAdapterError, match="has batch 3 but x has batch 2"):
        D.from_diffusers(unet, sd_scheduler())(x, t, **text_cond(batch=3))
    with pytest.raises(DiffusersAdapterError, match="without guidance_scale"):
        D.from_diffusers(unet, sd_scheduler(), uncond=text_cond())
    with pytest.raises(DiffusersAdapterError, match="guidance_scale must be a finite number"):
        D.from_diffusers(unet, sd_scheduler(), guidance_scale=float("nan"))


def test_learned_variance_keeps_the_prediction_channels():
    unet = tiny_unet(out_channels=6, dtype=F64)
    x = pictures(dtype=F64)
    t = torch.tensor(0.3, dtype=F64)
    model = D.from_diffusers(unet, DDPMScheduler(variance_type="learned_range"))
    with torch.no_grad():
        out = model(x, t)
        full = unet(x, torch.full((2,), 299.0, dtype=F64)).sample
    assert torch.equal(out, full[:, :3])
    with pytest.raises(DiffusersAdapterError, match="returns 6 channels"):
        D.from_diffusers(unet, DDPMScheduler())(x, t)


def test_import_revsde_does_not_import_diffusers():
    code = ("import sys, revsde, revsde.diffusion, revsde.diffusion.adapters; "
            "print('diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"


def test_fingerprint_follows_weights_guidance_and_scheduler():
    unet = tiny_unet()
    fp = D.from_diffusers(unet, DDPMScheduler()).fingerprint()
    assert D.from_diffusers(tiny_unet(), DDPMScheduler()).fingerprint() == fp
    assert D.from_diffusers(tiny_unet(seed=1), DDPMScheduler()).fingerprint() != fp
    assert D.from_diffusers(unet, DDPMScheduler(beta_end=0.03)).fingerprint() != fp
    cu = tiny_cond_unet()
    u = {"encoder_hidden_states": torch.zeros(1, 5, 16)}
    fps = {D.from_diffusers(cu, sd_scheduler(), guidance_scale=s, uncond=u).fingerprint()
           for s in (3.0, 7.5)}
    assert len(fps) == 2


def test_a_wider_state_feeds_the_network_a_cast():
    """A float64 state with a float32 UNet: the network sees the float32 cast, output widened."""
    unet = tiny_cond_unet()
    model = D.from_diffusers(unet, sd_scheduler())
    x = pictures(channels=4, dtype=F64)
    c = text_cond(dtype=F64)
    with torch.no_grad():
        out = model(x, torch.tensor(0.5, dtype=F64), **c)
        ref = unet(x.float(), torch.full((2,), 499.0),
                   encoder_hidden_states=c["encoder_hidden_states"].float().expand(2, -1, -1))
    assert out.dtype == F64 and torch.equal(out, ref.sample.double())


@pytest.mark.parametrize("sampler", [s["name"] for s in D.list_samplers()
                                     if not s.get("adaptive")])  # (tests/test_adaptive.py)
def test_every_sampler_generates_with_a_guided_model(sampler):
    model = D.from_diffusers(tiny_cond_unet(), sd_scheduler(prediction_type="v_prediction"),
                             guidance_scale=2.0,
                             uncond={"encoder_hidden_states": torch.zeros(1, 5, 16)})
    with torch.no_grad():
        x = D.sample(model, (2, 4, 8, 8), steps=2, sampler=sampler, seed=0, cond=text_cond())
    assert x.shape == (2, 4, 8, 8) and bool(torch.isfinite(x).all())


@pytest.mark.parametrize("method", ["ddim", "edict", "bdia", "obelm"])
def test_baselines_take_the_adapter(method):
    model = D.from_diffusers(tiny_unet(dtype=F64), DDPMScheduler(prediction_type="sample"))
    x = pictures(dtype=F64)
    with torch.no_grad():
        lat = D.baselines.invert(model, x, method, steps=4)
        back = D.baselines.generate(model, lat)
    err = float((back - x).abs().max())
    assert err < 1e-9 if method != "ddim" else err == err  # DDIM inversion is inexact


def test_gradients_through_a_guided_adapter_match_backprop():
    sched = sd_scheduler(prediction_type="v_prediction")
    model = D.from_diffusers(tiny_cond_unet(dtype=F64), sched, guidance_scale=3.0,
                             uncond={"encoder_hidden_states": torch.zeros(1, 5, 16, dtype=F64)})
    x_T = pictures(channels=4, dtype=F64)
    cond = text_cond(dtype=F64)
    res = {m: D.gradient(lambda x: x.pow(2).sum(), model, x_T, cond=cond, steps=3,
                         sampler="rev_heun", method=m) for m in ("reversible", "backprop")}
    a, b = res["reversible"], res["backprop"]
    assert _rel(a.grad_x_T, b.grad_x_T) < 1e-10
    key = "encoder_hidden_states"
    assert _rel(a.grad_cond[key], b.grad_cond[key]) < 1e-10
    assert float(b.grad_cond[key].abs().max()) > 0


def test_a_bfloat16_unet_gets_the_exact_timestep():
    """The network dtype may be bfloat16; the timestep is made from the wide t, not a cast."""
    spy = _Spy(tiny_unet().to(torch.bfloat16))
    model = D.from_diffusers(spy, DDPMScheduler())
    assert model.network_dtype == torch.bfloat16
    with torch.no_grad():
        out = model.eps(pictures(dtype=F64), torch.tensor(0.5005, dtype=F64))
    assert out.dtype == F64
    assert float((spy.seen[0].double() - 499.5).abs().max()) < 1e-9  # bf16 would give 500
