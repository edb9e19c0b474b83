"""revsde.memory.peak_tensor_bytes: the peak it reads, and no memory kept between calls."""

import subprocess
import sys
from pathlib import Path

import torch

import revsde
from revsde.memory import peak_tensor_bytes


def test_peak_is_the_largest_live_allocation_above_the_start():
    held = torch.zeros(1000)  # live before the call: not counted

    def fn():
        a = torch.empty(250_000, dtype=torch.float32)  # 1 MB
        b = torch.empty(500_000, dtype=torch.float32)  # 2 MB, both live: 3 MB
        del a, b
        c = torch.empty(125_000, dtype=torch.float64)  # 1 MB after the others are freed
        return c.sum()

    assert peak_tensor_bytes(fn) == 3_000_000
    assert held.numel() == 1000


_REPEAT = """
import resource, torch
from revsde.memory import peak_tensor_bytes
def fn():
    x = torch.randn(64, 64)
    for _ in range(2000):
        x = (x @ x).tanh()
rss = []
for _ in range(6):
    peak_tensor_bytes(fn)
    rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(rss[-1] - rss[1])
"""


def test_repeated_calls_do_not_keep_the_profiler_events():
    """Each call's profiler results sit in reference cycles; without a collection they
    pile up (about 30 MB a call here, gigabytes over bench_gradients' 200-step solves)."""
    out = subprocess.run([sys.executable, "-c", _REPEAT], capture_output=True, text=True,
                         check=True, env={"OMP_NUM_THREADS": "1",
                                              "PYTHONPATH": str(Path(revsde.__file__).parents[1])})
    grown_kb = int(out.stdout.split()[-1])
    assert grown_kb < 10_000, grown_kb
