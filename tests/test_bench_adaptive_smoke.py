"""``benchmarks/bench_adaptive.py --quick`` runs and prints one JSON document with its
three problems, the equal-error comparisons and the round trips (nothing is timed here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_adaptive_quick():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_adaptive.py"), "--quick"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    doc = json.loads(out.stdout)
    assert set(doc["problems"]) == {"ode", "sde", "diffusion"}
    for name, pb in doc["problems"].items():
        kinds = {p["kind"] for p in pb["points"]}
        assert kinds == {"fixed", "adaptive"}, name
        assert all(p["nfe"] > 0 and p["error"] >= 0 for p in pb["points"])
    for name in ("ode", "sde"):
        # the replayed grid comes back at round-off (grown over ~1500 steps by the
        # inverse's division by zeta); an inverse with its own controller comes back at the
        # tolerance's error (a solve that ran out of steps, or blew up, says so)
        done = [r for r in doc["problems"][name]["roundtrip"] if "failed" not in r]
        assert {r["method"] for r in done} >= {"mcf_bs3"}, name
        for r in done:
            assert r["replay_error"] <= 1e-11, (name, r)
            assert r["own_controller_error"] > 1e3 * r["replay_error"], (name, r)
    for r in doc["problems"]["diffusion"]["roundtrip"]:
        assert r["replay_bit_for_bit"] and r["replay_error"] == 0.0
        assert r["own_controller_error"] > 1e-6
    assert all(t["nfe"] > 0 for t in doc["problems"]["sde"]["torchsde_adaptive"])
    batch = doc["problems"]["diffusion"]["batch"]
    assert len(batch["accepted_steps_alone"]) == 2


FAKE_REX = '''
import torch


class _Solver:
    """Stands in for the official RexTorchdynWrapper: an encode that adds 1 and a decode
    that takes 1 back (its adaptive mode misses by 0.5), calling the model once a step."""

    def __init__(self, model, n_steps, adaptive, scheduler, eps):
        self.model, self.n, self.adaptive, self.scheduler = model, n_steps, adaptive, scheduler
        self.eps, self.nfe = eps, 0

    def _calls(self, x, t_span):
        assert t_span.numel() == 2
        for t in torch.linspace(float(t_span[0]), float(t_span[-1]), self.n):
            out = self.model(t.reshape(1), x)
            assert out.shape == x.shape and out.dtype == x.dtype
            self.nfe += 1

    def backward_solve(self, x, x_hat, t_span):
        assert self.scheduler.betas.dtype == x.dtype and self.scheduler.betas.numel() == 1000
        # a float32 t_span, as the official scripts make it (torch.tensor([eps, T]))
        assert t_span.dtype == torch.float32 and float(t_span[-1]) == 1.0
        assert abs(float(t_span[0]) - self.eps) < 1e-9
        self._calls(x, t_span)
        return x + 1, x_hat + 1

    def forward_solve(self, x, x_hat, t_span):
        self._calls(x, t_span)
        return x - 1 + (0.5 if self.adaptive else 0.0), x_hat


def create_rex_solver(model, tableau, n_steps, prediction_type, adaptive, atol, rtol, eps,
                      scheduler, sched_type):
    assert sched_type == "linear" and prediction_type == "data"
    return _Solver(model, n_steps, adaptive, scheduler, eps)
'''


def test_the_official_adapter_runs_a_checkout(tmp_path):
    """``--rex-official PATH``: the adapter imports ``samplers.rex`` from the checkout,
    hands it the network and the model's betas in the solve's dtype, counts the network's
    evaluations and records both round trips beside revsde's (here with a stand-in for
    the official code, which is not part of revsde); a path without it is refused."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_adaptive as ba

    pkg = tmp_path / "image-experiments" / "samplers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "rex.py").write_text(FAKE_REX)
    x0 = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = ba.official_roundtrips(str(tmp_path), x0, 1e-2, quick=True)
    assert out["commit"] is None and out["pictures"] == [1, 3, 8, 8]
    for dtype in ("float32", "float64"):
        rows = {(r["code"], r["tableau"], r["adaptive"]): r for r in out["rows"]
                if r["dtype"] == dtype}
        assert len(rows) == 5
        for (code, _, adaptive), r in rows.items():
            if code == "official":
                assert r["encode_nfe"] == r["decode_nfe"] == 20
                assert r["roundtrip_error"] == pytest.approx(0.5 if adaptive else 0.0,
                                                             abs=1e-6)
        replay = rows[("revsde replay", "bogacki_shampine", True)]
        assert replay["roundtrip_error"] <= 1e-6 and replay["decode_nfe"] > 0
    with pytest.raises(SystemExit, match="no image-experiments/samplers/rex.py"):
        ba.load_official(str(tmp_path / "nowhere"))
