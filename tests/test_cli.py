"""The `revsde` command: each subcommand's --json prints exactly one JSON document."""

import json
import subprocess
import sys

import pytest

from revsde.cli import main

REQUIRED = {"name", "reversible", "sde_types", "noise_types", "strong_order", "weak_order",
            "ode_order", "nfe_per_step", "needs_levy_area"}


def test_solvers_json(capsys):
    assert main(["solvers", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in doc} >= {"reversible_heun", "mcf_shark", "euler", "rk4"}
    for entry in doc:
        assert REQUIRED <= set(entry)
        assert isinstance(entry["strong_order"], dict)


def test_solvers_table(capsys):
    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    assert "reversible_heun" in out and "nfe/step" in out


def test_python_m_revsde_is_the_same_command(capsys):
    done = subprocess.run([sys.executable, "-m", "revsde", "solvers", "--json"],
                          capture_output=True, text=True, check=True)
    main(["solvers", "--json"])
    assert json.loads(done.stdout) == json.loads(capsys.readouterr().out)


def test_convergence_json_and_plot(tmp_path, capsys):
    code = main(["convergence", "--methods", "mcf_heun", "--problems", "ode", "additive",
                 "--out", str(tmp_path), "--quick", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (tmp_path / "convergence.png").stat().st_size > 1000
    orders = {r["problem"]: r["order"] for r in doc["results"]}
    assert orders["ode"] == pytest.approx(2.0, abs=0.3)
    assert orders["additive"] == pytest.approx(1.0, abs=0.3)


def test_bad_bench_name_is_rejected(capsys):
    assert main(["bench", "nope"]) == 2
    assert "bench_nope.py not found" in capsys.readouterr().err


def test_bench_forward_quick(capsys):
    assert main(["bench", "forward", "--quick"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["benchmark"] == "forward"
    assert {r["steps"] for r in doc["rows"]} == {10, 50}
    assert doc["arguments"] == {"quick": True, "repeats": 1, "steps": [10, 50], "clock": "cpu"}
    for row in doc["rows"]:
        assert row["ratio_vs_torchsde"]["torchsde_reversible_heun"] == 1.0
        assert all(v > 0 for v in row["seconds"].values())
