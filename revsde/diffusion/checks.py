"""The input checks of the diffusion layer, in one place: grids, models, tensors, seeds.

Every sampler, baseline and the inversion API validate their inputs here, so
that one mistake gets one message everywhere (house style: say what to change).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ..checks import check_flag, check_int, check_real, check_step_count
from .models import DiffusionModel
from .schedules import GRID_KINDS, time_grid

__all__ = ["check_model", "check_grid", "check_steps", "grid_for", "check_tensor",
           "check_seed", "check_seed_or_none", "draw_seed", "check_data", "check_channels",
           "check_data_tensor", "check_shape", "check_cond", "cond_names",
           "check_encode_options", "check_loss_uses", "check_gradient_call", "check_save_path",
           "check_float_dtype", "MAX_ELEMENTS", "Picture"]

#: Seeds are non-negative integers below this bound (torch generators take 64 bits).
SEED_BOUND = 2**63
#: The most entries one sample/encode call takes (2**31: 16 GiB for one float64 copy of the
#: state, and a solve keeps several): a larger batch is refused before anything is allocated.
MAX_ELEMENTS = 2**31


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
    """``steps`` as an int if it is a positive integer (numpy integers too, as
    :func:`revsde.sdeint` takes them; never a bool or a float) within the core's step
    limit (:data:`revsde.checks.MAX_STEPS`: its grid is built before the first step)."""
    n = check_int(steps, "steps", "a positive integer (a number of solver steps)")
    if n < 1:
        raise ValueError(f"steps must be a positive integer (a number of solver steps); got {n}")
    return check_step_count(n, what=f"steps={n:,}", fix="take fewer steps")


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


def check_data_tensor(x: object, name: str) -> torch.Tensor:
    """``x`` if it is a real, non-empty tensor of shape (batch, ...) with a data dimension.

    Checked before any conversion, so that a complex tensor is refused rather than cast
    (which would drop its imaginary part), and an empty batch or a zero-size dimension is
    refused here rather than by a reduction deep inside.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, ...); got "
                        f"{type(x).__name__}")
    if x.dtype.is_complex:
        raise TypeError(f"{name} is complex ({x.dtype}); the model takes real data: pass "
                        f"{name}.real (or {name}.abs()) if that is what you mean")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point (float32/float64); got {x.dtype}. "
                        f"Convert it with {name}.float() (a [0, 255] picture: "
                        f"{name}.float() / 127.5 - 1)")
    if x.dim() < 2:
        raise ValueError(f"{name} needs shape (batch, ...) with at least one data dimension; "
                         f"got shape {tuple(x.shape)}. Use {name}[None] for one sample.")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): every dimension, the "
                         "batch included, needs at least one entry")
    return x


def check_shape(shape: object, name: str = "x_T") -> tuple[int, ...]:
    """A sample shape ``(batch, ...)``: at least two positive integers, at most
    :data:`MAX_ELEMENTS` entries in all."""
    if not isinstance(shape, Iterable):
        raise TypeError(f"{name} must be a tensor or a shape such as (batch, C, H, W); got "
                        f"{type(shape).__name__}")
    try:
        dims: tuple[object, ...] = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tensor or a shape such as (batch, C, H, W); got "
                        f"{type(shape).__name__}") from None
    out = tuple(check_int(d, f"{name}'s shape", "a tuple of positive integers") for d in dims)
    if len(out) < 2 or any(d < 1 for d in out):
        raise ValueError(f"{name} as a shape must be (batch, ...) with at least two dimensions, "
                         f"each at least 1; got {out}")
    n = math.prod(out)
    if n > MAX_ELEMENTS:
        raise ValueError(f"the shape {out} has {n:,} entries, more than the limit of "
                         f"{MAX_ELEMENTS:,} (one float64 copy alone would take "
                         f"{8 * n / 2**30:,.0f} GiB); sample a smaller batch at a time")
    return out


def check_channels(model: DiffusionModel, x: torch.Tensor, name: str = "x0") -> torch.Tensor:
    """``x`` if its channel count (dimension 1) is the one ``model`` declares (if any)."""
    channels = getattr(model, "channels", None)
    if channels is not None and (x.dim() < 2 or x.shape[1] != channels):
        got = x.shape[1] if x.dim() >= 2 else "none"
        raise ValueError(
            f"{name} has {got} channel(s) (shape {tuple(x.shape)}) but the model takes "
            f"{channels}: pass a (batch, {channels}, H, W) tensor"
            + (" (repeat a gray picture 3 times along dim 1, or load it with "
               "revsde.app.images.load_picture)" if channels == 3 and name == "x0" else "")
        )
    return x


def _net_signature(net: object) -> inspect.Signature | None:
    fn = net.forward if isinstance(net, torch.nn.Module) else net
    if not callable(fn):
        return None
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or an extension: no signature to read
        return None


