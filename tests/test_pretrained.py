"""The shipped small model: offline loading, dtypes, validation, and that it learned to denoise."""

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

pytest.importorskip("skimage")
from revsde.diffusion.pretrained.train import TrainConfig, eps_network, held_out_faces, train  # noqa: E402

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
    assert rec["image_shape"] == [1, 32, 32] and rec["data_range"] == [-1.0, 1.0]
    tr = rec["training"]
    assert tr["config"]["seed"] == 0 and tr["data"]["images"]
    assert "lfw_subset()[180:200]" in tr["data"]["held_out"]
    n = sum(v.numel() for v in rec["state_dict"].values())
    assert n * 4 < 2.5e6
    assert all(v.dtype == torch.float32 for v in rec["state_dict"].values())


def test_loads_offline_as_diffusion_model(model):
    assert isinstance(model, DiffusionModel) and isinstance(model.net, VToEps)
    assert isinstance(model.net.net, TinyUNet)
    assert isinstance(model.schedule, VPDiscrete) and model.prediction == "eps"
    assert not model.training and model.image_shape == (1, 32, 32)
    assert list_pretrained() == ["small-unet"]


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_eps_shape_dtype_and_determinism(dtype):
    m = pretrained("small-unet", dtype=dtype)
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=dtype)
    with torch.no_grad():
        e1 = m.eps(x, 0.5)
        e2 = m.eps(x, torch.tensor([0.2, 0.5, 0.9], dtype=dtype))
    assert e1.shape == x.shape and e1.dtype == dtype and e1.device == x.device
    assert torch.equal(e1, m.eps(x, 0.5).detach())  # eval mode: no dropout, same bits
    assert torch.allclose(e2[1], e1[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(e2[0], e2[2])  # the time embedding matters


def test_float32_and_float64_agree(model):
    m64 = pretrained("small-unet", dtype=F64)
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1), dtype=F64)
    with torch.no_grad():
        e32 = model.eps(x.float(), 0.3).double()
        e64 = m64.eps(x, 0.3)
    assert (e32 - e64).abs().max() < 1e-4 * (1 + e64.abs().max())


@pytest.mark.parametrize("t", [0.05, 0.15])
def test_denoises_held_out_faces(model, t):
    """x_t = α x0 + σ z of faces never seen in training: x̂0 beats x_t/α and a blur."""
    x0 = held_out_faces(32).to(torch.float32)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    tt = torch.tensor(t)
    a, s = model.schedule.alpha(tt), model.schedule.sigma(tt)
    xt = a * x0 + s * z
    with torch.no_grad():
        x0_hat = model.x0(xt, t)
        eps_hat = model.eps(xt, t)
    noisy_mse = float(((xt / a - x0) ** 2).mean())
    model_mse = float(((x0_hat - x0) ** 2).mean())
    assert 0.05 < float(s / a) < 1.0  # moderate noise
    assert model_mse < 0.25 * noisy_mse
    assert float(((eps_hat - z) ** 2).mean()) < 0.5  # predicting ε = 0 scores 1
    # better than the best 3x3 / 5x5 box blur of x_t/α: it learned more than smoothing
    for k in (3, 5):
        w = torch.ones(1, 1, k, k) / (k * k)
        blur = torch.nn.functional.conv2d(xt / a, w, padding=k // 2)
        assert model_mse < float(((blur - x0) ** 2).mean())


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

    x = torch.randn(16, 1, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = sample_ddim(model, x, time_grid(model.schedule, 25, "uniform_lambda")).x
    assert float(y.abs().quantile(0.99)) < 1.5
    assert 0.1 < float(y.std()) < 1.0


def test_unknown_name_and_bad_dtype():
    with pytest.raises(ValueError, match=r"valid names are \['small-unet'\]"):
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
    torch.save({**rec, "state_dict": sd}, p)
    with pytest.raises(ValueError, match="do not fit"):
        pretrained(str(p))
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        pretrained(str(tmp_path / "junk.pt"))


def test_training_is_deterministic_and_saves_loadable(tmp_path):
    cfg = TrainConfig(steps=3, batch=4, patches_per_image=2, face_repeats=1,
                      images=("camera",), threads=1,
                      arch={"in_channels": 1, "base": 8, "mults": [1, 2], "emb_dim": 16,
                            "time_scale": 1000.0})
    logs = []
    net1, rec1 = train(cfg, log=logs.append)
    net2, rec2 = train(cfg, log=lambda s: None)
    s1, s2 = net1.state_dict(), net2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert rec1["final_train_loss_ema_avg"] == rec2["final_train_loss_ema_avg"]
    assert logs and rec1["data"]["images"] == ["camera"]
    assert rec1["loss"] == "v-MSE"
    sch = VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64))
    path = save_pretrained(tmp_path / "tiny.pt", net1, sch, name="tiny", training=rec1,
                           parameterization=cfg.parameterization)
    m = pretrained(str(path), dtype=F64)
    x = torch.randn(2, 1, 32, 32, dtype=F64)
    eps_net = eps_network(net1.double(), sch, "v")
    with torch.no_grad():
        assert torch.allclose(m.eps(x, 0.4), eps_net(x, torch.full((2,), 0.4, dtype=F64)))
    with pytest.raises(ValueError, match="unknown parameterization"):
        save_pretrained(tmp_path / "bad.pt", net1, sch, name="bad", parameterization="w")
