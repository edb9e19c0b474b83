"""Editing by exact inversion (revsde.diffusion.edit), classifier-free guidance as a model,
and the independent digit judge."""

import pytest
import torch
from torch.nn import functional as F

from revsde.diffusion import (
    EditError,
    GuidanceError,
    classifier_free,
    decode,
    edit,
    pretrained,
    regenerate,
    time_grid,
)
from revsde.diffusion.pretrained.digits import digit_classifier, digits_data

pytest.importorskip("sklearn")

from revsde.diffusion.pretrained.judge import digit_judge  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return pretrained("digits-unet")


@pytest.fixture(scope="module")
def judge():
    return digit_judge()


@pytest.fixture(scope="module")
def digits():
    x, y = digits_data(16, "test")
    return x[:10], y[:10]


def onehot(y):
    return {"label": F.one_hot(y, 10).float()}


# -- classifier-free guidance ----------------------------------------------------------
def test_guided_model_is_u_plus_s_times_c_minus_u(model):
    x = torch.randn(3, 1, 16, 16)
    c = onehot(torch.tensor([1, 4, 7]))
    g = classifier_free(model, 2.5)
    with torch.no_grad():
        u, k = model.eps(x, 0.4), model.eps(x, 0.4, **c)
        got = g.eps(x, 0.4, **c)
    torch.testing.assert_close(got, u + 2.5 * (k - u), rtol=1e-5, atol=1e-5)
    assert classifier_free(model, 1.0) is model  # u + (c - u) = c
    assert g.image_shape == model.image_shape and g.data_range == model.data_range
    # the scale is part of the fingerprint: guided latents do not decode without it
    fps = {model.fingerprint(), g.fingerprint(), classifier_free(model, 3.0).fingerprint()}
    assert len(fps) == 3


@pytest.mark.parametrize("scale", [-1.0, float("nan"), True, "2"])
def test_guidance_refuses_bad_scales(model, scale):
    with pytest.raises(GuidanceError, match="guidance scale"):
        classifier_free(model, scale)


# -- edit ------------------------------------------------------------------------------
def test_edit_inverts_exactly_and_regenerates_under_the_target(model, digits):
    x, y = digits
    x, y = x[:3], y[:3]
    want = (y + 5) % 10
    with torch.no_grad():
        res = edit(model, x, source=onehot(y), target=onehot(want), guidance_scale=2.0,
                   sampler="rev_heun", steps=6, verify=True)
        # the latent decodes to the source under the source label (the same guided model)
        back = decode(classifier_free(model, 2.0), res.latents, cond=onehot(y))
        again = regenerate(model, res.latents, onehot(want), guidance_scale=2.0)
    assert res.reconstruction_error is not None and res.reconstruction_error < 1e-6
    assert float((back - x).abs().max()) < 1e-6
    assert torch.equal(again, res.edited)  # one inversion, many targets
    assert res.edited.dtype == x.dtype and res.edited.shape == x.shape
    assert float((res.edited - x).abs().mean()) > 0.05  # the label did change the picture
    assert res.steps_regenerated == 6 and res.t_start == pytest.approx(model.schedule.t_max)
    assert res.nfe == 2 * res.latents.nfe
    # a decode without the guidance, or a regeneration at another scale, is refused
    with pytest.raises(ValueError, match="weights differ"):
        decode(model, res.latents, cond=onehot(y))
    with pytest.raises(EditError, match="guidance_scale=2"):
        regenerate(model, res.latents, onehot(want), guidance_scale=3.0)


def test_strength_inverts_to_an_intermediate_time(model, digits):
    x, y = digits
    with torch.no_grad():
        res = edit(model, x[:2], source=onehot(y[:2]), target=onehot((y[:2] + 1) % 10),
                   strength=0.5, sampler="rev_heun", steps=8, verify=True)
    ts = time_grid(model.schedule, 8, "uniform_lambda")
    assert res.steps_regenerated == 4 and res.t_start == pytest.approx(float(ts[4]))
    assert torch.equal(res.latents.ts, ts[4:])
    assert res.reconstruction_error < 1e-6
    # a weaker edit keeps more of the source than a full one
    with torch.no_grad():
        full = edit(model, x[:2], source=onehot(y[:2]), target=onehot((y[:2] + 1) % 10),
                    strength=1.0, sampler="rev_heun", steps=8)
    assert (res.edited - x[:2]).abs().mean() < (full.edited - x[:2]).abs().mean()