def cond_names(model: DiffusionModel) -> frozenset[str] | None:
    """The conditioning keywords the model's network takes, read from its signature
    ``net(x, t, ...)``; ``None`` when it takes any (``**cond``).

    A network may declare them itself with a ``cond_keys`` attribute.  A wrapper whose
    ``forward(x, t, **cond)`` passes them on to an inner ``.net`` (``VToEps``) is
    looked through.
    """
    net: object = model.net
    for _ in range(8):  # wrappers inside wrappers; a cycle ends here
        declared = getattr(net, "cond_keys", None)
        if declared is not None:
            return frozenset(declared)
        sig = _net_signature(net)
        if sig is None:
            return None
        params = list(sig.parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            inner = getattr(net, "net", None)
            if isinstance(inner, torch.nn.Module) or (callable(inner) and inner is not net):
                net = inner
                continue
            return None
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                      p.POSITIONAL_OR_KEYWORD)]
        keywords = positional[2:] + [p for p in params if p.kind is p.KEYWORD_ONLY]
        return frozenset(p.name for p in keywords if p.kind is not p.POSITIONAL_ONLY)
    return None


def check_cond(model: DiffusionModel, cond: object) -> dict | None:
    """``cond`` if it is ``None`` or a dict of keyword arguments the model's network takes."""
    if cond is None:
        return None
    if not isinstance(cond, dict):
        raise TypeError(
            "cond must be a dict of the network's keyword arguments, e.g. "
            f"cond={{'label': onehot}}; got {type(cond).__name__}"
        )
    bad = [k for k in cond if not isinstance(k, str)]
    if bad:
        raise TypeError(f"cond's keys must be the names of the network's keyword arguments "
                        f"(strings); got {bad[0]!r}")
    names = cond_names(model)
    if names is not None:
        unknown = sorted(k for k in cond if k not in names)
        if unknown and not names:
            raise ValueError(
                f"this model is unconditional (its network takes no keyword argument), but "
                f"cond= gives {unknown}; leave cond out")
        if unknown:
            raise ValueError(f"the model's network takes no keyword argument {unknown[0]!r}; "
                             f"its conditioning keywords are {sorted(names)}")
    return cond


def check_encode_options(*, exact: object, verify: object, check_range: object,
                         data_range: object) -> float:
    """The yes/no options of ``encode`` (``True``/``False`` only) and its ``data_range``
    (a positive, finite bound on ``|x0|``), returned as a float."""
    check_flag(exact, "exact")
    check_flag(verify, "verify")
    check_flag(check_range, "check_range")
    r = check_real(data_range, "data_range", "a positive number (a bound on |x0|)")
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(f"data_range must be a positive, finite bound on |x0| (1 for data in "
                         f"[-1, 1]); got {r}")
    return r


def check_loss_uses(loss: torch.Tensor, x0: torch.Tensor) -> bool:
    """Whether ``loss``'s autograd graph reaches ``x0`` (the sample ``loss_fn`` was given).

    A walk of the loss's own graph, stopping at ``x0`` (a leaf: its ``AccumulateGrad``
    node; else its ``grad_fn``): it visits what the loss function built, not the
    sampler's graph behind ``x0``.
    """
    if loss is x0:
        return True
    target = x0.grad_fn
    todo = [loss.grad_fn]
    seen: list[object] = []
    while todo:
        node = todo.pop()
        if node is None or any(node is s for s in seen):
            continue
        if (node is target) if target is not None else (
                getattr(node, "variable", None) is x0):
            return True
        seen.append(node)
        todo.extend(n for n, _ in node.next_functions)
    return False


def check_gradient_call(model: DiffusionModel, x_T: object, cond: object, steps: object,
                        error: Callable[[str], Exception]) -> int:
    """The checks of :func:`revsde.diffusion.gradient` that its sampler would otherwise
    meet as raw errors: ``steps`` (returned as an int), ``x_T``'s channels, ``cond``.
    Each refusal is raised as ``error`` (the gradient API's ``GradientError``)."""
    try:
        n = check_steps(steps)
        if torch.is_tensor(x_T):
            check_data_tensor(x_T, "x_T")
            check_channels(model, x_T, "x_T")
        check_cond(model, cond)
    except (TypeError, ValueError) as e:
        raise error(str(e)) from None
    return n


