"""The solver registry: name -> builder, with metadata you can print.

Names are shortcuts into a plain dict; ``get_solver(name, **options)`` builds an
instance, ``list_solvers()`` returns each entry's metadata.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .solvers import BASE_METHODS, McCallumFoster, ReversibleHeun, Solver


def _mcf_builder(base_cls) -> Callable[..., Solver]:
    def build(zeta: float = 0.999, quantum=None) -> Solver:
        return McCallumFoster(base_cls(), zeta=zeta, quantum=quantum)

    build.__name__ = "mcf_" + base_cls.name
    return build


SOLVERS: dict[str, Callable[..., Solver]] = {cls.name: cls for cls in BASE_METHODS}
SOLVERS[ReversibleHeun.name] = ReversibleHeun
for _cls in BASE_METHODS:
    SOLVERS["mcf_" + _cls.name] = _mcf_builder(_cls)


def accepted_options(builder) -> list[str]:
    """The keyword options a registry builder takes."""
    return [p for p in inspect.signature(builder).parameters if p != "self"]


def build_entry(table: dict, name, options: dict, kind: str):
    """Build ``table[name](**options)``, refusing unknown names and options clearly."""
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid names are: {', '.join(table)}")
    accepted = accepted_options(table[name])
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{kind} {name!r} does not take option(s) {unknown}; it accepts "
            f"{accepted if accepted else 'no options'}"
        )
    return table[name](**options)


def get_solver(name, **options) -> Solver:
    """Build the solver registered as ``name`` with ``options`` (e.g. ``zeta``).

    A :class:`~revsde.solvers.Solver` instance is returned unchanged.
    """
    if isinstance(name, Solver):
        if options:
            raise ValueError(
                f"solver options {sorted(options)} were given with a solver instance; "
                "pass them to its constructor instead"
            )
        return name
    return build_entry(SOLVERS, name, options, "solver")


def list_solvers() -> list[dict]:
    """Metadata of every registered solver, in registry order."""
    out = []
    for name in SOLVERS:
        info = get_solver(name).info()
        info["options"] = accepted_options(SOLVERS[name])
        out.append(info)
    return out
