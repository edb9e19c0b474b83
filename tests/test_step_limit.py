"""A solve too long to build is refused at once, saying what it would need.

``sdeint(dt=1e-300)`` used to build a Python list of 1e300 step times until the
operating system killed the process; the step-grid builder now counts first.
"""

from __future__ import annotations

import time

import pytest
import torch

from revsde import sdeint, sdeint_inverse
from revsde.checks import MAX_STEPS, check_grid_steps, check_step_count
from revsde.grid import step_grid


class SDE:
    noise_type, sde_type = "diagonal", "stratonovich"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return 0.3 * torch.ones_like(y)


@pytest.mark.parametrize("dt", [1e-300, 5e-324, 1e-9])
def test_sdeint_with_a_tiny_dt_is_refused_before_it_allocates(dt):
    y0 = torch.ones(2, 1, dtype=torch.float64)
    ts = torch.tensor([0.0, 1.0], dtype=torch.float64)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="steps, more than the limit") as err:
        sdeint(SDE(), y0, ts, dt=dt)
    assert time.perf_counter() - t0 < 5.0
    msg = str(err.value)
    assert "larger dt" in msg and "1e-07" in msg  # what to change: dt >= 1 / limit
    assert "\n" not in msg


def test_sdeint_inverse_is_refused_too():
    y0 = torch.ones(1, 1, dtype=torch.float64)
    ts = torch.tensor([0.0, 1.0], dtype=torch.float64)
    sol = sdeint(SDE(), y0, ts, dt=0.5, entropy=0)
    with pytest.raises(ValueError, match="more than the limit"):
        sdeint_inverse(SDE(), sol.state, ts.flip(0), dt=1e-300, entropy=0)


def test_the_limit_itself():
    assert len(step_grid([0.0, 1.0], 1.0 / 1000)[0]) == 1001  # ordinary grids unchanged
    check_grid_steps([0.0, 1.0], 1.0 / MAX_STEPS)  # exactly at the limit: allowed
    check_grid_steps([0.0, 1.0], None)
    with pytest.raises(ValueError, match="1,000,000,000 steps"):
        check_step_count(10**9)
    with pytest.raises(ValueError, match="limit of 5"):
        check_step_count(float("inf"), 5)
    assert check_step_count(5, 5) == 5
