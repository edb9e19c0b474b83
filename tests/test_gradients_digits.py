"""The digits model and digit classifier: loading, quality, reproducible training."""

import pytest
import torch
from torch.nn import functional as F

from revsde.diffusion import list_pretrained, pretrained, sample
from revsde.diffusion.pretrained.digits import (
    ClassifierConfig,
    DigitsConfig,
    digit_classifier,
    digits_data,
    train_classifier,
    train_digits,
)


def test_digits_data_split():
    x, y = digits_data(16, "train")
    xt, yt = digits_data(16, "test")
    assert x.shape == (1500, 1, 16, 16) and xt.shape == (297, 1, 16, 16)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert set(y.tolist()) == set(range(10)) and set(yt.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="split"):
        digits_data(16, "val")


def test_classifier_on_real_held_out_digits():
    clf = digit_classifier()
    x, y = digits_data(16, "test")
    with torch.no_grad():
        acc = float((clf(x).argmax(-1) == y).float().mean())
    assert acc >= 0.9
    assert clf.training_record["held_out_accuracy"] == pytest.approx(acc, abs=1e-6)


def test_digits_model_samples_are_recognisable():
    """Class-conditional samples: the classifier reads the asked digit most of the time."""
    assert "digits-unet" in list_pretrained()
    model = pretrained("digits-unet")
    clf = digit_classifier()
    labels = torch.arange(10).repeat(3)
    g = torch.Generator().manual_seed(1)
    x_T = torch.randn((labels.numel(), *model.image_shape), generator=g)
    with torch.no_grad():
        x0 = sample(model, x_T, steps=20, sampler="rev_heun",
                    cond={"label": F.one_hot(labels, 10).float()})
        acc = float((clf(x0.clamp(-1, 1)).argmax(-1) == labels).float().mean())
    assert acc >= 0.8


def test_training_is_reproducible():
    cfg = DigitsConfig(steps=2, batch=4)
    a, rec = train_digits(cfg, log=lambda s: None)
    b, _ = train_digits(cfg, log=lambda s: None)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values()))
    assert rec["config"]["steps"] == 2
    c1, _ = train_classifier(ClassifierConfig(steps=2), log=lambda s: None)
    c2, _ = train_classifier(ClassifierConfig(steps=2), log=lambda s: None)
    assert all(torch.equal(p, q) for p, q in zip(c1.state_dict().values(),
                                                 c2.state_dict().values()))


def test_label_shape_error():
    model = pretrained("digits-unet")
    with pytest.raises(ValueError, match="label must have shape"):
        model.eps(torch.zeros(2, 1, 16, 16), 0.5, label=torch.zeros(2, 3))
