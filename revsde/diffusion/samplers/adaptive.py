"""Adaptive Rex samplers: error-controlled steps in the lifted clock, the accepted grid
recorded and replayed (docs/mathematics.md §11, §4.3).

``sample`` (noise to data) is an adaptive solve of the lifted probability-flow ODE from
the clock of ``ts[0]`` to that of ``ts[-1]``.  ``encode_state`` (data to noise) chooses
its grid under error control, by an adaptive solve of the same equation from the data
end to the noise end, and then runs the exact inverse steps on that grid; the grid is
returned with the state (``Encoded.grid``) and kept in the :class:`~revsde.diffusion.Latents`
(``accepted``).  ``decode_state`` replays it with no controller, so the decode meets the
encode's states exactly: bit for bit with the compensated state.  (The official Rex
adaptive mode runs a controller in each direction, on grids that differ.)

One controller serves the whole batch (docs/mathematics.md §11): the grid, and so a
sample's bits, depend on the batch it was encoded in; the recorded grid decodes any
part of the batch exactly.

ODE cases only: an SDE case would need a Brownian path rebuilt bit for bit from its seed
under any order of queries (an encode and a decode query it in other orders), which
neither the fixed-grid :class:`~revsde.BrownianGrid` nor ``torchsde.BrownianInterval``
(whose path depends on the order of the queries) is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ...adaptive import MAX_STEPS, Controller, check_adaptive
from ...brownian import Seeds
from ...integrate import Solution, sdeint, sdeint_inverse
from ...sde import SDEAdapter
from ..checks import check_tensor
from ..models import DiffusionModel
from ..schedules import coordinates as co
from .base import Encoded
from .rex import LiftedRun, RexSampler

__all__ = ["AdaptiveRexSampler"]


@dataclass(frozen=True)
class AdaptiveRexSampler(RexSampler):
    """A Rex sampler whose steps in the lifted clock are chosen under error control.

    Args (besides :class:`RexSampler`'s):
        rtol, atol: the tolerances on the lifted state (RMS over the batch).
        dt: the first step tried, in the clock (default: a hundredth of the span).
        max_steps: the budget of attempted steps.
    """

    rtol: float = 1e-4
    atol: float = 1e-4
    dt: float | None = None
    max_steps: int = MAX_STEPS

    adaptive: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if co.CASES.get(self.case) is not None and co.CASES[self.case].stochastic:
            raise ValueError(
                f"{self.name} samples the probability-flow ODE only (an ODE case such as "
                f"'ode_x0'), got case {self.case!r}: an adaptive SDE encode and decode would "
                "query the noise in orders no seeded path replays; use rex_shark or "
                "rev_heun_sde on a fixed grid"
            )
        super().__post_init__()
        check_adaptive(self._solver, SDEAdapter(lambda t, y: y))
        Controller(self.rtol, self.atol, self.max_steps)  # validates, with its messages

    @property
    def options(self) -> dict[str, Any]:
        out = dict(super().options)
        out.pop("quantum", None)  # no exact mode: its fixed-point grid is for a fixed grid
        out.update(rtol=self.rtol, atol=self.atol, dt=self.dt, max_steps=self.max_steps)
        return out

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["adaptive"] = True
        out["description"] += "; adaptive steps, the accepted grid kept for the decode"
        return out

    # -- solves ---------------------------------------------------------------------------
    def _control(self) -> dict[str, Any]:
        return {"adaptive": True, "rtol": self.rtol, "atol": self.atol, "dt": self.dt,
                "max_steps": self.max_steps}

    @staticmethod
    def _ends(run: LiftedRun) -> torch.Tensor:
        clocks = run.clocks
        return clocks[::clocks.numel() - 1]

    def solve_adaptive(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
                       cond: dict | None = None) -> tuple[LiftedRun, Solution]:
        """The run and the core :class:`~revsde.Solution` of an adaptive sample from ``x_T``
        (its ``grid``: the accepted clocks; its ``stats``: evaluations and rejections)."""
        x_T = check_tensor(x_T, "x_T")
        run = self.prepare(model, ts, x_T, cond=cond, noise=False)
        sol = sdeint(run.sde, None, self._ends(run), method=self._solver,
                     state=run.start(x_T, 0), **self._control())
        return run, sol

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | Seeds | None = None, cond: dict | None = None,
               bm: Any = None) -> torch.Tensor:
        """``x0`` from ``x_T``: an adaptive solve from ``ts[0]`` to ``ts[-1]``."""
        run, sol = self.solve_adaptive(model, x_T, ts, cond=cond)
        return run.unlift(sol.state[0], -1)

    def encode_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                     seed: int | Seeds | None = None, cond: dict | None = None) -> Encoded:
        """The grid from an adaptive solve from the data end to the noise end, then the
        exact inverse steps on it; ``Encoded.grid`` is that grid (noise to data)."""
        x0 = check_tensor(x0, "x0")
        run = self.prepare(model, ts, x0, cond=cond, noise=False)
        start = run.start(x0, -1)
        ends = self._ends(run)
        probe = sdeint(run.sde, None, ends.flip(0), method=self._solver, state=start,
                       **self._control())
        assert probe.grid is not None  # an adaptive solve records its grid
        grid = probe.grid.flip(0).contiguous()
        sol = sdeint_inverse(run.sde, start, ends, method=self._solver, grid=grid)
        nfe = int(probe.stats["nfe"]) + int(sol.stats["nfe"]) + self.init_nfe
        return Encoded(tuple(sol.state), nfe, start, None,
                       decode_nfe=int(sol.stats["nfe"]), grid=grid)

    def _replay(self, model, state, ts, cond, grid) -> tuple[LiftedRun, tuple]:
        if grid is None:
            raise ValueError(f"{self.name} decodes on the grid its encode accepted: pass "
                             "grid=encoded.grid (revsde.diffusion.decode reads it from the "
                             "Latents)")
        state = self._check_state(state)
        run = self.prepare(model, ts, state[0], cond=cond, noise=False)
        grid = torch.as_tensor(grid).to(dtype=run.clocks.dtype, device=run.clocks.device)
        sol = sdeint(run.sde, None, self._ends(run), method=self._solver, state=state,
                     grid=grid)
        return run, sol.state

    def decode_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                     seed: int | Seeds | None = None, cond: dict | None = None,
                     grid: torch.Tensor | None = None) -> tuple:
        """The full state at ``ts[-1]`` from the one at ``ts[0]``, on the encode's ``grid``."""
        return self._replay(model, state, ts, cond, grid)[1]

    def decode(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
               seed: int | Seeds | None = None, cond: dict | None = None,
               residual: torch.Tensor | None = None,
               grid: torch.Tensor | None = None) -> torch.Tensor:
        """``x0`` from the full state at ``ts[0]``, on the encode's ``grid``."""
        run, end = self._replay(model, state, ts, cond, grid)
        y = end[0] if residual is None else end[0] + residual
        return run.unlift(y, -1)
