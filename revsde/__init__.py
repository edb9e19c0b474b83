"""revsde: algebraically reversible SDE solvers with exact inversion.

Public API: :func:`sdeint`, :func:`sdeint_inverse`, :func:`list_solvers`,
:func:`get_solver`, the noise sources :class:`BrownianGrid` and
:func:`make_brownian`, and the diffusion toolkit in :mod:`revsde.diffusion`.
"""

from .adaptive import StepBudgetError
from .brownian import BrownianGrid, Increment, make_brownian
from .integrate import NonFiniteError, NonFiniteInputError, Solution, sdeint, sdeint_inverse
from .provenance import SolverState
from .registry import get_solver, list_solvers
from .sde import SDEOutputError
from .solvers import SolverError
from .solvers.base import State

__version__ = "0.2.0"

__all__ = [
    "BrownianGrid",
    "Increment",
    "NonFiniteError",
    "NonFiniteInputError",
    "SDEOutputError",
    "Solution",
    "SolverError",
    "SolverState",
    "StepBudgetError",
    "State",
    "get_solver",
    "list_solvers",
    "make_brownian",
    "sdeint",
    "sdeint_inverse",
]
