"""A saved latent decodes exactly anywhere: per-sample noise keys, batch-invariant network
evaluation, Latents items (index, split, cat) and the run fingerprint."""

from __future__ import annotations

import warnings

import pytest
import torch

from revsde import BrownianGrid
from revsde.brownian import KeyedNormal, Seeds, check_keys, key_of
from revsde.diffusion import Latents, decode, encode, pretrained, sample
from revsde.diffusion.inversion.latents import LatentsFileError
from revsde.diffusion.inversion.reproducible import BATCHED, Evaluation, evaluating

F64 = torch.float64
GRID = [k / 16 for k in range(17)]


# -- per-sample keys -----------------------------------------------------------------------


@pytest.mark.parametrize("levy_area", [False, True])
def test_keyed_grid_sample_path_is_its_own(levy_area):
    """A sample's cells and multi-cell sums are the same bits alone and in a batch."""
    big = BrownianGrid(GRID, (4, 2, 3), dtype=F64, entropy=7, keys=[5, 1, 9, 2],
                       levy_area=levy_area)
    one = BrownianGrid(GRID, (1, 2, 3), dtype=F64, entropy=7, keys=[9], levy_area=levy_area)
    for n in range(16):
        assert torch.equal(big.cell(n).W[2:3], one.cell(n).W)
    for a, b in ((0.0, 1.0), (0.125, 0.6875)):
        if levy_area:
            (wb, ub), (wo, uo) = big(a, b, return_U=True), one(a, b, return_U=True)
            assert torch.equal(wb[2:3], wo) and torch.equal(ub[2:3], uo)
        else:
            assert torch.equal(big(a, b)[2:3], one(a, b))


def test_keyed_grid_statistics_and_independence():
    bm = BrownianGrid(GRID, (2000, 1), dtype=F64, entropy=3, keys=range(2000))
    w = bm(0.0, 1.0)
    assert abs(float(w.mean())) < 0.1 and abs(float(w.std()) - 1.0) < 0.06
    other = BrownianGrid(GRID, (1, 1), dtype=F64, entropy=4, keys=[0])
    assert not torch.equal(other(0.0, 1.0), w[:1])  # another seed: another path


def test_keys_are_checked():
    with pytest.raises(ValueError, match="one key per sample"):
        BrownianGrid(GRID, (3, 2), dtype=F64, entropy=1, keys=[1, 2])
    with pytest.raises(TypeError, match="non-negative integers"):
        check_keys([1, -2])
    with pytest.raises(TypeError, match="sequence"):
        check_keys("ab")
    assert key_of("a/b.png") == key_of("a/b.png") != key_of("a/c.png")
    with pytest.raises(ValueError, match="one key per sample"):
        Seeds.of(Seeds(1, (1, 2)), 3)


def test_keyed_normal_is_per_sample():
    z = KeyedNormal(5, [4, 8, 15], (3, 7), dtype=torch.float32)
    z1 = KeyedNormal(5, [15], (1, 7), dtype=torch.float32)
    assert torch.equal(z[3][2:], z1[3]) and not torch.equal(z[3], z[4])


def test_reference_sde_sampler_sample_alone_equals_in_batch():
    model = pretrained("small-unet", dtype=F64)
    x_T = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = sample(model, x_T, steps=3, sampler="sde_dpmpp_1", seed=2)
    alone = sample(model, x_T[:1], steps=3, sampler="sde_dpmpp_1", seed=2)
    assert (out[:1] - alone).abs().max() < 1e-6  # the network is batched here: round-off


# -- encode: alone, in a batch, at every position -----------------------------------------


@pytest.fixture(scope="module")
def model():
    return pretrained("small-unet")


@pytest.fixture(scope="module")
def pictures():
    g = torch.Generator().manual_seed(11)
    return (torch.rand(4, 3, 12, 12, generator=g) * 1.6 - 0.8).to(torch.float32)


@pytest.mark.parametrize("sampler", ["rex_em", "rev_heun_sde", "rex_euler"])
def test_latent_is_the_same_alone_and_at_every_position(model, pictures, sampler):
    x = pictures[:1]
    alone = encode(model, x, steps=3, sampler=sampler, seed=4, keys=[77])
    for pos in (0, 2):
        batch = torch.cat([pictures[1:pos + 1], x, pictures[pos + 1:]])
        keys = [10 + i for i in range(len(batch))]
        keys[pos] = 77
        lat = encode(model, batch, steps=3, sampler=sampler, seed=4, keys=keys)
        item = lat[pos]
        assert item.keys == [77]
        assert all(torch.equal(a, b) for a, b in zip(item.state, alone.state))
        assert torch.equal(decode(model, item), decode(model, lat)[pos:pos + 1])


