"""The shipped small model: offline loading, any size, RGB, validation, and that it learned."""

import sys
from pathlib import Path

import pytest
import torch

from revsde.diffusion.models import DiffusionModel
from revsde.diffusion.pretrained import (
    PRETRAINED,
    list_pretrained,
    load_record,
    pretrained,
    save_pretrained,
)
from revsde.diffusion.pretrained.unet import TinyUNet, VToEps
from revsde.diffusion.schedules import VE, VPDiscrete

F64 = torch.float64


@pytest.fixture(scope="module")
def model():
    return pretrained("small-unet")


def test_weight_file_is_small_and_described():
    path = PRETRAINED["small-unet"]
    assert path.is_file() and path.stat().st_size < 3 * 2**20
    rec = load_record("small-unet")
    assert rec["prediction"] == "eps" and rec["schedule"]["type"] == "VPDiscrete"
    assert rec["parameterization"] == "v" and rec["training"]["loss"] == "v-MSE"
    assert rec["image_shape"] == [3, 32, 32] and rec["data_range"] == [-1.0, 1.0]
    assert rec["arch_config"]["in_channels"] == 3
    tr = rec["training"]
    assert tr["config"]["seed"] == 0 and "astronaut" in tr["data"]["images"]
    assert tr["data"]["held_out"] == ["motorcycle_left", "motorcycle_right"]
    assert not set(tr["data"]["images"]) & set(tr["data"]["held_out"])
    n = sum(v.numel() for v in rec["state_dict"].values())
    assert n * 4 < 2.5e6
    assert all(v.dtype == torch.float32 for v in rec["state_dict"].values())
    assert len(rec["weights_sha256"]) == 64


