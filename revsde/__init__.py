"""revsde: algebraically reversible SDE solvers with exact inversion.

Public API: :func:`sdeint`, :func:`sdeint_inverse`, :func:`list_solvers`,
:func:`get_solver`, the noise sources :class:`BrownianGrid` and
:func:`make_brownian`, and the diffusion toolkit in :mod:`revsde.diffusion`.
"""

from .brownian import BrownianGrid, make_brownian
from .integrate import NonFiniteError, Solution, sdeint, sdeint_inverse
from .registry import get_solver, list_solvers
from .solvers import SolverError

__version__ = "0.1.0"

__all__ = [
    "BrownianGrid",
    "NonFiniteError",
    "Solution",
    "SolverError",
    "get_solver",
    "list_solvers",
    "make_brownian",
    "sdeint",
    "sdeint_inverse",
]
