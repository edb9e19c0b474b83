"""Adaptive reversible steps (docs/mathematics.md §11): error control, the accepted grid
recorded and replayed exactly by the inverse and the adjoint, and the bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torchsde

import revsde
from revsde.adaptive import Controller, StepBudgetError
from revsde.memory import peak_tensor_bytes
from revsde.solvers import SolverError

F64 = torch.float64
ADAPTIVE = ["reversible_heun", "mcf_bs3", "mcf_dopri5", "mcf_tsit5"]
SDE_ADAPTIVE = ["reversible_heun", "mcf_bs3"]


class Oscillator(torch.nn.Module):
    """A damped nonlinear oscillator with a parameter (an ODE)."""

    def __init__(self, dtype=F64):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.3, 0.4], dtype=dtype))

    def forward(self, t, y):
        return torch.stack([y[:, 1], -self.w[0] * torch.sin(y[:, 0]) - self.w[1] * y[:, 1]
                            + 0.3 * torch.cos(t)], 1)


class Invented(torch.nn.Module):
    """A Stratonovich SDE of each noise type, with a trainable parameter."""

    sde_type = "stratonovich"

    def __init__(self, noise_type):
        super().__init__()
        self.noise_type = noise_type
        self.a = torch.nn.Parameter(torch.tensor([0.8, -0.5], dtype=F64))

    def f(self, t, y):
        return torch.sin(y.flip(-1)) * self.a - 0.4 * y + 0.2 * torch.cos(t)

    def g(self, t, y):
        if self.noise_type == "diagonal":
            return 0.3 * torch.cos(y) * self.a
        if self.noise_type == "scalar":
            return (0.3 * torch.cos(y.flip(-1)) + 0.2 * y * self.a).unsqueeze(-1)
        if self.noise_type == "additive":
            return (0.3 * self.a * torch.tensor([[1.0, 0.5], [0.2, 1.0]], dtype=F64)
                    ).expand(y.shape[0], 2, 2)
        s, c = torch.sin(y[:, 1]) * self.a[0], torch.cos(y[:, 0])
        one = torch.ones_like(s)
        return torch.stack([torch.stack([s, 0.3 * one], -1), torch.stack([0.2 * one, c], -1)], -2)


def _y0(batch=3):
    return torch.linspace(-0.6, 0.9, 2 * batch, dtype=F64).reshape(batch, 2)


TS = torch.tensor([0.0, 0.7, 2.0], dtype=F64)
#: the SDEs' span: Reversible Heun's estimate for non-additive noise is O(h), so a tolerance
#: needs many steps (docs/mathematics.md §11)
TS_SDE = torch.tensor([0.0, 0.3, 0.6], dtype=F64)


# -- error control ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ADAPTIVE)
def test_tighter_tolerances_take_more_steps_and_err_less(method):
    """The controller meets its tolerance on an ODE: the error against a tight reference
    falls with rtol, and the steps grow; the output times are step times."""
    model, y0 = Oscillator(), _y0()
    ref = revsde.sdeint(model, y0, TS, method="dopri5", dt=1e-3).ys
    steps, errs = [], []
    tols = (1e-3, 1e-5) if method == "reversible_heun" else (1e-4, 1e-7)  # second order
    for rtol in tols:
        sol = revsde.sdeint(model, y0, TS, method=method, adaptive=True, rtol=rtol, atol=rtol)
        steps.append(sol.stats["steps"])
        errs.append((sol.ys - ref).abs().max().item())
        assert sol.grid is not None and sol.grid.dtype == F64
        assert sol.grid.numel() == sol.stats["steps"] + 1
        assert set(TS.tolist()) <= set(sol.grid.tolist())
    assert steps[1] > steps[0]
    assert errs[1] < errs[0] / 10
    assert errs[1] < 100 * tols[1]


class VanDerPol(torch.nn.Module):
    def forward(self, t, y):
        return torch.stack([y[:, 1], 5.0 * (1 - y[:, 0] ** 2) * y[:, 1] - y[:, 0]], 1)


def test_stiff_ish_van_der_pol():
    """docs/mathematics.md §11: on a dissipative problem the McCallum–Foster step with
    zeta < 1 meets its tolerance (its round-trip defect sees the coupling), and Reversible
    Heun's parasitic mode, which no step size damps, runs the solve into its budget."""
    f = VanDerPol()
    y0 = torch.tensor([[2.0, 0.0], [1.5, 0.0]], dtype=F64)
    ts = torch.tensor([0.0, 3.0], dtype=F64)
    ref = revsde.sdeint(f, y0, ts, method="dopri5", adaptive=True, rtol=1e-11, atol=1e-11)
    sol = revsde.sdeint(f, y0, ts, method="mcf_tsit5", adaptive=True, rtol=1e-5, atol=1e-5,
                        zeta=0.5)
    assert (sol.ys[-1] - ref.ys[-1]).abs().max().item() < 1e-4
    with pytest.raises(StepBudgetError, match="reached t="):
        revsde.sdeint(f, y0, ts, method="reversible_heun", adaptive=True, rtol=1e-3,
                      atol=1e-3, max_steps=3000)


