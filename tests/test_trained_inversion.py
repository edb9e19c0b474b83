"""Exact inversion on the TRAINED shipped network, not only on oracles.

Every reversible sampler, ODE and SDE, round-trips two real RGB pictures with
the network in float32, bfloat16 and float64, while the reversible state stays
in float64 carried as ``hi + lo`` pairs (``compensated``, encode's default;
docs/mathematics.md §4.6): the round trip is then float64 round-off of the pictures
themselves, far inside the required bounds.  Before the state/network split, a
float32 state made the SDE samplers lose 1e-2..2e-1 here (the lifted SDE latent
reaches |x| ~ 1e8); with plain float64 sums a float64 network still lost
1e-11..1e-9 (tested below).  Plus: the weights fingerprint, the network-dtype
record, and the input checks.
"""

import pytest
import torch

from revsde.app.images import load_picture
from revsde.diffusion import decode, encode
from revsde.diffusion.inversion.encode import model_fingerprint
from revsde.diffusion.pretrained import load_record, pretrained
from revsde.diffusion.samplers import SAMPLERS, reversible_names

F64 = torch.float64
# (the adaptive samplers' round trips on the shipped models: tests/test_adaptive.py)
ODE = [n for n in reversible_names()
       if not SAMPLERS.get(n).stochastic and not SAMPLERS.get(n).adaptive]
SDE = [n for n in reversible_names() if SAMPLERS.get(n).stochastic]
#: the required bounds on the max abs round-trip error, per network dtype
BOUND = {torch.float32: 1e-6, torch.bfloat16: 1e-5, torch.float64: 1e-12}
#: what the compensated state gives with every network dtype: a few float64 ulps of |x| <= 1
ROUNDOFF = 1e-14


@pytest.fixture(scope="module")
def pictures():
    """Two real RGB pictures, 16x16, float64 in [-1, 1] (the packaged ones: Pillow only)."""
    a = load_picture("astronaut", max_side=16)
    c = load_picture("coffee", max_side=24)[..., :16, 4:20]
    return torch.cat([a, c])


@pytest.fixture(scope="module")
def nets():
    return {dt: pretrained("small-unet", dtype=dt) for dt in BOUND}


def _roundtrip(model, x0, sampler, steps=10, **kw):
    with torch.no_grad():
        lat = encode(model, x0, steps=steps, sampler=sampler, seed=3, **kw)
        return lat, decode(model, lat)


def _err(a, b):
    return float((a.to(F64) - b.to(F64)).abs().max())


def test_sampler_lists_are_complete():
    assert set(ODE) >= {"rex_euler", "rex_midpoint", "rex_heun", "rex_rk4", "rev_heun",
                        "rev_heun_exp"}
    assert set(SDE) >= {"rex_em", "rex_shark", "rev_heun_sde", "rev_heun_exp_sde"}


@pytest.mark.parametrize("name", ODE + SDE)
def test_round_trip_network_float32(nets, pictures, name):
    lat, back = _roundtrip(nets[torch.float32], pictures, name)
    assert lat.dtype == "float64" and lat.extra["network_dtype"] == "float32"
    assert back.dtype == F64 and lat.options["compensated"] is True
    assert _err(back, pictures) <= ROUNDOFF < BOUND[torch.float32]


@pytest.mark.slow
@pytest.mark.parametrize("name", ODE + SDE)
def test_round_trip_network_bfloat16(nets, pictures, name):
    lat, back = _roundtrip(nets[torch.bfloat16], pictures, name)
    assert lat.extra["network_dtype"] == "bfloat16"
    assert _err(back, pictures) <= ROUNDOFF < BOUND[torch.bfloat16]


@pytest.mark.parametrize(("name", "steps"), [(n, 10) for n in ODE + SDE]
                         + [(n, 50) for n in SDE])
def test_round_trip_network_float64(nets, pictures, name, steps):
    _, back = _roundtrip(nets[F64], pictures, name, steps=steps)
    assert _err(back, pictures) <= ROUNDOFF < BOUND[F64]


@pytest.mark.parametrize("name", SDE)
def test_plain_float64_sums_lose_the_sde_round_trip(nets, pictures, name):
    """The failure compensation fixes: a float64 network with plain float64 sums (the
    inverse hands the network inputs that differ in their last bits)."""
    _, back = _roundtrip(nets[F64], pictures, name, compensated=False)
    assert _err(back, pictures) > 10 * BOUND[F64]


@pytest.mark.parametrize("name", ["rex_em", "rex_shark", "rev_heun_sde"])
def test_sde_exact_mode_is_bit_exact_on_the_trained_network(nets, pictures, name):
    """Exact mode on its defaults: the SDE latent outgrows the a-priori grid, so encode
    widens the quantum to what the solve reached (stored) and the round trip is bit for
    bit; a quantum passed by the user is kept, and too fine a one is refused."""
    from revsde.diffusion.inversion.encode import exact_quantum

    m = nets[torch.float32]
    with torch.no_grad():
        lat = encode(m, pictures, steps=10, sampler=name, seed=3, exact=True)
        assert torch.equal(decode(m, lat), pictures)
    assert lat.options["quantum"] > exact_quantum(m, lat.ts, lat.case)
    _, back = _roundtrip(m, pictures, name, exact=True, quantum=2.0**-24)
    assert torch.equal(back, pictures)
    with pytest.raises(ValueError, match="beyond the fixed-point range.*larger quantum"):
        _roundtrip(m, pictures, name, exact=True, quantum=2.0**-34)


