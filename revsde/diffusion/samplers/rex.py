"""The sampler registry: reference samplers and the reversible Rex family.

Every sampler is an immutable object with
``sample(model, x_T, ts, *, seed=None, cond=None) -> x0`` on a t-grid ``ts``
running from noise (``ts[0]``) to data (``ts[-1]``), e.g. from
:func:`revsde.diffusion.time_grid`.  Nothing per step or per call is stored on
the sampler (STYLE.md: no multistep history on ``self``).

* Reference, non-reversible (:mod:`revsde.diffusion.reference`): ``ddim``,
  ``dpmpp_1``, ``dpmpp_2m``, ``sde_dpmpp_1``.
* Rex (MATH.md §4.3): the McCallum–Foster wrapper (core ``mcf_<base>`` solver,
  MATH.md §3) applied to a lifted equation of MATH.md §4.2, run by
  :func:`revsde.sdeint` / :func:`revsde.sdeint_inverse` in the lifted clock
  (:class:`~revsde.diffusion.lifted.LiftedProblem`); the state stays lifted
  and is converted with ``κ`` only at the ends.  ODE bases: ``rex_euler``,
  ``rex_midpoint``, ``rex_heun``, ``rex_rk4``; SDE bases (additive noise):
  ``rex_em`` (Euler–Maruyama), ``rex_shark`` (ShARK, with space-time Lévy area).
* Reversible Heun (MATH.md §2) on the same lifted equations, 1 NFE per step:
  ``rev_heun`` (PF-ODE) and ``rev_heun_sde``.
* Reversible Heun with exponential-integrator weights
  (:mod:`revsde.diffusion.exp_heun`), 1 NFE per step, exact for a prediction
  linear in λ: ``rev_heun_exp`` (PF-ODE) and ``rev_heun_exp_sde`` (case
  ``sde_x0``).  No exact mode.

Reversible samplers also expose ``noise_state`` / ``data_state`` (the full
solver state at either end, with ``ŷ = y``), ``forward_state`` (noise to data)
and ``inverse_state`` (data to noise), which :mod:`revsde.diffusion.inversion`
uses to encode and decode.  The noise of the SDE samplers is a
:class:`revsde.BrownianGrid` on the lifted clock grid, seeded by an integer
``seed``: counter-based, so the same path is regenerated bit for bit in any
query order and in another process (``torchsde.BrownianInterval`` builds a path
that depends on the order of the queries, so it cannot be rebuilt from a seed
for decoding).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ...brownian import BrownianGrid
from ...integrate import sdeint, sdeint_inverse
from ...registry import accepted_options, build_entry, get_solver
from ...sde import SDEAdapter
from ...solvers import Solver
from ...solvers.exp_reversible_heun import ExponentialReversibleHeun
from ..models import DiffusionModel
from .lifted import LIFTED_CASES, LiftedProblem
from .reference import sample_ddim, sample_dpmpp_1, sample_dpmpp_2m, sample_sde_dpmpp_1

__all__ = [
    "ReferenceSampler",
    "RexSampler",
    "SAMPLERS",
    "ODE_CASES",
    "SDE_CASES",
    "DEFAULT_ODE_CASE",
    "DEFAULT_SDE_CASE",
    "get_sampler",
    "list_samplers",
    "check_model",
    "check_grid",
]

ODE_CASES = ("ode_eps", "ode_x0")
SDE_CASES = ("sde_eps", "sde_x0")
#: Cases whose drift is a prediction in a clock e^{cλ}, as the exponential weights assume.
EXP_CASES = ("ode_eps", "ode_x0", "sde_x0")
#: One-evaluation-per-step bases that cache f(ŷ) (one evaluation to build the state).
HEUN_BASES = ("reversible_heun", "exp_reversible_heun")
#: Defaults chosen from the measurements of MATH.md §4.5 (docs/diffusion.md).
DEFAULT_ODE_CASE = "ode_x0"
DEFAULT_SDE_CASE = "sde_x0"


# -- input checks ----------------------------------------------------------------------
def check_model(model) -> DiffusionModel:
    if not isinstance(model, DiffusionModel):
        raise TypeError(
            "model must be a revsde.diffusion.DiffusionModel(net, schedule, prediction) "
            f"(an oracle's .model() gives one); got {type(model).__name__}"
        )
    return model


def check_grid(ts) -> torch.Tensor:
    """``ts`` as a float64 tensor, 1-D, strictly decreasing (noise to data)."""
    if not torch.is_tensor(ts):
        ts = torch.as_tensor(ts, dtype=torch.float64)
    if not ts.is_floating_point():
        raise TypeError(f"ts must be floating point; got {ts.dtype}")
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D grid of at least 2 times; got shape {tuple(ts.shape)}")
    ts = ts.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(ts).all()) or not bool((ts[1:] < ts[:-1]).all()):
        raise ValueError(
            "ts must be finite and strictly decreasing, from noise (ts[0]) to data (ts[-1]); "
            "build one with revsde.diffusion.time_grid(schedule, steps)"
        )
    return ts


def _check_x(x, name: str) -> torch.Tensor:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor of shape (batch, ...); got "
            f"{type(x).__name__ if not torch.is_tensor(x) else x.dtype}"
        )
    if x.dim() < 1:
        raise ValueError(f"{name} needs a leading batch dimension; use {name}[None]")
    return x


def _random_seed() -> int:
    return int(torch.randint(0, 2**31 - 1, ()).item())


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise TypeError(f"seed must be a non-negative integer (< 2**63); got {seed!r}")
    return seed


# -- reference samplers --------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceSampler:
    """A non-reversible sampler of :mod:`revsde.diffusion.reference`."""

    name: str
    fn: Callable
    prediction: str
    stochastic: bool
    order: float
    description: str

    reversible: ClassVar[bool] = False
    nfe_per_step: ClassVar[int] = 1
    init_nfe: ClassVar[int] = 0

    def sample(self, model, x_T, ts, *, seed=None, cond=None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` (SDE: Gaussian noise from ``seed``)."""
        check_model(model)
        x_T = _check_x(x_T, "x_T")
        ts = check_grid(ts)
        if self.stochastic:
            seed = _random_seed() if seed is None else _check_seed(seed)
            gen = torch.Generator(device=x_T.device).manual_seed(seed)
            return self.fn(model, x_T, ts, generator=gen, cond=cond).x
        return self.fn(model, x_T, ts, cond=cond).x

    def info(self) -> dict:
        return {
            "name": self.name,
            "reversible": False,
            "stochastic": self.stochastic,
            "nfe_per_step": self.nfe_per_step,
            "init_nfe": self.init_nfe,
            "case": None,
            "cases": [],
            "prediction": self.prediction,
            "base": None,
            "solver": None,
            "order": self.order,
            "order_kind": "strong" if self.stochastic else "ode",
            "options": {},
            "description": self.description,
        }


