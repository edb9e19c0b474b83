"""The input checks of the diffusion layer, in one place: grids, models, tensors, seeds.

Every sampler, baseline and the inversion API validate their inputs here, so
that one mistake gets one message everywhere (STYLE.md: say what to change).
"""

from __future__ import annotations

import math

import torch

from .models import DiffusionModel
from .schedules import GRID_KINDS, time_grid

__all__ = ["check_model", "check_grid", "check_steps", "grid_for", "check_tensor",
           "check_seed", "draw_seed", "check_data"]

#: Seeds are non-negative integers below this bound (torch generators take 64 bits).
SEED_BOUND = 2**63


def check_model(model: object) -> DiffusionModel:
    """``model`` if it is a :class:`DiffusionModel`, else a TypeError that says how to get one."""
    if not isinstance(model, DiffusionModel):
        raise TypeError(
            "model must be a revsde.diffusion.DiffusionModel(net, schedule, prediction) "
            f"(an oracle's .model() gives one); got {type(model).__name__}"
        )
    return model


def check_grid(ts: object) -> torch.Tensor:
    """``ts`` as a float64 CPU tensor: 1-D, at least 2 finite times, strictly decreasing."""
    if not torch.is_tensor(ts):
        try:
            ts = torch.as_tensor(ts, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"ts must be a 1-D tensor of times; got {type(ts).__name__}") from None
    if not ts.is_floating_point():
        raise TypeError(f"ts must be floating point; got {ts.dtype}")
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D grid of at least 2 times; got shape {tuple(ts.shape)}")
    ts = ts.detach().to("cpu", torch.float64)
    t = ts.tolist()  # checked in python: a grid is short, and a tensor test costs more
    if not (all(math.isfinite(v) for v in t) and all(b < a for a, b in zip(t[:-1], t[1:]))):
        raise ValueError(
            "ts must be finite and strictly decreasing, from noise (ts[0]) to data (ts[-1]); "
            "build one with revsde.diffusion.time_grid(schedule, steps)"
        )
    return ts


def check_steps(steps: object) -> int:
    """``steps`` if it is a positive integer."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    return steps


def grid_for(model: DiffusionModel, steps: int | None = None, ts: object = None,
             grid: str = "uniform_t") -> torch.Tensor:
    """The grid of a call that takes either ``steps`` (and a ``grid`` kind) or ``ts``."""
    check_model(model)
    if (steps is None) == (ts is None):
        raise ValueError("pass exactly one of steps= (a step count) or ts= (a time grid)")
    if ts is not None:
        return check_grid(ts)
    if grid not in GRID_KINDS:
        raise ValueError(f"unknown grid kind {grid!r}; valid kinds are {list(GRID_KINDS)}")
    return check_grid(time_grid(model.schedule, check_steps(steps), grid))


def check_tensor(x: object, name: str, *, min_dim: int = 1, finite: bool = False) -> torch.Tensor:
    """``x`` if it is a floating tensor of shape (batch, ...) with at least ``min_dim`` dims.

    ``min_dim=2`` asks for at least one data dimension; ``finite`` refuses NaN/inf.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, ...); got "
                        f"{type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point (float32/float64); got {x.dtype}. "
                        f"Convert it with {name}.float() or {name}.double().")
    if x.dim() < min_dim:
        what = "a leading batch dimension" if min_dim == 1 else (
            "shape (batch, ...) with at least one data dimension")
        raise ValueError(f"{name} needs {what}; got shape {tuple(x.shape)}. Use {name}[None] "
                         "for one sample.")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def check_seed(seed: object) -> int:
    """``seed`` if it is a non-negative integer below 2**63."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_BOUND:
        raise TypeError(f"seed must be a non-negative integer (< 2**63); got {seed!r}")
    return seed


def draw_seed(seed: int | None = None) -> int:
    """``seed`` checked, or a fresh one from torch's global generator when ``None``."""
    if seed is None:
        return int(torch.randint(0, 2**31 - 1, ()).item())
    return check_seed(seed)


def check_data(model: DiffusionModel, x: torch.Tensor, name: str = "x0") -> torch.Tensor:
    """``x`` if it fits what ``model`` declares it takes, else a ValueError saying what to pass.

    A model may declare ``channels`` (an int: the size of dimension 1) and
    ``data_range`` (``(lo, hi)``, e.g. ``(-1, 1)``), as the shipped models do.
    Refused: another channel count; values outside the range (pictures in
    [0, 255]); and, for a range symmetric about 0, data with no negative value at
    all, which is what pictures in [0, 1] look like (pass ``check_range=False``
    to the caller to skip this one guess).
    """
    channels = getattr(model, "channels", None)
    if channels is not None and (x.dim() < 2 or x.shape[1] != channels):
        got = x.shape[1] if x.dim() >= 2 else "none"
        raise ValueError(
            f"{name} has {got} channel(s) (shape {tuple(x.shape)}) but the model takes "
            f"{channels}: pass a (batch, {channels}, H, W) tensor"
            + (" (repeat a gray picture 3 times along dim 1, or load it with "
               "revsde.app.images.load_picture)" if channels == 3 else "")
        )
    rng = getattr(model, "data_range", None)
    if rng is None:
        return x
    lo, hi = float(rng[0]), float(rng[1])
    xmin, xmax = float(x.min()), float(x.max())
    tol = 1e-6 * (hi - lo)
    scale = ("map a [0, 255] picture with x/127.5 - 1 and a [0, 1] one with 2x - 1"
             if (lo, hi) == (-1.0, 1.0) else f"rescale it to [{lo:g}, {hi:g}]")
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(
            f"{name} has values in [{xmin:.4g}, {xmax:.4g}], outside the model's data range "
            f"[{lo:g}, {hi:g}]: {scale}"
        )
    if lo < 0.0 < hi and lo == -hi and xmin >= 0.0 and x.numel() > 1:
        raise ValueError(
            f"{name} has no negative value (range [{xmin:.4g}, {xmax:.4g}]), as pictures in "
            f"[0, 1] do, but the model takes [{lo:g}, {hi:g}]: {scale}; if this really is "
            "your data, pass check_range=False"
        )
    return x