def check_save_path(path: object, what: str = "latents") -> str:
    """``path`` as a string if a file can be written there: a path (str or PathLike), not a
    folder, in a folder that exists."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the path to save the {what} to must be a str or a pathlib.Path; got "
                        f"{type(path).__name__}")
    p = Path(os.fspath(path))
    if p.is_dir():
        raise IsADirectoryError(f"{str(p)!r} is a folder; save the {what} to a file in it, e.g. "
                                f"{str(p / (what + '.pt'))!r}")
    parent = p.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot save the {what} to {str(p)!r}: the folder "
                                f"{str(parent)!r} does not exist; create it first "
                                f"(os.makedirs({str(parent)!r}, exist_ok=True))")
    return str(p)


def check_float_dtype(dtype: object, name: str = "dtype") -> torch.dtype | None:
    """``dtype`` if it is ``None`` or a floating ``torch.dtype``."""
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{name} must be a floating torch.dtype (torch.float32 or "
                        f"torch.float64) or None; got {dtype!r}")
    return dtype


def check_seed(seed: object) -> int:
    """``seed`` if it is a non-negative integer below 2**63."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_BOUND:
        raise TypeError(f"seed must be a non-negative integer (< 2**63); got {seed!r}")
    return seed


def check_seed_or_none(seed: object) -> int | None:
    """``seed`` if it is ``None`` or a valid seed (checked even where a deterministic
    sampler does not use it: a wrong seed is a mistake whichever sampler runs)."""
    return None if seed is None else check_seed(seed)


def draw_seed(seed: int | None = None) -> int:
    """``seed`` checked, or a fresh one from torch's global generator when ``None``."""
    if seed is None:
        return int(torch.randint(0, 2**31 - 1, ()).item())
    return check_seed(seed)


class Picture(torch.Tensor):
    """A picture read from its file: a tensor in [-1, 1] whose type says how it was mapped.

    :func:`revsde.app.images.load_picture` returns one.  Its values come from the file's
    bit depth (an 8-bit pixel ``v`` is ``v/127.5 - 1``), so a bright picture (snow, a
    scanned page: every pixel >= 128) has no negative value and is still right: the
    range check (:func:`check_data`) takes the type's :attr:`data_range` instead of
    guessing from the values.  Only the object ``load_picture`` returned carries it: the
    result of any operation on it (``x * 2``, ``x[:, :1]``, ``torch.cat``, a ``.to`` that
    converts) is a plain tensor, checked as any other data, so a picture that was changed
    afterwards is never vouched for by how it was read.  (In-place edits keep the type:
    ``x.mul_(0.5)`` is the caller's own statement about the range.)
    """

    #: the range the file's values were mapped into (what the shipped models take)
    data_range = (-1.0, 1.0)
    # operations return plain tensors (the type describes this object only)
    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]


def check_data(model: DiffusionModel, x: torch.Tensor, name: str = "x0", *,
               read_range: tuple[float, float] | None = None) -> torch.Tensor:
    """``x`` if it fits what ``model`` declares it takes, else a ValueError saying what to pass.

    A model may declare ``channels`` (an int: the size of dimension 1) and
    ``data_range`` (``(lo, hi)``, e.g. ``(-1, 1)``), as the shipped models do.
    Refused: another channel count; values outside the range (pictures in
    [0, 255]); data read from a file into another range than the model's
    (``read_range``, or a :class:`Picture`'s); and, for data whose reading is not
    known and a range symmetric about 0, data with no negative value at all, which
    is what pictures in [0, 1] look like (pass ``check_range=False`` to the caller to
    skip this one guess, or read the picture with ``load_picture``, whose bit-depth
    mapping is taken instead of the guess).
    """
    check_channels(model, x, name)
    if read_range is None and isinstance(x, Picture):
        read_range = Picture.data_range
    rng = getattr(model, "data_range", None)
    if rng is None or x.numel() == 0:
        return x
    lo, hi = float(rng[0]), float(rng[1])
    xmin, xmax = float(x.min()), float(x.max())
    tol = 1e-6 * (hi - lo)
    scale = ("map a [0, 255] picture with x/127.5 - 1 and a [0, 1] one with 2x - 1"
             if (lo, hi) == (-1.0, 1.0) else f"rescale it to [{lo:g}, {hi:g}]")
    if read_range is not None and (float(read_range[0]), float(read_range[1])) != (lo, hi):
        raise ValueError(
            f"{name} was read from its file into [{read_range[0]:g}, {read_range[1]:g}], but "
            f"the model takes [{lo:g}, {hi:g}]: rescale it to [{lo:g}, {hi:g}]"
        )
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(
            f"{name} has values in [{xmin:.4g}, {xmax:.4g}], outside the model's data range "
            f"[{lo:g}, {hi:g}]: {scale}"
        )
    if read_range is None and lo < 0.0 < hi and lo == -hi and xmin >= 0.0 and x.numel() > 1:
        raise ValueError(
            f"{name} has no negative value (range [{xmin:.4g}, {xmax:.4g}]), as pictures in "
            f"[0, 1] do, but the model takes [{lo:g}, {hi:g}]: {scale}; if this really is "
            "your data (a bright picture), read it with revsde.app.images.load_picture, "
            "which maps it by its file's bit depth, or pass check_range=False"
        )
    return x