def test_fixed_and_adaptive_agree_on_the_recorded_grid():
    """A fixed-grid solve on Solution.grid is the adaptive solve, bit for bit."""
    model, y0 = Oscillator(), _y0()
    sol = revsde.sdeint(model, y0, TS, method="mcf_tsit5", adaptive=True, rtol=1e-6, atol=1e-8)
    again = revsde.sdeint(model, y0, TS, method="mcf_tsit5", grid=sol.grid)
    assert torch.equal(sol.ys, again.ys)
    assert all(torch.equal(a, b) for a, b in zip(sol.state, again.state))


def test_rejected_steps_are_counted_and_cost_evaluations():
    """A first step far too large is rejected; the evaluations count every attempt."""
    model, y0 = Oscillator(), _y0()
    sol = revsde.sdeint(model, y0, TS, method="mcf_bs3", adaptive=True, rtol=1e-6, atol=1e-8,
                        dt=2.0)
    assert sol.stats["rejected"] >= 1
    per = 2 * revsde.solvers.tableaus.BS3.stages  # A and B, every stage, per attempt
    assert sol.stats["nfe"] == per * (sol.stats["steps"] + sol.stats["rejected"])


def test_float32_grid_is_in_the_state_dtype():
    model, y0 = Oscillator(torch.float32), _y0().float()
    sol = revsde.sdeint(model, y0, TS.float(), method="mcf_bs3", adaptive=True, rtol=1e-4,
                        atol=1e-5)
    assert sol.grid.dtype == torch.float32
    back = revsde.sdeint_inverse(model, sol.state, TS.float(), method="mcf_bs3")
    assert back.stats["steps"] == sol.stats["steps"]
    assert (back.ys[0] - y0).abs().max().item() < 1e-5


# -- the inverse replays the accepted grid ---------------------------------------------------
@pytest.mark.parametrize("method", ADAPTIVE)
def test_ode_round_trip_at_round_off(method):
    model, y0 = Oscillator(), _y0()
    sol = revsde.sdeint(model, y0, TS, method=method, adaptive=True, rtol=1e-6, atol=1e-8)
    back = revsde.sdeint_inverse(model, sol.state, TS, method=method)
    assert back.stats["steps"] == sol.stats["steps"] and "rejected" not in back.stats
    assert (back.ys[0] - y0).abs().max().item() <= 1e-13
    assert (back.ys - sol.ys).abs().max().item() <= 1e-13