@pytest.mark.slow
def test_edits_read_as_the_target_digit_to_the_independent_judge(model, digits, judge):
    """The capability: real held-out digits, inverted under their label and regenerated
    under another with the default sampler, read as the target to the judge."""
    x, y = digits
    want = (y + 5) % 10
    with torch.no_grad():
        res = edit(model, x, source=onehot(y), target=onehot(want), guidance_scale=2.0,
                   verify=True)
    assert float(judge.agrees(res.edited.float(), want).float().mean()) >= 0.8
    assert res.reconstruction_error < 1e-6


def test_baseline_inversion_edits_but_ddim_is_not_exact(model, digits):
    x, y = digits
    kw = dict(source=onehot(y[:2]), target=onehot((y[:2] + 3) % 10), steps=6, verify=True)
    with torch.no_grad():
        ddim = edit(model, x[:2], sampler="ddim", **kw)
        bdia = edit(model, x[:2], sampler="bdia", **kw)
    assert ddim.reconstruction_error > 1e-3  # DDIM inversion is approximate
    assert bdia.reconstruction_error < 1e-4  # BDIA is exact up to round-off


@pytest.mark.parametrize("kwargs, match", [
    (dict(target=None), "needs target="),
    (dict(strength=0.0), "strength must be a number in"),
    (dict(strength=1.5), "strength must be a number in"),
    (dict(strength=True), "strength must be a number in"),
    (dict(source=[1, 2]), "source must be a dict"),
    (dict(sampler="dpmpp_2m"), "dpmpp_2m"),
    (dict(sampler="rev_heun_sde", seed=None), "needs an integer seed"),
    (dict(guidance_scale=-2.0), "guidance scale"),
])
def test_edit_refuses_bad_input(model, digits, kwargs, match):
    x, y = digits
    args = dict(source=onehot(y[:1]), target=onehot(y[:1]), steps=2, sampler="rev_heun")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        edit(model, x[:1], **args)


def test_edit_refuses_data_outside_the_model_range(model, digits):
    x, y = digits
    with pytest.raises(ValueError):
        edit(model, (x[:1] + 1) * 127.5, source=onehot(y[:1]), target=onehot(y[:1]),
             steps=2, sampler="rev_heun")


# -- the judge ---------------------------------------------------------------------------
def test_judge_is_accurate_deterministic_and_independent(judge):
    x, y = digits_data(16, "test")
    acc = float((judge.predict(x) == y).float().mean())
    assert acc == judge.held_out_accuracy and acc >= 0.9
    assert torch.equal(digit_judge().predict(x), judge.predict(x))  # no randomness
    # another model than the guiding classifier: they disagree on some real digits
    clf = digit_classifier()
    assert bool((clf(x).argmax(-1) != judge.predict(x)).any())
    # values outside [-1, 1] are clamped, NaN read as 0: a blown-up edit is judged, not fatal
    assert judge.predict(torch.full((2, 1, 16, 16), float("nan"))).shape == (2,)


@pytest.mark.parametrize("bad", [torch.zeros(2, 16, 16), torch.zeros(2, 3, 16, 16),
                                 torch.zeros(2, 1, 15, 15)])
def test_judge_refuses_other_shapes(judge, bad):
    with pytest.raises(ValueError, match="judge"):
        judge.predict(bad)


def test_the_editing_example_runs(tmp_path, capsys):
    import json
    from pathlib import Path

    from script_util import load_script

    mod = load_script(Path(__file__).resolve().parents[1] / "examples" / "edit_digits.py")
    assert mod.main(["--digits", "2", "--steps", "6", "--out", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reconstruction_error"] < 1e-6 and len(doc["judge_reads"]) == 2
    assert 0 <= doc["target_reached"] <= 1
    assert (tmp_path / "edit_digits.png").stat().st_size > 2_000