def test_default_keys_are_the_batch_index(model, pictures):
    lat = encode(model, pictures[:2], steps=2, sampler="rex_em", seed=1)
    assert lat.keys == [0, 1] and lat.brownian["kind"] == "keyed_grid"
    first = encode(model, pictures[:1], steps=2, sampler="rex_em", seed=1)
    assert torch.equal(first.y, lat.y[:1])


def test_thread_count_does_not_change_the_latents(model, pictures):
    lat = encode(model, pictures[:2], steps=2, sampler="rev_heun_sde", seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        again = encode(model, pictures[:2], steps=2, sampler="rev_heun_sde", seed=3)
        back = decode(model, lat)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(again.y, lat.y) and torch.equal(back, decode(model, lat))
    assert torch.get_num_threads() == threads  # restored


# -- Latents items -------------------------------------------------------------------------


def test_index_split_cat_save_load(model, pictures, tmp_path):
    lat = encode(model, pictures[:3], steps=2, sampler="rex_em", seed=2, keys=[5, 6, 7],
                 verify=True)
    parts = lat.split(2)
    assert [len(p) for p in parts] == [2, 1] and parts[1].keys == [7]
    whole = Latents.cat([lat[2], lat[0:2]])
    assert whole.keys == [7, 5, 6] and whole.brownian["size"][0] == 3
    assert torch.equal(decode(model, whole)[0], decode(model, lat)[2])
    lat[[1]].save(tmp_path / "one.pt")
    back = Latents.load(tmp_path / "one.pt")
    assert back.keys == [6] and back.run == lat.run and torch.equal(back.y, lat.y[1:2])
    assert back.verify_error == lat.extra["verify_errors"][1]
    with pytest.raises(ValueError, match="differs from item 0 in 'seed'"):
        Latents.cat([lat[0], encode(model, pictures[:1], steps=2, sampler="rex_em", seed=3)])
    with pytest.raises(IndexError):
        lat[5]


def test_format_version_1_files_still_decode(model, pictures, tmp_path):
    """A file written before per-sample keys (one Brownian path for the whole batch)."""
    from revsde.diffusion.inversion.encode import latents_of
    from revsde.diffusion.samplers import get_encoder
    from revsde.diffusion.schedules import time_grid

    x = pictures[:2].to(F64)
    s = get_encoder("rex_em", compensated=True)
    ts = time_grid(model.schedule, 2, "uniform_lambda")
    enc = s.encode_state(model, x, ts, seed=Seeds(3, None))
    lat = latents_of(model, s, enc, ts, x, x_dtype=torch.float32,
                     grid={"kind": "uniform_lambda", "steps": 2}, cond=None, seed=3)
    md = lat.metadata()
    md.pop("keys"), md.pop("run")
    md["brownian"]["kind"] = "grid"
    import json

    from revsde.diffusion.inversion import latents as L

    meta = json.dumps(md, sort_keys=True)
    tensors = lat.tensors()
    torch.save({"format": L.FORMAT, "format_version": 1, "metadata": meta, "tensors": tensors,
                "sha256": L._checksum(meta, tensors)}, tmp_path / "v1.pt")
    old = Latents.load(tmp_path / "v1.pt")
    assert old.keys is None and old.run is None
    assert (decode(model, old) - pictures[:2]).abs().max() < 1e-5
    with pytest.raises(ValueError, match="format version 1"):
        old[0]
    bad = dict(md, keys=[1])
    with pytest.raises(LatentsFileError, match="one integer per sample"):
        Latents.from_parts(bad, tensors)


# -- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_recorded_and_a_mismatch_warns(model, pictures):
    lat = encode(model, pictures[:1], steps=2, sampler="rex_euler")
    assert lat.run["mode"] == "reproducible" and lat.run["threads"] == 1
    assert lat.run["torch"] == torch.__version__ and lat.run["device"] == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode(model, lat)  # same fingerprint: silent
    moved = Latents(**{**lat.__dict__, "run": {**lat.run, "torch": "0.0.1"}})
    with pytest.warns(UserWarning, match=r"torch '0.0.1' -> .*about 1e-06"):
        decode(model, moved)
    batched = encode(model, pictures[:2], steps=2, sampler="rex_em", seed=0,
                     reproducible=False)
    assert batched.run["mode"] == "batched"
    with pytest.warns(UserWarning, match="about 0.001"):
        decode(model, batched, reproducible=True)


def test_evaluation_mode_checks_and_restores():
    with pytest.raises(ValueError, match="micro_batch"):
        Evaluation(micro_batch=0)
    assert BATCHED.name == "batched" and Evaluation(2, 1).name == "reproducible"
    det = torch.are_deterministic_algorithms_enabled()
    with evaluating(Evaluation(1, 1, True)):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == det
