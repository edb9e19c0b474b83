"""Classifier-free guidance as a model: ``classifier_free(model, scale) -> DiffusionModel``.

Classifier-free guidance (Ho & Salimans 2022) replaces the network's output by
``u + s·(c - u)``, with ``c`` the output under the conditioning and ``u`` the output
under the unconditional inputs (by default none: the network called without its
conditioning keywords; the shipped ``digits-unet`` then sees no label, as for the 20 %
of its training batches whose label was dropped).  The combination is linear in the
raw output, so it holds for every prediction type (the conversions of
docs/mathematics.md §4.1 are affine in the output at fixed ``x`` and ``t``).

The guided model is a deterministic function of ``(x, t, cond)``, so a reversible
sampler inverts it exactly: :func:`revsde.diffusion.encode` and
:func:`~revsde.diffusion.decode` with the *same* guided model (same scale, same
unconditional inputs) make an exact round trip.  Its :meth:`fingerprint` mixes the
scale and the unconditional inputs into the weights' SHA-256, so latents encoded with
guidance are refused by a decode without it (or with another scale).
"""

from __future__ import annotations

import hashlib
import math

import torch

from .inversion.latents import tensor_fingerprint
from .models import DiffusionModel

__all__ = ["classifier_free", "GuidedNet", "GuidanceError"]


class GuidanceError(ValueError):
    """Bad input to :func:`classifier_free` (a ``ValueError``)."""


class GuidedNet(torch.nn.Module):
    """``net(x, t, **cond)`` with classifier-free guidance: ``u + s·(c - u)``.

    ``c = net(x, t, **cond)`` and ``u = net(x, t, **uncond)``; a call with no
    conditioning returns ``u`` (there is nothing to guide towards).
    """

    def __init__(self, net, scale: float, uncond: dict) -> None:
        super().__init__()
        self.net = net
        self.scale = float(scale)
        self.uncond = dict(uncond)

    def forward(self, x: torch.Tensor, t: torch.Tensor, **cond) -> torch.Tensor:
        u = self.net(x, t, **self.uncond)
        if not cond:
            return u
        c = self.net(x, t, **cond)
        return u + self.scale * (c - u)


class GuidedModel(DiffusionModel):
    """A :class:`DiffusionModel` whose network is a :class:`GuidedNet` (see the module
    docstring); it keeps the wrapped model's schedule, prediction and declared shape."""

    net: GuidedNet

    def fingerprint(self) -> str | None:
        """The weights' SHA-256 mixed with the guidance scale and unconditional inputs."""
        base = super().fingerprint()
        if base is None:
            return None
        h = hashlib.sha256(base.encode())
        h.update(f";cfg scale={self.net.scale!r};".encode())
        h.update(str(tensor_fingerprint(self.net.uncond) if self.net.uncond else "").encode())
        return h.hexdigest()


def classifier_free(model: DiffusionModel, scale: float, uncond: dict | None = None
                    ) -> DiffusionModel:
    """``model`` with classifier-free guidance of ``scale`` (``u + scale·(c - u)``).

    Args:
        model: a :class:`DiffusionModel` trained with conditioning dropout (the shipped
            ``digits-unet`` is: 20 % of its labels were dropped).
        scale: the guidance scale, a finite number >= 0; 1 is the conditional model
            itself (returned unchanged), 0 the unconditional one.
        uncond: the network's keyword inputs of the unconditional half, shared by every
            sample (default: none, the network called without conditioning).

    Each evaluation of the guided model costs two network calls (one when called
    without conditioning).  Use the same guided model to encode and to decode: the
    round trip is then exact, as for any deterministic model.
    """
    if not isinstance(model, DiffusionModel):
        raise GuidanceError(f"classifier_free needs a revsde.diffusion.DiffusionModel; got "
                            f"{type(model).__name__}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
            math.isfinite(scale) and scale >= 0):
        raise GuidanceError(f"the guidance scale must be a finite number >= 0 (1: no "
                            f"guidance); got {scale!r}")
    if uncond is not None and not isinstance(uncond, dict):
        raise GuidanceError(f"uncond must be a dict of the network's keyword inputs (or None "
                            f"for none); got {type(uncond).__name__}")
    if float(scale) == 1.0:  # u + (c - u) = c
        return model
    guided = GuidedModel(GuidedNet(model.net, float(scale), uncond or {}), model.schedule,
                         model.prediction)
    guided.net_dtype = model.net_dtype
    for name in ("image_shape", "channels", "data_range", "pretrained_name"):
        if hasattr(model, name):
            setattr(guided, name, getattr(model, name))
    return guided
