"""Conditioning inputs of a diffusers network, and classifier-free guidance batching.

The conditioning of a call is a dict of the network's keyword inputs
(``encoder_hidden_states``, ``class_labels``, ``added_cond_kwargs``, ...).  Tensors
are per sample: a leading dimension of ``batch`` or 1 (broadcast to ``batch``).
Nested dicts (``added_cond_kwargs``) follow the same rule; anything else (numbers,
``cross_attention_kwargs``) is passed unchanged.

Classifier-free guidance (Ho & Salimans 2022) evaluates the network once on the
batch ``[uncond; cond]`` and returns ``uncond + s·(cond - uncond)``.  A key missing
from the unconditional inputs is shared by both halves (e.g. SDXL's ``time_ids``).
"""

from __future__ import annotations

import torch

from .errors import DiffusersAdapterError

__all__ = ["broadcast_inputs", "guidance_batch", "guided"]


def _broadcast(v, batch: int, name: str):
    if torch.is_tensor(v):
        if v.dim() == 0:
            return v
        if v.shape[0] == batch:
            return v
        if v.shape[0] == 1:
            return v.expand((batch,) + tuple(v.shape[1:]))
        raise DiffusersAdapterError(
            f"conditioning input {name!r} has batch {v.shape[0]} but x has batch {batch}; give "
            f"it a leading dimension of {batch} or 1")
    if isinstance(v, dict):
        return {k: _broadcast(w, batch, f"{name}.{k}") for k, w in v.items()}
    return v


def broadcast_inputs(cond: dict, batch: int) -> dict:
    """``cond`` with every per-sample tensor broadcast to ``batch`` (leading dim 1 or batch)."""
    return {k: _broadcast(v, batch, k) for k, v in cond.items()}


def _pair(u, c, name: str):
    if torch.is_tensor(c) and c.dim() > 0:
        if not torch.is_tensor(u) or tuple(u.shape) != tuple(c.shape):
            raise DiffusersAdapterError(
                f"the unconditional input {name!r} must be a tensor of the conditional one's "
                f"shape {tuple(c.shape)} (after broadcasting to the batch); got "
                f"{tuple(u.shape) if torch.is_tensor(u) else type(u).__name__}")
        return torch.cat([u, c], 0)
    if isinstance(c, dict):
        if not isinstance(u, dict):
            raise DiffusersAdapterError(f"the unconditional input {name!r} must be a dict like "
                                        "the conditional one")
        return {k: _pair(u.get(k, c[k]), c[k], f"{name}.{k}") for k in c}
    if u is not c and not (torch.is_tensor(c) and torch.equal(u, c)) and u != c:
        raise DiffusersAdapterError(
            f"input {name!r} is not per sample ({type(c).__name__}), so the conditional and "
            "unconditional halves must share it; give it once, in cond only")
    return c


def guidance_batch(x: torch.Tensor, t: torch.Tensor, cond: dict, uncond: dict):
    """``(x2, t2, inputs2)``: the batch ``[uncond; cond]`` for one network call.

    ``cond`` and ``uncond`` are already broadcast to ``x``'s batch; keys only in
    ``cond`` are shared; keys only in ``uncond`` are an error.
    """
    extra = sorted(set(uncond) - set(cond))
    if extra:
        raise DiffusersAdapterError(
            f"unconditional inputs {extra} have no conditional counterpart; pass the same keys "
            "in cond (the unconditional ones replace them in the unconditional half)")
    inputs = {k: _pair(uncond.get(k, v), v, k) for k, v in cond.items()}
    return torch.cat([x, x], 0), torch.cat([t, t], 0), inputs


def guided(out: torch.Tensor, scale) -> torch.Tensor:
    """``uncond + s·(cond - uncond)`` from the output of the ``[uncond; cond]`` batch."""
    u, c = out.chunk(2, dim=0)
    return u + scale * (c - u)
