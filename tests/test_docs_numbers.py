"""No hand-kept measured number in the docs: every measured figure generated and checked.

Every measured figure of a page lives in a generated block (``<!-- name -->`` ...
``<!-- /name -->`` or ``<!-- name:begin -->`` ... ``<!-- name:end -->``) that a script
writes from ``docs/data`` and a test compares with the data and with a fresh run.  This
guard scans the rest of each page in :data:`PAGES` for numbers that look measured
(:data:`MEASURED`) and fails naming the page, the line and the number.  Settings,
bounds and derivations that look the same are either recognised by their context
(:data:`SETTING_CONTEXT`) or listed, one by one with the reason, in :data:`ALLOWED`.

What is not scanned: the generated blocks, fenced code (run by the docs tests or
settings), inline code spans (commands, options, formulas), link targets, section
references (``§8.4``) and version numbers (``0.42.1``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the pages scanned: every page of the site and the README, except two generated whole:
#: docs/solver-table.md (docs/scripts/gen_solver_table.py; tests/test_docs.py compares it
#: with the render) and docs/gradient-map.md (benchmarks/bench_gradient_map.py --render;
#: tests/test_gradient_map.py compares it with the render and re-measures a case).
PAGES = ("README.md", "docs/index.md", "docs/getting-started.md", "docs/concepts.md",
         "docs/solvers.md", "docs/howto-choose.md", "docs/howto-sde.md", "docs/adjoint.md",
         "docs/convergence.md", "docs/baselines.md", "docs/pretrained.md",
         "docs/howto-invert.md", "docs/howto-edit.md", "docs/howto-diffusers.md",
         "docs/guided-generation.md", "docs/internals.md", "docs/api.md",
         "docs/api-convergence.md", "docs/api-diffusion.md", "docs/benchmarks.md",
         "docs/diffusion.md", "docs/howto-adaptive.md", "docs/mathematics.md")

_NUM = r"(?<![\w.,])\d+(?:[.,]\d+)*"
#: what a measured number looks like: scientific notation (1.4e-9), a power of ten
#: (10⁸), a ratio (0.86×, 3 times), a time or a size with its unit (12 ms, 2,396 s,
#: 9 GB, 5 minutes), a percentage (49 %), or a decimal with a fractional part (0.43)
MEASURED = re.compile(
    rf"""(?x)
      {_NUM}[eE][-+]?\d+\b
    | 10[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+
    | {_NUM}\s?(?:×|x)(?![\w(])
    | {_NUM}\s+times\b
    | {_NUM}\s?(?:ns|µs|us|ms|s|sec|seconds?|min|minutes?|h|hours?|B|[kKMG]i?B)(?![\w])
    | {_NUM}\s?%
    | {_NUM}\.\d+
    """)

#: a number right after one of these is a setting, a default, a declared order or a
#: bound that a test enforces, not a measurement: "ζ = 0.999", "(default 0.93)",
#: "order 1.5", "order-1.5", "declared 1.5", "< 1e-10", "≤ 1.05", "± 0.2", "lr 0.002"
SETTING_CONTEXT = re.compile(
    r"(?:[=<>≤≥±∈]|\bdefault|\border-?|\borders|\bdeclared|\bstrong|\bγ|\bζ|\blr|\bdecay)"
    r"\s*[({]?\s*$")

#: (page, text around the number, why it is not a measurement).  The text must occur on
#: the line; every number inside it is allowed there.
ALLOWED: tuple[tuple[str, str, str], ...] = (
    # -- diffusion.md and mathematics.md: settings, tested bounds, derivations, names
    ("docs/diffusion.md", "(component stds 0.1–0.2)", "the test mixtures' settings"),
    ("docs/diffusion.md", "reference to 2e-15 (tested)", "the bound the weights' test checks"),
    ("docs/diffusion.md", "tested to 1e-12", "the bound the identity test checks"),
    ("docs/diffusion.md", "|x| ≤ 1: 1.1e-16 in", "half a unit in the last place: arithmetic"),
    ("docs/diffusion.md", "float64, 6e-8 in float32", "half a unit in the last place: arithmetic"),
    ("docs/diffusion.md", "within 10% of DPM-Solver++(2M)'s", "bench_sample_quality's target"),
    ("docs/diffusion.md", "pay 2× their base's NFE", "two base steps per wrapped step"),
    ("docs/mathematics.md", "0.5 for general noise", "a theoretical strong order"),
    ("docs/mathematics.md", "(typically 0.93)", "BDIA/EDICT's coupling setting"),
    ("docs/mathematics.md", "Stable Diffusion 1.5", "a model's name"),
    ("docs/mathematics.md", "| 2 | 1.5 | 1 | 1 |", "orders of the error estimates"),
    ("docs/mathematics.md", "| 1.5 (Euler difference) |", "orders of the error estimates"),
    ("docs/mathematics.md", "eq. (4.11)", "an equation number of the cited book"),
    ("docs/mathematics.md", "within 1% of an output time", "the grid's snapping setting"),
    # -- derivations (mathematics, not measurement)
    ("docs/concepts.md", "0.9^-200 ≈ 1e9", "ζ^-N at ζ = 0.9, N = 200"),
    ("docs/concepts.md", "0.9 costs", "the coupling ζ = 0.9, a setting"),
    ("docs/solvers.md", "with ζ = 0.999", "ζ^-N = e at N = 1000"),
    ("docs/baselines.md", "≈ 0.865", "p² for the default p = 0.93"),
    ("docs/baselines.md", "≈ 1.16", "1/p² for the default p = 0.93"),
    ("docs/baselines.md", "10⁸ times closer", "the ratio of the two bounds on the line after"),
    ("docs/pretrained.md", "σ/α ≈ 157", "the schedule's σ/α at t = 1"),
    ("docs/adjoint.md", "2 × (stages of the base)", "the evaluations of a wrapped step"),
    ("docs/solvers.md", "2 × its evaluations", "the evaluations of a wrapped step"),
    ("docs/howto-invert.md", "about 1000 times", "EXPECTED_ERROR's ratio, SDE/ODE"),
    ("docs/howto-diffusers.md", "9 GB in", "T5-XXL's parameter count × 2 bytes in bfloat16"),
    # -- tolerances and bounds that tests enforce
    ("docs/concepts.md", "below 1e-14, with ζ = 1; between 1e-8 and 1e-5",
     "the bounds the page's code block asserts"),
    ("docs/concepts.md", "in float32 within 1e-5, in float64 within 1e-14",
     "the bounds the page's code block asserts"),
    ("docs/adjoint.md", "1e-10 in float64 and 1e-4 in float32", "TOL in tests/test_adjoint.py"),
    ("docs/adjoint.md", "≤ 1/3", "a target of bench_memory.py"),
    ("docs/baselines.md", "> 1e-2", "the bound tests/test_baselines.py checks"),
    ("docs/howto-invert.md", "within 1e-6, as the block checks", "the block's assertion"),
    ("docs/howto-invert.md", "within 10%", "gen_fidelity.REL"),
    ("docs/howto-invert.md", "about 1e-6 (max abs", "EXPECTED_ERROR['ode'] of reproducible.py"),
    ("docs/howto-invert.md", "about 1e-3 with an SDE", "EXPECTED_ERROR['sde'] of reproducible.py"),
    ("docs/pretrained.md", "percentile of |x| below 1.5",
     "the bound tests/test_pretrained.py checks"),
    # -- declared orders (the registry's, settings)
    ("docs/concepts.md", "0.5 in general", "Reversible Heun's declared order"),
    ("docs/solvers.md", "0.5 general", "the declared order"),
    ("docs/solvers.md", "(1.0 for Heun", "the declared order"),
    ("docs/solvers.md", "noise gives 0.5", "the declared order"),
    ("docs/howto-choose.md", "(1.5 on additive noise)", "the declared order"),
    # -- settings
    ("docs/howto-choose.md", "0.999); keep", "the default ζ (after '(default' on the line above)"),
    ("docs/adjoint.md", "N + 1 times", "a count"),
    ("docs/adjoint.md", "ζ ∈ {1, 0.999, 0.9}", "the property test's couplings"),
    ("docs/baselines.md", "(γ = 1, 0.8)", "the tested BDIA couplings"),
    ("docs/baselines.md", "BDIA(γ=0.5)", "a BDIA coupling"),
    ("docs/convergence.md", "95 %", "the confidence level of the fitted orders"),
    ("docs/convergence.md", "from 1 to 0.3", "the problem's time span"),
    ("docs/guided-generation.md", "20 % of the batch", "the training's label dropout"),
    ("docs/howto-edit.md", "20 % of its labels", "the training's label dropout"),
    ("docs/guided-generation.md", "so 0 % at the start", "the target is chosen so"),
    ("docs/guided-generation.md", "0.18 M-parameter", "the shipped weights' size"),
    ("docs/howto-edit.md", "beyond ±1.5", "the benchmark's blow-up threshold"),
    ("docs/howto-invert.md", "80% of the machine", "--max-memory's default"),
    ("README.md", "80% of the machine", "--max-memory's default"),
    ("docs/pretrained.md", "width of 0.5–4 px", "the blur widths searched"),
    ("docs/howto-diffusers.md", "at 7.5", "a guidance scale"),
    ("docs/howto-diffusers.md", "guidance 3.5", "a guidance scale"),
    ("docs/howto-diffusers.md", "(FLUX.1-dev 3.5, FLUX.2 4.0)", "the guidance inputs"),
    ("docs/howto-diffusers.md", "shift (6.0)", "the scheduler's shift"),
    ("docs/howto-diffusers.md", "`guidance_scale` is", "the pipeline's guidance defaults"),
    # -- names
    ("README.md", "Python ≥ 3.10", "a version"),
    ("docs/getting-started.md", "Python ≥ 3.10", "a version"),
    ("docs/baselines.md", "Stable Diffusion 1.5", "a model's name"),
    ("docs/howto-diffusers.md", "Stable Diffusion 1.5", "a model's name"),
    ("docs/howto-diffusers.md", "Lumina-Image 2.0", "a model's name"),
    ("docs/howto-diffusers.md", "stable-diffusion-3.5-medium", "a checkpoint's name"),
)

_BLOCK = re.compile(r"<!-- ([\w:-]+?)(?::begin)? -->\n.*?\n<!-- (?:/\1|\1:end) -->", re.S)
_STRIP = (
    re.compile(r"^\s*(```|~~~).*?^\s*\1", re.S | re.M),  # fenced code
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)\n]*\)"),  # link targets
    re.compile(r"§\s?\d+(?:\.\d+)*"),  # section references
    re.compile(r"\b\d+\.\d+\.\d+\S*"),  # versions (0.42.1, 2.13.0+cpu)
    re.compile(r"<!--.*?-->", re.S),  # comments
    re.compile(r"^#+ [\d.]+", re.M),  # the numbers of section headings
)


def _blank(m: re.Match) -> str:
    """The match replaced by spaces, its newlines kept (line numbers stay right)."""
    return re.sub(r"[^\n]", " ", m.group(0))


def scannable(text: str) -> str:
    """The page with everything the guard does not judge blanked out."""
    text = _BLOCK.sub(_blank, text)
    for pat in _STRIP:
        text = pat.sub(_blank, text)
    return text


def offenders(page: str, text: str, allowed=ALLOWED) -> list[str]:
    """``page:line: number  (line)`` for each measured-looking number outside the page's
    generated blocks that neither its context nor :data:`ALLOWED` accounts for."""
    out = []
    raw = text.split("\n")
    lines = scannable(text).split("\n")
    for i, line in enumerate(lines):
        for snippet in (s for p, s, _ in allowed if p == page):
            k = raw[i].find(snippet)
            if k >= 0:
                line = line[:k] + " " * len(snippet) + line[k + len(snippet):]
        # a number at the end of one line and its unit at the start of the next
        joined = line + " " + (lines[i + 1].lstrip() if i + 1 < len(lines) else "")
        for m in MEASURED.finditer(joined):
            if m.start() >= len(line):
                break
            if SETTING_CONTEXT.search(joined[:m.start()]):
                continue
            out.append(f"{page}:{i + 1}: {m.group(0).strip()}  ({raw[i].strip()[:100]})")
    return out


@pytest.mark.parametrize("page", PAGES)
def test_no_hand_kept_measured_number(page):
    bad = offenders(page, (ROOT / page).read_text())
    assert not bad, ("measured-looking numbers outside generated blocks (generate them from "
                     "docs/data, word them qualitatively, or list a setting in ALLOWED):\n"
                     + "\n".join(bad))


def test_every_allowance_is_used():
    """An allowance whose text is gone from its page is stale: remove it."""
    stale = [(p, s) for p, s, _ in ALLOWED if s not in (ROOT / p).read_text()]
    assert not stale, stale


@pytest.mark.parametrize("line,flagged", [
    ("relative error 7e-14 (x_T) and 2e-13 (label)", True),
    ("the gradient w.r.t. `x_T` is still 49 % off", True),
    ("here 0.43 at 4 steps, 0.21 at 8", True),
    ("a ratio of 0.86× the best", True),
    ("the run took 26 min on", True),
    ("peak 45.6 MB at 10 steps and 12 ms per step", True),
    ("about 5\nminutes on 2 free CPU threads", True),
    ("at least 10⁸ times closer", True),
    ("the coupling ζ = 0.999 (default 0.93)", False),
    ("strong order 1.5 on additive noise", False),
    ("return the input to < 1e-10 in float64", False),
    ("run `revsde invert --steps 0.5` first", False),
    ("see [§4.2](mathematics.md#s4.2), diffusers 0.42.1", False),
    ("<!-- t -->\n0.43 and 7e-14\n<!-- /t -->", False),
    ("<!-- t:begin -->\n0.43 and 7e-14\n<!-- t:end -->", False),
    ("```python\nx = 0.43\n```", False),
])
def test_the_pattern(line, flagged):
    assert bool(offenders("page.md", line, ())) == flagged, offenders("page.md", line, ())
