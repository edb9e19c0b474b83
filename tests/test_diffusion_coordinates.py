"""Lifted coordinates as functions of (schedule, case): no network, no stored state."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from script_util import load_script

from revsde.diffusion.schedules import VE, FlowMatching, VPCosine, VPDiscrete, VPLinear
from revsde.diffusion.schedules import coordinates as co

F64 = torch.float64
SCHEDS = [VPLinear(), VPCosine(), VPDiscrete(betas=torch.linspace(1e-4, 0.02, 1000, dtype=F64)),
          VE(), FlowMatching()]


@pytest.mark.parametrize("schedule", SCHEDS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("case", co.LIFTED_CASES)
def test_drift_coefficients_match_the_maps(schedule, case):
    """(t, κ) in one pass from the clock = t_of_clock and kappa(t_of_clock) (1e-13)."""
    ts = torch.linspace(schedule.t_min, schedule.t_max, 41, dtype=F64)[1:-1]
    s = co.clock(schedule, case, ts)
    t, k = co.drift_coefficients(schedule, case, s)
    assert torch.allclose(t, co.t_of_clock(schedule, case, s), rtol=1e-13, atol=0)
    assert torch.allclose(k, co.kappa(schedule, case, t), rtol=1e-13, atol=0)
    assert torch.allclose(t, ts, rtol=1e-10, atol=0)


def test_the_noise_factor_of_sde_eps_is_case_data():
    assert {n: c.drift_power for n, c in co.CASES.items()} == {
        "ode_eps": 0.0, "ode_x0": 0.0, "sde_x0": 0.0, "sde_eps": -0.5}
    with pytest.raises(ValueError, match="valid cases"):
        co.get_case("ode_v")


def test_bench_samplers_quick_prints_json():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_samplers.py"),
                          "--quick"], capture_output=True, text=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                              "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    import json

    doc = json.loads(out.stdout)
    from revsde.diffusion import list_samplers

    assert set(doc["ms_per_eval"]) == {i["name"] for i in list_samplers()}
    assert doc["hand_ddim_ms_per_eval"] > 0 and doc["max_ratio"] > 0
    stochastic = {i["name"] for i in list_samplers() if i["stochastic"]}
    assert set(doc["stochastic_ratio_to_hand_sde_loop"]) == stochastic
    assert doc["hand_sde_dpmpp_1_ms_per_eval"] > 0
    assert {k for k, v in doc["comparator"].items() if v == "hand_sde_dpmpp_1"} == stochastic
    for k, r in doc["ratio_to_comparator"].items():
        loop = doc["hand_sde_dpmpp_1_ms_per_eval" if k in stochastic else "hand_ddim_ms_per_eval"]
        assert r == pytest.approx(doc["ms_per_eval"][k] / loop)
    assert doc["target_met"] == (doc["max_ratio_to_comparator"] <= 2.0)
    # the evaluations are counted: the grid's for a fixed-grid sampler, the controller's
    # for an adaptive one (outside the target)
    adaptive = {i["name"] for i in list_samplers() if i.get("adaptive")}
    assert set(doc["adaptive"]) == adaptive
    assert set(doc["target_samplers"]) == set(doc["ms_per_eval"]) - adaptive
    for i in list_samplers():
        if i["name"] not in adaptive:
            assert doc["evals"][i["name"]] == doc["steps"] * i["nfe_per_step"] + i["init_nfe"]
    assert doc["max_ratio_to_comparator"] == max(doc["ratio_to_comparator"][k]
                                                 for k in doc["target_samplers"])
    assert doc["arguments"] == {"quick": True, "steps": 5, "rounds": 2, "clock": "cpu"}


def test_hand_sde_loop_of_the_benchmark_is_sde_dpmpp_1():
    """The benchmark's hand-written SDE loop is the library's SDE-DPM-Solver++(1), given
    the same normal draws (so the SDE samplers' context figure times the right thing)."""
    import torch

    from revsde.diffusion import DiffusionModel, VPLinear, time_grid
    from revsde.diffusion.samplers.reference import sample_sde_dpmpp_1

    bench = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_samplers.py")

    class Lin(torch.nn.Module):
        def forward(self, x, t):
            return 0.3 * x + 0.01 * t.view(-1, 1)

    sch = VPLinear()
    ts = time_grid(sch, 8, "uniform_lambda")
    x = torch.randn(2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(3)
    z = [torch.randn(x.shape, generator=gen, dtype=x.dtype) for _ in range(8)]
    with torch.no_grad():
        mine = bench.hand_sde_dpmpp_1(Lin(), x, ts, sch, seed=3)
        ref = sample_sde_dpmpp_1(DiffusionModel(Lin(), sch, "eps"), x, ts, noise=z)
    assert torch.allclose(mine, ref.x, rtol=1e-10, atol=1e-12)
