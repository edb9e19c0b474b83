"""Run a command with its stderr on a pseudo-terminal, as a user's shell would: the tests of
the progress bars (tests/test_cli_first_hour.py, tests/test_wheel_install.py)."""

from __future__ import annotations

import os
import subprocess
import threading


def run_on_a_terminal(cmd: list[str], *, env: dict[str, str], cwd, timeout: float = 300,
                      columns: int = 100) -> subprocess.CompletedProcess:
    """Run ``cmd`` with stdout piped and stderr on a pseudo-terminal ``columns`` wide.

    The result's ``stdout`` is what the command printed, its ``stderr`` what the terminal
    got (both decoded; bytes that are not UTF-8 replaced).
    """
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=timeout)
    reader.join(10)
    os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(),
                                       b"".join(chunks).decode(errors="replace"))