# -- Rex and Reversible Heun in lifted coordinates ------------------------------------
@dataclass(frozen=True)
class RexSampler:
    """A reversible solver run on a lifted diffusion equation (MATH.md §4.3).

    Args:
        name: registry name.
        base: core base method (``"euler"``, ``"rk4"``, ``"shark"``, ...) wrapped by
            McCallum–Foster, ``"reversible_heun"``, or ``"exp_reversible_heun"``
            (:class:`~revsde.diffusion.exp_heun.ExponentialReversibleHeun`).
        case: lifted case (``LIFTED_CASES``).
        zeta: MCF coupling in (0, 1]; ``None`` for Reversible Heun.
        quantum: power-of-two fixed-point grid for bit-exact reversal (MATH.md §7).
    """

    name: str
    base: str
    case: str
    zeta: float | None = 0.999
    quantum: float | None = None

    reversible: ClassVar[bool] = True

    def __post_init__(self):
        # Building the solver validates zeta and quantum with the core's messages.
        self.solver()

    # -- metadata ---------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The solver name (core registry, or ``exp_reversible_heun`` of :mod:`.exp_heun`)."""
        return self.base if self.base in HEUN_BASES else "mcf_" + self.base

    @property
    def stochastic(self) -> bool:
        return self.case in SDE_CASES

    @property
    def prediction(self) -> str:
        return "eps" if self.case.endswith("eps") else "x0"

    @property
    def nfe_per_step(self) -> int:
        return self.solver().nfe_per_step

    @property
    def init_nfe(self) -> int:
        """Evaluations made once when the state is built (Reversible Heun caches f(ŷ))."""
        return 1 if self.base in HEUN_BASES else 0

    @property
    def options(self) -> dict:
        out = {"case": self.case, "quantum": self.quantum}
        if self.zeta is not None:
            out["zeta"] = self.zeta
        return out

    def solver(self) -> Solver:
        if self.base == "reversible_heun":
            return get_solver("reversible_heun", quantum=self.quantum)
        if self.base == "exp_reversible_heun":
            if self.quantum is not None:
                raise ValueError(
                    f"{self.name} has no exact mode (exact=True / quantum=): its auxiliary "
                    "update stretches by w1/w0 != 1, which no fixed-point grid inverts bit "
                    "for bit; use rev_heun or a rex_* sampler for exact mode"
                )
            if self.case not in EXP_CASES:
                raise ValueError(
                    f"{self.name} takes case in {list(EXP_CASES)}; got {self.case!r} (its "
                    "weights assume a drift linear in log-clock, which the sde_eps drift "
                    "ε/χ is not)"
                )
            return ExponentialReversibleHeun()
        return get_solver(self.method, zeta=self.zeta, quantum=self.quantum)

    def info(self) -> dict:
        s = self.solver()
        order = s.strong_order.get("additive") if self.stochastic else s.ode_order
        return {
            "name": self.name,
            "reversible": True,
            "stochastic": self.stochastic,
            "nfe_per_step": s.nfe_per_step,
            "init_nfe": self.init_nfe,
            "case": self.case,
            "cases": [c for c in (SDE_CASES if self.stochastic else ODE_CASES)
                      if self.base != "exp_reversible_heun" or c in EXP_CASES],
            "prediction": self.prediction,
            "base": self.base,
            "solver": s.name,
            "order": order,
            "order_kind": "strong" if self.stochastic else "ode",
            "options": self.options,
            "description": _DESCRIPTIONS.get(self.base,
                                             f"McCallum–Foster reversible {self.base}")
            + f" on the lifted {self.case} equation (core solver {s.name})",
        }

    # -- plumbing ---------------------------------------------------------------------
    def lift(self, model, ts, cond=None, like: torch.Tensor | None = None):
        """``(LiftedProblem, clocks)``: the lifted equation and the clock grid.

        The clocks are in ``like``'s dtype and on its device (float64 on the CPU
        without ``like``); ``ts`` is the float64 t-grid.
        """
        check_model(model)
        ts = check_grid(ts)
        pb = LiftedProblem(model, self.case, ts, cond=cond)
        dtype = torch.float64 if like is None else like.dtype
        clocks = pb.clocks.to(dtype=dtype, device=None if like is None else like.device)
        if not bool(((clocks[1:] - clocks[:-1]) * (clocks[1] - clocks[0]) > 0).all()):
            raise ValueError(
                f"the clock grid of case {self.case!r} is not strictly monotone in {dtype}; "
                "use fewer steps or float64"
            )
        return pb, clocks

    def brownian(self, clocks: torch.Tensor, like: torch.Tensor, seed) -> BrownianGrid | None:
        """The lifted noise: a :class:`BrownianGrid` on the clock grid, seeded by ``seed``."""
        if not self.stochastic:
            return None
        if seed is None:
            raise ValueError(
                f"{self.name} with case {self.case!r} is stochastic: pass an integer seed "
                "(the same one to invert) or a Brownian motion bm="
            )
        return BrownianGrid(sorted(clocks.tolist()), tuple(like.shape), dtype=like.dtype,
                            device=like.device, entropy=_check_seed(seed),
                            levy_area=self.solver().needs_levy_area)

    def _bm(self, clocks, like, seed, bm):
        if bm is not None:
            if not self.stochastic:
                raise ValueError(f"{self.name} with case {self.case!r} is an ODE; it takes no bm")
            return bm
        return self.brownian(clocks, like, seed)

    def _init(self, pb, clock, y):
        t = torch.tensor(float(clock), dtype=y.dtype, device=y.device)
        return self.solver().init(SDEAdapter(pb.sde), t, y)

    def _check_state(self, state, name="state"):
        if not isinstance(state, (tuple, list)) or len(state) < 2:
            raise TypeError(
                f"{name} must be the full reversible state (y, ŷ, ...) of {self.name}, e.g. "
                "from noise_state / data_state / Latents.state"
            )
        return tuple(state)

    # -- states -----------------------------------------------------------------------
    def noise_state(self, model, x_T, ts, *, cond=None) -> tuple:
        """The full state at ``ts[0]`` from ``x_T``: ``y = ŷ = x_T/κ`` (quantised in exact mode)."""
        x_T = _check_x(x_T, "x_T")
        pb, clocks = self.lift(model, ts, cond, x_T)
        return self._init(pb, clocks[0], pb.to_lifted(x_T, pb.ts[0]))

    def data_state(self, model, x0, ts, *, cond=None) -> tuple:
        """The full state at ``ts[-1]`` from ``x0``: ``y = ŷ = x0/κ`` (quantised in exact mode)."""
        x0 = _check_x(x0, "x0")
        pb, clocks = self.lift(model, ts, cond, x0)
        return self._init(pb, clocks[-1], pb.to_lifted(x0, pb.ts[-1]))

    def solve(self, model, state, ts, *, seed=None, cond=None, bm=None, inverse=False):
        """The core :class:`~revsde.Solution` of a forward (noise to data) or inverse solve.

        ``state`` is the full state at ``ts[0]`` (forward) or ``ts[-1]`` (inverse);
        ``ys`` holds ``y`` at every grid time.
        """
        state = self._check_state(state)
        pb, clocks = self.lift(model, ts, cond, state[0])
        bm = self._bm(clocks, state[0], seed, bm)
        if inverse:
            return sdeint_inverse(pb.sde, state, clocks, method=self.solver(), bm=bm)
        return sdeint(pb.sde, None, clocks, method=self.solver(), state=state, bm=bm)

    def forward_state(self, model, state, ts, *, seed=None, cond=None, bm=None) -> tuple:
        """Solve from the full ``state`` at ``ts[0]`` (noise) to ``ts[-1]`` (data)."""
        return self.solve(model, state, ts, seed=seed, cond=cond, bm=bm).state

    def inverse_state(self, model, state, ts, *, seed=None, cond=None, bm=None) -> tuple:
        """Run the inverse steps from the full ``state`` at ``ts[-1]`` (data) to ``ts[0]``."""
        return self.solve(model, state, ts, seed=seed, cond=cond, bm=bm, inverse=True).state

    def to_data(self, model, state, ts) -> torch.Tensor:
        """``x = κ_{ts[-1]} y`` from the lifted state at the data end."""
        return LiftedProblem(check_model(model), self.case).from_lifted(
            state[0], check_grid(ts)[-1])

    def to_noise(self, model, state, ts) -> torch.Tensor:
        """``x = κ_{ts[0]} y`` from the lifted state at the noise end."""
        return LiftedProblem(check_model(model), self.case).from_lifted(
            state[0], check_grid(ts)[0])

    def sample(self, model, x_T, ts, *, seed=None, cond=None, bm=None) -> torch.Tensor:
        """``x0`` from ``x_T`` at ``ts[0]`` with ``ŷ = y`` (SDE: noise from ``seed`` or ``bm``)."""
        if self.stochastic and seed is None and bm is None:
            seed = _random_seed()
        state = self.noise_state(model, x_T, ts, cond=cond)
        state = self.forward_state(model, state, ts, seed=seed, cond=cond, bm=bm)
        return self.to_data(model, state, ts)


