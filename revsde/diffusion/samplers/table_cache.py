"""The lifted clock grid and its drift table, kept between solves on the same grid.

A sampler called again with the same schedule, lifted case, time grid, dtype,
device and batch size (every batch of a generation run) needs the same clocks and
the same :class:`~revsde.diffusion.samplers.drift_table.DriftTable`: a few hundred
microseconds of small tensor operations per solve, as much as the steps of a
50-step solve of a small network.  They are pure functions of those inputs, so a
solve reuses the last few.

What a schedule computes with is in its attributes; the key holds them all, so a
schedule changed since (an attribute set, a tensor written in place) misses:

* only the bundled schedule classes (exact type: a subclass may compute otherwise)
  whose attributes are numbers, strings, ``None`` and tensors that need no gradient
  (but for a class's ``_memo_attributes``, which only memoise numbers of the others);
* a tensor attribute enters the key by identity, address and version, and the entry
  keeps it alive (so that a new tensor cannot take its identity);
* an entry whose clocks were written to since (a user's in-place change of
  ``LiftedProblem.clocks``) is dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from ..schedules import VE, FlowMatching, VPCosine, VPDiscrete, VPLinear, VPScaledLinear
from ..schedules.base import NoiseSchedule
from .drift_table import DriftTable

__all__ = ["CACHED_SCHEDULES", "MAX_ENTRIES", "schedule_state", "grid_tables", "clear",
           "entries"]

#: schedules (by exact type) whose numbers are a function of their attributes alone
CACHED_SCHEDULES = (VPLinear, VPCosine, VE, VPDiscrete, VPScaledLinear, FlowMatching)
#: grids kept (least recently used first out)
MAX_ENTRIES = 8

_ENTRIES: OrderedDict[tuple, tuple] = OrderedDict()
_LOCK = threading.Lock()  # samplers may run in several threads; a table is built outside it


def schedule_state(schedule: NoiseSchedule) -> tuple[tuple, list[torch.Tensor]] | None:
    """``(state, tensors)``: the schedule's attributes as a hashable snapshot and the
    tensors among them (to be kept alive with the entry); ``None`` if it cannot be
    snapshot (another class, an attribute of another kind, a tensor with a gradient)."""
    if type(schedule) not in CACHED_SCHEDULES:
        return None
    state: list[tuple] = []
    tensors: list[torch.Tensor] = []
    memos = getattr(type(schedule), "_memo_attributes", ())
    for name, value in sorted(vars(schedule).items()):
        if name in memos:
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            state.append((name, type(value), value))
        elif torch.is_tensor(value) and not value.requires_grad:
            state.append((name, id(value), value.data_ptr(), value._version))
            tensors.append(value)
        else:
            return None
    return tuple(state), tensors


def grid_tables(schedule: NoiseSchedule, key: tuple,
                build: Callable[[], tuple[torch.Tensor, DriftTable]]
                ) -> tuple[torch.Tensor, DriftTable, dict]:
    """``(clocks, table, memo)`` for ``schedule`` and ``key`` (the case, the grid and how
    the drift reads it), from an earlier solve's entry or from ``build()``.  ``memo`` is
    the entry's dictionary for other pure functions of the same inputs (the problem's
    κ at the grid's ends); a problem not kept gets a fresh one."""
    snap = schedule_state(schedule)
    if snap is None:
        return (*build(), {})
    full = (id(schedule), snap[0], key)
    with _LOCK:
        hit = _ENTRIES.get(full)
        if hit is not None:
            _, _, clocks, version, table, memo = hit
            if clocks._version == version:
                _ENTRIES.move_to_end(full)
                return clocks, table, memo
            del _ENTRIES[full]
    clocks, table = build()
    memo: dict = {}
    if table.clocks is clocks and not clocks.requires_grad:
        with _LOCK:  # the schedule and its tensors ride along: their identities stay theirs
            _ENTRIES[full] = (schedule, snap[1], clocks, clocks._version, table, memo)
            while len(_ENTRIES) > MAX_ENTRIES:
                _ENTRIES.popitem(last=False)
    return clocks, table, memo


def clear() -> None:
    """Drop every kept grid."""
    with _LOCK:
        _ENTRIES.clear()


def entries() -> int:
    """How many grids are kept (for tests)."""
    return len(_ENTRIES)
