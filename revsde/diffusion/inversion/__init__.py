"""Exact inversion: ``encode``, ``decode``, ``sample`` (:mod:`.encode`), the
``Latents`` they exchange (:mod:`.latents`) and the fidelity of a latent against a
converged encoding (:mod:`.fidelity`)."""

from . import fidelity
from .encode import decode, decode_state, encode, exact_quantum, model_fingerprint, sample
from .latents import Latents, LatentsFileError, tensor_fingerprint

__all__ = [
    "fidelity",
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
