"""The solver registry: metadata you can print, names that work, declared costs that hold."""

from __future__ import annotations

import numbers

import pytest
import torch

import revsde
from revsde import BrownianGrid, SolverError, get_solver, sdeint, sdeint_inverse
from revsde.registry import SOLVERS
from revsde.sde import NOISE_TYPES, SDE_TYPES
from revsde.solvers import Solver

F64 = torch.float64
INFO = {info["name"]: info for info in revsde.list_solvers()}
REQUIRED = {
    "name", "reversible", "sde_types", "noise_types", "strong_order", "weak_order",
    "ode_order", "nfe_per_step", "needs_levy_area",
}


class SDE:
    """Nonlinear drift; diffusion of the requested noise type."""

    def __init__(self, noise_type, sde_type):
        self.noise_type, self.sde_type = noise_type, sde_type

    def f(self, t, y):
        return torch.sin(y) - 0.5 * y

    def g(self, t, y):
        if self.noise_type == "diagonal":
            return 0.3 * torch.cos(y) + 0.1
        if self.noise_type == "additive":
            return torch.full((*y.shape, 2), 0.3, dtype=y.dtype)
        m = 1 if self.noise_type == "scalar" else 2
        return 0.3 * torch.sin(y.unsqueeze(-1) + torch.arange(m, dtype=y.dtype))


def ode(t, y):
    return torch.sin(y) - 0.5 * y


def equations(info):
    """One equation per noise type the method declares, and the ODE."""
    out = [("ode", ode)]
    for noise in info["noise_types"]:
        sde_type = "stratonovich" if "stratonovich" in info["sde_types"] else "ito"
        out.append((noise, SDE(noise, sde_type)))
    return out


def test_every_entry_has_the_required_metadata():
    assert list(INFO) == list(SOLVERS)
    for name, info in INFO.items():
        missing = REQUIRED - set(info)
        assert not missing, f"{name} lacks {missing}"
        assert info["name"] == name
        assert isinstance(info["reversible"], bool)
        assert isinstance(info["needs_levy_area"], bool)
        assert set(info["noise_types"]) <= set(NOISE_TYPES)
        assert set(info["sde_types"]) <= set(SDE_TYPES)
        assert bool(info["sde_types"]) == bool(info["noise_types"])
        assert isinstance(info["strong_order"], dict)
        assert set(info["strong_order"]) == set(info["noise_types"])
        assert all(isinstance(v, numbers.Real) and v > 0 for v in info["strong_order"].values())
        if info["noise_types"]:
            assert isinstance(info["weak_order"], numbers.Real) and info["weak_order"] > 0
        else:
            assert info["weak_order"] is None
        assert isinstance(info["ode_order"], numbers.Real) and info["ode_order"] >= 1
        assert isinstance(info["nfe_per_step"], int) and info["nfe_per_step"] >= 1
        assert isinstance(info["options"], dict)
        assert info["description"]


def test_registry_names():
    base = {"euler", "euler_heun", "heun", "midpoint", "rk4", "sea", "shark", "sra1", "bs3",
            "dopri5", "tsit5"}
    heun = {"reversible_heun", "exp_reversible_heun"}
    assert set(INFO) == base | heun | {"mcf_" + b for b in base}
    for name, info in INFO.items():
        assert info["reversible"] == (name in heun or name.startswith("mcf_"))
        assert info["needs_levy_area"] == (name.split("_")[-1] in {"sea", "shark", "sra1"})
        if name.startswith("mcf_"):
            b = INFO[name[4:]]
            assert info["nfe_per_step"] == 2 * b["nfe_per_step"]
            assert info["ode_order"] == b["ode_order"]
            assert info["options"] == {"zeta": 0.999, "quantum": None, "compensated": False}
    assert INFO["reversible_heun"]["options"] == {"quantum": None, "compensated": False}
    assert INFO["exp_reversible_heun"]["options"] == {"compensated": False}


def test_solvers_declare_what_a_sampler_needs():
    """Class data read by the diffusion samplers (no solver names there)."""
    for name in INFO:
        s = get_solver(name)
        assert s.init_nfe == (1 if name.endswith("reversible_heun") else 0), name
        assert s.uses_zeta == name.startswith("mcf_"), name
        assert s.exact_mode == (name == "reversible_heun" or name.startswith("mcf_")), name
        assert s.needs_positive_clock == (name == "exp_reversible_heun"), name
    # its own evaluate, not Reversible Heun's
    from revsde.solvers import ExponentialReversibleHeun, ReversibleHeun
    assert ExponentialReversibleHeun.evaluate is not ReversibleHeun.evaluate