def test_float32_state_loses_the_sde_round_trip(nets, pictures):
    """The failure the wider state fixes: the same SDE solve with plain float32 sums."""
    _, back = _roundtrip(nets[torch.float32], pictures, "rev_heun_sde", dtype=torch.float32,
                         compensated=False)
    assert _err(back, pictures) > 1e3 * BOUND[torch.float32]


@pytest.mark.parametrize("name", SDE)
def test_compensated_float32_state_round_trips(nets, pictures, name):
    """A float32 state carried as pairs (for devices without float64, e.g. MPS) is as wide
    as the network's float32 inputs need: the round trip is float32 round-off."""
    lat, back = _roundtrip(nets[torch.float32], pictures, name, dtype=torch.float32)
    assert lat.options["compensated"] is True and back.dtype == torch.float64
    assert _err(back, pictures) <= 1e-6


# -- model identity ---------------------------------------------------------------------
def test_fingerprint_hashes_the_weights(nets):
    m = nets[torch.float32]
    rec = load_record("small-unet")
    assert m.fingerprint() == rec["weights_sha256"] == model_fingerprint(m)
    assert len(rec["weights_sha256"]) == 64
    assert nets[torch.bfloat16].fingerprint() != m.fingerprint()  # its own bytes


def _perturbed():
    m = pretrained("small-unet")
    with torch.no_grad():
        p = next(iter(m.parameters()))
        p.view(-1)[0] += 1e-3
    return m


def _fresh():
    from revsde.diffusion.pretrained.unet import TinyUNet

    m = pretrained("small-unet")
    torch.manual_seed(0)
    fresh = TinyUNet(**load_record("small-unet")["arch_config"])
    m.net.net.load_state_dict(fresh.state_dict())
    return m


@pytest.mark.parametrize("other", [_perturbed, _fresh], ids=["perturbed", "fresh"])
def test_decode_with_other_weights_is_refused(nets, pictures, other):
    with torch.no_grad():
        lat = encode(nets[torch.float32], pictures, steps=3, sampler="rex_euler")
    with pytest.raises(ValueError, match="weights differ"):
        decode(other(), lat)


def test_decode_with_another_network_dtype_is_refused(nets, pictures):
    with torch.no_grad():
        lat = encode(nets[torch.float32], pictures, steps=3, sampler="rev_heun")
    with pytest.raises(ValueError, match="network in float32.*runs in bfloat16"):
        decode(nets[torch.bfloat16], lat)


def test_fingerprint_survives_save_and_load(nets, pictures, tmp_path):
    from revsde.diffusion import Latents

    with torch.no_grad():
        lat = encode(nets[torch.float32], pictures, steps=3, sampler="rev_heun_sde", seed=1)
        lat.save(tmp_path / "l.pt")
        back = decode(nets[torch.float32], Latents.load(tmp_path / "l.pt"))
    assert _err(back, pictures) <= BOUND[torch.float32]
    with pytest.raises(ValueError, match="weights differ"):
        decode(_perturbed(), Latents.load(tmp_path / "l.pt"))


# -- input checks -----------------------------------------------------------------------
def test_encode_refuses_pictures_outside_the_data_range(nets, pictures):
    m = nets[torch.float32]
    x255 = (pictures + 1) * 127.5
    with pytest.raises(ValueError, match=r"outside the model's data range \[-1, 1\].*127.5"):
        encode(m, x255, steps=2)
    with pytest.raises(ValueError, match=r"no negative value.*\[0, 1\].*2x - 1"):
        encode(m, (pictures + 1) / 2, steps=2)
    with torch.no_grad():  # the user can say it really is their data
        encode(m, (pictures + 1) / 2, steps=2, check_range=False)


@pytest.mark.parametrize("channels", [1, 4])
def test_encode_refuses_another_channel_count(nets, pictures, channels):
    x = pictures[:, :1].expand(2, channels, 16, 16)
    with pytest.raises(ValueError, match=f"{channels} channel.*takes 3.*\\(batch, 3, H, W\\)"):
        encode(nets[torch.float32], x, steps=2)


def test_any_size_round_trips(nets):
    """Fully convolutional: a 13x10 picture (not a multiple of 4) keeps its shape."""
    x = load_picture("coffee", max_side=13)
    assert tuple(x.shape) == (1, 3, 9, 13)
    lat, back = _roundtrip(nets[torch.float32], x, "rex_em")
    assert back.shape == x.shape and _err(back, x) <= BOUND[torch.float32]


@pytest.mark.parametrize("name", ["rev_heun", "rev_heun_sde"])
def test_channels_last_picture_round_trips(nets, name):
    """A picture made from an (H, W, C) array is channels-last; the network's rounding
    depends on its input's layout, so the drift hands it one layout both ways (before:
    1.1e-7 and 1.3e-7 here, the states the solve makes being contiguous)."""
    import numpy as np

    from revsde.app.images import read_picture

    a = np.ascontiguousarray(read_picture("astronaut")[100:148, 200:248])
    x = torch.from_numpy(a).to(F64).permute(2, 0, 1)[None] / 127.5 - 1
    assert not x.is_contiguous()
    _, back = _roundtrip(nets[torch.float32], x, name, steps=6)
    assert _err(back, x) <= ROUNDOFF
