"""Test-suite settings and shared fixtures.

Hypothesis runs derandomized (examples drawn from a fixed seed per test), so a
CI run is reproducible; ``HYPOTHESIS_PROFILE=explore`` draws fresh examples on
each run, to hunt for new counterexamples locally.
"""

import os

import pytest
import torch
from diffusion_cases import F64, NAMES, SCH
from hypothesis import settings

from revsde.diffusion import IdealDenoiser

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- diffusion: the ideal denoiser of four bundled pictures (test_inversion, test_rev_heun_exp)
@pytest.fixture(scope="module")
def images():
    """The four pictures, gray, 16x16, float64 in [-1, 1]."""
    pytest.importorskip("skimage")
    from revsde.app.images import bundled_image, to_model_image

    return torch.cat([to_model_image(bundled_image(n), 16, F64) for n in NAMES])


@pytest.fixture(scope="module")
def model(images):
    """The ideal denoiser of ``images`` (data prediction)."""
    return IdealDenoiser(images, SCH, "x0").model()