@pytest.mark.parametrize("noise", ["scalar", "diagonal", "additive", "general"])
@pytest.mark.parametrize("method", SDE_ADAPTIVE)
def test_sde_round_trip_at_round_off(method, noise):
    sde, y0 = Invented(noise), _y0()
    sol = revsde.sdeint(sde, y0, TS_SDE, method=method, adaptive=True, rtol=1e-2, atol=1e-3,
                        entropy=5)
    assert isinstance(sol.bm, torchsde.BrownianInterval)
    back = revsde.sdeint_inverse(sde, sol.state, TS_SDE, method=method, bm=sol.bm)
    assert (back.ys[0] - y0).abs().max().item() <= 1e-13


@pytest.mark.parametrize("method", SDE_ADAPTIVE)
def test_compensated_round_trip_is_bit_for_bit(method):
    """With the compensated state the adaptive solve comes back to y0's very bits."""
    sde, y0 = Invented("diagonal"), _y0() + 0.05  # no zero entry (its hi + lo is ±tiny)
    sol = revsde.sdeint(sde, y0, TS_SDE, method=method, adaptive=True, rtol=1e-3, atol=1e-4,
                        entropy=2, compensated=True)
    back = revsde.sdeint_inverse(sde, sol.state, TS_SDE, method=method, bm=sol.bm,
                                 compensated=True)
    assert torch.equal(back.state[0], y0) and torch.equal(back.state[1], y0)


def test_rejected_proposals_do_not_move_the_path():
    """The noise is one path: an adaptive solve's accepted increments are the path's
    increments over the accepted grid, whatever it tried before (a fresh interval of the
    same entropy queried on the accepted grid alone gives the same solve)."""
    sde, y0 = Invented("diagonal"), _y0()
    sol = revsde.sdeint(sde, y0, TS_SDE, method="reversible_heun", adaptive=True, rtol=1e-3,
                        atol=1e-4, entropy=9, dt=1.5)
    assert sol.stats["rejected"] >= 1
    again = revsde.sdeint(sde, y0, TS_SDE, method="reversible_heun", grid=sol.grid, bm=sol.bm)
    assert torch.equal(again.ys, sol.ys)


def test_inverse_of_a_plain_tuple_takes_the_grid():
    model, y0 = Oscillator(), _y0()
    sol = revsde.sdeint(model, y0, TS, method="mcf_dopri5", adaptive=True, rtol=1e-6,
                        atol=1e-8)
    back = revsde.sdeint_inverse(model, tuple(sol.state), TS, method="mcf_dopri5",
                                 grid=sol.grid)
    assert (back.ys[0] - y0).abs().max().item() <= 1e-13
    with pytest.raises(ValueError, match="adaptive solve"):
        revsde.sdeint_inverse(model, sol.state, TS, method="mcf_dopri5", dt=0.1)


# -- gradients -------------------------------------------------------------------------------
def _grads(model, y0, ts, method, **kw):
    y = y0.clone().requires_grad_()
    sol = revsde.sdeint(model, y, ts, method=method, **kw)
    loss = (sol.ys ** 2).sum() + sol.ys[-1, :, 0].sin().sum()
    return sol, torch.autograd.grad(loss, [y, *model.parameters()])


def _rel(a, b):
    return max(((x - y).norm() / y.norm()).item() for x, y in zip(a, b))


@pytest.mark.parametrize("method", ["reversible_heun", "mcf_tsit5"])
def test_ode_adjoint_is_backprop_through_the_accepted_grid(method):
    model, y0 = Oscillator(), _y0()
    sol, adj = _grads(model, y0, TS, method, adaptive=True, rtol=1e-5, atol=1e-7,
                      adjoint=True)
    _, bp = _grads(model, y0, TS, method, grid=sol.grid)
    assert _rel(adj, bp) <= 1e-12


@pytest.mark.parametrize("noise", ["diagonal", "general"])
@pytest.mark.parametrize("method", SDE_ADAPTIVE)
def test_sde_adjoint_is_backprop_through_the_accepted_grid(method, noise):
    sde, y0 = Invented(noise), _y0()
    sol, adj = _grads(sde, y0, TS_SDE, method, adaptive=True, rtol=1e-2, atol=1e-3,
                      entropy=4, adjoint=True)
    _, bp = _grads(sde, y0, TS_SDE, method, grid=sol.grid, bm=sol.bm)
    assert _rel(adj, bp) <= 1e-12


