"""Shared pieces of the diffusion tests: the schedule, the Gaussian-mixture oracle,
the ideal denoiser of four bundled pictures, and order fitting.

The fixtures built from them (``images``, ``model``) are in ``conftest.py``.
"""

import numpy as np
import torch

import revsde
from revsde.diffusion import GaussianMixtureOracle, LiftedProblem, VPLinear, time_grid

F64, F32 = torch.float64, torch.float32
SCH = VPLinear()
NAMES = ("camera", "astronaut", "coffee", "chelsea")
TOL = {F64: 1e-10, F32: 1e-4}


def mixture(d=2, prediction="eps"):
    """A 3-component Gaussian mixture in ``d`` dimensions (VPLinear)."""
    g = torch.Generator().manual_seed(3)
    means = torch.randn((3, d), generator=g, dtype=F64)
    return GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.6, 0.5, 0.8], SCH, prediction)


def pf_ode_reference(steps):
    """The PF-ODE reference of the samplers' order tests: the mixture's model, 64 samples
    ``x_T`` of it at ``t_max`` and their ``x0`` by RK4 on the lifted data-prediction ODE over
    a uniform-λ grid of ``steps`` steps, as ``(model, x_T, x0)``."""
    orc = mixture()
    model = orc.model()
    x_T = orc.sample(64, torch.Generator().manual_seed(0), t=SCH.t_max)
    ts = time_grid(SCH, steps, "uniform_lambda")
    pb = LiftedProblem(model, "ode_x0", ts)
    sol = revsde.sdeint(pb.sde, pb.to_lifted(x_T, ts[0]), pb.clocks, method="rk4")
    return model, x_T, pb.from_lifted(sol.ys[-1], ts[-1])


def fit_order(steps, errs):
    """Slope of log(error) against log(steps), negated."""
    return -np.polyfit(np.log(steps), np.log(errs), 1)[0]


def rms(a, b):
    return float((a - b).pow(2).mean().sqrt())


def max_err(a, b):
    return float((a.to(F64) - b.to(F64)).abs().max())


class TanhNet(torch.nn.Module):
    """A one-parameter network that reads both x and t (the sampler-overhead tests)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x, t):
        return torch.tanh(self.w * x) + t.reshape(-1, *[1] * (x.dim() - 1)).to(x.dtype)
