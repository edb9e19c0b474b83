"""Batch-invariant, reproducible network evaluation for ``encode`` / ``decode``.

A network's output bits for one sample depend on the batch around it (a batch of 8
and a batch of 1 take other kernels and other summation orders), on the number of
intra-op threads and, on a GPU, on the kernels chosen; the SDE samplers amplify a
last-bit difference about a thousand times.  In the reproducible mode
(:data:`REPRODUCIBLE`, the default of :func:`~revsde.diffusion.encode`):

* the network is evaluated in fixed micro-batches (of one sample by default), so
  a sample's network inputs and outputs are the bits it would have alone (a model
  without weights, an oracle, is evaluated whole: :func:`for_model`);
* the intra-op thread count is fixed for the call (one by default: scale with
  processes, ``torchrun``, rather than threads), and restored afterwards;
* deterministic kernels are asked for (``torch.use_deterministic_algorithms``,
  cuDNN's deterministic flag and no cuDNN benchmarking), restored afterwards.

Together with per-sample noise keys (:class:`revsde.brownian.Seeds`), a sample's
latent is then a function of the sample, its key and seed, the model, and the
:func:`fingerprint` of the run: the torch version, the device kind, the CPU's
vector instruction set, the dtypes and the mode.  What the mode cannot promise
(another torch version, another device kind or CPU instruction set) is recorded in
the latents, and a decode under another fingerprint warns with the expected size of
the error (:func:`mismatch`).

The thread count and the deterministic flags are process-wide torch settings: they
are changed for the duration of the call and restored, so do not encode from two
threads of one process at once in this mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..models import DiffusionModel

__all__ = ["Evaluation", "REPRODUCIBLE", "BATCHED", "evaluation_of", "for_model", "fingerprint",
           "mismatch", "evaluating", "evaluated", "MicroBatched", "EXPECTED_ERROR"]

#: Max abs round-trip error measured when the network's last bits differ between encode
#: and decode (shipped model, 40x40 pictures, 10 steps; docs/howto-invert.md): ODE
#: samplers ~1e-6, SDE samplers ~1e-3 (the lifted SDE amplifies round-off ~1000x).
EXPECTED_ERROR = {"ode": 1e-6, "sde": 1e-3}


@dataclass(frozen=True)
class Evaluation:
    """How the network is run during a solve.

    Attributes:
        micro_batch: samples per network call (``None``: the whole batch at once).
        threads: intra-op threads during the call (``None``: torch's current count,
            unchanged).
        deterministic: ask torch for deterministic kernels during the call.
    """

    micro_batch: int | None = 1
    threads: int | None = 1
    deterministic: bool = True

    def __post_init__(self) -> None:
        for name in ("micro_batch", "threads"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer or None; got {v!r}")
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"deterministic must be True or False; got {self.deterministic!r}")

    @property
    def name(self) -> str:
        """``"reproducible"`` (fixed micro-batch and threads), ``"batched"`` (neither) or
        ``"custom"``."""
        if self.micro_batch is not None and self.threads is not None:
            return "reproducible"
        if self.micro_batch is None and self.threads is None and not self.deterministic:
            return "batched"
        return "custom"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.name, "micro_batch": self.micro_batch, "threads": self.threads,
                "deterministic": self.deterministic}

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        """The mode a fingerprint records (a batched run: batched, whatever its threads)."""
        if d.get("mode") == "batched":
            return BATCHED
        return cls(d.get("micro_batch"), d.get("threads"), bool(d.get("deterministic")))


#: the default of encode: one sample per network call, one intra-op thread, deterministic
REPRODUCIBLE = Evaluation(1, 1, True)
#: the whole batch per call, torch's thread count: faster, but a sample's bits depend on
#: its batch and on the thread count
BATCHED = Evaluation(None, None, False)


def evaluation_of(mode: bool | Evaluation | None) -> Evaluation:
    """``True``/``None``: :data:`REPRODUCIBLE`; ``False``: :data:`BATCHED`; an
    :class:`Evaluation` as it is."""
    if mode is None or mode is True:
        return REPRODUCIBLE
    if mode is False:
        return BATCHED
    if isinstance(mode, Evaluation):
        return mode
    raise TypeError(f"reproducible must be True, False or an Evaluation(micro_batch=, "
                    f"threads=, deterministic=); got {mode!r}")


def _device_kind(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def fingerprint(model: DiffusionModel, like: torch.Tensor, mode: Evaluation) -> dict[str, Any]:
    """What a sample's latent depends on besides the sample, its key, the seed and the
    model: torch's version, the device kind, the CPU's vector instruction set, the state
    and network dtypes, and the evaluation mode (with its thread count)."""
    net = getattr(model, "network_dtype", None)
    out: dict[str, Any] = {
        "torch": torch.__version__,
        "device": _device_kind(like.device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "state_dtype": str(like.dtype).replace("torch.", ""),
        "network_dtype": None if net is None else str(net).replace("torch.", ""),
    }
    out.update(mode.to_dict())
    if mode.threads is None:
        out["threads"] = torch.get_num_threads()
    return out


def mismatch(stored: dict, here: dict, stochastic: bool) -> str | None:
    """A warning text when a decode runs under another fingerprint than the encode's
    (``None`` when they agree), with the expected size of the error."""
    keys = [k for k in ("torch", "device", "cpu_capability", "network_dtype", "mode",
                        "micro_batch", "threads", "deterministic")
            if k in stored and stored.get(k) != here.get(k)]
    if not keys:
        return None
    what = ", ".join(f"{k} {stored.get(k)!r} -> {here.get(k)!r}" for k in keys)
    err = EXPECTED_ERROR["sde" if stochastic else "ode"]
    return (f"these latents were encoded under another run fingerprint ({what}): the "
            f"network's last bits may differ, so the decode is no longer bit-exact; expect a "
            f"round-trip error of about {err:g} (max abs, data in [-1, 1]; "
            f"{'SDE samplers amplify round-off about 1000x' if stochastic else 'ODE sampler'})."
            " Decode where they were encoded (same torch, device kind, CPU and mode) to get "
            "them back bit for bit")


@contextlib.contextmanager
def evaluating(mode: Evaluation) -> Iterator[None]:
    """Run the block with ``mode``'s thread count and deterministic kernels, restoring
    torch's settings afterwards."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if mode.threads is not None and mode.threads != threads:
            torch.set_num_threads(mode.threads)
        if mode.deterministic:
            if not det:
                # warn_only: an operation without a deterministic kernel warns, not fails
                torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if (torch.are_deterministic_algorithms_enabled() != det
                or torch.is_deterministic_algorithms_warn_only_enabled() != warn_only):
            torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _slice_cond(cond: dict, n: int, a: int, b: int) -> dict:
    """The conditioning of samples ``a:b`` of a batch of ``n``: tensors whose first
    dimension is the batch are sliced, everything else is passed whole."""
    def cut(v: Any) -> Any:
        if torch.is_tensor(v):
            return v[a:b] if v.dim() and v.shape[0] == n else v
        if isinstance(v, dict):
            return {k: cut(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(cut(w) for w in v)
        return v

    return {k: cut(v) for k, v in cond.items()}


def _chunked(call: Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor],
             size: int) -> Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]:
    def run(x: torch.Tensor, tb: torch.Tensor, cond: dict) -> torch.Tensor:
        n = x.shape[0]
        if n <= size:  # the very call a batch of this size makes alone
            return call(x, tb, cond)
        # each micro-batch copied out: its own, aligned, contiguous memory, as alone
        outs = [call(x[a:a + size].clone(), tb[a:a + size].clone(),
                     _slice_cond(cond, n, a, a + size)) for a in range(0, n, size)]
        return torch.cat(outs)

    return run