def test_adjoint_peak_memory_is_flat_in_the_accepted_steps():
    """Peak tensor memory of an adaptive solve with its adjoint grows by a few scalars a
    step (the grid and its per-step numbers), not a state a step as backprop's does."""
    model = Oscillator()
    y0 = torch.randn(256, 2, dtype=F64)
    state_bytes = y0.numel() * y0.element_size()

    def run(rtol, adjoint):
        def go():
            y = y0.clone().requires_grad_()
            sol = revsde.sdeint(model, y, TS, method="mcf_bs3", adaptive=True, rtol=rtol,
                                atol=rtol, adjoint=adjoint)
            (sol.ys ** 2).sum().backward()
            steps.append(sol.stats["steps"])
        steps: list[int] = []
        return peak_tensor_bytes(go), steps[0]

    (few_peak, few), (many_peak, many) = run(1e-2, True), run(1e-5, True)
    assert many > 3 * few
    # measured: 32 bytes a step (a 0-d time and the step's numbers); a state is 4096 bytes
    assert many_peak - few_peak < 64 * (many - few)
    (bp_few, _), (bp_many, _) = run(1e-2, False), run(1e-5, False)
    assert bp_many - bp_few > state_bytes * (many - few)


# -- bad input -------------------------------------------------------------------------------
def _one_line(err):
    assert "\n" not in str(err.value)


def test_a_solver_without_an_error_estimate_is_refused():
    with pytest.raises(SolverError, match="needs a solver with an error estimate") as err:
        revsde.sdeint(Oscillator(), _y0(), TS, method="mcf_rk4", adaptive=True)
    _one_line(err)
    assert "'mcf_bs3'" in str(err.value)


@pytest.mark.parametrize("kw", [dict(rtol=0.0), dict(atol=-1e-6), dict(rtol=math.nan)])
def test_a_tolerance_that_is_not_positive_is_refused(kw):
    with pytest.raises(ValueError, match="must be a positive finite number") as err:
        revsde.sdeint(Oscillator(), _y0(), TS, method="mcf_bs3", adaptive=True, **kw)
    _one_line(err)


def test_tolerances_without_adaptive_are_refused():
    with pytest.raises(ValueError, match="apply to adaptive solves only"):
        revsde.sdeint(Oscillator(), _y0(), TS, method="mcf_bs3", rtol=1e-3)


def test_the_step_budget_error_says_how_far_the_solve_got():
    with pytest.raises(StepBudgetError, match=r"max_steps=20 .* reached t=[0-9.e-]+ of "
                       r"\[0, 2\] with \d+ accepted and \d+ rejected steps") as err:
        revsde.sdeint(Oscillator(), _y0(), TS, method="reversible_heun", adaptive=True,
                      rtol=1e-9, atol=1e-9, max_steps=20)
    _one_line(err)


def test_adaptive_needs_noise_that_answers_any_interval():
    sde = Invented("diagonal")
    with pytest.raises(ValueError, match="bm='interval'") as err:
        revsde.sdeint(sde, _y0(), TS, method="reversible_heun", adaptive=True, bm="grid")
    _one_line(err)
    with pytest.raises(ValueError, match="pass either adaptive=True or grid"):
        revsde.sdeint(sde, _y0(), TS, method="reversible_heun", adaptive=True, grid=TS)


def test_controller_factors():
    """The PI formula of docs/mathematics.md §11: growth bounded, no growth on a rejection."""
    c = Controller()
    assert c.factor(0.0, None, 2.0, True) == c.factor_max
    assert c.factor(math.inf, None, 2.0, False) == c.factor_min
    assert c.factor(4.0, None, 2.0, False) == pytest.approx(c.safety * 4.0 ** -0.5)
    assert c.factor(0.5, 0.5, 5.0, True) == pytest.approx(c.safety * 0.5 ** (-0.3 / 5.0))
    assert c.factor(0.99, None, 2.0, False) <= 1.0


