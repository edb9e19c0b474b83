"""Samplers: the registry (``get_sampler``, ``list_samplers``), the Rex samplers
(:mod:`.rex`), the reference DDIM/DPM-Solver++ loops (:mod:`.reference`) and the
lifted equations they solve (:mod:`.lifted`)."""

from .lifted import LIFTED_CASES, LiftedProblem
from .rex import (
    SAMPLERS,
    ReferenceSampler,
    RexSampler,
    check_grid,
    check_model,
    get_sampler,
    list_samplers,
    reversible_names,
)

__all__ = [
    "SAMPLERS",
    "LIFTED_CASES",
    "LiftedProblem",
    "ReferenceSampler",
    "RexSampler",
    "check_grid",
    "check_model",
    "get_sampler",
    "list_samplers",
    "reversible_names",
]
