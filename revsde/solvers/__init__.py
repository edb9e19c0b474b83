"""One-step methods: base methods, Reversible Heun and the McCallum–Foster wrapper."""

from .base import Solver, SolverError
from .exp_reversible_heun import ExponentialReversibleHeun
from .explicit import (
    BASE_METHODS,
    RK4,
    SEA,
    SRA1,
    AdditiveSRK,
    BaseMethod,
    Euler,
    EulerHeun,
    Heun,
    Midpoint,
    ShARK,
    StratRK,
)
from .mcf import McCallumFoster
from .reversible_heun import ReversibleHeun

__all__ = [
    "BASE_METHODS",
    "SEA",
    "SRA1",
    "RK4",
    "AdditiveSRK",
    "BaseMethod",
    "Euler",
    "EulerHeun",
    "ExponentialReversibleHeun",
    "Heun",
    "McCallumFoster",
    "Midpoint",
    "ReversibleHeun",
    "ShARK",
    "Solver",
    "SolverError",
    "StratRK",
]
