"""Measure strong and weak errors over step sizes, and fit the order.

:func:`measure` runs one method (a core solver or a diffusion sampler) on one
problem at several step counts, all on the same Brownian path, and returns a
:class:`ConvergenceResult`: the errors with Monte Carlo confidence bands, and
the fitted order beside the order the registry declares.  :func:`study` does
that for every method that applies to each problem, and records the pairs it
skipped with the reason.

Errors, per sample ``i`` (one Brownian path each):

* strong: ``e_i = max_k ||y_i(t_k) - y*_i(t_k)||_∞`` over the output times
  (``over="max"``) or at the final time only (``over="final"``); the error is
  the mean of ``e_i``, with its Student-t band;
* weak: for each test function φ, ``d_i = φ(y_i(T)) - φ(y*_i(T))``; the error
  is ``max_φ |mean d|`` and the band that of the φ attaining it.  Because
  ``y*`` is exact (or a fine solve) on the same path, ``mean d`` estimates
  ``E[φ(y_N)] - E[φ(y(T))]`` with the small variance of a pathwise difference.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..solvers import Solver
from .fit import OrderFit, fit_order, mean_band
from .problems import Problem, Setup, get_problem

__all__ = ["ConvergenceResult", "METHOD_FAMILIES", "Skipped", "Study", "list_methods", "measure",
           "register_method_family", "study"]


#: Further method families: ``{family: lister}``, each ``lister()`` returning registry
#: entries (dicts with at least ``name``).  See :func:`register_method_family`.
METHOD_FAMILIES: dict[str, Callable[[], list[dict]]] = {}


def register_method_family(family: str, lister: Callable[[], list[dict]]) -> None:
    """Make the entries of ``lister()`` runnable by :func:`study` as ``family`` methods.

    For a family of methods that are neither core solvers nor diffusion samplers
    (e.g. gradient methods), with problems whose ``skip_reason`` accepts entries of
    that family and whose ``setup().run`` knows how to run them.
    """
    if family in ("solver", "sampler"):
        raise ValueError(f"{family!r} is a built-in family")
    METHOD_FAMILIES[family] = lister


def list_methods() -> dict[str, dict]:
    """Every method a study can run: the core solvers, the diffusion samplers, then
    any family added with :func:`register_method_family`.

    Each entry is the registry's metadata with ``family`` (``"solver"`` or
    ``"sampler"``, ...) added; samplers also get ``takes_bm`` (whether
    ``sample(..., bm=)`` accepts a Brownian path).
    """
    import inspect

    from ..registry import get_solver, list_solvers

    out: dict[str, dict] = {}
    for info in list_solvers():
        # a class capability that info() may not list: methods for the lifted clock only
        clock = bool(getattr(get_solver(info["name"]), "needs_positive_clock", False))
        out[info["name"]] = {"needs_positive_clock": clock, **info, "family": "solver"}
    from .. import diffusion as D

    for info in D.list_samplers():
        if info["name"] in out:
            continue
        sampler = D.get_sampler(info["name"])
        takes_bm = "bm" in inspect.signature(sampler.sample).parameters
        out[info["name"]] = {**info, "family": "sampler", "takes_bm": takes_bm}
    for family, lister in METHOD_FAMILIES.items():
        for info in lister():
            out.setdefault(info["name"], {**info, "family": family})
    return out


@dataclass
class ConvergenceResult:
    """Errors of one method on one problem, and the fitted order.

    Attributes:
        method: the method's name.
        problem: the problem's name.
        error: ``"strong"``, ``"weak"`` or ``"ode"`` (ODE problems: global error).
        steps: the step counts.
        hs: the step sizes, as fractions of the interval (``1 / steps``).
        errors: the mean errors.
        low: lower ends of their confidence bands.
        high: upper ends of their confidence bands.
        fit: the fitted :class:`~revsde.convergence.OrderFit`.
        declared: the order the registry declares (``None``: none declared).
        samples: Monte Carlo samples per step count.
        seconds: wall time of the coarse solves.
    """

    method: str
    problem: str
    error: str
    steps: list[int]
    hs: list[float]
    errors: list[float]
    low: list[float]
    high: list[float]
    fit: OrderFit
    declared: float | None
    samples: int
    seconds: float = 0.0

    @property
    def order(self) -> float:
        """The fitted order."""
        return self.fit.order

    def agrees(self, tol: float = 0.2) -> bool | None:
        """Whether the fitted order lies within ``tol`` of the declared one."""
        if self.declared is None:
            return None
        return abs(self.fit.order - self.declared) <= tol

    def as_dict(self) -> dict:
        return {
            "method": self.method, "problem": self.problem, "error": self.error,
            "steps": list(self.steps), "hs": list(self.hs), "errors": list(self.errors),
            "low": list(self.low), "high": list(self.high), "order": self.fit.order,
            "order_stderr": self.fit.stderr, "order_low": self.fit.low,
            "order_high": self.fit.high, "order_intercept": self.fit.intercept,
            "confidence": self.fit.confidence, "declared": self.declared,
            "agrees": self.agrees(), "samples": self.samples,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ConvergenceResult:
        """Rebuild a result from :meth:`as_dict` (e.g. read back from JSON)."""
        fit = OrderFit(d["order"], d["order_stderr"], d["order_low"], d["order_high"],
                       d.get("order_intercept", math.nan), d.get("confidence", 0.95))
        return cls(d["method"], d["problem"], d["error"], list(d["steps"]), list(d["hs"]),
                   list(d["errors"]), list(d["low"]), list(d["high"]), fit, d["declared"],
                   d["samples"], d.get("seconds", 0.0))


def _fine_for(steps: Iterable[int], minimum: int) -> int:
    """The smallest multiple of every step count that is at least ``minimum``."""
    lcm = 1
    for n in steps:
        lcm = lcm * n // math.gcd(lcm, n)
    return lcm * max(1, math.ceil(minimum / lcm))


def _check_steps(steps) -> tuple[int, ...]:
    try:
        out = tuple(int(n) for n in steps)
    except (TypeError, ValueError):
        raise ValueError(f"steps must be positive integers; got {steps!r}") from None
    if len(set(out)) < 2 or any(n < 1 for n in out) or list(out) != [int(n) for n in steps]:
        raise ValueError(f"steps must be at least two different positive integers; got {steps!r}")
    return tuple(sorted(out))


def _strong(ys, ref, over: str, confidence: float):
    diff = (ys - ref).abs().flatten(2).amax(-1)  # (outputs, samples)
    per = diff.amax(0) if over == "max" else diff[-1]
    return mean_band(per, confidence)


def _weak(ys, ref, test_functions: dict, confidence: float):
    best = None
    for phi in test_functions.values():
        m, lo, hi = mean_band(phi(ys[-1]) - phi(ref[-1]), confidence)
        a = abs(m)
        half = 0.5 * (hi - lo)
        band = (a, max(a - half, 0.0), a + half)
        if best is None or band[0] > best[0]:
            best = band
    return best


def measure(method: str | Solver, problem: str | Problem, *,
            steps: Iterable[int] | None = None,
            samples: int | None = None, over: str = "max", entropy: int = 0,
            dtype: torch.dtype = torch.float64, confidence: float = 0.95,
            setup: Setup | None = None, _known: tuple[str, dict] | None = None,
            **options: Any) -> ConvergenceResult:
    """Errors of ``method`` on ``problem`` at each step count, and the fitted order.

    Args:
        method: a registry name (solver or sampler), or a
            :class:`~revsde.solvers.Solver` instance for a solver problem.
        problem: a registered problem name or a :class:`Problem`.
        steps: coarse step counts (default: the problem's).
        samples: Monte Carlo samples (default: the problem's).
        over: strong errors at the ``"final"`` time or the ``"max"`` over output times.
        entropy: seed of the Brownian path and of the initial values.
        dtype: floating dtype of the solves.
        confidence: level of the bands and of the order's interval.
        setup: a :class:`~revsde.convergence.problems.Setup` to reuse (built
            with the same ``samples``, fine grid, ``entropy`` and ``dtype``).
        **options: solver or sampler options (e.g. ``zeta``).

    Raises:
        ValueError: unknown problem or method, a method that does not apply
            (the message says why), or bad ``steps``/``over``.
    """
    pb = get_problem(problem)
    if over not in ("max", "final"):
        raise ValueError(f"over must be 'max' or 'final'; got {over!r}")
    steps = _check_steps(pb.steps if steps is None else steps)
    samples = pb.samples if samples is None else int(samples)
    if samples < 2:
        raise ValueError(f"samples must be at least 2 (for a confidence band); got {samples}")
    name, entry = _entry(method) if _known is None else _known
    reason = pb.skip_reason(entry)
    if reason is not None:
        raise ValueError(f"{name} does not apply to {pb.name}: {reason}")
    if setup is None:
        setup = pb.setup(samples=samples, fine=_fine_for(steps, pb.fine), entropy=entropy,
                         dtype=dtype)
    errs, lows, highs = [], [], []
    t0 = time.perf_counter()
    for n in steps:
        ys = setup.run(method, n, options)
        if pb.error == "weak":
            m, lo, hi = _weak(ys, setup.reference, pb.test_functions, confidence)
        else:
            m, lo, hi = _strong(ys, setup.reference, over, confidence)
        errs.append(m)
        lows.append(lo)
        highs.append(hi)
    seconds = time.perf_counter() - t0
    hs = [1.0 / n for n in steps]
    return ConvergenceResult(name, pb.name, pb.order_kind, list(steps), hs, errs, lows, highs,
                             fit_order(hs, errs, confidence), pb.declared(entry), samples,
                             seconds)


def _entry(method) -> tuple[str, dict]:
    from ..solvers import Solver

    if isinstance(method, Solver):
        return method.name, {**method.info(), "family": "solver"}
    methods = list_methods()
    if not isinstance(method, str) or method not in methods:
        raise ValueError(f"unknown method {method!r}; valid methods are: {', '.join(methods)}")
    return method, methods[method]


@dataclass
class Skipped:
    """A (method, problem) pair a study did not run, and why."""

    method: str
    problem: str
    reason: str

    def as_dict(self) -> dict:
        return {"method": self.method, "problem": self.problem, "reason": self.reason}


@dataclass
class Study:
    """The results and the skipped pairs of :func:`study`."""

    results: list[ConvergenceResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"results": [r.as_dict() for r in self.results],
                "skipped": [s.as_dict() for s in self.skipped],
                "seconds": round(self.seconds, 2)}


def study(methods: Iterable[str] | None = None, problems: Iterable[str] | None = None, *,
          steps: Iterable[int] | None = None, samples: int | None = None,
          entropy: int = 0, dtype: torch.dtype = torch.float64, over: str = "max",
          progress: bool = False,
          on_result: Callable[[ConvergenceResult], None] | None = None) -> Study:
    """Run every method that applies to each problem (default: all of both).

    Unknown names raise ``ValueError`` listing the valid ones before anything
    runs.  Pairs that do not apply are recorded in ``Study.skipped`` with the
    reason (noise type, SDE type, ODE/SDE, ...).  ``progress`` shows a tqdm
    bar on stderr.
    """
    from .problems import PROBLEMS

    t_start = time.perf_counter()
    table = list_methods()
    names = list(table) if methods is None else list(methods)
    bad = [m for m in names if m not in table]
    if bad:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, bad))}; valid methods are: "
                         f"{', '.join(table)}")
    if problems is None:
        pnames = [name for name, pb in PROBLEMS.items() if pb.default]
    else:
        pnames = list(problems)
    bad = [p for p in pnames if p not in PROBLEMS]
    if bad:
        raise ValueError(f"unknown problem(s) {', '.join(map(repr, bad))}; valid problems are: "
                         f"{', '.join(PROBLEMS)}")
    if steps is not None:
        steps = _check_steps(steps)
    if samples is not None and (isinstance(samples, bool) or int(samples) != samples
                                or samples < 2):
        raise ValueError(f"samples must be an integer of at least 2 (for a confidence "
                         f"band); got {samples!r}")
    out = Study()
    jobs = []
    for pname in pnames:
        pb = PROBLEMS[pname]
        for m in names:
            reason = pb.skip_reason(table[m])
            if reason is None and pb.declared(table[m]) is None:
                reason = f"declares no {pb.order_kind} order"
            if reason is None:
                jobs.append((pb, m))
            else:
                out.skipped.append(Skipped(m, pname, reason))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="convergence", unit="run", leave=False)
    setups: dict[str, Setup] = {}
    for pb, m in jobs:
        st = pb.steps if steps is None else steps
        n_samples = pb.samples if samples is None else samples
        if pb.name not in setups:
            if bar is not None:
                bar.set_postfix_str(f"{pb.name}: reference")
            setups[pb.name] = pb.setup(samples=n_samples, fine=_fine_for(st, pb.fine),
                                       entropy=entropy, dtype=dtype)
        if bar is not None:
            bar.set_postfix_str(f"{pb.name}: {m}")
        try:
            res = measure(m, pb, steps=st, samples=n_samples, over=over, entropy=entropy,
                          dtype=dtype, setup=setups[pb.name], _known=(m, table[m]))
        except (ValueError, TypeError) as err:  # a capability the metadata does not show
            out.skipped.append(Skipped(m, pb.name, f"refused: {err}"))
        else:
            out.results.append(res)
            if on_result is not None:
                on_result(res)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    out.seconds = time.perf_counter() - t_start
    return out
