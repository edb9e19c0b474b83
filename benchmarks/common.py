"""Shared pieces of the benchmarks: the reference SDE and timing helpers."""

from __future__ import annotations

import time

import torch


class MLPSDE(torch.nn.Module):
    """Diagonal-noise Stratonovich SDE with MLP drift and diffusion (the benchmarks' setting)."""

    noise_type = "diagonal"
    sde_type = "stratonovich"

    def __init__(self, state: int = 32, width: int = 128):
        super().__init__()
        self.fn = torch.nn.Sequential(
            torch.nn.Linear(state, width), torch.nn.Tanh(), torch.nn.Linear(width, state)
        )
        self.gn = torch.nn.Sequential(
            torch.nn.Linear(state, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, state),
            torch.nn.Sigmoid(),
        )

    def f(self, t, y):
        return self.fn(y)

    def g(self, t, y):
        return self.gn(y)


#: the benchmarks' clocks (``--clock``): wall time, or the CPU time of the process (with
#: one thread, the time the code ran; on a shared machine, without the time other
#: processes held the cores)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_of(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best time of ``repeats`` calls on ``clock``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best
