"""Is the network the same function at encode and at decode?  The attention backends.

An exact inverse evaluates the network again on the very inputs the forward pass gave
it (the compensated state rebuilds them bit for bit, docs/mathematics.md §4.6), so the
round trip is exact as long as the network returns the same bits for the same input.
revsde makes the two calls alike: the same batch layout (classifier-free guidance is
one call on ``[uncond; cond]`` both ways), shapes, dtype, device and weights (the
latents record the weights' fingerprint and the network dtype).  What is left is the
kernels:

* PyTorch's own attention (``scaled_dot_product_attention``, diffusers' default
  processors and its ``native``/``_native_*`` and ``flex`` backends) and the
  FlashAttention backends compute the forward pass without atomics: the same input
  gives the same output on the same device;
* xFormers, SageAttention (int8/fp8 quantised), NPU/XLA and hub kernels do not promise
  it: :func:`check_attention` warns (set the default processor back with
  ``pipe.transformer.set_default_attn_processor()`` or ``set_attention_backend("native")``);
* on CUDA, cuDNN and cuBLAS may pick other algorithms between calls unless
  ``torch.use_deterministic_algorithms(True)`` (with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``)
  and ``torch.backends.cudnn.benchmark = False``: :func:`check_attention` warns when a
  CUDA model runs without them.

``encode(..., verify=True)`` measures the round trip whatever the backend.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["DETERMINISTIC_BACKENDS", "attention_backends", "check_attention"]

#: diffusers' attention backends whose forward pass is deterministic (no atomics)
DETERMINISTIC_BACKENDS = ("native", "_native_math", "_native_efficient", "_native_flash",
                          "_native_cudnn", "flex", "flash", "flash_hub", "flash_varlen",
                          "flash_varlen_hub", "_flash_3", "_flash_varlen_3", "_flash_3_hub",
                          "_flash_3_varlen_hub")
_UNSAFE_PROCESSORS = ("XFormers", "Sage", "NPU", "XLA", "Fused")


def _active_backend() -> str | None:
    """diffusers' global attention backend name (``None`` on versions without one)."""
    try:
        from diffusers.models.attention_dispatch import _AttentionBackendRegistry
    except ImportError:
        return None
    try:
        backend = _AttentionBackendRegistry.get_active_backend()[0]
    except (AttributeError, KeyError, TypeError):
        return None
    return str(getattr(backend, "value", backend))


def attention_backends(module) -> dict[str, str]:
    """``{processor class or backend: reason}`` of the attention in ``module`` that does not
    promise the same output for the same input (empty: all deterministic)."""
    found: dict[str, str] = {}
    if not isinstance(module, torch.nn.Module):
        return found
    default = _active_backend()
    for sub in module.modules():
        processor = getattr(sub, "processor", None)
        if processor is None:
            continue
        name = type(processor).__name__
        if any(u in name for u in _UNSAFE_PROCESSORS):
            found[name] = "its kernels do not promise the same result for the same input"
        backend = getattr(processor, "_attention_backend", None)
        backend = default if backend is None else str(getattr(backend, "value", backend))
        if backend is not None and backend not in DETERMINISTIC_BACKENDS:
            found[f"attention backend {backend!r}"] = "not known to be deterministic"
    return found


def _cuda_unpinned(module) -> bool:
    on_cuda = any(p.device.type == "cuda" for p in module.parameters())
    return on_cuda and not (torch.are_deterministic_algorithms_enabled()
                            and not torch.backends.cudnn.benchmark)


def check_attention(module, *, stacklevel: int = 3) -> list[str]:
    """Warn (and return the reasons) when ``module``'s attention or CUDA kernels may give
    other bits at decode than at encode (module docstring); ``[]`` when none."""
    if not isinstance(module, torch.nn.Module):
        return []
    reasons = [f"{k}: {v}" for k, v in attention_backends(module).items()]
    if _cuda_unpinned(module):
        reasons.append("CUDA without torch.use_deterministic_algorithms(True) (and "
                       "CUBLAS_WORKSPACE_CONFIG=:4096:8, cudnn.benchmark=False)")
    if reasons:
        warnings.warn(
            f"{type(module).__name__} may not return the same bits at decode as at encode ("
            f"{'; '.join(reasons)}): the round trip may then not be exact; use diffusers' "
            "default attention (set_default_attn_processor() or set_attention_backend("
            "'native')) and deterministic algorithms, and check with encode(verify=True)",
            RuntimeWarning, stacklevel=stacklevel)
    return reasons
