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


@pytest.fixture
def exp_weight_calls(monkeypatch):
    """The number of times ``exp_weights`` is applied during a test, one entry per call
    holding how many steps it computed (a whole grid's table, or one step)."""
    import revsde.solvers.exp_reversible_heun as erh

    calls = []
    real = erh.exp_weights

    def counting(s0, h):
        calls.append(torch.as_tensor(s0).numel())
        return real(s0, h)

    monkeypatch.setattr(erh, "exp_weights", counting)
    return calls


# -- `revsde invert --json` at its defaults, run once (test_cli_defaults, test_docs_figures) ---
@pytest.fixture(scope="session")
def invert_defaults(tmp_path_factory):
    """One run of ``revsde invert --json`` with every default but a cheaper converged
    reference for the fidelity columns (``--reference-steps 32``; the round trips the
    README quotes do not depend on it), in an empty folder: ``(completed process, that
    folder)``.  The test of the command's defaults and the check of the README's numbers
    share it."""
    import subprocess
    import sys

    cwd = tmp_path_factory.mktemp("invert_defaults")
    code = ("import sys; from revsde.cli import main; "
            "sys.exit(main(['invert', '--json', '--reference-steps', '32']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    return done, cwd
