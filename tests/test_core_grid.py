"""Explicit step grids (``sdeint(..., grid=...)``): outputs a subset of the steps."""

import pytest
import torch

import revsde


class SDE(torch.nn.Module):
    noise_type, sde_type = "diagonal", "stratonovich"

    def f(self, t, y):
        return torch.sin(y) - y

    def g(self, t, y):
        return 0.3 * torch.tanh(y)


def _grid():
    # non-uniform: dt could not reproduce it
    return torch.linspace(0, 1, 41, dtype=torch.float64) ** 1.5


def test_grid_outputs_equal_full_solve_at_the_kept_times():
    y0 = torch.randn(4, 3, dtype=torch.float64)
    g = _grid()
    full = revsde.sdeint(SDE(), y0, g, entropy=3)
    ends = revsde.sdeint(SDE(), y0, g[[0, 20, -1]], grid=g, entropy=3)
    assert ends.ys.shape == (3, 4, 3)
    assert torch.equal(ends.ys, full.ys[[0, 20, -1]])
    assert ends.stats["steps"] == 40
    back = revsde.sdeint_inverse(SDE(), ends.state, g[[0, -1]], grid=g, entropy=3)
    assert (back.ys[0] - y0).abs().max() < 1e-13


def test_grid_adjoint_matches_backprop_and_keeps_two_outputs():
    g = _grid()
    y0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    sol = revsde.sdeint(SDE(), y0, g[[0, -1]], grid=g, entropy=5, adjoint=True)
    (ga,) = torch.autograd.grad(sol.ys[-1].pow(2).sum(), y0)
    ref = revsde.sdeint(SDE(), y0, g, entropy=5)
    (gb,) = torch.autograd.grad(ref.ys[-1].pow(2).sum(), y0)
    assert ((ga - gb).abs().max() / gb.abs().max()) < 1e-12


@pytest.mark.parametrize(
    "ts, grid, dt, match",
    [
        ([0.0, 0.5, 1.0], [0.0, 0.25, 1.0], None, "every output time must be a step time"),
        ([0.0, 1.0], [0.0, 0.5, 0.9], None, "grid must start at ts"),
        ([0.0, 1.0], [0.0, 0.5, 1.0], 0.1, "either dt or grid"),
        ([0.0, 1.0], [1.0, 0.5, 0.0], None, "grid must start at ts|same direction"),
        ([0.0, 1.0], [0.0, 0.5, 0.5, 1.0], None, "grid has a duplicate time"),
    ],
)
def test_bad_grids_are_refused(ts, grid, dt, match):
    y0 = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        revsde.sdeint(SDE(), y0, torch.tensor(ts, dtype=torch.float64), dt=dt,
                      grid=torch.tensor(grid, dtype=torch.float64), entropy=1)
