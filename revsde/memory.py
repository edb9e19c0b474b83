"""Peak tensor memory of a call (benchmarks, examples): `peak_tensor_bytes(fn)`."""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["peak_tensor_bytes"]


def peak_tensor_bytes(fn: Callable[[], object]) -> int:
    """Peak of the live bytes of torch CPU allocations while ``fn()`` runs.

    Read from ``torch.profiler`` allocation events (a positive size for an
    allocation, a negative one for a free), summed in time order; counts tensors
    only (not Python objects), above the level at the start of the call, and
    is deterministic from run to run.
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            ev = stack.pop()
            if ev.tag == _EventType.Allocation:
                events.append((ev.start_time_ns, ev.extra_fields.alloc_size))
            stack.extend(ev.children)
        del prof, stack
    finally:
        # the profiler's results sit in reference cycles: without a collection each call
        # keeps its events (gigabytes over a benchmark of long solves) until the collector
        # gets to them
        gc.collect()
    events.sort()
    live = peak = 0
    for _, size in events:
        live += size
        peak = max(peak, live)
    return peak
