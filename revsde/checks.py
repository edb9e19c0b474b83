"""Input validation with errors that say what to change (never ``assert``)."""

from __future__ import annotations

import math

import torch


def check_y(y0, name="y0") -> torch.Tensor:
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


def check_ts(ts, ref: torch.Tensor) -> list[float]:
    """Validate output times; return them as python floats (in float64)."""
    if not torch.is_tensor(ts):
        ts = torch.as_tensor(ts, dtype=ref.dtype, device=ref.device)
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(
            f"ts must be a 1-D tensor of at least two times; got shape {tuple(ts.shape)}"
        )
    if not ts.is_floating_point():
        raise TypeError(f"ts must be floating point; got {ts.dtype}. Use ts.to(y0.dtype).")
    if ts.dtype != ref.dtype:
        raise TypeError(
            f"ts has dtype {ts.dtype} but y0 has {ref.dtype}; use ts.to(y0.dtype)"
        )
    if ts.device != ref.device:
        raise ValueError(
            f"ts is on {ts.device} but y0 is on {ref.device}; use ts.to(y0.device)"
        )
    vals = ts.detach().cpu().tolist()
    if not all(math.isfinite(v) for v in vals):
        raise ValueError("ts contains NaN or inf; every time must be finite")
    diffs = [b - a for a, b in zip(vals[:-1], vals[1:])]
    if any(d == 0 for d in diffs):
        i = next(k for k, d in enumerate(diffs) if d == 0)
        raise ValueError(f"ts has a duplicate time {vals[i]} at positions {i} and {i + 1}")
    if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        i = next(k for k in range(1, len(diffs)) if (diffs[k] > 0) != (diffs[0] > 0))
        raise ValueError(
            f"ts must be strictly monotone (all increasing or all decreasing); it turns "
            f"at position {i + 1} (ts[{i}]={vals[i]}, ts[{i + 1}]={vals[i + 1]}, "
            f"ts[{i + 2}]={vals[i + 2]})"
        )
    return vals


def check_dt(dt):
    if dt is None:
        return None
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise TypeError(f"dt must be a positive number or None; got {dt!r}") from None
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be positive and finite; got {dt}")
    return dt


def check_bm(bm, size, ref: torch.Tensor, lo: float, hi: float, levy_area: bool):
    """Check a user's Brownian motion against the solve."""
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