_DESCRIPTIONS = {
    "reversible_heun": "Reversible Heun, 1 NFE/step",
    "exp_reversible_heun": "Reversible Heun with exponential-integrator weights, 1 NFE/step",
}


# -- registry -----------------------------------------------------------------------
def _check_case(name: str, case, allowed, why: str = "") -> str:
    """``case`` if ``allowed`` (``why`` explains a restriction), warning about ``sde_eps``."""
    if case not in allowed:
        if not why and case in LIFTED_CASES:
            why = (" (other cases: use the rex_em / rex_shark / rev_heun_sde samplers for the "
                   "SDE, the rex_euler ... rev_heun samplers for the PF-ODE)")
        raise ValueError(f"sampler {name!r} takes case in {list(allowed)}; got {case!r}{why}")
    if case == "sde_eps":
        warnings.warn(
            f"{name} with case 'sde_eps' is unstable: the reversible auxiliary state grows "
            "along the solve (measured errors ~1e5 and failed round trips, docs/diffusion.md); "
            "use case='sde_x0' (the default)", stacklevel=4)
    return case


def _reference(name, fn, prediction, stochastic, order, description):
    def build() -> ReferenceSampler:
        return ReferenceSampler(name, fn, prediction, stochastic, order, description)

    return build


def _rex(name: str, base: str, stochastic: bool):
    allowed = SDE_CASES if stochastic else ODE_CASES
    default = DEFAULT_SDE_CASE if stochastic else DEFAULT_ODE_CASE
    why = ""
    if base == "exp_reversible_heun":
        allowed = tuple(c for c in allowed if c in EXP_CASES)
        why = (" (its weights assume a drift linear in log-clock, which the sde_eps drift "
               "ε/χ is not)")
    if base in HEUN_BASES:
        def build(case: str = default, quantum=None) -> RexSampler:
            return RexSampler(name, base, _check_case(name, case, allowed, why), None,
                              quantum)
    else:
        def build(case: str = default, zeta: float = 0.999, quantum=None) -> RexSampler:
            return RexSampler(name, base, _check_case(name, case, allowed), zeta, quantum)
    build.__name__ = name
    return build


