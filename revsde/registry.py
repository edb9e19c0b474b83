"""Registries: name -> builder, with metadata you can print.

One :class:`Registry` type serves the solvers (here), the diffusion samplers
and the inversion baselines.  Names are shortcuts into it:
``registry.get(name, **options)`` builds an instance, ``registry.list()``
returns each entry's metadata with the same keys everywhere: the instance's
``info()`` plus ``"options"``, a dict of every option the builder takes and
its default value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .solvers import BASE_METHODS, ExponentialReversibleHeun, McCallumFoster, ReversibleHeun, Solver
from .solvers.explicit import BaseMethod

__all__ = ["Registry", "Entry", "SOLVERS", "get_solver", "list_solvers"]


class Described(Protocol):
    """What a registry's instances have: ``info()``, their metadata as a dict."""

    def info(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Described)


def _defaults(builder: Callable[..., Any]) -> dict[str, Any]:
    params = inspect.signature(builder).parameters.values()
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in params if p.name != "self"}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: its builder and the options the builder takes (with defaults)."""

    name: str
    build: Callable[..., T]
    options: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A ``{name: builder}`` table of one kind (``"solver"``, ``"sampler"``, ``"baseline"``).

    ``instance_of`` is the type whose instances :meth:`get` returns unchanged.
    """

    def __init__(self, kind: str, instance_of: type[T] | tuple[type[T], ...],
                 instance_hint: str = "") -> None:
        self.kind = kind
        self.instance_of = instance_of
        self.instance_hint = instance_hint or f"build it with get_{kind}(name, **options) instead"
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, build: Callable[..., T]) -> None:
        """Add ``name``; its options and defaults are read from ``build``'s signature."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, build, _defaults(build))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> Entry[T]:
        return self._entries[name]

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def get(self, name: str | T, **options: Any) -> T:
        """Build ``name`` with ``options``, refusing unknown names and options clearly.

        An instance of the registry's type is returned unchanged (options are then
        refused).
        """
        if isinstance(name, self.instance_of):
            if options:
                raise ValueError(
                    f"{self.kind} options {sorted(options)} were given with a {self.kind} "
                    f"instance; {self.instance_hint}"
                )
            return name
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names are: "
                             f"{', '.join(self._entries)}")
        entry = self._entries[name]
        unknown = sorted(set(options) - set(entry.options))
        if unknown:
            accepted = list(entry.options)
            raise ValueError(
                f"{self.kind} {name!r} does not take option(s) {unknown}; it accepts "
                f"{accepted if accepted else 'no options'}"
            )
        return entry.build(**options)

    def info(self, name: str) -> dict[str, Any]:
        """Metadata of ``name`` built with its defaults: ``info()`` plus ``"options"``."""
        out = dict(self.get(name).info())
        out["options"] = dict(self._entries[name].options)
        return out

    def list(self) -> list[dict[str, Any]]:
        """Metadata of every entry, in registration order."""
        return [self.info(name) for name in self._entries]


def _mcf_builder(base_cls: type[BaseMethod]) -> Callable[..., Solver]:
    def build(zeta: float = 0.999, quantum: float | None = None,
              compensated: bool = False) -> Solver:
        return McCallumFoster(base_cls(), zeta=zeta, quantum=quantum, compensated=compensated)

    build.__name__ = "mcf_" + base_cls.name
    return build


SOLVERS: Registry[Solver] = Registry("solver", Solver, "pass them to its constructor instead")
for _cls in BASE_METHODS:
    SOLVERS.register(_cls.name, _cls)
SOLVERS.register(ReversibleHeun.name, ReversibleHeun)
for _cls in BASE_METHODS:
    SOLVERS.register("mcf_" + _cls.name, _mcf_builder(_cls))
SOLVERS.register(ExponentialReversibleHeun.name, ExponentialReversibleHeun)
del _cls


def get_solver(name: str | Solver, **options: Any) -> Solver:
    """Build the solver registered as ``name`` with ``options`` (e.g. ``zeta``).

    A :class:`~revsde.solvers.Solver` instance is returned unchanged.
    """
    return SOLVERS.get(name, **options)


def list_solvers() -> list[dict[str, Any]]:
    """Metadata of every registered solver, in registry order (``options``: name -> default)."""
    return SOLVERS.list()
