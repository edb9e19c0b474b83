"""Test problems for convergence studies, and the registry they live in.

A problem builds, once per study, a :class:`Setup`: a ``run(method, steps,
options)`` that returns the solution at the problem's output times, and the
``reference`` at those times on the *same* Brownian path.  References are
exact solutions where one exists (geometric Brownian motion, the
Ornstein–Uhlenbeck process, an ODE with a closed form) and otherwise a fine
solve on the fine grid of one :class:`~revsde.BrownianGrid`, whose coarse
increments are exact sums of the fine ones.

Problems are registered by name in :data:`PROBLEMS`; add your own with
:func:`register_problem`, or pass a :class:`Problem` to
:func:`revsde.convergence.measure` directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from ..brownian import BrownianGrid
from ..integrate import sdeint

__all__ = [
    "PROBLEMS",
    "Problem",
    "SDEProblem",
    "SamplerProblem",
    "Setup",
    "get_problem",
    "list_problems",
    "register_problem",
]

F64 = torch.float64


class Setup(NamedTuple):
    """What a problem builds once: a runner and the reference on one Brownian path.

    ``run(method, steps, options)`` returns the solution at the output times,
    shape ``(outputs, samples, ...)``; ``reference`` has the same shape.
    """

    run: Callable[[Any, int, dict], torch.Tensor]
    reference: torch.Tensor


@dataclass(frozen=True)
class Problem:
    """Base class of a convergence problem.

    Attributes:
        name: registry name.
        description: one line for tables and plot titles.
        family: ``"solver"`` (run through :func:`revsde.sdeint` with a core
            solver) or ``"sampler"`` (a diffusion sampler of
            :func:`revsde.diffusion.list_samplers`).
        error: ``"strong"`` (pathwise error) or ``"weak"`` (error in
            ``E[φ(y)]`` for the :attr:`test_functions`).
        noise_type: the SDE's noise type, ``None`` for an ODE.
        sde_type: ``"ito"`` or ``"stratonovich"`` (``None`` for an ODE).
        steps: default step counts of the coarse solves.
        fine: minimum number of cells of the fine (reference) grid.
        samples: default number of Monte Carlo samples (Brownian paths).
        test_functions: ``{name: φ}`` for weak errors, each ``φ(y) -> (samples,)``.
        default: run by ``revsde convergence`` when no ``--problem`` is given.
            Problems on which some methods are known to converge faster than
            their declared order (e.g. linear ones) are opt-in.
        faster: base methods (``mcf_<base>`` included) whose errors at these step counts
            are still pre-asymptotic, faster than their declared order (an error
            constant far below the leading term's); skipped, saying so.  Their orders
            are checked elsewhere (the order conditions of their tableaus).
    """

    name: str
    description: str
    family: str = "solver"
    error: str = "strong"
    noise_type: str | None = None
    sde_type: str | None = None
    steps: tuple[int, ...] = (16, 32, 64, 128)
    fine: int = 2048
    samples: int = 512
    test_functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = field(
        default_factory=dict)
    default: bool = True
    faster: tuple[str, ...] = ()

    @property
    def is_ode(self) -> bool:
        return self.noise_type is None

    @property
    def order_kind(self) -> str:
        """Which declared order applies: ``"ode"``, ``"strong"`` or ``"weak"``."""
        return "ode" if self.is_ode else self.error

    def kind_text(self) -> str:
        if self.is_ode:
            return "an ODE"
        return f"{self.sde_type} with {self.noise_type} noise"

    def skip_reason(self, entry: dict) -> str | None:
        """Why the registry ``entry`` does not apply to this problem (``None``: it does)."""
        raise NotImplementedError

    def declared(self, entry: dict) -> float | None:
        """The order ``entry`` declares for this problem (``None`` if it declares none)."""
        raise NotImplementedError

    def setup(self, *, samples: int, fine: int, entropy: int, dtype: torch.dtype) -> Setup:
        """Build the runner and the reference (see :class:`Setup`)."""
        raise NotImplementedError


# -- problems solved by the core solvers ------------------------------------------------------


def _solver_skip(problem: Problem, entry: dict) -> str | None:
    """The same capability check as :meth:`revsde.solvers.Solver.check`, on metadata."""
    if entry.get("family", "solver") != "solver":
        return "a diffusion sampler; this problem is run with the core solvers"
    if entry.get("needs_positive_clock"):
        return "runs in a positive clock (lifted diffusion equations only)"
    base = entry["name"].removeprefix("mcf_")
    if base in problem.faster:
        return (f"{base} is pre-asymptotic at {problem.name}'s step counts (it fits above "
                "its declared order; tests/test_core_tableaus.py checks its order "
                "conditions)")
    if problem.is_ode:
        return None
    noise = problem.noise_type
    if not entry["noise_types"]:
        return f"an ODE method; {problem.name} is an SDE ({problem.kind_text()})"
    if noise not in entry["noise_types"]:
        return (f"needs {' or '.join(entry['noise_types'])} noise; {problem.name} has "
                f"{noise} noise")
    if noise != "additive" and problem.sde_type not in entry["sde_types"]:
        return (f"solves {' or '.join(entry['sde_types'])} SDEs; {problem.name} is "
                f"{problem.kind_text()}")
    if problem.error == "weak" and entry.get("weak_order") is None:
        return "declares no weak order"
    return None


def _noise_size(sde, y0: torch.Tensor) -> tuple[int, ...]:
    g = sde.g(torch.zeros((), dtype=y0.dtype), y0)
    if g.shape == y0.shape:
        return tuple(y0.shape)
    return (y0.shape[0], g.shape[-1])


@dataclass(frozen=True)
class SDEProblem(Problem):
    """An SDE (or ODE) with an exact solution or a fine reference solve.

    Attributes:
        make_sde: builds the torchsde-style SDE (``f``, ``g``, ``noise_type``,
            ``sde_type``), or an ODE right-hand side ``f(t, y)``.
        make_y0: ``make_y0(samples, generator, dtype) -> y0``.
        t1: final time (the solve runs on ``[0, t1]``).
        outputs: number of equal output intervals (errors at each output time).
        exact: ``exact(sde, y0, bm, ts) -> ys`` on the path ``bm`` (``None``
            for an ODE), or ``None`` to use a fine solve with
            ``reference_method``.
        reference_method: the solver of the fine reference solve.
    """

    make_sde: Callable[[], Any] = None  # type: ignore[assignment]
    make_y0: Callable[[int, torch.Generator, torch.dtype], torch.Tensor] = None  # type: ignore[assignment]
    t1: float = 1.0
    outputs: int = 1
    exact: Callable[..., torch.Tensor] | None = None
    reference_method: str = "heun"

    def skip_reason(self, entry: dict) -> str | None:
        return _solver_skip(self, entry)

    def declared(self, entry: dict) -> float | None:
        if self.is_ode:
            return entry["ode_order"]
        if self.error == "weak":
            return entry.get("weak_order")
        return entry["strong_order"].get(self.noise_type)

    def setup(self, *, samples: int, fine: int, entropy: int, dtype: torch.dtype) -> Setup:
        sde = self.make_sde()
        gen = torch.Generator().manual_seed(entropy)
        y0 = self.make_y0(samples, gen, dtype)
        ts = torch.linspace(0.0, self.t1, self.outputs + 1, dtype=dtype)
        bm = None
        if not self.is_ode:
            grid = [self.t1 * k / fine for k in range(fine + 1)]
            bm = BrownianGrid(grid, _noise_size(sde, y0), dtype=dtype, entropy=entropy,
                              levy_area=True, cache_size=fine // 8 + 1)
        if self.exact is not None:
            reference = self.exact(sde, y0, bm, ts)
        else:
            reference = sdeint(sde, y0, ts, method=self.reference_method, dt=self.t1 / fine,
                               bm=bm).ys
        t1 = self.t1

        def run(method, steps: int, options: dict) -> torch.Tensor:
            return sdeint(sde, y0, ts, method=method, dt=t1 / steps, bm=bm, **options).ys[1:]

        return Setup(run, reference[1:])


class _GBM(torch.nn.Module):
    """``dy = μ y dt + σ y dW`` (diagonal noise, each component its own Brownian motion)."""

    noise_type = "diagonal"

    def __init__(self, sde_type: str, mu: float = 0.5, sigma: float = 0.8):
        super().__init__()
        self.sde_type, self.mu, self.sigma = sde_type, mu, sigma

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return self.sigma * y


def _gbm_exact(sde: _GBM, y0, bm, ts):
    """Itô: ``y0 exp((μ - σ²/2) t + σ W_t)``; Stratonovich: ``y0 exp(μ t + σ W_t)``."""
    drift = sde.mu - (0.5 * sde.sigma**2 if sde.sde_type == "ito" else 0.0)
    out = [y0]
    for t in ts[1:].tolist():
        out.append(y0 * torch.exp(drift * t + sde.sigma * bm(0.0, t)))
    return torch.stack(out)


def _gbm_y0(samples, gen, dtype):
    return 0.5 + torch.rand(samples, 2, generator=gen, dtype=dtype)


class _OU(torch.nn.Module):
    """``dy = θ (m - y) dt + σ dW`` (additive noise)."""

    noise_type, sde_type = "additive", "ito"

    def __init__(self, theta: float = 1.5, mean: float = 0.5, sigma: float = 0.6):
        super().__init__()
        self.theta, self.mean, self.sigma = theta, mean, sigma

    def f(self, t, y):
        return self.theta * (self.mean - y)

    def g(self, t, y):
        return torch.full_like(y, self.sigma)


def ou_cell_coefficients(x: float, h: float, nodes: int = 40) -> tuple[float, float, float]:
    """``(a, b, c)`` with ``J = a W + b H + c sqrt(h) Z`` on one cell of length ``h``.

    ``J = ∫ e^{-θ(t_{n+1} - s)} dW_s`` is the stochastic integral of the exact
    Ornstein–Uhlenbeck step (``x = θ h``), ``W`` the cell's increment and ``H``
    its space-time Lévy area.  All three are Gaussian linear functionals of the
    path: in the time-to-end fraction ``u ∈ [0, 1]`` their integrands are
    ``e^{-x u}``, ``1`` and ``u - 1/2`` (``Var W = h``, ``Var H = h/12``, ``W``
    and ``H`` independent).  ``a`` and ``b`` are the regression coefficients of
    ``J`` on ``W`` and ``H``, and ``c² h`` the residual variance, with ``Z``
    standard normal and independent of ``(W, H)``: given the path the solvers
    see, ``J`` is drawn from its exact conditional law.  The integrals use
    Gauss–Legendre quadrature, free of the cancellation of the closed forms.
    """
    s, w = np.polynomial.legendre.leggauss(nodes)
    u, w = 0.5 * (s + 1.0), 0.5 * w
    k = np.exp(-x * u)
    a = float(np.sum(w * k))
    b = float(12.0 * np.sum(w * k * (u - 0.5)))
    r = k - a - b * (u - 0.5)
    c = math.sqrt(float(np.sum(w * r * r)))
    return a, b, c


def _ou_exact(sde: _OU, y0, bm: BrownianGrid, ts):
    """The exact OU solution driven by the fine cells of ``bm`` (:func:`ou_cell_coefficients`)."""
    n = len(bm.times) - 1
    h = bm.times[1] - bm.times[0]
    a, b, c = ou_cell_coefficients(sde.theta * h, h)
    decay = math.exp(-sde.theta * h)
    gen = torch.Generator(device=y0.device).manual_seed(bm.entropy + 7919)
    z = torch.randn((n, *bm.size), generator=gen, dtype=y0.dtype, device=y0.device)
    out_times = set()
    for t in ts[1:].tolist():
        out_times.add(round(t / h))
    y, out = y0, [y0]
    for k in range(n):
        w, hh = bm.cell(k)
        assert hh is not None  # the OU problem's grid has Lévy area (levy_area=True)
        j = a * w + b * hh + c * math.sqrt(h) * z[k]
        y = sde.mean + decay * (y - sde.mean) + sde.sigma * j
        if k + 1 in out_times:
            out.append(y)
    return torch.stack(out)


class _Additive(torch.nn.Module):
    """Nonlinear coupled drift, constant 2×2 additive diffusion (ShARK, SRA1: order 1.5)."""

    noise_type, sde_type = "additive", "stratonovich"

    def __init__(self):
        super().__init__()
        self.register_buffer("G", torch.tensor([[0.6, 0.2], [-0.3, 0.5]], dtype=F64))

    def f(self, t, y):
        y1, y2 = y[:, 0], y[:, 1]
        return torch.stack([torch.sin(y2) - 0.5 * y1**3,
                            torch.cos(y1) * y2 - 0.2 * y2**3 + 0.3 * torch.cos(t)], dim=1)

    def g(self, t, y):
        return self.G.to(y).expand(y.shape[0], 2, 2)


def _uniform_y0(samples, gen, dtype):
    return 2.0 * torch.rand(samples, 2, generator=gen, dtype=dtype) - 1.0


class _Diagonal(torch.nn.Module):
    """Nonlinear drift, commutative diagonal noise (``g_i`` depends on ``y_i`` only)."""

    noise_type, sde_type = "diagonal", "stratonovich"

    def f(self, t, y):
        return torch.sin(y.flip(-1)) - 0.5 * y + 0.3 * torch.cos(t)

    def g(self, t, y):
        return 0.5 * torch.cos(y) + 0.2


class _General(torch.nn.Module):
    """Non-commutative 2×2 diffusion matrix: order 0.5 without Lévy areas."""

    noise_type, sde_type = "general", "stratonovich"

    def f(self, t, y):
        return torch.sin(y.flip(-1)) - 0.5 * y

    def g(self, t, y):
        a, b = torch.sin(y[:, 1]), torch.cos(y[:, 0])
        c = torch.ones_like(a)
        return torch.stack([torch.stack([a, 0.3 * c], -1), torch.stack([0.2 * c, b], -1)], -2)


def _ode_f(t, y):
    """``y' = ½ (1 + y²) cos t``."""
    return 0.5 * (1 + y**2) * torch.cos(t)


def _ode_exact(f, y0, bm, ts):
    """``y(t) = tan(atan y0 + ½ sin t)``."""
    return torch.stack([torch.tan(torch.atan(y0) + 0.5 * torch.sin(t)) for t in ts])


def _ode_y0(samples, gen, dtype):
    return torch.rand(samples, 2, generator=gen, dtype=dtype) - 0.5


def _moment(p: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def phi(y: torch.Tensor) -> torch.Tensor:
        return y.pow(p).flatten(1).mean(1)

    phi.__name__ = f"y^{p}"
    return phi


# -- problems solved by the diffusion samplers --------------------------------------------


@dataclass(frozen=True)
class SamplerProblem(Problem):
    """A diffusion sampler on the Gaussian-mixture oracle (PF-ODE or reverse SDE).

    The samplers of :func:`revsde.diffusion.list_samplers` run from ``t_max``
    to ``t_end`` on a ``grid`` of times; coarse grids are every
    ``fine // steps``-th point of the fine grid.  The reference is a fine RK4
    (PF-ODE) or ShARK (reverse SDE) solve of the lifted equation, and the
    reverse-SDE samplers take the reference's Brownian path (``bm=``).

    Attributes:
        stochastic: ``True`` for the reverse SDE, ``False`` for the PF-ODE.
        t_end: the time the samplers stop at.
        grid: the time-grid kind of :func:`revsde.diffusion.time_grid`.
        make_oracle: builds the oracle (its ``model()`` is the diffusion model).
    """

    family: str = "sampler"
    stochastic: bool = False
    t_end: float = 0.3
    grid: str = "uniform_t"
    make_oracle: Callable[[], Any] = None  # type: ignore[assignment]

    def skip_reason(self, entry: dict) -> str | None:
        if entry.get("family") != "sampler":
            return "a core solver; this problem is run with the diffusion samplers"
        if entry.get("adaptive"):
            return ("adaptive: its steps follow its tolerance, not a step count (compare it "
                    "with revsde.convergence.work_precision)")
        if bool(entry["stochastic"]) != self.stochastic:
            what = "an SDE sampler" if entry["stochastic"] else "a probability-flow ODE sampler"
            return f"{what}; {self.name} is the {self._what()}"
        if self.stochastic and not entry.get("takes_bm", False):
            return ("draws its own Gaussian noise (no bm= argument), so it cannot share the "
                    "reference's Brownian path")
        return None

    def _what(self) -> str:
        return "reverse SDE" if self.stochastic else "probability-flow ODE"

    def kind_text(self) -> str:
        return self._what()

    @property
    def order_kind(self) -> str:
        return "strong" if self.stochastic else "ode"

    def declared(self, entry: dict) -> float | None:
        return entry.get("order")

    def setup(self, *, samples: int, fine: int, entropy: int, dtype: torch.dtype) -> Setup:
        import revsde
        from revsde import diffusion as D
        from revsde.diffusion.samplers import RexSampler

        oracle = self.make_oracle()
        model = oracle.model()
        sch = oracle.schedule
        x_T = oracle.sample(samples, torch.Generator().manual_seed(entropy), t=sch.t_max)
        x_T = x_T.to(dtype)
        ts = D.time_grid(sch, fine, self.grid, t_end=self.t_end)
        case = "sde_x0" if self.stochastic else "ode_x0"
        lifted = D.LiftedProblem(model, case, ts)
        clocks = lifted.clocks
        assert clocks is not None  # built from ts
        y_T = lifted.to_lifted(x_T, ts[0])
        bm = None
        if self.stochastic:
            bm = BrownianGrid(sorted(clocks.tolist()), tuple(x_T.shape), dtype=dtype,
                              entropy=entropy, levy_area=True, cache_size=fine // 8 + 1)
        method = "shark" if self.stochastic else "rk4"
        sol = revsde.sdeint(lifted.sde, y_T, clocks, method=method, bm=bm)
        reference = lifted.from_lifted(sol.ys[-1], ts[-1]).unsqueeze(0)

        def run(method, steps: int, options: dict) -> torch.Tensor:
            sampler = D.get_sampler(method, **options)
            coarse = ts[:: fine // steps]
            if bm is None:
                return sampler.sample(model, x_T, coarse).unsqueeze(0)
            if not isinstance(sampler, RexSampler):
                raise ValueError(f"{method} takes no Brownian path; the stochastic diffusion "
                                 "problems run the reversible (rex_*) samplers")
            return sampler.sample(model, x_T, coarse, bm=bm).unsqueeze(0)

        return Setup(run, reference)


def _mixture():
    """Three well-separated Gaussians in 2-D under the linear VP schedule."""
    from revsde import diffusion as D

    gen = torch.Generator().manual_seed(3)
    means = 3.0 * torch.randn((3, 2), generator=gen, dtype=F64)
    return D.GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.3, 0.3, 0.3], D.VPLinear(), "eps")


# -- the registry -------------------------------------------------------------------------

PROBLEMS: dict[str, Problem] = {}


def register_problem(problem: Problem, *, replace: bool = False) -> Problem:
    """Add ``problem`` to :data:`PROBLEMS` under ``problem.name`` and return it."""
    if not isinstance(problem, Problem):
        raise TypeError(f"register_problem takes a Problem; got {type(problem).__name__}")
    if problem.name in PROBLEMS and not replace:
        raise ValueError(f"a problem named {problem.name!r} is already registered; pass "
                         "replace=True to replace it")
    PROBLEMS[problem.name] = problem
    return problem


def get_problem(name: str | Problem) -> Problem:
    """The registered problem ``name`` (a :class:`Problem` is returned unchanged)."""
    if isinstance(name, Problem):
        return name
    if not isinstance(name, str) or name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; valid problems are: {', '.join(PROBLEMS)}")
    return PROBLEMS[name]


def list_problems() -> list[dict]:
    """Name, description, family, error kind, noise and SDE type of every problem."""
    return [
        {"name": p.name, "description": p.description, "family": p.family, "error": p.error,
         "noise_type": p.noise_type, "sde_type": p.sde_type, "steps": list(p.steps),
         "samples": p.samples}
        for p in PROBLEMS.values()
    ]


for _p in (
    SDEProblem("gbm_ito", "geometric Brownian motion, Itô (exact)", noise_type="diagonal",
               sde_type="ito", make_sde=lambda: _GBM("ito"), make_y0=_gbm_y0, outputs=4,
               exact=_gbm_exact),
    SDEProblem("gbm_strat", "geometric Brownian motion, Stratonovich (exact)",
               noise_type="diagonal", sde_type="stratonovich",
               make_sde=lambda: _GBM("stratonovich"), make_y0=_gbm_y0, outputs=4,
               exact=_gbm_exact),
    SDEProblem("ou", "Ornstein–Uhlenbeck, additive noise (exact; linear drift, so ShARK "
               "and SRA1 reach order 2)", noise_type="additive", sde_type="ito", make_sde=_OU,
               make_y0=_uniform_y0, outputs=4, exact=_ou_exact, steps=(32, 64, 128, 256),
               fine=4096, default=False),
    SDEProblem("additive", "nonlinear drift, additive noise (fine SRA1 reference)",
               noise_type="additive", sde_type="stratonovich", make_sde=_Additive,
               make_y0=_uniform_y0, reference_method="sra1", steps=(32, 64, 128, 256),
               fine=4096),
    SDEProblem("diagonal", "nonlinear drift, commutative diagonal noise (fine Heun reference)",
               noise_type="diagonal", sde_type="stratonovich", make_sde=_Diagonal,
               make_y0=_uniform_y0, reference_method="heun"),
    SDEProblem("general", "non-commutative general noise, 2 Brownian motions (fine Heun "
               "reference)", noise_type="general", sde_type="stratonovich",
               make_sde=_General, make_y0=_uniform_y0, reference_method="heun",
               steps=(16, 32, 64, 128), fine=2048),
    SDEProblem("ode", "ODE y' = (1 + y²) cos(t) / 2 (exact)", make_sde=lambda: _ode_f,
               make_y0=_ode_y0, exact=_ode_exact, steps=(8, 16, 32, 64), fine=64,
               faster=("dopri5", "tsit5")),
    SDEProblem("gbm_weak", "weak error of E[y], E[y²]: geometric Brownian motion, "
               "Stratonovich (exact)", error="weak", noise_type="diagonal",
               sde_type="stratonovich", make_sde=lambda: _GBM("stratonovich", sigma=0.5),
               make_y0=_gbm_y0, exact=_gbm_exact, steps=(8, 16, 32, 64), fine=1024,
               samples=4096, test_functions={"y": _moment(1), "y^2": _moment(2)},
               faster=("bs3",)),
    SamplerProblem("pf_ode", "probability-flow ODE, Gaussian-mixture oracle", stochastic=False,
                   make_oracle=_mixture, steps=(16, 32, 64, 128), fine=512, samples=128),
    SamplerProblem("reverse_sde", "reverse SDE, Gaussian-mixture oracle", stochastic=True,
                   make_oracle=_mixture, steps=(32, 64, 128, 256), fine=2048, samples=64,
                   noise_type="additive", sde_type="stratonovich"),
):
    register_problem(_p)
