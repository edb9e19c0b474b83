"""The gradient map (docs/gradient-map.md) and the accuracy the registry reads
(revsde/diffusion/gradients/accuracy.py) are what benchmarks/bench_gradient_map.py
produces: the page is rendered from the saved data, the stored accuracy is derived from
it, and a fresh quick run of one case reproduces the saved numbers."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from revsde.diffusion.gradients import accuracy, list_gradient_methods

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_gradient_map", ROOT / "benchmarks" / "bench_gradient_map.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def saved(bench):
    return json.loads(bench.DOCS_DATA.read_text())


def test_docs_page_is_rendered_from_the_saved_data(bench, saved):
    assert bench.DOCS_PAGE.read_text() == bench.render(saved), (
        "run `python benchmarks/bench_gradient_map.py --render`")


def test_registry_accuracy_is_the_saved_measurement(bench, saved):
    table = bench.accuracy_table(saved)
    assert accuracy.TOLERANCE == saved["tolerance"]
    assert accuracy.BEST == bench.best_variant(saved)
    info = {m["name"]: m for m in list_gradient_methods()}
    assert set(table) == set(accuracy.MEASURED)
    for name, kinds in table.items():
        for kind, v in kinds.items():
            stored = accuracy.MEASURED[name][kind]
            assert stored["valid_min_steps"] == v["valid_min_steps"], (name, kind)
            for n, e in v["rel_err"].items():
                assert abs(stored["rel_err"][n] - e) <= 5e-3 * e, (name, kind, n)  # 3 digits
            assert info[name]["accuracy"][kind] == stored["rel_err"]
            assert info[name]["valid_min_steps"][kind] == stored["valid_min_steps"]


def test_a_fresh_quick_run_reproduces_the_saved_numbers(bench, saved):
    """One case of the map, re-measured (reference: rex_rk4 at 256 instead of 1024 steps,
    which moves the errors by < 1e-3 relative, the tolerance stated here)."""
    fresh = bench.measure(bench.quick_cases(), steps=(10, 20), methods=("reversible",
                          *bench.DEIS), splits=(), memory=False, reference_steps=256,
                          order_steps={"ode": (), "sde": ()}, diagnose=False)
    assert fresh["results"]
    for r in fresh["results"]:
        old = bench._by(saved["results"], case=r["case"], sampler=r["sampler"],
                        method=r["method"], steps=r["steps"])
        assert len(old) == 1, r
        assert abs(r["rel_err"] - old[0]["rel_err"]) <= 1e-3 * old[0]["rel_err"], (r, old)
    for b in fresh["first_order_exact"]:
        old = bench._by(saved["first_order_exact"], case=b["case"], steps=b["steps"])
        assert abs(b["rel_err"] - old[0]["rel_err"]) <= 1e-3 * old[0]["rel_err"]


def test_sde_mixture_cases_follow_one_brownian_path(bench):
    """The SDE mixtures' samplers draw their noise on the fine grid: solves at 64 and 128
    steps follow one path (close samples), where the registered sampler draws a new path on
    each grid (samples about as far apart as two noises)."""
    from revsde.diffusion import get_sampler, time_grid

    case = bench.make_case("mix2d", "vp_cosine", "sde")
    fine = case.sampler("rex_shark")
    assert isinstance(fine, bench.FinePathSampler)

    def gap(s):
        x = [s.sample(case.model, case.x_T, time_grid(case.model.schedule, n, "uniform_lambda"),
                      seed=bench.SEED) for n in (64, 128)]
        return float((x[0] - x[1]).norm() / x[1].norm())

    assert gap(fine) < 0.05 < 0.5 < gap(get_sampler("rex_shark"))


def test_a_random_mixture_of_the_map_is_reproduced(bench, saved):
    """One of the random mixtures ("Other mixtures"), re-measured at 10 and 20 steps with
    the same reference, reproduces the saved errors and the exact first-order gradient's."""
    old = next(r for r in saved["robustness"] if r["seed"] == 6)
    fresh = bench.robustness(6, methods=("adjointdeis-linvp2s", "adjointdeis-lin2m"),
                             steps=(10, 20))
    assert fresh["case"] == old["case"] and fresh["dim"] == old["dim"]
    assert abs(fresh["reference_change"] - old["reference_change"]) <= (
        1e-3 * old["reference_change"])
    for n in ("10", "20"):
        assert abs(fresh["first_order_exact"][n] - old["first_order_exact"][n]) <= (
            1e-5 * old["first_order_exact"][n])
        for m, errs in fresh["errors"].items():
            assert abs(errs[n] - old["errors"][m][n]) <= 1e-5 * old["errors"][m][n], (m, n)
    # and the page's claims per split are read from the saved data
    checks = bench.family_checks(saved)
    assert set(checks) == {m for _, ms in bench.FAMILIES.values() for m in ms}
    for m, v in checks.items():
        assert v["ratio"] == max(bench.ratios(saved, m).values())
