"""revsde.convergence: order fits, error estimators, problems, the CLI and its plots."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

import revsde
from revsde.cli import main
from revsde.convergence import (
    PROBLEMS,
    SDEProblem,
    fit_order,
    get_problem,
    list_methods,
    mean_band,
    measure,
    plot_convergence,
    plot_roundtrip,
    roundtrip_errors,
    study,
)
from revsde.convergence.plots import method_styles
from revsde.convergence.problems import ou_cell_coefficients

F64 = torch.float64


# -- fits and bands ----------------------------------------------------------------------------


def test_fit_order_recovers_a_known_slope_with_zero_uncertainty():
    hs = [2.0**-k for k in range(3, 8)]
    fit = fit_order(hs, [3.0 * h**1.5 for h in hs])
    assert fit.order == pytest.approx(1.5, abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-10)
    assert math.exp(fit.intercept) == pytest.approx(3.0, rel=1e-10)


def test_fit_order_interval_is_scipys_t_interval():
    rng = np.random.default_rng(0)
    hs = [2.0**-k for k in range(2, 8)]
    errs = [h * math.exp(0.1 * z) for h, z in zip(hs, rng.standard_normal(len(hs)))]
    fit = fit_order(hs, errs)
    res = stats.linregress(np.log(hs), np.log(errs))
    t = stats.t.ppf(0.975, len(hs) - 2)
    assert fit.order == pytest.approx(res.slope)
    assert (fit.low, fit.high) == pytest.approx((res.slope - t * res.stderr,
                                                 res.slope + t * res.stderr))
    assert fit.stderr > 0 and fit.low < 1.0 < fit.high


def test_fit_order_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="exact on this problem"):
        fit_order([0.1, 0.05], [1e-3, 0.0])
    with pytest.raises(ValueError, match="at least two"):
        fit_order([0.1], [1e-3])


def test_mean_band_is_the_student_t_interval():
    x = torch.tensor([1.0, 2.0, 4.0, 7.0], dtype=F64)
    m, lo, hi = mean_band(x)
    half = stats.t.ppf(0.975, 3) * float(x.std()) / 2.0
    assert (m, lo, hi) == pytest.approx((3.5, 3.5 - half, 3.5 + half))


# -- the exact Ornstein–Uhlenbeck reference ------------------------------------------------


def test_ou_cell_coefficients_match_closed_forms():
    x, h = 1.3, 0.5
    a, b, c = ou_cell_coefficients(x, h)
    e = math.exp(-x)
    assert a == pytest.approx((1 - e) / x, rel=1e-12)
    cov_jh = (1 - e * (1 + x)) / x**2 - 0.5 * (1 - e) / x  # ∫ e^{-xu} (u - 1/2) du
    assert b == pytest.approx(12 * cov_jh, rel=1e-10)
    var_j = (1 - math.exp(-2 * x)) / (2 * x)
    assert c**2 == pytest.approx(var_j - a**2 - b**2 / 12, rel=1e-8)
    # small x: the residual is the quadratic Legendre part, variance x^4/720 to leading order
    _, _, c_small = ou_cell_coefficients(1e-3, 1e-3)
    assert c_small**2 == pytest.approx(1e-12 / 720, rel=1e-2)


def test_ou_reference_is_exact_in_law_and_on_the_path():
    pb = get_problem("ou")
    st = pb.setup(samples=4000, fine=512, entropy=3, dtype=F64)
    y_T = st.reference[-1]
    sde = pb.make_sde()
    y0 = pb.make_y0(4000, torch.Generator().manual_seed(3), F64)
    decay = math.exp(-sde.theta)
    mean = sde.mean + decay * (y0 - sde.mean)
    var = sde.sigma**2 * (1 - decay**2) / (2 * sde.theta)
    z = (y_T - mean) / math.sqrt(var)  # standard normal if the reference is exact in law
    assert abs(float(z.mean())) < 4 / math.sqrt(z.numel())
    assert abs(float(z.var()) - 1) < 0.06
    # on the path: a fine ShARK solve on the same Brownian path agrees far below the
    # coarse errors (order 2 on this linear problem: ~1e-6 at 512 steps)
    ys = st.run("shark", 512, {})
    assert float((ys - st.reference).abs().max()) < 1e-4


# -- measuring -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method,problem", [
    ("euler", "gbm_ito"),
    ("reversible_heun", "gbm_strat"),
    ("mcf_rk4", "ode"),
    ("rev_heun", "pf_ode"),
])
def test_measure_agrees_with_the_registry(method, problem):
    res = measure(method, problem, samples=128)
    entry = list_methods()[method]
    declared = entry["ode_order"] if problem == "ode" else (
        entry["order"] if problem == "pf_ode" else entry["strong_order"]["diagonal"])
    assert res.declared == declared
    assert abs(res.order - declared) <= 0.2, res.as_dict()
    assert all(lo <= e <= hi for lo, e, hi in zip(res.low, res.errors, res.high))


def test_weak_errors_of_a_moment():
    res = measure("heun", "gbm_weak", samples=2048)
    assert res.error == "weak" and res.declared == list_methods()["heun"]["weak_order"]
    assert abs(res.order - res.declared) <= 0.2, res.as_dict()


def test_strong_max_over_outputs_is_at_least_the_final_error():
    a = measure("heun", "gbm_strat", samples=64, over="final", steps=(8, 16))
    b = measure("heun", "gbm_strat", samples=64, over="max", steps=(8, 16))
    assert all(x <= y for x, y in zip(a.errors, b.errors))


def test_a_users_own_problem_and_solver_instance():
    class Linear:
        noise_type, sde_type = "scalar", "stratonovich"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return 0.5 * y.unsqueeze(-1)

    def exact(sde, y0, bm, ts):  # Stratonovich: y0 exp(-t + W_t / 2)
        return torch.stack([y0 * torch.exp(-t + 0.5 * bm(0.0, float(t))) for t in ts])

    pb = SDEProblem("mine", "linear scalar noise", noise_type="scalar",
                    sde_type="stratonovich", make_sde=Linear,
                    make_y0=lambda n, g, d: torch.ones(n, 1, dtype=d), exact=exact)
    res = measure(revsde.get_solver("midpoint"), pb, samples=128)
    assert res.declared == 1.0 and abs(res.order - 1.0) <= 0.2


def test_measure_refuses_a_method_that_does_not_apply():
    with pytest.raises(ValueError, match="solves ito SDEs; gbm_strat is stratonovich"):
        measure("euler", "gbm_strat")
    with pytest.raises(ValueError, match="needs additive noise"):
        measure("shark", "diagonal")
    with pytest.raises(ValueError, match="valid problems are: gbm_ito"):
        measure("heun", "banana")
    with pytest.raises(ValueError, match="valid methods are: euler"):
        measure("bogus", "ode")


def test_study_filters_on_sde_type_and_says_why():
    res = study(["euler", "heun", "ddim", "rex_em"], ["gbm_strat", "gbm_ito"], samples=32,
                steps=(8, 16))
    ran = {(r.method, r.problem) for r in res.results}
    assert ran == {("heun", "gbm_strat"), ("euler", "gbm_ito")}
    why = {(s.method, s.problem): s.reason for s in res.skipped}
    assert "solves ito SDEs" in why[("euler", "gbm_strat")]
    assert "solves stratonovich SDEs" in why[("heun", "gbm_ito")]
    assert "diffusion sampler" in why[("ddim", "gbm_ito")]


def test_sampler_without_a_brownian_path_is_skipped_with_the_reason():
    res = study(["sde_dpmpp_1", "rex_euler"], ["reverse_sde"])
    assert not res.results
    why = {s.method: s.reason for s in res.skipped}
    assert "bm=" in why["sde_dpmpp_1"] and "ODE sampler" in why["rex_euler"]


def test_problems_registry_is_a_dict_with_the_built_ins():
    assert {"gbm_ito", "gbm_strat", "ou", "additive", "diagonal", "general", "ode", "pf_ode",
            "reverse_sde"} <= set(PROBLEMS)


# -- plots -------------------------------------------------------------------------------------


def test_styles_stay_distinct_beyond_ten_methods():
    names = [f"m{i}" for i in range(24)]
    st = method_styles(names, reversible=names[::2])
    pairs = {(tuple(s["color"]), s["marker"], s["linestyle"]) for s in st.values()}
    assert len(pairs) == 24
    assert len({tuple(s["color"]) for s in st.values()}) > 10
    assert st["m0"]["linestyle"] == "--" and st["m1"]["linestyle"] == "-"


def test_plots_write_png_and_svg(tmp_path):
    res = study(["heun", "mcf_heun"], ["diagonal"], samples=16, steps=(8, 16, 32))
    paths = plot_convergence(res, tmp_path / "c.png")
    assert [p[-4:] for p in paths] == [".png", ".svg"]
    trips = roundtrip_errors(["mcf_heun", "heun"], steps=(4, 8), samples=2,
                             dtypes=(torch.float32,))
    assert [t.method for t in trips] == ["mcf_heun"] and trips[0].errors[-1] < 1e-5
    paths += plot_roundtrip(trips, tmp_path / "r.png")
    for p in paths:
        with open(p, "rb") as fh:
            assert len(fh.read()) > 5000


# -- the command -------------------------------------------------------------------------------


def test_cli_unknown_names_exit_2_with_one_line_and_no_folder(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["convergence", "--methods", "bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "valid methods are: euler" in err
    assert main(["convergence", "--problem", "banana", "--out", str(out)]) == 2
    assert "valid problems are: gbm_ito" in capsys.readouterr().err
    assert main(["convergence", "--samples", "1", "--out", str(out)]) == 2
    assert "samples must be an integer of at least 2" in capsys.readouterr().err
    assert main(["convergence", "--steps", "8", "--out", str(out)]) == 2
    assert "at least two different" in capsys.readouterr().err
    assert not out.exists()


def test_cli_quick_run_with_a_subset(tmp_path, capsys):
    code = main(["convergence", "--problem", "ode", "--methods", "rk4", "mcf_rk4", "euler",
                 "--out", str(tmp_path), "--json", "--no-progress"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["method"] for r in doc["results"]} == {"rk4", "mcf_rk4", "euler"}
    assert doc["all_agree"] and (tmp_path / "convergence.svg").exists()
    assert [t["method"] for t in doc["roundtrip"]][:1] == ["mcf_rk4"]


@pytest.mark.slow
def test_cli_defaults_agree_with_the_registry(tmp_path):
    """Acceptance: ``revsde convergence --json`` with its defaults, in a subprocess."""
    done = subprocess.run([sys.executable, "-m", "revsde", "convergence", "--json", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)  # exactly one JSON document
    table = list_methods()
    assert doc["results"] and doc["all_agree"]
    for r in doc["results"]:
        e = table[r["method"]]
        pb = PROBLEMS[r["problem"]]
        assert r["declared"] == pb.declared(e)
        assert abs(r["order"] - r["declared"]) <= 0.2, r
    ran = {r["method"] for r in doc["results"]}
    assert ran == {n for n, e in table.items()
                   if any(p.default and p.skip_reason(e) is None for p in PROBLEMS.values())}
    assert {"convergence", "roundtrip"} <= set(doc["figures"])
    assert {t["dtype"] for t in doc["roundtrip"]} == {"float32", "float64"}


def test_a_new_method_family_and_problem_plug_in(monkeypatch):
    """The hook for families beyond solvers and samplers (e.g. gradient methods)."""
    from dataclasses import dataclass

    from revsde.convergence import METHOD_FAMILIES, Problem, Setup

    @dataclass(frozen=True)
    class Toy(Problem):
        def skip_reason(self, entry):
            return None if entry["family"] == "toy" else "not a toy method"

        def declared(self, entry):
            return entry["order"]

        def setup(self, *, samples, fine, entropy, dtype):
            ref = torch.zeros(1, samples, 2, dtype=dtype)
            spread = torch.linspace(1, 2, samples, dtype=dtype).reshape(1, -1, 1)

            def run(method, steps, options):
                return ref + spread * (1.0 / steps) ** 2

            return Setup(run, ref)

    monkeypatch.setitem(METHOD_FAMILIES, "toy", lambda: [{"name": "toy2", "order": 2.0}])
    monkeypatch.setitem(PROBLEMS, "toy", Toy("toy", "a toy", family="toy", default=False))
    res = study(["toy2", "heun"], ["toy"], samples=8)
    assert [r.method for r in res.results] == ["toy2"]
    assert res.results[0].order == pytest.approx(2.0, abs=1e-9)
    assert res.results[0].declared == 2.0
    assert [s.reason for s in res.skipped] == ["not a toy method"]
