"""Input validation with errors that say what to change (never ``assert``)."""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import torch


class ArgumentError(TypeError, ValueError):
    """An argument of the wrong kind (a bool or a string where a number is meant, ...).

    Both a ``TypeError`` and a ``ValueError``, so that either ``except`` catches it.
    """


def check_real(x: Any, name: str, what: str = "a number") -> float:
    """``x`` as a float: a real number (a 0-d tensor is taken), never a bool or a string."""
    if torch.is_tensor(x) and x.numel() == 1 and not x.dtype.is_complex and x.dtype != torch.bool:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ArgumentError(f"{name} must be {what}; got {type(x).__name__} {x!r}")
    return float(x)


def check_int(x: Any, name: str, what: str = "an integer") -> int:
    """``x`` as an int: an integer (numpy and 0-d tensor integers too), never a bool,
    a float or a string."""
    if isinstance(x, bool) or (torch.is_tensor(x) and x.dtype == torch.bool):
        raise ArgumentError(f"{name} must be {what}; got the bool {x!r}")
    try:
        return operator.index(x)
    except TypeError:
        raise ArgumentError(f"{name} must be {what}; got {type(x).__name__} {x!r}") from None


def check_entropy(entropy: Any) -> int | None:
    """A seed: ``None`` or a non-negative integer."""
    if entropy is None:
        return None
    e = check_int(entropy, "entropy", "a non-negative integer seed (or None)")
    if e < 0:
        raise ValueError(f"entropy must be a non-negative integer seed; got {e}")
    return e


def check_flag(x: Any, name: str) -> bool:
    """A yes/no argument: ``True`` or ``False`` only."""
    if not isinstance(x, bool):
        raise ArgumentError(f"{name} must be True or False; got {type(x).__name__} {x!r}")
    return x


def check_y(y0: Any, name: str = "y0") -> torch.Tensor:
    """A floating-point tensor with a leading batch dimension."""
    if not torch.is_tensor(y0):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(y0).__name__}")
    if not y0.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float32 or float64); got {y0.dtype}. "
            f"Convert it with {name}.double() or {name}.float()."
        )
    if y0.dim() < 1:
        raise ValueError(
            f"{name} must have a leading batch dimension; got a 0-d tensor. "
            f"Use {name}.reshape(1) or {name}[None]."
        )
    return y0


def check_ts(ts: Any, ref: torch.Tensor, name: str = "ts") -> list[float]:
    """Validate output (or step) times; return them as python floats (in float64)."""
    if not torch.is_tensor(ts):
        try:
            ts = torch.as_tensor(ts, dtype=ref.dtype, device=ref.device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name} must be a 1-D tensor (or sequence) of real times; got {ts!r}"
            ) from None
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(
            f"{name} must be a 1-D tensor of at least two times; got shape {tuple(ts.shape)}"
        )
    if not ts.is_floating_point():
        raise TypeError(f"{name} must be floating point; got {ts.dtype}. Use {name}.to(y0.dtype).")
    if ts.dtype != ref.dtype:
        raise TypeError(
            f"{name} has dtype {ts.dtype} but y0 has {ref.dtype}; use {name}.to(y0.dtype)"
        )
    if ts.device != ref.device:
        raise ValueError(
            f"{name} is on {ts.device} but y0 is on {ref.device}; use {name}.to(y0.device)"
        )
    vals = ts.detach().cpu().tolist()
    if not all(map(math.isfinite, vals)):
        raise ValueError(f"{name} contains NaN or inf; every time must be finite")
    later = vals[1:]
    if all(map(operator.lt, vals, later)) or all(map(operator.gt, vals, later)):
        return vals  # strictly monotone (the usual case, tested without a python loop)
    diffs = [b - a for a, b in zip(vals[:-1], vals[1:])]
    if any(d == 0 for d in diffs):
        i = next(k for k, d in enumerate(diffs) if d == 0)
        raise ValueError(f"{name} has a duplicate time {vals[i]} at positions {i} and {i + 1}")
    if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        i = next(k for k in range(1, len(diffs)) if (diffs[k] > 0) != (diffs[0] > 0))
        raise ValueError(
            f"{name} must be strictly monotone (all increasing or all decreasing); it turns "
            f"at position {i + 1} ({name}[{i - 1}]={vals[i - 1]}, {name}[{i}]={vals[i]}, "
            f"{name}[{i + 1}]={vals[i + 1]})"
        )
    return vals


def check_dt(dt: Any) -> float | None:
    """The largest step: ``None`` or a positive finite number."""
    if dt is None:
        return None
    dt = check_real(dt, "dt", "a positive number or None")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be positive and finite; got {dt}")
    return dt


