"""Exact inversion: ``encode``, ``decode``, ``sample`` (:mod:`.encode`), ``edit`` and
``regenerate`` (:mod:`.edit`), the ``Latents`` they exchange (:mod:`.latents`) and the
fidelity of a latent against a converged encoding (:mod:`.fidelity`)."""

from . import fidelity
from .edit import EditError, EditResult, edit, regenerate
from .encode import decode, decode_state, encode, exact_quantum, model_fingerprint, sample
from .latents import Latents, LatentsFileError, tensor_fingerprint

__all__ = [
    "fidelity",
    "encode",
    "decode",
    "decode_state",
    "sample",
    "edit",
    "regenerate",
    "EditResult",
    "EditError",
    "exact_quantum",
    "model_fingerprint",
    "Latents",
    "LatentsFileError",
    "tensor_fingerprint",
]
