"""Noise schedules: ``x_t = α_t x_0 + σ_t ε`` with half log-SNR ``λ_t = log(α_t/σ_t)``.

Every schedule works in log space (docs/mathematics.md §4.1; DPM-Solver's ``NoiseScheduleVP``):
``log_alpha``, ``log_sigma`` and ``lambda_`` are the primitives, ``alpha`` and
``sigma`` are their exponentials, and ``t_of_lambda`` is the exact inverse of
``lambda_`` (strictly decreasing in ``t``).  All functions take a tensor ``t``
(or a python float, read as float64) and answer in its dtype and device.

Classes: :class:`VPLinear`, :class:`VPCosine`, :class:`VPDiscrete`,
:class:`VPScaledLinear`, :class:`VE` (EDM-style) and :class:`FlowMatching`.
``to_dict()`` and :func:`schedule_from_dict` round-trip a schedule exactly.
"""

from __future__ import annotations

from .base import NoiseSchedule, TimeLike, VPSchedule, as_time, softplus
from .discrete import VPDiscrete, VPScaledLinear
from .flow import FlowMatching
from .grids import GRID_KINDS, time_grid
from .ve import VE
from .vp import VPCosine, VPLinear

__all__ = [
    "NoiseSchedule",
    "TimeLike",
    "VPSchedule",
    "VPLinear",
    "VPCosine",
    "VPDiscrete",
    "VPScaledLinear",
    "VE",
    "FlowMatching",
    "schedule_from_dict",
    "time_grid",
    "GRID_KINDS",
    "as_time",
    "softplus",
    "SCHEDULES",
]


SCHEDULES: dict[str, type[NoiseSchedule]] = {
    cls.__name__: cls for cls in (VPLinear, VPCosine, VPDiscrete, VPScaledLinear, VE, FlowMatching)
}


def schedule_from_dict(d: dict) -> NoiseSchedule:
    """Rebuild a schedule from ``schedule.to_dict()`` (exact round trip)."""
    if not isinstance(d, dict) or "type" not in d:
        raise ValueError("schedule_from_dict needs a dict with a 'type' key, from to_dict()")
    cls = SCHEDULES.get(d["type"])
    if cls is None:
        raise ValueError(
            f"unknown schedule type {d['type']!r}; valid types are {sorted(SCHEDULES)}"
        )
    kwargs = {k: v for k, v in d.items() if k != "type"}
    return cls(**kwargs)
