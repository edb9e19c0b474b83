"""The Rex sampler layer reads solver class data: any reversible registry solver drives it."""

import pytest
import torch

from revsde.diffusion import GaussianMixtureOracle, VPLinear, time_grid
from revsde.diffusion.samplers import RexSampler
from revsde.registry import SOLVERS

F64 = torch.float64
SCH = VPLinear()
REVERSIBLE = [n for n in SOLVERS if SOLVERS.get(n).reversible]


@pytest.fixture(scope="module")
def model():
    return GaussianMixtureOracle(torch.tensor([0.5, 0.5], dtype=F64),
                                 torch.tensor([[-1.0, 0.5], [1.0, -0.5]], dtype=F64),
                                 torch.tensor([0.3, 0.2], dtype=F64), SCH, prediction="eps").model()


@pytest.mark.parametrize("method", REVERSIBLE)
def test_every_reversible_solver_drives_a_rex_sampler(model, method):
    solver = SOLVERS.get(method)
    ode = not solver.noise_types or "additive" not in solver.noise_types
    case = "ode_x0" if ode or solver.needs_levy_area else "sde_x0"
    s = RexSampler("probe", method, case, 0.999 if solver.uses_zeta else None)
    assert s.solver() is s.solver()  # built once, with the sampler
    assert s.init_nfe == solver.init_nfe and s.nfe_per_step == solver.nfe_per_step
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    ts = time_grid(SCH, 8, "uniform_lambda")
    kw = {"seed": 3} if s.stochastic else {}
    state = s.noise_state(model, x_T, ts)
    end = s.forward_state(model, state, ts, **kw)
    back = s.inverse_state(model, end, ts, **kw)
    # round-off scales with the largest lifted state (the data end of the SDE cases: ~1e6)
    err = float((back[0] - state[0]).abs().max())
    peak = max(float(t.abs().max()) for t in (*state[:2], *end[:2]))
    assert err < 1e-11 * max(peak, 1.0), (err, peak)


def test_class_data_decides_the_options():
    with pytest.raises(ValueError, match="no exact mode"):
        RexSampler("probe", "exp_reversible_heun", "ode_x0", quantum=2.0**-40)
    with pytest.raises(ValueError, match="takes no zeta"):
        RexSampler("probe", "reversible_heun", "ode_x0", zeta=0.9)
    with pytest.raises(ValueError, match="linear in log-clock"):
        RexSampler("probe", "exp_reversible_heun", "sde_eps")
    with pytest.raises(ValueError, match="not reversible"):
        RexSampler("probe", "rk4", "ode_x0")
