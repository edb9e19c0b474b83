"""Bad input gets a clear error that says what to change.

Each case checks the exception type and a part of the message that names the
problem or the fix.
"""

from __future__ import annotations

import math

import pytest
import torch

from revsde import (
    BrownianGrid,
    NonFiniteError,
    SolverError,
    make_brownian,
    sdeint,
    sdeint_inverse,
)

F64, F32 = torch.float64, torch.float32


class SDE:
    def __init__(self, noise_type="diagonal", sde_type="stratonovich", g_shape=None):
        self.noise_type = noise_type
        self.sde_type = sde_type
        self.g_shape = g_shape

    def f(self, t, y):
        return torch.sin(y) - y

    def g(self, t, y):
        if self.g_shape is not None:
            return torch.full(self.g_shape(y), 0.3, dtype=y.dtype)
        if self.noise_type == "diagonal":
            return 0.3 * torch.cos(y)
        m = 1 if self.noise_type == "scalar" else 2
        return 0.3 * torch.ones(*y.shape, m, dtype=y.dtype)


Y0 = torch.ones(4, 3, dtype=F64)
TS = torch.tensor([0.0, 1.0], dtype=F64)


def solve(sde=None, y0=Y0, ts=TS, **kw):
    kw.setdefault("dt", 0.1)
    return sdeint(SDE() if sde is None else sde, y0, ts, **kw)


# -- times, states, step size ---------------------------------------------------------------


def test_non_monotone_ts():
    ts = torch.tensor([0.0, 0.5, 0.3, 1.0], dtype=F64)
    with pytest.raises(ValueError, match=r"strictly monotone.*position 2"):
        solve(ts=ts)


def test_duplicate_ts():
    ts = torch.tensor([0.0, 0.5, 0.5, 1.0], dtype=F64)
    with pytest.raises(ValueError, match="duplicate time 0.5"):
        solve(ts=ts)


def test_ts_shape_and_finiteness():
    with pytest.raises(ValueError, match="at least two times"):
        solve(ts=torch.tensor([0.0], dtype=F64))
    with pytest.raises(ValueError, match="1-D"):
        solve(ts=torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="finite"):
        solve(ts=torch.tensor([0.0, math.inf], dtype=F64))


def test_ts_dtype_mismatch():
    with pytest.raises(TypeError, match=r"ts has dtype torch.float32 but y0 has torch.float64; "
                       r"use ts.to\(y0.dtype\)"):
        solve(ts=TS.float())
    with pytest.raises(TypeError, match="floating point"):
        solve(ts=torch.tensor([0, 1]))


def test_y0_zero_dim():
    with pytest.raises(ValueError, match=r"leading batch dimension.*reshape\(1\)"):
        solve(y0=torch.tensor(1.0, dtype=F64))


def test_y0_integer():
    with pytest.raises(TypeError, match=r"floating-point tensor.*\.double\(\)"):
        solve(y0=torch.ones(4, 3, dtype=torch.int64))


def test_y0_not_a_tensor():
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        solve(y0=[1.0, 2.0])


@pytest.mark.parametrize("dt", [0.0, -0.1, math.nan, math.inf])
def test_dt_not_positive(dt):
    with pytest.raises(ValueError, match="dt must be positive and finite"):
        solve(dt=dt)


def test_dt_not_a_number():
    with pytest.raises(TypeError, match="dt must be a positive number"):
        solve(dt="small")


# -- Brownian motion ------------------------------------------------------------------------


def test_bm_dtype_mismatch():
    bm = make_brownian(0.0, 1.0, (4, 3), dtype=F32, device="cpu", entropy=0)
    with pytest.raises(TypeError, match=r"bm has dtype torch.float32.*dtype=torch.float64"):
        solve(bm=bm)


def _bm(kind, t1, size):
    """A float64 Brownian motion on [0, t1] of either source (the grid in steps of 0.1)."""
    if kind == "interval":
        return make_brownian(0.0, t1, size, dtype=F64, device="cpu", entropy=0)
    return BrownianGrid([k / 10 for k in range(round(t1 * 10) + 1)], size, dtype=F64)