SAMPLERS: dict[str, Callable] = {
    "ddim": _reference("ddim", sample_ddim, "eps", False, 1.0,
                       "DDIM (eta=0), Song et al. 2021"),
    "dpmpp_1": _reference("dpmpp_1", sample_dpmpp_1, "x0", False, 1.0,
                          "DPM-Solver++(1), Lu et al. 2022b"),
    "dpmpp_2m": _reference("dpmpp_2m", sample_dpmpp_2m, "x0", False, 2.0,
                           "DPM-Solver++(2M), Lu et al. 2022b"),
    "sde_dpmpp_1": _reference("sde_dpmpp_1", sample_sde_dpmpp_1, "x0", True, 1.0,
                              "SDE-DPM-Solver++(1), Lu et al. 2022b"),
    "rex_euler": _rex("rex_euler", "euler", False),
    "rex_midpoint": _rex("rex_midpoint", "midpoint", False),
    "rex_heun": _rex("rex_heun", "heun", False),
    "rex_rk4": _rex("rex_rk4", "rk4", False),
    "rex_em": _rex("rex_em", "euler", True),
    "rex_shark": _rex("rex_shark", "shark", True),
    "rev_heun": _rex("rev_heun", "reversible_heun", False),
    "rev_heun_sde": _rex("rev_heun_sde", "reversible_heun", True),
    "rev_heun_exp": _rex("rev_heun_exp", "exp_reversible_heun", False),
    "rev_heun_exp_sde": _rex("rev_heun_exp_sde", "exp_reversible_heun", True),
}


def get_sampler(name, **options):
    """Build the sampler registered as ``name`` with ``options`` (e.g. ``case``, ``zeta``).

    A sampler instance is returned unchanged (options are then refused).
    """
    if isinstance(name, (ReferenceSampler, RexSampler)):
        if options:
            raise ValueError(
                f"sampler options {sorted(options)} were given with a sampler instance; "
                "build it with get_sampler(name, **options) instead"
            )
        return name
    return build_entry(SAMPLERS, name, options, "sampler")


def list_samplers() -> list[dict]:
    """Metadata of every registered sampler (with default options), in registry order."""
    out = []
    for name in SAMPLERS:
        info = get_sampler(name).info()
        info["accepts"] = accepted_options(SAMPLERS[name])
        out.append(info)
    return out


def reversible_names() -> list[str]:
    return [n for n in SAMPLERS if get_sampler(n).reversible]
