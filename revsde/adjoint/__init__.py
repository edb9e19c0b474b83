"""The gradient strategy: exact gradients in O(1) memory through a reversible solve.

``sdeint(..., adjoint=True)`` (or ``adjoint=ReversibleAdjoint()``) calls
:meth:`ReversibleAdjoint.solve`, which runs :func:`adjoint_solve`.  The forward pass
keeps no graph; the backward pass rebuilds each step with the solver's exact
inverse and differentiates it (docs/mathematics.md §6).  See ``docs/adjoint.md``.

* :mod:`revsde.adjoint.function`: the adjoint object, the ``torch.autograd.Function``
  and its input checks;
* :mod:`revsde.adjoint.rules`: the backward step of each reversible solver.
"""

from .function import (
    DOUBLE_BACKWARD,
    AdjointFunction,
    ReversibleAdjoint,
    adjoint_solve,
    check_adjoint,
)
from .rules import AdjointRule, GenericRule, McCallumFosterRule, ReversibleHeunRule, rule_for

__all__ = [
    "DOUBLE_BACKWARD",
    "AdjointFunction",
    "AdjointRule",
    "GenericRule",
    "McCallumFosterRule",
    "ReversibleAdjoint",
    "ReversibleHeunRule",
    "adjoint_solve",
    "check_adjoint",
    "rule_for",
]