@pytest.mark.parametrize("kind", ["interval", "grid"])
def test_bm_shape_mismatch(kind):
    bm = _bm(kind, 1.0, (4, 2))
    with pytest.raises(ValueError, match=r"bm has shape \(4, 2\).*shape \(4, 3\)"):
        solve(bm=bm)


@pytest.mark.parametrize("kind", ["interval", "grid"])
def test_bm_time_span_too_short(kind):
    bm = _bm(kind, 0.5, (4, 3))
    with pytest.raises(ValueError, match=r"bm covers \[0.0, 0.5\].*\[0.0, 1.0\].*whole time span"):
        solve(bm=bm)


def test_bm_without_levy_area_for_a_levy_method():
    sde = SDE("additive")
    bm = make_brownian(0.0, 1.0, (4, 2), dtype=F64, device="cpu", entropy=0)
    with pytest.raises(ValueError, match="space-time"):
        solve(sde, method="shark", bm=bm)


def test_bm_bad_kind():
    with pytest.raises(ValueError, match="'interval' or 'grid'"):
        solve(bm="tree")


# -- solver options ---------------------------------------------------------------------------


@pytest.mark.parametrize("zeta", [0.0, -1.0, 1.5, math.nan])
def test_zeta_out_of_range(zeta):
    with pytest.raises(ValueError, match=r"zeta must lie in \(0, 1\]"):
        solve(method="mcf_heun", zeta=zeta)


def test_zeta_not_a_number():
    with pytest.raises(ValueError, match="zeta must be a number"):
        solve(method="mcf_heun", zeta="high")


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_heun"])
@pytest.mark.parametrize("quantum", [3e-12, 0.0, -(2.0**-40), math.inf])
def test_quantum_not_a_power_of_two(method, quantum):
    options = {"zeta": 1.0} if method.startswith("mcf") else {}
    with pytest.raises(ValueError, match="quantum must be a positive power of two"):
        solve(method=method, quantum=quantum, **options)


def test_quantum_with_zeta_below_one():
    with pytest.raises(ValueError, match=r"needs zeta=1.*got zeta=0.999"):
        solve(method="mcf_heun", quantum=2.0**-40)


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown solver 'heun2'; valid names are: .*"
                       r"reversible_heun.*mcf_shark"):
        solve(method="heun2")


def test_unknown_solver_option():
    with pytest.raises(ValueError, match=r"'mcf_heun' does not take option\(s\) \['zta'\]; "
                       r"it accepts \['zeta', 'quantum', 'compensated'\]"):
        solve(method="mcf_heun", zta=0.9)
    with pytest.raises(ValueError, match="accepts no options"):
        solve(method="heun", zeta=0.9)


# -- capabilities -------------------------------------------------------------------------------


def test_solver_does_not_support_noise_type():
    message = "shark needs additive noise; this SDE has diagonal noise"
    with pytest.raises(SolverError, match=message):
        solve(method="shark")
    with pytest.raises(SolverError, match="mcf_sra1 needs additive noise; this SDE has general"):
        solve(SDE("general"), method="mcf_sra1")


def test_wrong_sde_type():
    with pytest.raises(SolverError, match=r"reversible_heun solves stratonovich SDEs; this SDE is "
                       r"ito with diagonal noise"):
        solve(SDE("diagonal", "ito"), method="reversible_heun")
    with pytest.raises(SolverError, match="euler solves ito SDEs; this SDE is stratonovich"):
        solve(SDE("general"), method="euler")


def test_additive_noise_takes_either_calculus():
    for sde_type in ("ito", "stratonovich"):
        sol = solve(SDE("additive", sde_type), method="reversible_heun", entropy=0)
        assert sol.ys.shape == (2, 4, 3)


def test_ode_method_on_an_sde():
    with pytest.raises(SolverError, match=r"rk4 is an ODE method; this SDE has diagonal noise"):
        solve(method="rk4")
    with pytest.raises(SolverError, match="mcf_rk4 is an ODE method"):
        solve(method="mcf_rk4")


def test_bad_noise_and_sde_type_names():
    with pytest.raises(ValueError, match="noise_type must be one of"):
        solve(SDE("diag"))
    with pytest.raises(ValueError, match="sde_type must be one of"):
        solve(SDE("diagonal", "strat"))


