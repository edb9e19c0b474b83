"""Samplers: the one protocol (:mod:`.base`), the registries (``get_sampler``,
``list_samplers``; the baselines' ``BASELINES``), the Rex samplers (:mod:`.rex`), the
reference DDIM/DPM-Solver++ loops (:mod:`.reference`), the inversion baselines
(:mod:`.baselines`, :mod:`.baseline_methods`) and the lifted equations (:mod:`.lifted`).

Every sampler is an immutable :class:`Sampler` with
``sample(model, x_T, ts, *, seed=None, cond=None) -> x0`` on a t-grid ``ts``
running from noise (``ts[0]``) to data (``ts[-1]``), e.g. from
:func:`revsde.diffusion.time_grid`; the reversible ones (Rex samplers, baselines) also
encode and decode states.  Nothing per step or per call is stored on the sampler (no
multistep history on ``self``).

* Reference, non-reversible: ``ddim``, ``dpmpp_1``, ``dpmpp_2m``, ``sde_dpmpp_1``.
* Rex (docs/mathematics.md §4.3): a McCallum–Foster solver on a lifted equation.  ODE bases:
  ``rex_euler``, ``rex_midpoint``, ``rex_heun``, ``rex_rk4``; SDE bases (additive
  noise): ``rex_em`` (Euler–Maruyama), ``rex_shark`` (ShARK, with Lévy area).
* Reversible Heun (docs/mathematics.md §2), 1 NFE per step: ``rev_heun``, ``rev_heun_sde``;
  with exponential-integrator weights (:mod:`revsde.solvers.exp_reversible_heun`):
  ``rev_heun_exp``, ``rev_heun_exp_sde`` (no exact mode).
* Inversion baselines (:data:`BASELINES`, not listed by ``list_samplers``): ``ddim``
  (DDIM inversion, inexact), ``edict``, ``bdia``, ``obelm``.  ``ddim`` names the
  reference sampler in :data:`SAMPLERS` and DDIM inversion here, so a name given to
  ``encode`` is looked up here first (:func:`get_encoder`).

A new reversible solver of :data:`revsde.registry.SOLVERS` drives a sampler with
one line here: ``_rex("rex_name", "solver_name", stochastic)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from ...registry import SOLVERS, Registry
from ..checks import check_grid, check_model
from .adaptive import AdaptiveRexSampler
from .base import Encoded, Sampler
from .baseline_methods import BDIA, EDICT, OBELM, DDIMInversion
from .baselines import Baseline, Levels
from .lifted import LIFTED_CASES, LiftedProblem
from .reference import (
    ReferenceSampler,
    sample_ddim,
    sample_dpmpp_1,
    sample_dpmpp_2m,
    sample_sde_dpmpp_1,
)
from .rex import DEFAULT_ODE_CASE, DEFAULT_SDE_CASE, LOG_CLOCK_WHY, LiftedRun, RexSampler, cases_for

__all__ = [
    "SAMPLERS",
    "BASELINES",
    "Baseline",
    "Levels",
    "get_baseline",
    "get_encoder",
    "Sampler",
    "Encoded",
    "LiftedRun",
    "LIFTED_CASES",
    "LiftedProblem",
    "ReferenceSampler",
    "RexSampler",
    "AdaptiveRexSampler",
    "check_grid",
    "check_model",
    "get_sampler",
    "list_samplers",
    "reversible_names",
]

#: cases that sample but whose reversible auxiliary state grows (docs/diffusion.md)
UNSTABLE_CASES = ("sde_eps",)


def _check_case(name: str, case: str, allowed: tuple[str, ...], why: str = "") -> str:
    """``case`` if ``allowed`` (``why`` explains a restriction), warning about an unstable one."""
    if case not in allowed:
        if not why and case in LIFTED_CASES:
            why = (" (other cases: use the rex_em / rex_shark / rev_heun_sde samplers for the "
                   "SDE, the rex_euler ... rev_heun samplers for the PF-ODE)")
        raise ValueError(f"sampler {name!r} takes case in {list(allowed)}; got {case!r}{why}")
    if case in UNSTABLE_CASES:
        warnings.warn(
            f"{name} with case {case!r} is unstable: the reversible auxiliary state grows "
            "along the solve (measured errors ~1e5 and failed round trips, docs/diffusion.md); "
            "use case='sde_x0' (the default)", stacklevel=4)
    return case


def _reference(name: str, fn: Callable, prediction: str, stochastic: bool, order: float,
               description: str) -> Callable[[], ReferenceSampler]:
    def build() -> ReferenceSampler:
        return ReferenceSampler(name, fn, prediction, stochastic, order, description)

    return build


def _rex(name: str, method: str, stochastic: bool) -> Callable[..., RexSampler]:
    """The builder of a Rex sampler of solver ``method``; its options follow the solver's
    class data (``zeta`` only for a solver that ``uses_zeta``)."""
    solver = SOLVERS.get(method)
    allowed = cases_for(solver, stochastic)
    default = DEFAULT_SDE_CASE if stochastic else DEFAULT_ODE_CASE
    why = LOG_CLOCK_WHY if solver.needs_positive_clock else ""

    def build_coupled(case: str = default, zeta: float = 0.999,
                      quantum: float | None = None, compensated: bool = False) -> RexSampler:
        return RexSampler(name, method, _check_case(name, case, allowed, why), zeta,
                          quantum, compensated)

    def build_plain(case: str = default, quantum: float | None = None,
                    compensated: bool = False) -> RexSampler:
        return RexSampler(name, method, _check_case(name, case, allowed, why), None,
                          quantum, compensated)

    # the registry reads the options (and their defaults) from the builder's signature
    build: Callable[..., RexSampler] = build_coupled if solver.uses_zeta else build_plain
    build.__name__ = name
    return build


def _adaptive(name: str, method: str) -> Callable[..., AdaptiveRexSampler]:
    """The builder of an adaptive Rex sampler of solver ``method`` (docs/mathematics.md §11):
    the probability-flow ODE, its steps in the lifted clock under error control."""
    allowed = cases_for(SOLVERS.get(method), False)
    uses_zeta = SOLVERS.get(method).uses_zeta

    def build(case: str = DEFAULT_ODE_CASE, zeta: float = 0.999, compensated: bool = False,
              rtol: float = 1e-4, atol: float = 1e-4, dt: float | None = None,
              max_steps: int = 10_000) -> AdaptiveRexSampler:
        return AdaptiveRexSampler(name, method, _check_case(name, case, allowed),
                                  zeta if uses_zeta else None, None, compensated, rtol=rtol,
                                  atol=atol, dt=dt, max_steps=max_steps)

    def build_plain(case: str = DEFAULT_ODE_CASE, compensated: bool = False,
                    rtol: float = 1e-4, atol: float = 1e-4, dt: float | None = None,
                    max_steps: int = 10_000) -> AdaptiveRexSampler:
        return build(case, 0.999, compensated, rtol, atol, dt, max_steps)

    out: Callable[..., AdaptiveRexSampler] = build if uses_zeta else build_plain
    out.__name__ = name
    return out


SAMPLERS: Registry[Sampler] = Registry("sampler", (ReferenceSampler, RexSampler))
for _name, _build in (
    ("ddim", _reference("ddim", sample_ddim, "eps", False, 1.0,
                        "DDIM (eta=0), Song et al. 2021")),
    ("dpmpp_1", _reference("dpmpp_1", sample_dpmpp_1, "x0", False, 1.0,
                           "DPM-Solver++(1), Lu et al. 2022b")),
    ("dpmpp_2m", _reference("dpmpp_2m", sample_dpmpp_2m, "x0", False, 2.0,
                            "DPM-Solver++(2M), Lu et al. 2022b")),
    ("sde_dpmpp_1", _reference("sde_dpmpp_1", sample_sde_dpmpp_1, "x0", True, 1.0,
                               "SDE-DPM-Solver++(1), Lu et al. 2022b")),
    ("rex_euler", _rex("rex_euler", "mcf_euler", False)),
    ("rex_midpoint", _rex("rex_midpoint", "mcf_midpoint", False)),
    ("rex_heun", _rex("rex_heun", "mcf_heun", False)),
    ("rex_rk4", _rex("rex_rk4", "mcf_rk4", False)),
    ("rex_em", _rex("rex_em", "mcf_euler", True)),
    ("rex_shark", _rex("rex_shark", "mcf_shark", True)),
    ("rev_heun", _rex("rev_heun", "reversible_heun", False)),
    ("rev_heun_sde", _rex("rev_heun_sde", "reversible_heun", True)),
    ("rev_heun_exp", _rex("rev_heun_exp", "exp_reversible_heun", False)),
    ("rev_heun_exp_sde", _rex("rev_heun_exp_sde", "exp_reversible_heun", True)),
    ("rex_adaptive", _adaptive("rex_adaptive", "mcf_bs3")),
    ("rev_heun_adaptive", _adaptive("rev_heun_adaptive", "reversible_heun")),
):
    SAMPLERS.register(_name, _build)
del _name, _build


def get_sampler(name: str | Sampler, **options: Any) -> Sampler:
    """Build the sampler registered as ``name`` with ``options`` (e.g. ``case``, ``zeta``).

    A sampler instance is returned unchanged (options are then refused).
    """
    return SAMPLERS.get(name, **options)


def list_samplers() -> list[dict[str, Any]]:
    """Metadata of every registered sampler, built with its defaults, in registry order.

    ``options`` maps each option the sampler takes to its default.
    """
    return SAMPLERS.list()


def reversible_names() -> list[str]:
    """The names of the reversible samplers (those that can encode)."""
    return [n for n in SAMPLERS if SAMPLERS.get(n).reversible]


#: the inversion baselines (docs/mathematics.md §5), samplers of the same protocol
BASELINES: Registry[Sampler] = Registry("baseline", Baseline)
for _cls in (DDIMInversion, EDICT, BDIA, OBELM):
    BASELINES.register(_cls.name, _cls)
del _cls


def get_baseline(name: str | Sampler, **options: Any) -> Sampler:
    """Build a baseline by name (``"ddim"``, ``"edict"``, ``"bdia"``, ``"obelm"``)."""
    return BASELINES.get(name, **options)


def get_encoder(name: str | Sampler, **options: Any) -> Sampler:
    """The sampler that ``encode`` runs for ``name``: a baseline of that name, else a
    reversible sampler of :data:`SAMPLERS` (an instance is returned unchanged)."""
    baseline = name in BASELINES if isinstance(name, str) else isinstance(name, Baseline)
    s = (BASELINES if baseline else SAMPLERS).get(name, **options)
    if not s.reversible:
        raise ValueError(
            f"{s.name} is not reversible, so it cannot encode; use one of "
            f"{', '.join(reversible_names())} (rex_* or rev_heun), or a baseline "
            f"({', '.join(BASELINES)})"
        )
    return s
