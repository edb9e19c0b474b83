"""The diffusion API's contract: one test per reported case.

Each case raised a raw torch or Python error, or returned a silently wrong
result, before these checks; each is now refused at the entry point
with the library's own exception and a message that says what to change.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import revsde
from revsde.checks import ArgumentError
from revsde.diffusion import (
    GradientError,
    decode,
    encode,
    gradient,
    pretrained,
    sample,
)
from revsde.sde import SDEOutputError


@pytest.fixture(scope="module")
def unet():
    return pretrained("small-unet")


@pytest.fixture(scope="module")
def digits():
    return pretrained("digits-unet")


def picture(batch=1, channels=3, size=8):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(batch, channels, size, size, generator=gen) * 2 - 1


# -- encode and sample: shapes -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (1, 3, 0, 8)], ids=["empty batch", "height 0"])
def test_encode_refuses_an_empty_picture(unet, shape):
    with pytest.raises(ValueError, match=r"x0 is empty \(shape .*at least one entry"):
        encode(unet, torch.zeros(shape), steps=2)


def test_sample_refuses_batch_zero(unet):
    with pytest.raises(ValueError, match=r"each at least 1; got \(0, 3, 8, 8\)"):
        sample(unet, (0, 3, 8, 8), steps=2, seed=0)


def test_sample_refuses_a_negative_dimension(unet):
    with pytest.raises(ValueError, match=r"each at least 1; got \(1, 3, -32, 32\)"):
        sample(unet, (1, 3, -32, 32), steps=2, seed=0)


def test_sample_refuses_a_shape_past_the_memory_limit(unet):
    with pytest.raises(ValueError, match=r"more than the limit .* sample a smaller batch"):
        sample(unet, (100_000, 3, 1024, 1024), steps=2, seed=0)


# -- conditioning ------------------------------------------------------------------------------
def test_cond_must_be_a_dict(unet):
    for call in (lambda: encode(unet, picture(), steps=2, cond=torch.zeros(1)),
                 lambda: sample(unet, (1, 3, 8, 8), steps=2, seed=0, cond=torch.zeros(1))):
        with pytest.raises(TypeError, match=r"cond must be a dict .* got Tensor"):
            call()


def test_cond_for_an_unconditional_model_is_refused(unet):
    with pytest.raises(ValueError, match=r"this model is unconditional .* leave cond out"):
        encode(unet, picture(), steps=2, cond={"label": torch.zeros(1, 10)})


def test_an_unknown_cond_key_is_refused_with_the_known_ones(digits):
    x = picture(channels=1, size=16)
    with pytest.raises(ValueError, match=r"no keyword argument 'lable'; .* \['label'\]"):
        encode(digits, x, steps=2, cond={"lable": torch.zeros(1, 10)})
    with pytest.raises(TypeError, match=r"keys must be the names"):
        sample(digits, (1, 1, 16, 16), steps=2, seed=0, cond={0: torch.zeros(1, 10)})


def test_a_known_cond_key_still_works(digits):
    label = torch.nn.functional.one_hot(torch.tensor([3]), 10).float()
    x = sample(digits, (1, 1, 16, 16), steps=2, seed=0, cond={"label": label})
    assert x.shape == (1, 1, 16, 16) and torch.isfinite(x).all()


# -- gradient ----------------------------------------------------------------------------------
def test_gradient_checks_the_channel_count(unet):
    with pytest.raises(GradientError, match=r"x_T has 1 channel\(s\) .* the model takes 3"):
        gradient(lambda x: x.sum(), unet, torch.randn(1, 1, 8, 8), steps=2)


def test_gradient_refuses_a_loss_that_does_not_depend_on_the_sample(unet):
    w = torch.ones(1, requires_grad=True)  # requires grad, but is not the sample
    for method in ("reversible", "backprop", "greedy", "adjointdeis-1"):
        sampler = "ddim" if method == "greedy" else "rev_heun"
        with pytest.raises(GradientError, match=r"does not depend on the sample"):
            gradient(lambda x: w.sum(), unet, torch.randn(1, 3, 8, 8), steps=2,
                     method=method, sampler=sampler)


def test_gradient_refuses_steps_zero_with_its_own_error(unet):
    for steps in (0, -1, 2.0, True):
        with pytest.raises(GradientError, match=r"steps must be a positive integer"):
            gradient(lambda x: x.sum(), unet, torch.randn(1, 3, 8, 8), steps=steps)


def test_gradient_checks_cond(unet):
    with pytest.raises(GradientError, match=r"unconditional"):
        gradient(lambda x: x.sum(), unet, torch.randn(1, 3, 8, 8), steps=2,
                 cond={"label": torch.zeros(1, 10)})


# -- Latents.save ----------------------------------------------------------------------------
def test_latents_save_to_a_folder_or_a_missing_folder(unet, tmp_path):
    lat = encode(unet, picture(), steps=2)
    with pytest.raises(IsADirectoryError, match=r"is a folder; save the latents to a file"):
        lat.save(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"does not exist; create it first"):
        lat.save(tmp_path / "missing" / "lat.pt")
    with pytest.raises(TypeError, match=r"str or a pathlib.Path"):
        lat.save(3)
    lat.save(tmp_path / "lat.pt")  # and a good path still works
    back = revsde.diffusion.Latents.load(tmp_path / "lat.pt")
    assert torch.equal(decode(unet, back), decode(unet, lat))


# -- pretrained ------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pretrained_on_cuda_without_cuda():
    with pytest.raises(ValueError, match=r"CUDA is not available here .* device='cpu'"):
        pretrained(device="cuda")


def test_pretrained_none_and_bad_devices():
    with pytest.raises(TypeError, match=r"named by a string \(one of \['digits-unet', "):
        pretrained(None)
    with pytest.raises(ValueError, match=r"not a device torch knows"):
        pretrained(device="gpu")
    with pytest.raises(TypeError, match=r"device must be a torch.device"):
        pretrained(device=1.5)


# -- encode's options ------------------------------------------------------------------------
def test_a_complex_picture_is_refused_not_cast(unet):
    with pytest.raises(TypeError, match=r"x0 is complex .* pass x0.real"):
        encode(unet, picture().to(torch.complex64), steps=2)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_encode_refuses_a_non_positive_data_range(unet, bad):
    with pytest.raises(ValueError, match=r"data_range must be a positive, finite bound"):
        encode(unet, picture(), steps=2, data_range=bad)


@pytest.mark.parametrize("flag", ["exact", "verify", "check_range"])
def test_encode_flags_are_true_or_false(unet, flag):
    with pytest.raises(ArgumentError, match=rf"{flag} must be True or False; got str 'yes'"):
        encode(unet, picture(), steps=2, **{flag: "yes"})


def test_numpy_integer_steps_are_taken_like_sdeint_takes_them(unet):
    x = picture()
    lat = encode(unet, x, steps=np.int64(2))
    assert lat.grid["steps"] == 2 and type(lat.grid["steps"]) is int
    assert torch.equal(decode(unet, lat), decode(unet, encode(unet, x, steps=2)))
    assert torch.equal(sample(unet, (1, 3, 8, 8), steps=np.int64(2), seed=0),
                       sample(unet, (1, 3, 8, 8), steps=2, seed=0))
    with pytest.raises(ArgumentError, match=r"steps must be a positive integer .* bool"):
        encode(unet, x, steps=True)
    with pytest.raises(ArgumentError, match=r"steps must be a positive integer"):
        sample(unet, (1, 3, 8, 8), steps=2.0, seed=0)


# -- the core: f writing into y, bm and the SDE class ----------------------------------------
class Diagonal:
    noise_type = "diagonal"
    sde_type = "stratonovich"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return 0.1 * torch.ones_like(y)


Y0 = torch.linspace(-1, 1, 4, dtype=torch.float64).reshape(2, 2)
TS = torch.tensor([0.0, 1.0], dtype=torch.float64)


def test_an_f_that_writes_into_y_is_refused_and_y0_is_kept():
    def f(t, y):
        y.mul_(0.5)
        return -y

    y0 = Y0.clone()
    with pytest.raises(SDEOutputError, match=r"f\(t, y\) modified its argument y in place"):
        revsde.sdeint(f, y0, TS, dt=0.1)
    assert torch.equal(y0, Y0)  # the caller's y0 is untouched


def test_a_g_that_writes_into_y_is_refused():
    class G(Diagonal):
        def g(self, t, y):
            y += 1
            return 0.1 * torch.ones_like(y)

    y0 = Y0.clone()
    with pytest.raises(SDEOutputError, match=r"g\(t, y\) modified its argument y in place"):
        revsde.sdeint(G(), y0, TS, dt=0.1, entropy=0)
    assert torch.equal(y0, Y0)


def test_an_f_and_g_that_writes_into_y_is_refused():
    class FG(Diagonal):
        def f_and_g(self, t, y):
            y[0] = 0.0
            return -y, 0.1 * torch.ones_like(y)

    with pytest.raises(SDEOutputError, match=r"modified its argument y in place"):
        revsde.sdeint(FG(), Y0.clone(), TS, dt=0.1, entropy=0, method="mcf_midpoint")


def test_a_pure_f_still_round_trips():
    sol = revsde.sdeint(Diagonal(), Y0, TS, dt=0.1, entropy=3)
    inv = revsde.sdeint_inverse(Diagonal(), sol.state, TS, dt=0.1, entropy=3)
    assert float((inv.ys[0] - Y0).abs().max()) < 1e-12


def test_bm_must_be_a_brownian_motion():
    with pytest.raises(TypeError, match=r"bm must be a Brownian motion object.* got int 5"):
        revsde.sdeint(Diagonal(), Y0, TS, dt=0.1, bm=5)
    with pytest.raises(TypeError, match=r"got the class BrownianGrid; build an instance"):
        revsde.sdeint(Diagonal(), Y0, TS, dt=0.1, bm=revsde.BrownianGrid)


def test_the_sde_class_instead_of_an_instance():
    with pytest.raises(TypeError, match=r"sde is the class Diagonal, not an instance of it; "
                                        r"pass Diagonal\(\)"):
        revsde.sdeint(Diagonal, Y0, TS, dt=0.1)
