"""Round-trip errors of the reversible methods: forward solve, inverse solve, compare.

For each reversible core solver, on a problem it applies to, the forward solve
from ``y0`` is followed by :func:`revsde.sdeint_inverse` from its final state
on the same Brownian path; the error is ``max |y0_back - y0|``.  Reversible
diffusion samplers make the same trip through
:func:`revsde.diffusion.encode` and :func:`~revsde.diffusion.decode` on
samples of the Gaussian-mixture oracle.  Both run in float32 and float64:
the error is round-off, amplified by the inverse (``ζ^-N`` for the
McCallum–Foster wrappers), not discretisation error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..integrate import sdeint, sdeint_inverse
from .measure import list_methods
from .problems import PROBLEMS, SDEProblem, _mixture

__all__ = ["RoundTrip", "roundtrip_errors"]

#: Problems tried in turn for a reversible solver (the first that applies).
SOLVER_PROBLEMS = ("diagonal", "additive", "ode")


@dataclass
class RoundTrip:
    """Round-trip errors of one method in one dtype.

    Attributes:
        method: the method's name.
        family: ``"solver"`` or ``"sampler"``.
        problem: what it was run on.
        dtype: ``"float32"`` or ``"float64"``.
        steps: the step counts.
        errors: ``max |x_back - x|`` at each step count.
    """

    method: str
    family: str
    problem: str
    dtype: str
    steps: list[int]
    errors: list[float]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _solver_trip(name: str, pb: SDEProblem, dtype, steps, samples, entropy) -> list[float]:
    sde = pb.make_sde()
    y0 = pb.make_y0(samples, torch.Generator().manual_seed(entropy), dtype)
    ts = torch.tensor([0.0, pb.t1], dtype=dtype)
    out = []
    for n in steps:
        sol = sdeint(sde, y0, ts, method=name, dt=pb.t1 / n, bm="grid", entropy=entropy)
        back = sdeint_inverse(sde, sol.state, ts, method=name, dt=pb.t1 / n, bm=sol.bm)
        out.append(float((back.ys[0] - y0).abs().max()))
    return out


def _sampler_trip(name: str, dtype, steps, samples, entropy) -> list[float]:
    from .. import diffusion as D

    oracle = _mixture()
    model = oracle.model()
    x0 = oracle.sample(samples, torch.Generator().manual_seed(entropy)).to(dtype)
    out = []
    for n in steps:
        lat = D.encode(model, x0, steps=n, sampler=name, seed=entropy)
        out.append(float((D.decode(model, lat) - x0).abs().max()))
    return out


def roundtrip_errors(methods: Iterable[str] | None = None, *,
                     steps: Iterable[int] = (10, 50, 250),
                     sampler_steps: Iterable[int] = (10, 50), samples: int = 4,
                     dtypes: Iterable[torch.dtype] = (torch.float32, torch.float64),
                     entropy: int = 0, progress: bool = False) -> list[RoundTrip]:
    """Round-trip errors of each reversible method (default: all), per dtype and step count.

    Core solvers use ``steps``, diffusion samplers (each step costs several
    network evaluations) ``sampler_steps``.  Non-reversible names are ignored;
    ``progress`` shows a tqdm bar on stderr.
    """
    table = list_methods()
    wanted = set(table if methods is None else methods)
    names = [n for n in table if n in wanted and table[n]["reversible"]]
    out = []
    if progress:
        from tqdm.auto import tqdm

        names = tqdm(names, desc="round trips", unit="method", leave=False)
    for name in names:
        entry = table[name]
        for dtype in dtypes:
            dname = str(dtype).replace("torch.", "")
            if entry["family"] == "sampler":
                st = list(sampler_steps)
                errs = _sampler_trip(name, dtype, st, samples, entropy)
                out.append(RoundTrip(name, "sampler", "pf_ode" if not entry["stochastic"]
                                     else "reverse_sde", dname, st, errs))
                continue
            solver_problems = [PROBLEMS[p] for p in SOLVER_PROBLEMS]
            pb = next((q for q in solver_problems
                       if isinstance(q, SDEProblem) and q.skip_reason(entry) is None), None)
            if pb is None:
                continue
            st = list(steps)
            try:
                errs = _solver_trip(name, pb, dtype, st, samples, entropy)
            except (ValueError, TypeError):
                continue  # a capability the metadata does not show (e.g. a positive clock)
            out.append(RoundTrip(name, "solver", pb.name, dname, st, errs))
    return out
