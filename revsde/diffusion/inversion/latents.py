"""``Latents``: everything needed to decode an encoded image exactly, in one file.

A :class:`Latents` holds the full reversible state at the noise end (the noise
latent ``y``, the auxiliary ``ŷ`` and, for Reversible Heun, its cached drift),
in lifted coordinates ``Y = x/κ`` (docs/mathematics.md §4.3), together with the
configuration that produced it: schedule, model prediction type, sampler name
and options (case, ζ, quantum), the exact float64 time grid, the Brownian seed
and spec, the dtype, the library version and, when available, a fingerprint
of the model's config and of the conditioning.

A batch of latents can be indexed (``lat[i]``, ``lat[a:b]``), split
(:meth:`Latents.split`) and joined (:meth:`Latents.cat`); every item keeps its noise
key (``keys``), so an item decodes alone, or in another batch, to the same bits.

File format (``Latents.save``): one ``torch.save`` file holding a dict

* ``"format"``: ``"revsde-latents"``, ``"format_version"``: ``2`` (version 1, without
  ``keys`` and ``run`` and with one Brownian path for the whole batch, still loads);
* ``"metadata"``: a JSON string (sorted keys);
* ``"tensors"``: ``{name: tensor}`` (``state.0``, ``state.1``, ..., ``ts``,
  and in exact mode ``residual`` and ``x_residual``);
* ``"sha256"``: the SHA-256 of the format tag, the metadata string and, for each
  tensor in sorted name order, its name, dtype, shape and raw bytes.

``Latents.load`` reads it with ``torch.load(weights_only=True)`` (no pickled
code runs) and checks the format, version, checksum, required keys and the
tensors' shapes and dtypes, raising :class:`LatentsFileError` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from ..checks import check_save_path
from ..serialization import load_failure

__all__ = ["Latents", "LatentsFileError", "FORMAT", "FORMAT_VERSION", "tensor_fingerprint"]

FORMAT = "revsde-latents"
FORMAT_VERSION = 2

_REQUIRED = (
    "sampler", "options", "schedule", "prediction", "seed", "brownian", "dtype", "x_dtype",
    "grid", "exact", "shape", "n_state", "library_version",
)


class LatentsFileError(ValueError):
    """A latents file is unreadable, corrupt, modified or of an unknown format."""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _dtype_of(name: str) -> torch.dtype:
    dt = getattr(torch, str(name), None)
    if not isinstance(dt, torch.dtype):
        raise LatentsFileError(f"unknown dtype {name!r} in latents metadata")
    return dt


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def tensor_fingerprint(obj: object) -> str | None:
    """SHA-256 of a tensor, or of a dict of tensors / numbers (e.g. conditioning)."""
    if obj is None:
        return None
    h = hashlib.sha256()

    def feed(key: str, v):
        h.update(key.encode())
        if torch.is_tensor(v):
            h.update(f"{_dtype_name(v.dtype)}{tuple(v.shape)}".encode())
            h.update(_tensor_bytes(v))
        elif isinstance(v, dict):
            for k in sorted(v):
                feed(f"{key}.{k}", v[k])
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                feed(f"{key}[{i}]", x)
        else:
            h.update(repr(v).encode())

    feed("", obj)
    return h.hexdigest()


def _checksum(metadata: str, tensors: dict) -> str:
    h = hashlib.sha256()
    h.update(FORMAT.encode())
    h.update(metadata.encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(name.encode())
        h.update(f"{_dtype_name(t.dtype)}{tuple(t.shape)}".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


@dataclass
class Latents:
    """An encoded batch: the reversible state at the noise end plus its configuration.

    One type for every sampler that encodes (the method is the ``sampler`` field): a Rex
    sampler's state is lifted, a baseline's (``edict``, ``bdia``, ...) is in data
    coordinates (``case`` is then ``None``).

    Attributes:
        state: the full solver state at ``ts[0]``: for a Rex sampler in lifted coordinates
            (``state[0]`` is the noise latent ``y``, ``state[1]`` the auxiliary ``ŷ``);
            for a baseline its state tensors (one for DDIM inversion, a pair for the others).
        ts: the float64 t-grid, noise (``ts[0]``) to data (``ts[-1]``).
        sampler: the method: a registry name (:func:`revsde.diffusion.list_samplers`) or a
            baseline's (:func:`revsde.diffusion.baselines.list_baselines`).
        options: sampler options (``case``, ``zeta``, ``quantum``).
        schedule: ``schedule.to_dict()`` of the model's schedule.
        prediction: the model's prediction type.
        seed: the Brownian seed (``None`` for an ODE sampler).
        brownian: the Brownian spec (``kind``, ``size``, ``dtype``, ``levy_area``,
            ``entropy``) or ``None``.
        dtype: dtype of the lifted state; ``x_dtype`` that of the encoded ``x0``.
        grid: ``{"kind": ..., "steps": ...}``.
        exact: bit-exact mode (docs/mathematics.md §7); then ``residual`` (lifted sub-grid
            residual ``x0/κ - quantize(x0/κ)``) and ``x_residual`` (``x0 - κ·(x0/κ)``)
            are set, and ``data_range`` is the declared bound on ``|x0|``.
        model_fingerprint, cond_fingerprint: SHA-256 of the model's config and of
            the conditioning, when available.
        verify_error: max abs round-trip error, if ``encode(..., verify=True)``.
        nfe: model evaluations made by the encoding (decoding costs the same).
        base: the sampler's base method (``rk4``, ``shark``, ``reversible_heun``, ...).
        library_version: revsde version that wrote it.
        keys: one noise key per sample (an SDE sampler's sample ``i`` follows the Brownian
            path of ``(seed, keys[i])``); ``None`` in files of format version 1.
        run: the run's fingerprint (torch version, device kind, CPU instruction set,
            dtypes, evaluation mode and threads;
            :func:`~revsde.diffusion.inversion.reproducible.fingerprint`); ``None`` in
            files of format version 1.
        accepted: an adaptive sampler's accepted grid (its lifted clocks, noise to data,
            in the state's dtype; one number a step, docs/mathematics.md §11), which the
            decode replays; saved as the tensor ``accepted`` (in the checksum). ``None``:
            a sampler on the grid ``ts``.
    """

    state: tuple
    ts: torch.Tensor
    sampler: str
    options: dict
    schedule: dict
    prediction: str
    seed: int | None
    brownian: dict | None
    dtype: str
    x_dtype: str
    grid: dict
    exact: bool = False
    data_range: float | None = None
    residual: torch.Tensor | None = None
    x_residual: torch.Tensor | None = None
    model_fingerprint: str | None = None
    cond_fingerprint: str | None = None
    verify_error: float | None = None
    nfe: int | None = None
    base: str = ""
    library_version: str = ""
    extra: dict = field(default_factory=dict)
    keys: list | None = None
    run: dict | None = None
    accepted: torch.Tensor | None = None

    # -- views ------------------------------------------------------------------
    @property
    def y(self) -> torch.Tensor:
        """The lifted noise latent ``Y_T``."""
        return self.state[0]

    @property
    def yhat(self) -> torch.Tensor:
        """The auxiliary state ``Ŷ_T``."""
        return self.state[1]

    @property
    def case(self) -> str | None:
        """The lifted case; ``None`` for a baseline, whose state is in data coordinates."""
        return self.options.get("case")

    @property
    def decode_nfe(self) -> int | None:
        """Model evaluations a decode makes (a baseline's may differ from its encode's)."""
        return self.extra.get("decode_nfe", self.nfe)

    @property
    def steps(self) -> int:
        return self.ts.numel() - 1

    @property
    def noise(self) -> torch.Tensor:
        """The noise latent in data coordinates, ``x_T = κ_{ts[0]} Y_T``."""
        from ..schedules import coordinates, schedule_from_dict

        if self.case is None:
            return self.y
        return coordinates.from_lifted(schedule_from_dict(self.schedule), self.case, self.y,
                                       self.ts[0])

    @property
    def x_T(self) -> torch.Tensor:
        """Alias of :attr:`noise`."""
        return self.noise

    def to(self, device: torch.device | str) -> Latents:
        """A copy with every tensor (except the float64 grid) on ``device``."""
        def mv(t):
            return None if t is None else t.to(device)

        return replace(self, state=tuple(mv(s) for s in self.state),
                       residual=mv(self.residual), x_residual=mv(self.x_residual),
                       accepted=mv(self.accepted))

    # -- items ------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.state[0].shape[0])

    def _items(self, index: int | slice | Sequence[int]) -> list[int]:
        n = len(self)
        if isinstance(index, slice):
            return list(range(n))[index]
        if isinstance(index, bool) or not isinstance(index, (int, Sequence)):
            raise TypeError(f"latents are indexed by an int, a slice or a sequence of ints; "
                            f"got {index!r}")
        idx = [index] if isinstance(index, int) else list(index)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
            raise TypeError(f"latents are indexed by an int, a slice or a sequence of ints; "
                            f"got {index!r}")
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise IndexError(f"latents indices {bad} out of range for a batch of {n}")
        return [i % n for i in idx]

    def __getitem__(self, index: int | slice | Sequence[int]) -> Latents:
        """The items ``index`` as latents of their own (an int keeps a batch of one), each
        with its key: they decode to the same bits as in the whole batch."""
        items = self._items(index)
        if (self.brownian is not None and self.brownian.get("kind") != "keyed_grid"
                and items != list(range(len(self)))):
            raise ValueError("these latents share one Brownian path across the batch (a file "
                             "of format version 1, without per-sample keys): decode them "
                             "whole, or re-encode to split them")
        sel = torch.tensor(items, dtype=torch.long)

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, sel.to(t.device))

        brownian = None if self.brownian is None else {**self.brownian,
                                                       "size": [len(items),
                                                                *self.brownian["size"][1:]]}
        extra = dict(self.extra)
        errs = extra.get("verify_errors")
        verify = self.verify_error
        if isinstance(errs, list) and len(errs) == len(self):
            extra["verify_errors"] = [errs[i] for i in items]
            verify = max(extra["verify_errors"]) if items else None
        return replace(self, state=tuple(pick(s) for s in self.state),
                       residual=pick(self.residual), x_residual=pick(self.x_residual),
                       keys=None if self.keys is None else [self.keys[i] for i in items],
                       brownian=brownian, extra=extra, verify_error=verify)

    def split(self, size: int = 1) -> list[Latents]:
        """The batch in pieces of ``size`` items (the last one may be smaller)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"split size must be a positive integer; got {size!r}")
        return [self[a:a + size] for a in range(0, len(self), size)]

    #: fields that may differ between the items :meth:`cat` joins
    _PER_ITEM = ("state", "residual", "x_residual", "keys", "brownian", "verify_error",
                 "extra")

    @classmethod
    def cat(cls, items: Sequence[Latents]) -> Latents:
        """Join latents encoded with the same configuration into one batch (the inverse of
        indexing and :meth:`split`): the items keep their keys."""
        items = list(items)
        if not items or not all(isinstance(x, Latents) for x in items):
            raise TypeError("Latents.cat takes a non-empty sequence of Latents")
        first = items[0]
        for k, x in enumerate(items[1:], 1):
            for f in fields(cls):
                if f.name in cls._PER_ITEM:
                    continue
                a, b = getattr(first, f.name), getattr(x, f.name)
                same = torch.equal(a, b) if torch.is_tensor(a) else a == b
                if not same:
                    raise ValueError(f"Latents.cat: item {k} differs from item 0 in "
                                     f"{f.name!r}; only latents encoded with the same model, "
                                     "sampler, options, grid, seed and run join")
            if (x.brownian is None) != (first.brownian is None) or (
                    x.brownian is not None and first.brownian is not None
                    and {**x.brownian, "size": None} != {**first.brownian, "size": None}):
                raise ValueError(f"Latents.cat: item {k} has another Brownian path spec")
            if x.brownian is not None and x.brownian.get("kind") != "keyed_grid":
                raise ValueError("Latents.cat: latents of format version 1 share one Brownian "
                                 "path across their batch and cannot be joined; re-encode")
            for i, (s, t) in enumerate(zip(first.state, x.state)):
                if s.shape[1:] != t.shape[1:] or s.dtype != t.dtype:
                    raise ValueError(f"Latents.cat: item {k}'s state.{i} has shape "
                                     f"{tuple(t.shape)} and dtype {t.dtype}; item 0's "
                                     f"{tuple(s.shape)}, {s.dtype}")

        def join(ts: list[torch.Tensor | None]) -> torch.Tensor | None:
            return None if ts[0] is None else torch.cat([t for t in ts if t is not None])

        n = sum(len(x) for x in items)
        keys: list | None = None
        if all(x.keys is not None for x in items):
            keys = [k for x in items for k in (x.keys or [])]
        extra: dict[str, Any] = {k: v for k, v in first.extra.items() if k != "verify_errors"}
        errs = [x.extra.get("verify_errors") for x in items]
        verify = None
        if all(isinstance(e, list) for e in errs):
            extra["verify_errors"] = [v for e in errs for v in (e or [])]
            verify = max(extra["verify_errors"])
        brownian = None if first.brownian is None else {**first.brownian,
                                                        "size": [n, *first.brownian["size"][1:]]}
        return replace(first, state=tuple(join([x.state[i] for x in items])
                                          for i in range(len(first.state))),
                       residual=join([x.residual for x in items]),
                       x_residual=join([x.x_residual for x in items]), keys=keys,
                       brownian=brownian, extra=extra, verify_error=verify)

    # -- serialisation ------------------------------------------------------------
    def metadata(self) -> dict:
        """The JSON-able configuration (everything but the tensors)."""
        out = {}
        for f in fields(self):
            if f.name in ("state", "ts", "residual", "x_residual", "accepted"):
                continue
            out[f.name] = getattr(self, f.name)
        out["shape"] = list(self.state[0].shape)
        out["n_state"] = len(self.state)
        return out

    def tensors(self) -> dict:
        out = {f"state.{i}": s.detach().to("cpu") for i, s in enumerate(self.state)}
        out["ts"] = self.ts.detach().to("cpu", torch.float64)
        if self.residual is not None:
            out["residual"] = self.residual.detach().to("cpu")
        if self.x_residual is not None:
            out["x_residual"] = self.x_residual.detach().to("cpu")
        if self.accepted is not None:
            out["accepted"] = self.accepted.detach().to("cpu")
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write one file (``torch.save`` of tensors + JSON metadata + SHA-256)."""
        path = check_save_path(path, "latents")
        meta = json.dumps(self.metadata(), sort_keys=True, allow_nan=False)
        tensors = self.tensors()
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta,
                   "tensors": tensors, "sha256": _checksum(meta, tensors)}
        torch.save(payload, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Latents:
        """Read and validate a file written by :meth:`save` (tensors land on the CPU)."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no latents file at {path!r}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a damaged archive
            raise LatentsFileError(
                f"{path!r} could not be read as a revsde latents file; it is corrupt or "
                f"not a latents file ({load_failure(e)})"
            ) from e
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise LatentsFileError(f"{path!r} is not a revsde latents file (format tag missing)")
        version = payload.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise LatentsFileError(
                f"{path!r} has latents format version {version!r}; this revsde reads version "
                f"{FORMAT_VERSION} (upgrade revsde to read newer files)"
            )
        meta, tensors, digest = (payload.get(k) for k in ("metadata", "tensors", "sha256"))
        if not isinstance(meta, str) or not isinstance(tensors, dict) or not isinstance(
                digest, str) or not all(torch.is_tensor(t) for t in tensors.values()):
            raise LatentsFileError(f"{path!r} is missing metadata, tensors or its checksum")
        if _checksum(meta, tensors) != digest:
            raise LatentsFileError(
                f"{path!r} failed its SHA-256 check: the file was modified or corrupted after "
                "it was written; re-encode the image"
            )
        try:
            md = json.loads(meta)
        except json.JSONDecodeError as e:
            raise LatentsFileError(f"{path!r} has unreadable metadata ({e})") from e
        return cls.from_parts(md, tensors, where=repr(path))

    @classmethod
    def from_parts(cls, md: dict, tensors: dict, where: str = "latents") -> Latents:
        """Rebuild from ``metadata()`` and ``tensors()``, validating both."""
        missing = [k for k in _REQUIRED if k not in md]
        if missing:
            raise LatentsFileError(f"{where} metadata lacks required key(s) {missing}")
        n = md["n_state"]
        names = [f"state.{i}" for i in range(n)] + ["ts"]
        if md["exact"]:
            names += ["residual", "x_residual"]
        absent = [k for k in names if k not in tensors]
        if absent:
            raise LatentsFileError(f"{where} lacks tensor(s) {absent}")
        dtype = _dtype_of(md["dtype"])
        _dtype_of(md["x_dtype"])
        shape = tuple(md["shape"])
        state = tuple(tensors[f"state.{i}"] for i in range(n))
        for i, s in enumerate(state):
            if s.dtype != dtype or tuple(s.shape) != shape:
                raise LatentsFileError(
                    f"{where}: state.{i} has dtype {s.dtype} and shape {tuple(s.shape)}; the "
                    f"metadata says {dtype} and {shape}"
                )
        ts = tensors["ts"]
        steps = md["grid"].get("steps") if isinstance(md["grid"], dict) else None
        if ts.dtype != torch.float64 or ts.dim() != 1 or (steps is not None
                                                           and ts.numel() != steps + 1):
            raise LatentsFileError(
                f"{where}: the time grid must be float64 of length steps + 1 = "
                f"{None if steps is None else steps + 1}; got {ts.dtype}, {tuple(ts.shape)}"
            )
        res = xres = None
        if md["exact"]:
            res, xres = tensors["residual"], tensors["x_residual"]
            for name, t in (("residual", res), ("x_residual", xres)):
                if t.dtype != dtype or tuple(t.shape) != shape:
                    raise LatentsFileError(
                        f"{where}: {name} has dtype {t.dtype} and shape {tuple(t.shape)}; "
                        f"expected {dtype} and {shape}"
                    )
        keys = md.get("keys")
        if keys is not None and (not isinstance(keys, list) or len(keys) != shape[0] or not all(
                isinstance(k, int) and not isinstance(k, bool) for k in keys)):
            raise LatentsFileError(f"{where}: keys must be one integer per sample ({shape[0]}); "
                                   f"got {keys!r}")
        accepted = tensors.get("accepted")
        if accepted is not None and (accepted.dim() != 1 or accepted.numel() < 2
                                     or accepted.dtype != dtype):
            raise LatentsFileError(f"{where}: the accepted grid must be a 1-D {dtype} tensor "
                                   f"of at least two times; got {accepted.dtype}, "
                                   f"{tuple(accepted.shape)}")
        known = {f.name for f in fields(cls)} - {"accepted"}
        kwargs = {k: v for k, v in md.items() if k in known}
        return cls(state=state, ts=ts, residual=res, x_residual=xres, accepted=accepted,
                   **kwargs)

    def __repr__(self) -> str:
        return (f"Latents(sampler={self.sampler!r}, options={self.options}, steps={self.steps}, "
                f"shape={tuple(self.y.shape)}, dtype={self.dtype}, exact={self.exact}, "
                f"seed={self.seed}, keys={self.keys}, verify_error={self.verify_error})")
