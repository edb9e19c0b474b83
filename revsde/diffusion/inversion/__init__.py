"""Exact inversion: ``encode``, ``decode``, ``sample`` (:mod:`.encode`) and the
``Latents`` they exchange (:mod:`.latents`)."""

from .encode import decode, decode_state, encode, exact_quantum, model_fingerprint, sample
from .latents import Latents, LatentsFileError, tensor_fingerprint

__all__ = [
    "encode",
    "decode",
    "decode_state",
    "sample",
    "exact_quantum",
    "model_fingerprint",
    "Latents",
    "LatentsFileError",
    "tensor_fingerprint",
]