@pytest.mark.parametrize("name", list(INFO))
def test_get_solver_builds_the_named_solver(name):
    solver = get_solver(name)
    assert isinstance(solver, Solver)
    assert solver.name == name
    assert solver.info() == {k: v for k, v in INFO[name].items() if k != "options"}
    assert get_solver(solver) is solver
    with pytest.raises(ValueError, match="pass them to its constructor"):
        get_solver(solver, zeta=0.9)


@pytest.mark.parametrize("name", list(INFO))
def test_every_name_works_in_sdeint_and_costs_what_it_declares(name):
    """Each declared equation solves; nfe per step (forward and inverse) is as declared."""
    info = INFO[name]
    y0 = torch.linspace(-1, 1, 6, dtype=F64).reshape(3, 2)
    # a solver that needs a positive clock runs on [1, 2]
    ts = torch.tensor([1.0, 2.0] if get_solver(name).needs_positive_clock else [0.0, 1.0],
                      dtype=F64)
    for kind, eq in equations(info):
        nfe = {}
        for n in (10, 20):
            sol = sdeint(eq, y0, ts, method=name, dt=1.0 / n, bm="grid", entropy=1)
            assert sol.method == name
            assert sol.ys.shape == (2, 3, 2) and torch.isfinite(sol.ys).all()
            assert sol.stats["steps"] == n
            nfe[n] = sol.stats["nfe"]
            if info["reversible"]:
                inv = sdeint_inverse(eq, sol.state, ts, method=name, dt=1.0 / n, bm=sol.bm)
                assert (inv.ys[0] - y0).abs().max().item() < 1e-12, (name, kind)
                assert inv.stats["nfe"] == n * info["nfe_per_step"], (name, kind)
            else:
                with pytest.raises(SolverError, match="not reversible"):
                    sdeint_inverse(eq, sol.state, ts, method=name, dt=1.0 / n, bm=sol.bm)
        per_step = (nfe[20] - nfe[10]) / 10
        assert per_step == info["nfe_per_step"], f"{name} on {kind}: {per_step} f-evals/step"


@pytest.mark.parametrize("name", [n for n, i in INFO.items() if i["noise_types"]])
def test_levy_area_is_needed_exactly_when_declared(name):
    info = INFO[name]
    noise = info["noise_types"][0]
    sde = SDE(noise, "stratonovich" if "stratonovich" in info["sde_types"] else "ito")
    y0 = torch.ones(3, 2, dtype=F64)
    size = (3, 2) if noise == "diagonal" else (3, 1 if noise == "scalar" else 2)
    t0 = 1.0 if get_solver(name).needs_positive_clock else 0.0
    bm = BrownianGrid([t0 + k / 10 for k in range(11)], size, dtype=F64, entropy=0,
                      levy_area=False)
    ts = torch.tensor([t0, t0 + 1.0], dtype=F64)
    if info["needs_levy_area"]:
        with pytest.raises(ValueError, match="Lévy area"):
            sdeint(sde, y0, ts, method=name, dt=0.1, bm=bm)
    else:
        assert torch.isfinite(sdeint(sde, y0, ts, method=name, dt=0.1, bm=bm).ys).all()


def test_one_registry_type_with_the_same_metadata_keys():
    """Solvers, samplers and baselines: one Registry type, the same keys, options a dict."""
    from revsde.diffusion.baselines import BASELINES
    from revsde.diffusion.samplers import SAMPLERS
    from revsde.registry import Registry

    common = {"name", "reversible", "nfe_per_step", "options", "description"}
    for reg in (SOLVERS, SAMPLERS, BASELINES):
        assert isinstance(reg, Registry)
        for info in reg.list():
            assert common <= set(info), (reg.kind, info["name"], common - set(info))
            assert isinstance(info["options"], dict)
            assert list(info["options"]) == list(reg[info["name"]].options)
        with pytest.raises(ValueError, match=f"unknown {reg.kind} 'nope'; valid names"):
            reg.get("nope")
        with pytest.raises(ValueError, match="does not take option"):
            reg.get(reg.names()[0], not_an_option=1)