# -- diffusion: adaptive Rex samplers --------------------------------------------------------
@pytest.fixture(scope="module")
def unet():
    from revsde.diffusion import pretrained

    return pretrained("small-unet")


def _pictures(model, batch=2, size=8):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(batch, model.channels, size, size, generator=gen) * 2 - 1


@pytest.mark.parametrize("name", ["rex_adaptive", "rev_heun_adaptive"])
def test_adaptive_sampler_round_trip_is_bit_for_bit_through_a_file(unet, name, tmp_path):
    """encode records the accepted grid in the Latents (saved, checksummed); decode replays
    it: the compensated state comes back to the pictures' bits; the evaluations counted
    are the recorded ones."""
    from revsde.diffusion import Latents, decode, encode

    x0 = _pictures(unet)
    calls = []
    handle = unet.net.register_forward_hook(lambda *_: calls.append(1))
    try:
        lat = encode(unet, x0, steps=4, sampler=name, rtol=1e-2, atol=1e-2)
        enc_calls = len(calls)
        lat.save(tmp_path / "lat.pt")
        loaded = Latents.load(tmp_path / "lat.pt")
        calls.clear()
        back = decode(unet, loaded)
        dec_calls = len(calls)
    finally:
        handle.remove()
    assert lat.accepted is not None and torch.equal(loaded.accepted, lat.accepted)
    assert lat.options["compensated"] is True
    assert torch.equal(back, x0)
    assert enc_calls == lat.nfe * x0.shape[0]  # reproducible mode: one sample at a time
    assert dec_calls == lat.decode_nfe * x0.shape[0]
    assert lat.decode_nfe < lat.nfe  # the decode replays; the encode also chose the grid


def test_the_accepted_grid_is_in_the_checksum(unet, tmp_path):
    from revsde.diffusion import Latents, encode
    from revsde.diffusion.inversion.latents import LatentsFileError

    lat = encode(unet, _pictures(unet, 1), steps=4, sampler="rev_heun_adaptive", rtol=1e-2,
                 atol=1e-2)
    lat.save(tmp_path / "lat.pt")
    payload = torch.load(tmp_path / "lat.pt", weights_only=True)
    payload["tensors"]["accepted"][1] += 1e-6
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(LatentsFileError, match="SHA-256"):
        Latents.load(tmp_path / "bad.pt")


def test_one_controller_for_the_batch(unet):
    """The batch shares its grid: a sample's accepted steps alone differ from the batch's
    (the controller's decisions depend on the batch), yet an item of the batch decodes
    alone, on the batch's grid, to its bits."""
    from revsde.diffusion import decode, encode

    x0 = _pictures(unet, 3)
    lat = encode(unet, x0, steps=4, sampler="rev_heun_adaptive", rtol=1e-2, atol=1e-2)
    alone = [encode(unet, x0[i:i + 1], steps=4, sampler="rev_heun_adaptive", rtol=1e-2,
                    atol=1e-2).accepted.numel() for i in range(3)]
    assert any(n != lat.accepted.numel() for n in alone)
    assert torch.equal(decode(unet, lat[1]), x0[1:2])


def test_adaptive_samplers_refuse_sde_cases_and_sample():
    from revsde.diffusion import get_sampler

    with pytest.raises(ValueError, match="takes case in"):
        get_sampler("rex_adaptive", case="sde_x0")
    with pytest.raises(ValueError, match="must be a positive finite number"):
        get_sampler("rex_adaptive", rtol=0.0)
    s = get_sampler("rex_adaptive")
    with pytest.raises(ValueError, match="pass grid=encoded.grid"):
        s.decode_state(None, (torch.zeros(1), torch.zeros(1)), TS)