def test_loads_offline_as_an_rgb_model_of_any_size(model):
    assert isinstance(model, DiffusionModel) and isinstance(model.net, VToEps)
    assert isinstance(model.net.net, TinyUNet)
    assert isinstance(model.schedule, VPDiscrete) and model.prediction == "eps"
    assert not model.training and model.channels == 3 and model.data_range == (-1.0, 1.0)
    assert model.fingerprint() == load_record("small-unet")["weights_sha256"]
    assert "small-unet" in list_pretrained()


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 20, 28), (1, 3, 13, 7), (1, 3, 1, 2)])
def test_any_size_keeps_the_shape(model, shape):
    """Padded to a multiple of 4 inside the network and cropped back exactly."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        e = model.eps(x, 0.5)
    assert e.shape == x.shape and bool(torch.isfinite(e).all())


def test_padding_is_cropped_back_exactly(model):
    """A 30x30 input gives the top-left 30x30 of the net on its reflect-padded 32x32."""
    x = torch.randn(1, 3, 30, 30, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (0, 2, 0, 2), mode="reflect")
    raw = model.net.net
    t = torch.tensor([0.3])
    with torch.no_grad():
        assert torch.equal(raw(x, t), raw(padded, t)[..., :30, :30])


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_eps_shape_dtype_and_determinism(dtype):
    m = pretrained("small-unet", dtype=dtype)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=dtype)
    with torch.no_grad():
        e1 = m.eps(x, 0.5)
        e2 = m.eps(x, torch.tensor([0.2, 0.5, 0.9], dtype=dtype))
    assert e1.shape == x.shape and e1.dtype == dtype and e1.device == x.device
    assert torch.equal(e1, m.eps(x, 0.5).detach())  # eval mode: no dropout, same bits
    assert torch.allclose(e2[1], e1[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(e2[0], e2[2])  # the time embedding matters


def test_a_wider_state_feeds_the_network_a_cast(model):
    """float64 in, float64 out, the network computing in float32 on the cast input."""
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=F64)
    with torch.no_grad():
        e64 = model.eps(x, 0.3)
        e32 = model.eps(x.float(), 0.3)
    assert e64.dtype == F64 and model.network_dtype == torch.float32
    assert torch.equal(e64, e32.double())


def test_float32_and_float64_agree(model):
    m64 = pretrained("small-unet", dtype=F64)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=F64)
    with torch.no_grad():
        e32 = model.eps(x.float(), 0.3).double()
        e64 = m64.eps(x, 0.3)
    assert (e32 - e64).abs().max() < 1e-4 * (1 + e64.abs().max())


@pytest.mark.parametrize("snr", [4.0, 1.0, 0.25])
def test_denoises_held_out_pictures_better_than_a_blur(model, snr):
    """x_t = α x0 + σ z of crops never trained on: the data prediction beats the best blur."""
    pytest.importorskip("skimage")
    from revsde.diffusion.pretrained.train import denoise_vs_blur

    r = denoise_vs_blur(model, snr)
    assert r["model_mse"] < r["blur_mse"] < 0.2 * r["noisy_mse"]
    # and it is the check recorded in the weight file, which docs/pretrained.md quotes
    # (docs/scripts/gen_figures.py writes the table from the record; tolerance there)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "scripts"))
    import gen_figures

    (saved,) = [s for s in gen_figures.small_unet_record()["training"]["denoise_vs_blur"]
                if s["snr"] == snr]
    assert gen_figures.denoise_agrees(saved, r), (saved, r)
    # the blur is the best of 7 widths chosen on these very crops; the model still wins
    assert r["model_mse"] < (0.9 if snr > 1 else 0.97) * r["blur_mse"]


def test_vtoeps_converts_v_to_eps():
    """ε = σ x + α v for v = α ε - σ x0 and x = α x0 + σ ε (VP schedule), to round-off."""
    sch = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))
    g = torch.Generator().manual_seed(3)
    x0, eps = (torch.randn(4, 1, 8, 8, generator=g, dtype=F64) for _ in range(2))
    t = torch.tensor([0.002, 0.3, 0.7, 1.0], dtype=F64)
    a, s = sch.alpha(t)[:, None, None, None], sch.sigma(t)[:, None, None, None]
    x = a * x0 + s * eps
    wrapped = VToEps(lambda x_, t_: a * eps - s * x0, sch)
    assert torch.allclose(wrapped(x, t), eps, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="variance-preserving"):
        VToEps(TinyUNet(), VE())


def test_samples_from_noise_stay_in_range(model):
    """DDIM samples from pure noise land near the data range [-1, 1] (no blow-up at t = 1)."""
    from revsde.diffusion.samplers.reference import sample_ddim
    from revsde.diffusion.schedules import time_grid

    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = sample_ddim(model, x, time_grid(model.schedule, 25, "uniform_lambda")).x
    assert float(y.abs().quantile(0.99)) < 1.5
    assert 0.1 < float(y.std()) < 1.0


def test_unknown_name_and_bad_dtype():
    with pytest.raises(ValueError, match=r"valid names are \[.*'small-unet'"):
        pretrained("big-unet")
    with pytest.raises(ValueError, match="floating torch.dtype"):
        pretrained("small-unet", dtype=torch.int32)


def test_bad_weight_files_are_rejected(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"format": "something-else"}, p)
    with pytest.raises(ValueError, match="not a revsde weight file"):
        pretrained(str(p))
    rec = load_record("small-unet")
    bad = {k: v for k, v in rec.items() if k != "schedule"}
    torch.save(bad, p)
    with pytest.raises(ValueError, match="lacks the keys"):
        pretrained(str(p))
    torch.save({**rec, "parameterization": "w"}, p)
    with pytest.raises(ValueError, match="unknown parameterization"):
        pretrained(str(p))
    torch.save({**rec, "version": 99}, p)
    with pytest.raises(ValueError, match="format version 99"):
        pretrained(str(p))
    sd = dict(rec["state_dict"])
    sd.pop(next(iter(sd)))
    torch.save({**rec, "state_dict": sd, "weights_sha256": None}, p)
    with pytest.raises(ValueError, match="do not fit"):
        pretrained(str(p))
    sd = {k: v.clone() for k, v in rec["state_dict"].items()}
    next(iter(sd.values())).view(-1)[0] += 1.0
    torch.save({**rec, "state_dict": sd}, p)
    with pytest.raises(ValueError, match="SHA-256.*modified or damaged"):
        pretrained(str(p))
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        pretrained(str(tmp_path / "junk.pt"))


def test_training_is_deterministic_and_saves_loadable(tmp_path):
    pytest.importorskip("skimage")
    from revsde.diffusion.pretrained.train import TrainConfig, eps_network, train

    cfg = TrainConfig(steps=4, batch=4, large_every=2, large_size=16, large_batch=2,
                      rgb_images=("coffee",), gray_images=("camera",), threads=1, size=8,
                      arch={"in_channels": 3, "base": 8, "mults": [1, 2], "emb_dim": 16,
                            "time_scale": 1000.0})
    logs = []
    net1, rec1 = train(cfg, log=logs.append)
    net2, rec2 = train(cfg, log=lambda s: None)
    s1, s2 = net1.state_dict(), net2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert rec1["final_train_loss_ema_avg"] == rec2["final_train_loss_ema_avg"]
    assert logs and rec1["data"]["images"] == ["coffee", "camera"]
    assert rec1["loss"] == "v-MSE"
    sch = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))
    path = save_pretrained(tmp_path / "tiny.pt", net1, sch, name="tiny", training=rec1,
                           parameterization=cfg.parameterization, image_shape=(3, 8, 8))
    m = pretrained(str(path), dtype=F64)
    assert m.channels == 3
    x = torch.randn(2, 3, 12, 12, dtype=F64)
    eps_net = eps_network(net1.double(), sch, "v")
    with torch.no_grad():
        assert torch.allclose(m.eps(x, 0.4), eps_net(x, torch.full((2,), 0.4, dtype=F64)))
    with pytest.raises(ValueError, match="unknown parameterization"):
        save_pretrained(tmp_path / "bad.pt", net1, sch, name="bad", parameterization="w")