def test_not_an_sde():
    with pytest.raises(TypeError, match=r"method f\(t, y\)"):
        solve(sde=42)


# -- inverse --------------------------------------------------------------------------------------


def test_inverse_of_a_non_reversible_method():
    sol = solve(method="heun", entropy=0)
    with pytest.raises(SolverError, match=r"'heun' is not reversible.*reversible_heun"):
        sdeint_inverse(SDE(), sol.state, TS, method="heun", dt=0.1, bm=sol.bm)


def test_inverse_without_bm():
    sol = solve(entropy=0)
    with pytest.raises(ValueError, match=r"needs the Brownian motion of the forward solve.*"
                       r"bm=solution.bm.*entropy="):
        sdeint_inverse(SDE(), sol.state, TS, dt=0.1)


def test_inverse_cannot_rebuild_an_interval_from_entropy():
    sol = solve(entropy=0, bm="interval")
    with pytest.raises(ValueError, match=r"BrownianInterval with the same entropy is not"):
        sdeint_inverse(SDE(), sol.state, TS, dt=0.1, bm="interval", entropy=0)


def test_inverse_of_an_ode_needs_no_bm():
    def f(t, y):
        return -y

    sol = sdeint(f, Y0, TS, dt=0.1)
    inv = sdeint_inverse(f, sol.state, TS, dt=0.1)
    assert (inv.ys[0] - Y0).abs().max().item() < 1e-12


def test_inverse_with_a_bare_tensor():
    sol = solve(entropy=0)
    with pytest.raises(TypeError, match="full state"):
        sdeint_inverse(SDE(), sol.ys[-1], TS, dt=0.1, bm=sol.bm)


def test_inverse_with_a_non_replayable_bm():
    class FreshNoise:
        """Draws new numbers on every query: it cannot be replayed backwards."""

        dtype, shape = F64, (4, 3)

        def __call__(self, ta, tb=None, return_U=False):
            return torch.randn(4, 3, dtype=F64) * abs(tb - ta) ** 0.5

    sol = solve(entropy=0)
    with pytest.raises(ValueError, match="cannot be replayed"):
        sdeint_inverse(SDE(), sol.state, TS, dt=0.1, bm=FreshNoise())


# -- the equation ---------------------------------------------------------------------------------


def test_non_finite_state_reports_the_step():
    class Blowup(SDE):
        def f(self, t, y):
            return torch.where(t > 0.5, torch.full_like(y, math.inf), -y)

    with pytest.raises(NonFiniteError, match=r"produced NaN or inf at step 5 \(t=0.6\).*"
                       r"reduce dt"):
        solve(Blowup(), method="mcf_heun", entropy=0)
    with pytest.raises(NonFiniteError, match="at step"):
        sdeint(lambda t, y: torch.where(t > 0.5, y / 0.0, -y), Y0, TS, dt=0.1)


def test_non_finite_check_can_be_turned_off():
    sol = sdeint(lambda t, y: torch.where(t > 0.5, y / 0.0, -y), Y0, TS, dt=0.1,
                 check_finite=False)
    assert not torch.isfinite(sol.ys[-1]).all()


@pytest.mark.parametrize(
    "noise,g_shape,message",
    [
        ("general", lambda y: y.shape, r"general noise needs g\(t, y\) of shape \(\*y.shape, m\)"),
        ("scalar", lambda y: (*y.shape, 2), r"scalar noise needs g\(t, y\) of shape "
                                             r"\(\*y.shape, 1\)"),
        ("diagonal", lambda y: (*y.shape, 2), r"diagonal noise needs g\(t, y\) of the shape of y"),
        ("diagonal", lambda y: (y.shape[0], 1), r"fits neither"),
        ("additive", lambda y: (y.shape[0], 7), r"fits neither"),
    ],
    ids=["general-as-y", "scalar-m2", "diagonal-matrix", "diagonal-column", "additive-bad"],
)
def test_g_of_the_wrong_shape(noise, g_shape, message):
    with pytest.raises(ValueError, match=message):
        solve(SDE(noise, g_shape=g_shape), method="reversible_heun", entropy=0)