class MicroBatched(DiffusionModel):
    """``model`` with its network evaluated ``size`` samples at a time.

    The same schedule, prediction, conversions, weights and fingerprint; only the
    network calls are split (for a solve, :meth:`net_for_solve`; for the baselines'
    direct calls, :meth:`_net`).
    """

    def __init__(self, model: DiffusionModel, size: int) -> None:
        super().__init__(model.net, model.schedule, model.prediction)
        self.inner = model
        self.micro_batch = size

    @property
    def network_dtype(self) -> torch.dtype | None:
        return self.inner.network_dtype

    def fingerprint(self) -> str | None:
        return self.inner.fingerprint()

    def convert(self, x: torch.Tensor, out: torch.Tensor, a: torch.Tensor,
                s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner.convert(x, out, a, s)

    def _net(self, x, tb, **cond):
        return _chunked(lambda x, tb, c: self.inner._net(x, tb, **c), self.micro_batch)(
            x, tb, cond)

    def net_for_solve(self) -> Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]:
        return _chunked(self.inner.net_for_solve(), self.micro_batch)


def for_model(model: DiffusionModel, mode: Evaluation) -> Evaluation:
    """``mode`` as it applies to ``model``: a model without weights (an oracle, a plain
    function of ``x``) is evaluated on the whole batch, as split calls of an analytic
    function buy nothing and cost one call per sample.  So is a model that holds one
    conditioning entry per picture (a pipeline built with a list of prompts): a micro-batch
    cannot tell which entries are its own."""
    if mode.micro_batch is not None and (getattr(model, "network_dtype", None) is None
                                         or getattr(model, "batched_conditioning", False)):
        return Evaluation(None, mode.threads, mode.deterministic)
    return mode


def evaluated(model: DiffusionModel, mode: Evaluation) -> DiffusionModel:
    """``model`` as ``mode`` runs it (micro-batched, or itself)."""
    return model if mode.micro_batch is None else MicroBatched(model, mode.micro_batch)
