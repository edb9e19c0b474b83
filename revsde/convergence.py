"""Strong-error estimation, order fits and convergence plots.

The reference for each problem is a fine solve on the *same* Brownian path:
a :class:`~revsde.BrownianGrid` on the finest grid, whose coarse increments
are exact sums of the fine ones (MATH.md §1).  Errors are the mean over the
batch of the max-norm of ``y_N - y_ref``; the order is the least-squares slope
of ``log error`` against ``log h``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .brownian import BrownianGrid
from .integrate import sdeint
from .registry import get_solver
from .sde import SDEAdapter


class _Additive(torch.nn.Module):
    """Nonlinear drift, constant additive noise (strong 1.5 for ShARK/SRA1)."""

    noise_type, sde_type = "additive", "stratonovich"

    def f(self, t, y):
        return torch.sin(y) - 0.5 * y

    def g(self, t, y):
        return torch.full_like(y, 0.4)


class _Diagonal(torch.nn.Module):
    """Commutative diagonal noise: g_i depends on y_i only."""

    noise_type, sde_type = "diagonal", "stratonovich"

    def f(self, t, y):
        return torch.sin(y) - 0.3 * y

    def g(self, t, y):
        return 0.3 * torch.cos(y) + 0.2


class _Scalar(torch.nn.Module):
    noise_type, sde_type = "scalar", "stratonovich"

    def f(self, t, y):
        return torch.cos(y) - 0.3 * y

    def g(self, t, y):
        return (0.3 * torch.sin(y) + 0.3).unsqueeze(-1)


class _General(torch.nn.Module):
    """Non-commutative general noise with two Brownian motions."""

    noise_type, sde_type = "general", "stratonovich"

    def f(self, t, y):
        return -0.5 * y + 0.2 * torch.sin(y.flip(-1))

    def g(self, t, y):
        a = 0.3 * torch.cos(y)
        b = 0.3 * torch.sin(y.flip(-1)) + 0.1
        return torch.stack([a, b], dim=-1)


def _ode(t, y):
    return torch.sin(y) * torch.cos(t) - 0.2 * y


PROBLEMS = {
    "additive": _Additive,
    "diagonal": _Diagonal,
    "scalar": _Scalar,
    "general": _General,
    "ode": lambda: _ode,
}


@dataclass
class ConvergenceResult:
    method: str
    problem: str
    hs: list[float]
    errors: list[float]
    order: float
    expected: float | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def fit_order(hs, errors) -> float:
    """Least-squares slope of ``log errors`` against ``log hs``."""
    xs = [math.log(h) for h in hs]
    ys = [math.log(max(e, 1e-300)) for e in errors]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def _reference_method(problem: str) -> str:
    return {"additive": "shark", "ode": "rk4"}.get(problem, "heun")


def expected_order(method: str, problem: str) -> float | None:
    """The order the registry declares for ``method`` on ``problem``."""
    solver = get_solver(method)
    if problem == "ode":
        return solver.ode_order
    return solver.strong_order.get(problem)


def strong_convergence(method, problem="additive", *, steps=(8, 16, 32, 64), t1=1.0,
                       batch=256, dim=2, refine=16, entropy=0, dtype=torch.float64,
                       **options) -> ConvergenceResult:
    """Fit the strong (or ODE) order of ``method`` on one of :data:`PROBLEMS`."""
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; valid problems are {list(PROBLEMS)}")
    sde = PROBLEMS[problem]()
    gen = torch.Generator().manual_seed(entropy)
    y0 = (torch.rand(batch, dim, generator=gen, dtype=dtype) - 0.5) * 2
    ts = torch.tensor([0.0, t1], dtype=dtype)
    n_fine = max(steps) * refine
    bm = None
    adapter = SDEAdapter(sde)
    if not adapter.is_ode:
        size = (batch, dim) if problem in ("additive", "diagonal") else (
            batch, 1 if problem == "scalar" else 2)
        levy = True
        bm = BrownianGrid([t1 * i / n_fine for i in range(n_fine + 1)], size, dtype=dtype,
                          entropy=entropy, levy_area=levy)
    ref = sdeint(sde, y0, ts, method=_reference_method(problem), dt=t1 / n_fine, bm=bm)
    y_ref = ref.ys[-1]
    hs, errs = [], []
    for n in steps:
        sol = sdeint(sde, y0, ts, method=method, dt=t1 / n, bm=bm, **options)
        err = (sol.ys[-1] - y_ref).abs().amax(dim=-1).mean().item()
        hs.append(t1 / n)
        errs.append(err)
    return ConvergenceResult(method, problem, hs, errs, fit_order(hs, errs),
                             expected_order(method, problem))


def convergence_table(methods=None, problems=None, **kwargs) -> list[ConvergenceResult]:
    """Fit orders for every ``method`` × supported ``problem``."""
    from .registry import list_solvers

    infos = list_solvers()
    if methods is not None:
        infos = [i for i in infos if i["name"] in methods]
    out = []
    for info in infos:
        supported = list(info["noise_types"]) + ["ode"]
        for prob in problems or PROBLEMS:
            if prob in supported:
                out.append(strong_convergence(info["name"], prob, **kwargs))
    return out


def plot_convergence(results, path) -> None:
    """Draw log-log error plots, one panel per problem, and save to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({r.problem for r in results})
    fig, axes = plt.subplots(1, len(problems), figsize=(4.5 * len(problems), 4), squeeze=False)
    for ax, prob in zip(axes[0], problems):
        for r in (r for r in results if r.problem == prob):
            ax.loglog(r.hs, r.errors, "o-", label=f"{r.method} ({r.order:.2f})")
        ax.set_title(f"{prob}: strong error vs h" if prob != "ode" else "ODE: error vs h")
        ax.set_xlabel("h")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("mean max-norm error")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
