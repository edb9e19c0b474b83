"""The one sampler protocol: reference samplers, Rex samplers and the inversion baselines.

A sampler is an immutable object; nothing per call is stored on it.  What it can do is
class (or instance) data, read once by the callers:

* ``name``: its registry name; ``options``: the options it was built with (a dict);
* ``reversible``: it has ``encode_state`` / ``decode_state`` (the Rex samplers and
  the baselines; ``exact`` in the baselines' metadata says whether the round trip is
  exact, DDIM inversion's is not);
* ``stochastic``: it needs a noise path (an integer ``seed``);
* ``nfe_per_step`` and ``init_nfe``: network evaluations per step and once at the start;
* ``wide_state``: ``encode`` keeps the state in float64 for a model with a network
  (the lifted state of a Rex sampler is badly scaled); the baselines keep the
  data's dtype, as their reference code does.

Every sampler has ``sample(model, x_T, ts, *, seed=None, cond=None) -> x0`` on a
t-grid ``ts`` from noise (``ts[0]``) to data (``ts[-1]``).  A reversible one also has

* ``encode_state(model, x0, ts, *, seed, cond) -> Encoded``: data at ``ts[-1]`` to the
  full state at ``ts[0]``;
* ``decode_state(model, state, ts, *, seed, cond) -> tuple``: that state back to the
  full state at ``ts[-1]``; ``decode(...)`` maps it to data (``x0``);
* ``brownian_spec(like, seed)``, ``base`` and ``decode_nfe(steps)``: what a
  :class:`~revsde.diffusion.Latents` records about it.

:func:`revsde.diffusion.encode` and :func:`~revsde.diffusion.decode` use nothing else,
whatever the family.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch

from ..models import DiffusionModel

__all__ = ["Sampler", "Encoded"]


class Encoded(NamedTuple):
    """What ``encode_state`` returns.

    ``state``: the full state at the noise end ``ts[0]``; ``nfe``: the evaluations it took;
    ``start``: the full state the solve started from at ``ts[-1]`` and ``ys`` the state
    ``y`` at every grid time (a Rex sampler's exact mode checks its range and residuals
    with them; ``None`` otherwise); ``decode_nfe``: the evaluations of a decode where
    they differ from ``nfe`` (else ``None``); ``grid``: an adaptive sampler's accepted
    steps (its clocks, noise to data), which the decode replays (else ``None``).
    """

    state: tuple
    nfe: int
    start: tuple | None = None
    ys: torch.Tensor | None = None
    decode_nfe: int | None = None
    grid: torch.Tensor | None = None


class Sampler:
    """Base of every sampler (see the module docstring for the protocol)."""

    # capabilities (declared here, set by each family: class data, fields or properties)
    name: str
    stochastic: bool
    nfe_per_step: int
    init_nfe: int
    reversible: ClassVar[bool] = False
    wide_state: ClassVar[bool] = False
    #: chooses its steps under error control (docs/mathematics.md §11): its evaluations per
    #: step vary (``nfe_per_step`` is per attempted step) and a decode replays the grid
    #: its encode accepted
    adaptive: ClassVar[bool] = False

    @property
    def options(self) -> dict[str, Any]:
        """The options this sampler was built with."""
        return {}

    @property
    def base(self) -> str:
        """The method a :class:`~revsde.diffusion.Latents` records as its base."""
        return self.name

    def info(self) -> dict[str, Any]:
        """Registry metadata (at least ``name``, ``reversible``, ``nfe_per_step``,
        ``options``, ``description``)."""
        raise NotImplementedError

    def sample(self, model: DiffusionModel, x_T: torch.Tensor, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None) -> torch.Tensor:
        """``x0`` at ``ts[-1]`` from the noise ``x_T`` at ``ts[0]``."""
        raise NotImplementedError

    # -- reversible samplers -----------------------------------------------------------
    def _not_reversible(self) -> ValueError:
        return ValueError(f"{self.name} is not reversible, so it cannot encode or decode")

    def encode_state(self, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor, *,
                     seed: int | None = None, cond: dict | None = None) -> Encoded:
        """The full state at ``ts[0]`` from the data ``x0`` at ``ts[-1]``."""
        raise self._not_reversible()

    def decode_state(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
                     seed: int | None = None, cond: dict | None = None) -> tuple:
        """The full state at ``ts[-1]`` from the full ``state`` at ``ts[0]``."""
        raise self._not_reversible()

    def decode(self, model: DiffusionModel, state: tuple, ts: torch.Tensor, *,
               seed: int | None = None, cond: dict | None = None,
               residual: torch.Tensor | None = None) -> torch.Tensor:
        """The data at ``ts[-1]`` from the full ``state`` at ``ts[0]`` (``residual``: the
        exact-mode residual added to the state's ``y`` before it is mapped to data)."""
        raise self._not_reversible()

    def brownian_spec(self, like: torch.Tensor, seed: int | None) -> dict | None:
        """The noise path a :class:`~revsde.diffusion.Latents` records (``None``: none)."""
        return None

    def decode_nfe(self, steps: int) -> int | None:
        """Evaluations of a decode on ``steps`` steps where they differ from the encode's."""
        return None
