"""The core's contract, checked at the door: one test per reported case.

Each of these failed before the contract checks were added (a raw torch error, a
misleading message, or a wrong answer with no error) and passes now.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
import torchsde

import revsde
from revsde import (
    NonFiniteError,
    NonFiniteInputError,
    SDEOutputError,
    SolverError,
    SolverState,
    sdeint,
    sdeint_inverse,
)
from revsde.adjoint import ReversibleAdjoint

F64 = torch.float64
Y0 = torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3)
TS = torch.tensor([0.0, 1.0], dtype=F64)


class SDE:
    noise_type = "diagonal"
    sde_type = "stratonovich"

    def f(self, t, y):
        return torch.sin(y) - y

    def g(self, t, y):
        return 0.3 * torch.cos(y)


def solve(sde=None, y0=Y0, **kw):
    kw.setdefault("dt", 0.1)
    return sdeint(SDE() if sde is None else sde, y0, TS, **kw)


# -- 3. no silent defaults that change the equation -----------------------------------------------
def test_missing_noise_type_is_an_error_that_says_what_to_set():
    class NoNoiseType:
        sde_type = "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return y

    with pytest.raises(ValueError, match=r"no noise_type; set sde.noise_type to one of"):
        solve(NoNoiseType())


def test_missing_sde_type_is_an_error_that_says_what_to_set():
    class NoSdeType:
        noise_type = "diagonal"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return y

    with pytest.raises(ValueError, match=r"no sde_type; set sde.sde_type to one of"):
        solve(NoSdeType())


def test_plain_callables_and_drift_only_objects_stay_odes():
    sol = sdeint(lambda t, y: -y, Y0, TS, dt=0.1)
    assert sol.state[0].shape == Y0.shape

    class Drift:
        def f(self, t, y):
            return -y

    assert torch.equal(sdeint(Drift(), Y0, TS, dt=0.1).ys, sol.ys)


# -- 1. the solution knows how it was made ------------------------------------------------------
def test_the_state_is_still_a_tuple_that_records_its_setup():
    sol = solve(entropy=3)
    assert isinstance(sol.state, tuple) and isinstance(sol.state, SolverState)
    y, yh, f, g = sol.state  # unpacks like before
    prov = sol.state.provenance
    assert (prov.solver, prov.entropy, prov.noise, prov.dt) == ("reversible_heun", 3, "grid", 0.1)
    inv = sdeint_inverse(SDE(), sol.state, TS, dt=0.1, entropy=3)
    assert (inv.ys[0] - Y0).abs().max().item() < 1e-12


def test_a_state_pickles_and_copies_without_its_record():
    sol = solve(entropy=3)
    for back in (pickle.loads(pickle.dumps(sol.state)), copy.deepcopy(sol.state)):
        assert isinstance(back, SolverState) and back.provenance is None
        assert all(torch.equal(a, b) for a, b in zip(back, sol.state))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(entropy=4), r"entropy=4 but the forward solve used entropy=3"),
        (dict(entropy=3, dt=0.05), r"dt differs from the forward solve's: got dt=0.05"),
        (dict(entropy=3, ts=TS.flip(0)), r"ts is reversed"),
        (dict(entropy=3, ts=torch.tensor([0.0, 0.5], dtype=F64)), r"ts ends at 0.5 but this "
                                                                     r"state is at t=1"),
        (dict(entropy=3, method="mcf_midpoint"), r"made by 'reversible_heun' but sdeint_inverse "
                                                 r"was given method 'mcf_midpoint'"),
        (dict(bm=revsde.BrownianGrid([k / 10 for k in range(11)], (2, 3), dtype=F64, entropy=4)),
         r"bm is not the Brownian motion of the forward solve"),
    ],
)
def test_an_inverse_with_another_setup_is_refused(kw, match):
    sol = solve(entropy=3)
    ts = kw.pop("ts", TS)
    kw.setdefault("dt", 0.1)
    with pytest.raises(ValueError, match=match):
        sdeint_inverse(SDE(), sol.state, ts, **kw)


def test_an_inverse_with_other_options_is_refused():
    sol = solve(entropy=3, method="mcf_midpoint", zeta=0.9)
    with pytest.raises(SolverError, match=r"options differ.*got zeta=0.999.*used zeta=0.9"):
        sdeint_inverse(SDE(), sol.state, TS, dt=0.1, entropy=3, method="mcf_midpoint")


def test_a_state_of_another_solver_is_refused_by_name():
    rh = solve(entropy=3)
    mcf = solve(entropy=3, method="mcf_midpoint")
    with pytest.raises(SolverError, match="made by 'reversible_heun'"):
        sdeint_inverse(SDE(), rh.state, TS, dt=0.1, entropy=3, method="mcf_midpoint")
    with pytest.raises(SolverError, match="made by 'mcf_midpoint'"):
        sdeint_inverse(SDE(), mcf.state, TS, dt=0.1, entropy=3)
    with pytest.raises(SolverError, match="made by 'mcf_midpoint'"):
        sdeint(SDE(), None, TS, dt=0.1, state=mcf.state)


@pytest.mark.parametrize(
    "method, state, match",
    [
        ("mcf_midpoint", "rh", r"mcf_midpoint's state is \(y, ŷ\).*got 4"),
        ("reversible_heun", "mcf", r"reversible_heun's state is \(y, ŷ, f\(ŷ\), g\(ŷ\)\).*got 2"),
    ],
)
def test_a_plain_tuple_is_checked_for_arity(method, state, match):
    states = {"rh": solve(entropy=3).state, "mcf": solve(entropy=3, method="mcf_midpoint").state}
    with pytest.raises(SolverError, match=match):
        sdeint_inverse(SDE(), tuple(states[state]), TS, dt=0.1, entropy=3, method=method)


def test_sdeint_with_a_short_state_is_refused():
    with pytest.raises(SolverError, match=r"reversible_heun's state is .*got 1"):
        sdeint(SDE(), None, TS, dt=0.1, state=(Y0,))


def test_a_plain_tuple_of_the_right_layout_still_inverts():
    sol = solve(entropy=3)
    inv = sdeint_inverse(SDE(), tuple(sol.state), TS, dt=0.1, entropy=3)
    assert (inv.ys[0] - Y0).abs().max().item() < 1e-12


def test_a_split_inverse_still_works():
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    sol = sdeint(SDE(), Y0, ts, dt=0.1, entropy=3)
    back = sdeint_inverse(SDE(), sol.state, ts[1:], dt=0.1, bm=sol.bm)
    inv = sdeint_inverse(SDE(), back.state, ts[:2], dt=0.1, bm=sol.bm)
    assert (inv.ys[0] - Y0).abs().max().item() < 1e-12


# -- 2. f and g checked once, at their first evaluation -------------------------------------------
class Returns(SDE):
    def __init__(self, f=None, g=None):
        self._fo, self._go = f, g

    def f(self, t, y):
        return super().f(t, y) if self._fo is None else self._fo(t, y)

    def g(self, t, y):
        return super().g(t, y) if self._go is None else self._go(t, y)


@pytest.mark.parametrize(
    "f, match",
    [
        (lambda t, y: torch.zeros(2, 4, 3, dtype=F64), r"f\(t, y\) returned shape \(2, 4, 3\) for "
                                                       r"a state y of shape \(2, 3\)"),
        (lambda t, y: torch.zeros(3, 3, dtype=F64), r"returned shape \(3, 3\)"),
        (lambda t, y: None, r"f\(t, y\) returned a NoneType"),
        (lambda t, y: np.zeros((2, 3)), r"f\(t, y\) returned a ndarray"),
        (lambda t, y: torch.zeros(2, 3, dtype=torch.float32), r"returned torch.float32 for a "
                                                               r"torch.float64 state"),
    ],
)
def test_a_bad_drift_is_named_with_both_shapes(f, match):
    for method in ("reversible_heun", "mcf_midpoint", "euler"):
        with pytest.raises(SDEOutputError, match=match):
            solve(Returns(f=f), method=method if method != "euler" else "euler_heun")


@pytest.mark.parametrize(
    "g, match",
    [
        (lambda t, y: None, r"g\(t, y\) returned a NoneType"),
        (lambda t, y: np.ones((2, 3)), r"g\(t, y\) returned a ndarray"),
        (lambda t, y: torch.ones(2, 3, 2, dtype=F64), r"diagonal noise needs g\(t, y\) of the "
                                                      r"shape of y \(2, 3\); got \(2, 3, 2\)"),
    ],
)
def test_a_bad_diffusion_is_named(g, match):
    with pytest.raises(SDEOutputError, match=match):
        solve(Returns(g=g))


def test_a_diffusion_that_changes_shape_mid_solve_is_named():
    def g(t, y):
        return 0.3 * torch.cos(y) if float(t) < 0.5 else torch.ones(2, 3, 1, dtype=F64)

    with pytest.raises(SDEOutputError, match=r"g\(t, y\) returned shape \(2, 3, 1\) at t=0.5.* "
                                             r"but \(2, 3\) at its first evaluation"):
        solve(Returns(g=g))


def test_a_drift_that_grows_the_state_mid_solve_is_named():
    def f(t, y):
        return -y if float(t) < 0.5 else torch.zeros(2, 2, 3, dtype=F64)

    with pytest.raises(SDEOutputError, match=r"state changed shape from \(2, 3\) to \(2, 2, 3\)"):
        solve(Returns(f=f))


def test_a_broadcasting_drift_is_still_accepted():
    sol = solve(Returns(f=lambda t, y: torch.full((3,), -0.5, dtype=F64)), entropy=1)
    assert sol.ys.shape == (2, 2, 3)


def test_the_users_own_errors_pass_through_unchanged():
    class Boom(RuntimeError):
        pass

    def f(t, y):
        if float(t) > 0.5:
            raise Boom("the user's network failed")
        return -y

    with pytest.raises(Boom):
        solve(Returns(f=f))


# -- 4. arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize("entropy", ["abc", 1.5, True, -1])
def test_entropy_must_be_a_non_negative_integer(entropy):
    with pytest.raises((TypeError, ValueError), match="entropy must be a non-negative integer"):
        solve(entropy=entropy)


def test_integer_like_entropy_is_accepted():
    a = solve(entropy=np.int64(5)).ys
    assert torch.equal(a, solve(entropy=5).ys)


@pytest.mark.parametrize("zeta", ["0.9", True])
def test_zeta_must_be_a_number_not_a_bool_or_a_string(zeta):
    with pytest.raises(TypeError, match="zeta must be a number"):
        solve(method="mcf_midpoint", zeta=zeta)


@pytest.mark.parametrize("dt", ["0.1", True])
def test_dt_must_be_a_number_not_a_bool_or_a_string(dt):
    with pytest.raises(TypeError, match="dt must be a positive number"):
        solve(dt=dt)


@pytest.mark.parametrize("name, value", [("adjoint", "yes"), ("check_finite", 1),
                                         ("progress", "no")])
def test_flags_must_be_booleans(name, value):
    with pytest.raises(TypeError, match=name):
        solve(**{name: value})


def test_nan_in_y0_is_reported_as_the_inputs():
    y0 = Y0.clone()
    y0[1, 2] = float("nan")
    with pytest.raises(NonFiniteInputError, match=r"input y0 holds NaN or inf \(1 of 6 entries, "
                                                   r"the first at index \(1, 2\)\)"):
        solve(y0=y0)
    # still a NonFiniteError (and a ValueError: the input's fault)
    assert issubclass(NonFiniteInputError, NonFiniteError)
    assert issubclass(NonFiniteInputError, ValueError)


# -- 5. the user's Brownian motion is never perturbed by a probe ----------------------------------
class Linear(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "stratonovich"

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.5, dtype=F64))

    def f(self, t, y):
        return -self.a * y

    def g(self, t, y):
        return 0.3 * torch.cos(y)


@pytest.mark.slow
def test_adjoint_leaves_an_interval_built_without_dt_unchanged():
    """Identically seeded intervals without ``dt``: adjoint=True and False agree bit for bit."""

    def interval():
        return torchsde.BrownianInterval(0.0, 1.0, size=(2, 3), dtype=F64, entropy=5)

    a = sdeint(Linear(), Y0, TS, dt=1e-3, bm=interval(), adjoint=True).ys
    b = sdeint(Linear(), Y0, TS, dt=1e-3, bm=interval(), adjoint=False).ys
    assert torch.equal(a, b)


def test_the_probe_of_an_unknown_noise_runs_on_a_copy():
    class Counting:
        """A replayable noise that counts the queries made of it."""

        dtype, shape = F64, (2, 3)

        def __init__(self):
            self.calls = 0

        def __call__(self, ta, tb=None, return_U=False):
            self.calls += 1
            gen = torch.Generator().manual_seed(int(1e6 * min(ta, tb)))
            return torch.randn(2, 3, dtype=F64, generator=gen) * abs(tb - ta) ** 0.5

    sol = solve(entropy=3)
    bm = Counting()
    state = torch.random.get_rng_state()
    sdeint_inverse(SDE(), tuple(sol.state), TS, dt=0.1, bm=bm)
    assert bm.calls == 10  # the inverse's own queries, none for the probe
    assert torch.equal(torch.random.get_rng_state(), state)


# -- progress with the adjoint ----------------------------------------------------------
def test_progress_is_shown_with_the_adjoint(capsys):
    y0 = Y0.clone().requires_grad_()
    sol = solve(Linear(), y0=y0, entropy=1, adjoint=ReversibleAdjoint(), progress=True)
    sol.ys[-1].sum().backward()
    err = capsys.readouterr().err
    assert "reversible_heun" in err and "(adjoint)" in err
    assert y0.grad is not None
