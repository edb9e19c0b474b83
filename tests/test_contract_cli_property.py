"""Property-based test of the command line's argument handling.

Random command lines for every subcommand (valid and invalid names, numbers,
paths and flags) go through ``revsde.cli.main`` in-process, with the work
itself (the study, the round trip) replaced by a stub that records what it was
asked.  Every command line must end in one of:

* exit 0 after ``--help`` / ``--version``;
* argparse's usage error (exit 2, ``error:`` on stderr);
* the command's own one-line error (``revsde CMD: error: ...``, status 2);
* status 0 with the work asked for with valid arguments (step counts within
  the limits, a positive tolerance, a reversible sampler, ...),

never a traceback.  Together with ``tests/test_contract_diffusion_property.py``
this runs more than 3,000 examples.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revsde import cli
from revsde.app import demo
from revsde.diffusion.samplers import reversible_names

SCALE = float(os.environ.get("CONTRACT_EXAMPLES_SCALE", 1.0))
CLI_EXAMPLES = int(800 * SCALE)

NUMBERS = ["0", "1", "2", "3", "10", "-1", "-5", "1.5", "nan", "inf", "-inf", "1e3", "abc", "",
           "1000000000", "99999999999999999999", "0x10", "1_000"]


class Stubs:
    """Stand-ins for the work, recording their arguments."""

    def __init__(self):
        self.calls: list = []

    def study(self, methods=None, problems=None, *, steps=None, samples=None, progress=False):
        from revsde.convergence import PROBLEMS, list_methods

        for p in problems or ():
            if p not in PROBLEMS:
                raise ValueError(f"unknown problem {p!r}")
        for m in methods or ():
            if m not in list_methods():
                raise ValueError(f"unknown method {m!r}")
        self.calls.append(("study", dict(steps=steps, samples=samples)))

        class Res:
            results: list = []
            skipped: list = []

            def as_dict(self):
                return {}

        return Res()

    def roundtrip_report(self, **kw):
        self.calls.append(("invert", kw))
        return {}

    def invert_with_diffusers(self, *a, **kw):
        self.calls.append(("diffusers", kw))
        return {}


def _pick(rng: random.Random, seq):
    return rng.choice(list(seq))


def make_argv(seed: int, tmp: str) -> list[str]:  # noqa: C901 - one branch per option
    rng = random.Random(seed)
    cmd = rng.choice(["invert"] * 5 + ["convergence"] * 3 + ["solvers", "bench", "top"])
    if cmd == "top":
        return rng.choice([[], ["--version"], ["--help"], ["bogus"], ["-x"], ["invert", "-h"]])
    argv = [cmd]
    n = rng.randint(0, 5)
    for _ in range(n):
        if cmd == "solvers":
            argv += rng.choice([["--json"], ["--bogus"], ["extra"]])
        elif cmd == "bench":
            argv += rng.choice([["--json"], ["--quick"], ["--dir", tmp],
                                ["--dir", os.path.join(tmp, "missing")], ["nosuchbench"],
                                ["--no-progress"], ["--dir"]])
        elif cmd == "convergence":
            opt = rng.choice(["--problem", "--methods", "--steps", "--samples", "--tol",
                              "--quick", "--no-roundtrip", "--json", "--out", "--bogus"])
            if opt == "--problem":
                argv += [opt] + [_pick(rng, ["ode", "additive", "gbm_ito", "nope", "pf_ode"])
                                 for _ in range(rng.randint(0, 2))]
            elif opt == "--methods":
                argv += [opt] + [_pick(rng, ["reversible_heun", "rex_rk4", "srk", "mcf_shark"])
                                 for _ in range(rng.randint(0, 2))]
            elif opt == "--steps":
                argv += [opt] + [_pick(rng, NUMBERS) for _ in range(rng.randint(0, 3))]
            elif opt in ("--samples", "--tol"):
                argv += [opt, _pick(rng, NUMBERS)]
            elif opt == "--out":
                argv += [opt, os.path.join(tmp, "out")]
            else:
                argv.append(opt)
        else:  # invert
            opt = rng.choice(["image", "--size", "--steps", "--sampler", "--dtype",
                              "--state-dtype", "--baselines", "--seed", "--model", "--figure",
                              "--no-figure", "--max-memory", "--json", "--no-progress"])
            if opt == "image":
                argv.append(_pick(rng, ["gradient", "missing.png", tmp,
                                        os.path.join(tmp, "photo.jpg")]))
            elif opt in ("--size", "--seed", "--max-memory"):
                argv += [opt, _pick(rng, NUMBERS)]
            elif opt == "--steps":
                argv += [opt] + [_pick(rng, NUMBERS) for _ in range(rng.randint(0, 3))]
            elif opt == "--sampler":
                argv += [opt, _pick(rng, ["rex_rk4", "rex_euler", "rev_heun", "ddim", "edict",
                                          "dpmpp_2m", "nope"])]
            elif opt == "--dtype":
                argv += [opt] + [_pick(rng, ["float32", "float64", "bfloat16", "int8"])
                                 for _ in range(rng.randint(0, 2))]
            elif opt == "--state-dtype":
                argv += [opt, _pick(rng, ["float64", "float32", "float16"])]
            elif opt == "--baselines":
                argv += [opt] + [_pick(rng, ["ddim", "edict", "bdia", "obelm", "rex"])
                                 for _ in range(rng.randint(0, 2))]
            elif opt == "--model":
                argv += [opt, _pick(rng, ["small-unet", "digits-unet", "big-unet", tmp,
                                          os.path.join(tmp, "photo.jpg"),
                                          os.path.join(tmp, "w.pt"),
                                          os.path.join(tmp, "missing")])]
            elif opt == "--figure":
                argv += [opt, _pick(rng, [os.path.join(tmp, "fig"), os.path.join(tmp, "f.png"),
                                          os.path.join(tmp, "f.xyz")])]
            else:
                argv.append(opt)
    return argv


def _valid_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def check_accepted(argv: list[str], stubs: Stubs) -> None:
    """What a successful run was asked to do must be valid."""
    for kind, kw in stubs.calls:
        if kind == "study":
            for s in kw["steps"] or ():
                assert 1 <= s <= cli.MAX_CONVERGENCE_STEPS, (argv, kw)
            assert kw["samples"] is None or kw["samples"] >= 2, (argv, kw)
        elif kind == "invert":
            assert all(2 <= n <= demo.MAX_STEPS for n in kw["steps"]), (argv, kw)
            assert kw["max_side"] is None or kw["max_side"] >= 4, (argv, kw)
            assert kw["sampler"] in reversible_names(), (argv, kw)
            assert 0 <= kw["seed"] < 2**63, (argv, kw)
            mm = kw.get("max_memory")
            assert mm is None or (mm > 0 and math.isfinite(mm)), (argv, kw)
        elif kind == "diffusers":
            assert 2 <= kw["steps"] <= demo.MAX_STEPS, (argv, kw)
            assert 0 <= kw["seed"] < 2**63, (argv, kw)
    tols = [argv[k + 1] for k, a in enumerate(argv[:-1]) if a == "--tol"]
    if stubs.calls and argv[0] == "convergence" and tols:
        last = _valid_number(tols[-1])  # argparse keeps the last one
        assert last is not None and last > 0 and math.isfinite(last), argv


def run_cli(argv: list[str], stubs: Stubs) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
            if code == 0:
                assert {"--help", "-h", "--version"} & set(argv), (argv, out.getvalue())
                return "help"
            assert code == 2 and "error:" in err.getvalue(), (argv, code, err.getvalue())
            return "usage error"
        except Exception as e:  # noqa: BLE001 - the property is about which errors
            raise AssertionError(f"revsde {' '.join(argv)}: raw {e!r}") from e
    text = err.getvalue().strip()
    if code == 2:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"revsde {argv[0]}: error: ") and len(
            lines[0]) > len(f"revsde {argv[0]}: error: ") + 10, (argv, text)
        return "refused"
    assert code == 0, (argv, code, text)
    check_accepted(argv, stubs)
    return "ran"


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    import revsde.app.invert_model as invert_model
    import revsde.convergence as convergence

    stubs = Stubs()
    monkeypatch.setattr(convergence, "study", stubs.study)
    monkeypatch.setattr(convergence, "roundtrip_errors", lambda *a, **k: [])
    monkeypatch.setattr(demo, "roundtrip_report", stubs.roundtrip_report)
    monkeypatch.setattr(demo, "format_report", lambda rep: "report")
    monkeypatch.setattr(invert_model, "invert_with_diffusers", stubs.invert_with_diffusers)
    monkeypatch.setattr(invert_model, "format_diffusers_report", lambda rep: "report")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (tmp_path / "w.pt").write_bytes(b"not a weight file")
    return stubs, str(tmp_path)


def test_cli_contract(stubbed):
    """Random command lines: help, a usage error, a one-line error or a valid run."""
    stubs, tmp = stubbed
    outcomes: Counter = Counter()

    @settings(max_examples=CLI_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 2**32 - 1))
    def run(seed):
        argv = make_argv(seed, tmp)
        stubs.calls.clear()
        outcomes[(argv[0] if argv else "", run_cli(argv, stubs))] += 1

    run()
    total = sum(outcomes.values())
    print(f"cli: {total} examples, outcomes: {dict(outcomes)}")
    assert total >= CLI_EXAMPLES
    for kind in ("usage error", "refused", "ran"):
        assert sum(v for (c, o), v in outcomes.items() if o == kind) >= 0.05 * total, outcomes
