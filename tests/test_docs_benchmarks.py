"""The performance figures of docs/benchmarks.md match the saved runs and a fresh one.

``docs/scripts/gen_benchmarks.py`` runs ``benchmarks/bench_forward.py``, ``bench_memory.py``
and ``bench_samplers.py`` into ``docs/data/bench_*.json`` and renders the page's
``<!-- bench:NAME -->`` blocks from them.  Here: the blocks are the JSON's rendering (exactly),
the saved runs were made with the arguments the page names, no number of those sections is
outside a block, and a fresh, cheaper measurement agrees with the JSON within the script's
tolerance (memory within 3 %, time ratios within a factor of 2), a tolerance that a stale
figure would not pass.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

import gen_benchmarks as gen  # noqa: E402

SECTIONS = ("## Forward solve", "## Gradients", "## Sampler overhead")


@pytest.fixture(scope="module")
def data():
    return gen.load_all()


def test_the_docs_blocks_are_the_saved_runs(data):
    for name, body in gen.rendered(data).items():
        assert gen.block(name) == body, (
            f"<!-- bench:{name} --> is stale: python docs/scripts/gen_benchmarks.py --render")
    assert gen.argument_differences(data) == []


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_no_number_of_these_sections_is_outside_a_generated_block():
    text = gen.PAGE.read_text()
    for heading in SECTIONS:
        body = _section(text, heading)
        outside = re.sub(r"<!-- bench:([\w-]+) -->\n.*?\n<!-- /bench:\1 -->", "", body,
                         flags=re.S)
        outside = re.sub(r"`[^`]*`", "", outside)  # identifiers: `float32`, `rex_rk4`
        outside = re.sub(r"\]\([^)]*\)", "]", outside)  # link targets
        assert re.findall(r".{0,30}\d.{0,30}", outside) == [], heading


def test_the_targets_and_their_figures_are_consistent(data):
    """The stated verdicts follow from the figures (the rendering reads both from one
    JSON; this pins the bench's own verdicts to its numbers)."""
    s = data["samplers"]
    assert s["target_met"] == (
        max(s["ratio_to_comparator"][k] for k in s["target_samplers"]) <= s["target_max_ratio"])
    assert set(s["target_samplers"]) | set(s["adaptive"]) == set(s["ms_per_eval"])


def _stale(d: dict, path: tuple, factor: float) -> dict:
    out = copy.deepcopy(d)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] *= factor
    return out


def test_the_tolerances_are_not_vacuous(data):
    """The saved runs agree with themselves; each checked kind of figure, made stale (x10,
    or a memory figure off by 10 %), is caught."""
    f, m, s = data["forward"], data["memory"], data["samplers"]
    assert gen.forward_differences(f, f) == []
    assert gen.memory_differences(m, m) == []
    assert gen.samplers_differences(s, s) == []
    k = "revsde_reversible_heun_grid"
    assert gen.forward_differences(_stale(f, ("rows", 1, "ratio_vs_torchsde", k), 10), f)
    assert gen.forward_differences(
        _stale(f, ("rows", 1, "profile", "query_share_of_torchsde"), 0.1), f)
    i = next(i for i, r in enumerate(m["results"])
             if r["method"] == "revsde_adjoint" and r["steps"] == m["arguments"]["steps"][-1])
    assert gen.memory_differences(_stale(m, ("results", i, "peak_tensor_mb"), 1.1), m)
    assert gen.memory_differences(_stale(m, ("results", i, "peak_tensor_mb_own"), 1.1), m)
    pair = f"revsde_adjoint/torchsde_adjoint.{m['arguments']['steps'][-1]}"
    assert gen.memory_differences(_stale(m, ("paired_time_ratios", pair, "median"), 10), m)
    assert gen.samplers_differences(_stale(s, ("ratio_to_comparator", "rev_heun"), 10),
                                    s)
    assert gen.samplers_differences(
        _stale(s, ("hand_sde_loop_ratio_to_hand_loop",), 0.1), s)
    assert gen.samplers_differences(_stale(s, ("evals", "rev_heun"), 2), s)
    # and a figure within the stated band passes: the band is what the page says
    assert gen.memory_differences(_stale(m, ("results", i, "peak_tensor_mb"), 1.02), m) == []
    assert gen.samplers_differences(_stale(s, ("ratio_to_comparator", "rev_heun"), 1.9), s) == []


@pytest.mark.slow
def test_a_fresh_memory_measurement_agrees_with_the_docs(data):
    """Deterministic tensor memory of the adjoint and of backprop at the fewest and most
    steps, and the quoted paired time ratios at the most steps, over a few rounds."""
    saved = data["memory"]
    fresh = gen.fresh_memory(hi=saved["arguments"]["steps"][-1])
    assert len(fresh["results"]) == 4 and len(fresh["paired_time_ratios"]) >= 2
    assert gen.memory_differences(saved, fresh) == []


@pytest.mark.slow
def test_a_fresh_forward_and_sampler_run_agrees_with_the_docs(data):
    fresh = gen.fresh_forward()
    assert [r["steps"] for r in fresh["rows"]] == data["forward"]["arguments"]["steps"]
    assert gen.forward_differences(data["forward"], fresh) == []
    fresh = gen.fresh_samplers()
    assert gen.samplers_differences(data["samplers"], fresh) == []
