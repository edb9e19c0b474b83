"""Train a small neural SDE with the reversible adjoint (exact gradients, O(1) memory).

Data: paths of a 2-D stochastic damped oscillator (an Ornstein–Uhlenbeck process
with a rotating drift), ``dX = A X dt + σ dW``, simulated on a fine grid.  The
model is a neural SDE with an MLP drift and a learned diagonal diffusion; it
is fitted to the mean and standard deviation of the data at 10 observation
times (moment matching), differentiating through
``revsde.sdeint(..., adjoint=True)`` with Reversible Heun.

Then it measures one training step's peak memory at 100 and 2000 solver
steps, adjoint against backpropagation, each in a fresh subprocess:

* RSS: the peak resident memory of the process during the step minus the
  resident memory just before it (Linux ``VmHWM``, reset through
  ``/proc/self/clear_refs``): everything, tensors and Python objects;
* tensors: the peak of live torch CPU allocations (``torch.profiler``
  allocation events).

    python examples/train_neural_sde.py [--iters 150] [--steps 40] [--batch 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from torch import nn

import revsde
from revsde.memory import peak_tensor_bytes

T_END = 2.0
A_TRUE = ((-0.4, -2.0), (2.0, -0.4))
SIGMA_TRUE = (0.3, 0.5)
X0 = (1.0, 0.0)


class TrueSDE(nn.Module):
    """The data-generating oscillator (additive noise: Itô and Stratonovich agree)."""

    noise_type, sde_type = "diagonal", "stratonovich"

    def __init__(self):
        super().__init__()
        self.register_buffer("a", torch.tensor(A_TRUE))
        self.register_buffer("sigma", torch.tensor(SIGMA_TRUE))

    def f(self, t, y):
        return y @ self.a.T

    def g(self, t, y):
        return self.sigma.expand_as(y)


class NeuralSDE(nn.Module):
    """MLP drift, diffusion ``softplus(s) * sigmoid(MLP(y))``, diagonal noise."""

    noise_type, sde_type = "diagonal", "stratonovich"

    def __init__(self, d=2, width=32):
        super().__init__()
        self.drift = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, width),
                                   nn.Tanh(), nn.Linear(width, d))
        self.diff = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, d))
        self.scale = nn.Parameter(torch.full((d,), -1.0))

    def f(self, t, y):
        return self.drift(y)

    def g(self, t, y):
        return nn.functional.softplus(self.scale) * 2 * torch.sigmoid(self.diff(y))


def make_data(n_paths, ts, seed=0):
    """Mean and standard deviation of the true process at ``ts`` (fine-grid solve)."""
    y0 = torch.tensor(X0).expand(n_paths, 2).contiguous()
    with torch.no_grad():
        sol = revsde.sdeint(TrueSDE(), y0, ts, dt=T_END / 1000, bm="grid", entropy=seed)
    return sol.ys.mean(1), sol.ys.std(1)


def moment_loss(ys, mean, std):
    return ((ys.mean(1) - mean) ** 2).mean() + ((ys.std(1) - std) ** 2).mean()


def train(args):
    torch.manual_seed(args.seed)
    ts = torch.linspace(0, T_END, 10)
    mean, std = make_data(4096, ts, seed=args.seed)
    model = NeuralSDE()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    y0 = torch.tensor(X0).expand(args.batch, 2).contiguous()
    dt = T_END / args.steps
    print(f"training a neural SDE: {args.iters} iterations, {args.steps} Reversible Heun steps, "
          f"batch {args.batch}, gradients by the reversible adjoint")
    start = time.perf_counter()
    for it in range(args.iters + 1):
        sol = revsde.sdeint(model, y0, ts, method="reversible_heun", dt=dt, bm="grid",
                            entropy=args.seed * 100_003 + it, adjoint=True)
        loss = moment_loss(sol.ys, mean, std)
        if it % max(1, args.iters // 10) == 0:
            print(f"  iter {it:4d}  loss {loss.item():.5f}")
        if it == args.iters:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"  {time.perf_counter() - start:.1f} s")
    with torch.no_grad():
        sol = revsde.sdeint(model, torch.tensor(X0).expand(4096, 2).contiguous(), ts, dt=dt,
                            bm="grid", entropy=12345)
    print("  fitted model vs data, coordinate 0:")
    for k in (2, 4, 9):
        m, s = sol.ys[k, :, 0].mean().item(), sol.ys[k, :, 0].std().item()
        print(f"    t={ts[k].item():.2f}  mean {m:+.3f} (data {mean[k, 0].item():+.3f})  "
              f"std {s:.3f} (data {std[k, 0].item():.3f})")
    return loss.item()


# -- memory of one training step, measured in a fresh process --------------------------------
def _status_kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _peak_tensor_mb(fn):
    return peak_tensor_bytes(fn) / 2**20


def measure(steps, adjoint, batch):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = NeuralSDE()
    ts = torch.linspace(0, T_END, 10)
    mean, std = torch.zeros(10, 2), torch.ones(10, 2)
    y0 = torch.tensor(X0).expand(batch, 2).contiguous()

    def step(n):
        sol = revsde.sdeint(model, y0, ts, dt=T_END / n, bm="grid", entropy=1,
                            adjoint=adjoint)
        moment_loss(sol.ys, mean, std).backward()
        model.zero_grad()

    step(20)  # warm-up: one-time allocations are not counted
    out = {"steps": steps, "adjoint": adjoint}
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = _status_kb("VmRSS")
        step(steps)
        out["peak_rss_mb"] = (_status_kb("VmHWM") - before) / 1024
    except OSError:
        out["peak_rss_mb"] = None
    out["peak_tensor_mb"] = _peak_tensor_mb(lambda: step(steps))
    return out


def memory_table(batch, steps_list=(100, 2000)):
    print(f"peak memory of one training step (batch {batch}), each in a fresh process:")
    print(f"  {'steps':>6}  {'gradients':>9}  {'RSS MB':>8}  {'tensors MB':>10}")
    for steps in steps_list:
        for adjoint in (True, False):
            cmd = [sys.executable, __file__, "--measure", str(steps), str(int(adjoint)),
                   "--batch", str(batch)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(res.stdout.strip().splitlines()[-1])
            rss = "n/a" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.2f}"
            print(f"  {steps:6d}  {'adjoint' if adjoint else 'backprop':>9}  {rss:>8}  "
                  f"{row['peak_tensor_mb']:10.2f}")
    print("  (the adjoint holds one step's graph and the noise source one chunk of 8 cells,"
          "\n   whatever the number of steps; backprop holds every step's graph)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--steps", type=int, default=40, help="solver steps over [0, 2]")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    ap.add_argument("--measure", nargs=2, type=int, metavar=("STEPS", "ADJOINT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], bool(args.measure[1]), args.batch)))
        return
    torch.set_num_threads(1)
    train(args)
    if not args.no_memory:
        memory_table(args.batch)


if __name__ == "__main__":
    main()
