"""Exact inversion: ``encode``, ``decode``, ``sample`` (:mod:`.encode`), ``edit`` and
``regenerate`` (:mod:`.edit`) and the ``Latents`` they exchange (:mod:`.latents`)."""

from .edit import EditError, EditResult, edit, regenerate
from .encode import decode, decode_state, encode, exact_quantum, model_fingerprint, sample
from .latents import Latents, LatentsFileError, tensor_fingerprint

__all__ = [
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
