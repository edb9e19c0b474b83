"""``revsde solvers --json | head -1``: a closed pipe ends the command quietly."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_closed_pipe_gives_no_traceback():
    """The reader is gone before the command writes: no BrokenPipeError, no message."""
    r, w = os.pipe()
    os.close(r)  # every write to w now fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "revsde", "solvers", "--json"],
                              stdout=w, stderr=subprocess.PIPE, text=True, env=ENV,
                              timeout=120)
    finally:
        os.close(w)
    assert done.stderr == "", done.stderr
    assert done.returncode == 0


@pytest.mark.skipif(shutil.which("head") is None, reason="needs the head command")
def test_head_one_exits_quietly():
    done = subprocess.run(f'"{sys.executable}" -m revsde solvers --json | head -1',
                          shell=True, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.stdout.strip() == "["
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