def check_bm(bm: Any, size: tuple[int, ...], ref: torch.Tensor, lo: float, hi: float,
             levy_area: bool) -> None:
    """Check a user's Brownian motion against the solve."""
    if isinstance(bm, type) or not callable(bm):
        what = f"the class {bm.__name__}" if isinstance(bm, type) else (
            f"{type(bm).__name__} {bm!r}")
        raise TypeError(
            f"bm must be a Brownian motion object, called as bm(ta, tb) (an instance of "
            "revsde.BrownianGrid or torchsde.BrownianInterval, e.g. Solution.bm), or 'grid' / "
            f"'interval' to build one from entropy; got {what}"
            + ("; build an instance of it" if isinstance(bm, type) else ""))
    dtype = getattr(bm, "dtype", None)
    if dtype is not None and dtype != ref.dtype:
        raise TypeError(
            f"bm has dtype {dtype} but y0 has {ref.dtype}; build the Brownian motion with "
            f"dtype={ref.dtype}"
        )
    device = getattr(bm, "device", None)
    if device is not None and torch.device(device) != ref.device:
        raise ValueError(
            f"bm is on {device} but y0 is on {ref.device}; build it with device={ref.device}"
        )
    shape = getattr(bm, "shape", None)
    if shape is not None and tuple(shape) != tuple(size):
        raise ValueError(
            f"bm has shape {tuple(shape)} but this SDE needs Brownian increments of shape "
            f"{tuple(size)}"
        )
    start = getattr(bm, "_start", getattr(bm, "t0", None))
    end = getattr(bm, "_end", getattr(bm, "t1", None))
    if start is not None and end is not None:
        start, end = float(start), float(end)
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        if lo < start - tol or hi > end + tol:
            raise ValueError(
                f"bm covers [{start}, {end}] but the solve needs [{lo}, {hi}]; build it over "
                "the whole time span"
            )
    if levy_area:
        approx = getattr(bm, "levy_area_approximation", None)
        has = getattr(bm, "levy_area", None)
        if approx == "none" or has is False:
            raise ValueError(
                "this method needs space-time Lévy area, but bm was built without it; use "
                "levy_area_approximation='space-time' (BrownianInterval) or levy_area=True "
                "(BrownianGrid)"
            )


def check_sde(sde: Any) -> None:
    """Refuse a class where an instance is meant (``sdeint(MySDE, ...)`` for ``MySDE()``):
    its ``f`` and ``g`` would be unbound functions, called with ``t`` as ``self``."""
    if isinstance(sde, type):
        raise TypeError(
            f"sde is the class {sde.__name__}, not an instance of it; pass {sde.__name__}() "
            "(an object with methods f(t, y) and g(t, y)), or a function f(t, y) for an ODE")


def call_unmodified(fn: Any, t: torch.Tensor, y: torch.Tensor, name: str,
                    error: type[Exception] = ValueError) -> Any:
    """``fn(t, y)``, refused if ``fn`` wrote into ``y``.

    For the first evaluation of a user's ``f`` or ``g`` (one copy and one comparison per
    solve): a function that modifies its argument in place would change the caller's
    ``y0`` and the solver's state, so that the inverse silently misses.  ``fn`` gets
    ``y`` itself (the autograd graph, and so every gradient, is the one without this
    check); a write is undone, so the caller's tensor keeps its values, then refused.
    """
    before = y.detach().clone()
    out = fn(t, y)
    # torch.equal first: one operation (~2 us on a small state, where the NaN-aware
    # comparison's seven take ~30 us, twice per solve); it is false on NaN, so the
    # NaN-aware comparison decides whenever it is not true
    if not torch.equal(y, before) and not bool(
            ((y == before) | (torch.isnan(y) & torch.isnan(before))).all()):
        with torch.no_grad():
            y.copy_(before)
        raise error(
            f"{name}(t, y) modified its argument y in place (e.g. y.mul_(...), y += ..., "
            f"y[...] = ...); that changes the solver's state and the caller's y0, so the "
            f"inverse would not return to y0. Compute a new tensor instead (y * c, "
            f"y.clone() first, torch.where(...))"
        )
    return out


#: The most steps one solve may take: its step grid is built in memory before it runs
#: (about 32 bytes a step as a Python list, 8 as a tensor), so a tiny ``dt`` is refused
#: here, at once, rather than by the operating system after minutes.
MAX_STEPS = 10_000_000


def _count(n: float) -> str:
    """A step count for a message: ``1,000,000,000`` up to 1e15, then ``1e+300``."""
    return f"{int(n):,}" if n < 1e15 else f"{n:.3g}"


def _gigabytes(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n < 1e18 else f"{n / 1e9:.3g} GB"


def check_step_count(n_steps: float, limit: int = MAX_STEPS, *, what: str = "this solve",
                     fix: str = "take fewer steps") -> int:
    """``n_steps`` as an int if it is at most ``limit``; else a ValueError that says how many
    steps ``what`` would need, about how much memory their grid alone takes, and ``fix``."""
    if not n_steps <= limit:  # also NaN and inf
        raise ValueError(
            f"{what} would take {_count(n_steps)} steps, more than the limit of "
            f"{limit:,} (its step grid alone would need about {_gigabytes(32 * n_steps)} "
            f"before the first step): {fix}"
        )
    return int(n_steps)


def check_grid_steps(ts: list[float], dt: float | None, limit: int = MAX_STEPS) -> None:
    """Refuse, before any grid is built, a ``dt`` so small that the uniform sub-steps between
    the output times ``ts`` (:func:`revsde.grid.step_grid`) would exceed ``limit`` steps."""
    if dt is None:
        return
    n = sum(max(1.0, abs(b - a) / dt) for a, b in zip(ts[:-1], ts[1:]))
    if n > limit:
        span = sum(abs(b - a) for a, b in zip(ts[:-1], ts[1:]))
        check_step_count(n, limit, what=f"dt={dt:g} over ts[0]={ts[0]:g} .. ts[-1]={ts[-1]:g}",
                         fix=f"use a larger dt (at least {span / limit:.3g} here), or dt=None "
                         "to step between the output times only")
