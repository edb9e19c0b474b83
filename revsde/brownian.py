"""The noise: Brownian paths that answer the same query with the same bits.

Two sources are supported (docs/mathematics.md §1):

* :class:`BrownianGrid` (the default of :func:`revsde.sdeint`), an exact
  Brownian path sampled on a fixed grid, with counter-based seeds so that any
  cell is regenerated identically in any order and in any process.  It costs
  one indexing operation per step instead of a tree search;
* ``torchsde.BrownianInterval``, built by :func:`make_brownian`, which can also
  be queried off the grid (one path shared by solves with different steps).

**Per-sample keys.**  A :class:`BrownianGrid` built with ``keys`` (one integer
per sample, the batch dimension first) draws each sample's cells from its own
counter-based generator, seeded by ``(entropy, key, chunk)``, always on the CPU and
always with the shape of one sample: a sample's path is then the same bits alone,
in any batch, at any position, in another process and on another device.
:class:`Seeds` carries a run's seed with its keys through the samplers, and
:class:`KeyedNormal` gives the per-step standard normals of a non-reversible SDE
sampler the same way.

:func:`increment` returns ``(W, H)`` over a step, where ``H`` is the
space-time Lévy area ``H = U/h - W/2`` (docs/mathematics.md §0).  A step taken backwards
in time queries the same interval and applies ``W -> -W``, ``H -> H``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torchsde

from .checks import check_entropy, check_flag, check_int, check_real

#: A generated chunk of cells: ``(W, H, W per cell, H per cell)``, H's None without Lévy area.
_Chunk = tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor], list[torch.Tensor] | None]


class Increment(NamedTuple):
    """The noise over one step: ``W`` and the space-time Lévy area ``H`` (docs/mathematics.md §0).

    ``H`` is ``None`` when the solver does not need it.
    """

    W: torch.Tensor
    H: torch.Tensor | None


def _size(size, name: str = "size") -> tuple[int, ...]:
    try:
        dims = tuple(size)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of positive integers; got {size!r}") from None
    out = tuple(check_int(d, name, "a tuple of positive integers") for d in dims)
    if any(d <= 0 for d in out):
        raise ValueError(f"{name} must be a tuple of positive integers; got {out}")
    return out


def make_brownian(t0: float, t1: float, size: Sequence[int], *, dtype: torch.dtype,
                  device: torch.device | str | None, entropy: int | None = None,
                  dt: float | None = None, levy_area: bool = False) -> torchsde.BrownianInterval:
    """Build a ``torchsde.BrownianInterval`` covering ``[min(t0,t1), max(t0,t1)]``.

    ``dt`` is the step-size hint that lets it build its dyadic skeleton, and
    ``levy_area=True`` asks for space-time Lévy area (needed by SEA, ShARK, SRA1).
    """
    t0, t1 = check_real(t0, "t0"), check_real(t1, "t1")
    if not (math.isfinite(t0) and math.isfinite(t1)) or t0 == t1:
        raise ValueError(f"make_brownian needs two distinct finite times; got {t0}, {t1}")
    lo, hi = (t0, t1) if t0 < t1 else (t1, t0)
    entropy = check_entropy(entropy)
    if entropy is None:
        entropy = int(torch.randint(0, 2**31 - 1, ()).item())
    if dt is not None:
        dt = check_real(dt, "dt", "a positive number or None")
        if not (dt != 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be a non-zero finite number or None; got {dt}")
    return torchsde.BrownianInterval(
        t0=lo,
        t1=hi,
        size=_size(size),
        dtype=dtype,
        device=device,
        entropy=entropy,
        dt=None if dt is None else abs(dt),
        levy_area_approximation="space-time" if check_flag(levy_area, "levy_area") else "none",
    )


def _seed(entropy: int, *keys: int) -> int:
    digest = hashlib.blake2b(repr((entropy,) + keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


#: keys are integers in [0, 2**63), as seeds are
KEY_BOUND = 1 << 63


def check_keys(keys: Any, batch: int | None = None, name: str = "keys") -> tuple[int, ...]:
    """``keys`` as a tuple of integers in ``[0, 2**63)``, one per sample when ``batch`` is
    given."""
    if isinstance(keys, (str, bytes)) or torch.is_tensor(keys) and keys.dim() != 1:
        raise TypeError(f"{name} must be a sequence of non-negative integers (one per "
                        f"sample); got {keys!r}")
    try:
        raw = keys.tolist() if torch.is_tensor(keys) else list(keys)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of non-negative integers (one per "
                        f"sample); got {keys!r}") from None
    out = []
    for k in raw:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < KEY_BOUND:
            raise TypeError(f"{name} must hold non-negative integers below 2**63; got {k!r}")
        out.append(k)
    if batch is not None and len(out) != batch:
        raise ValueError(f"{name} has {len(out)} key(s) but the batch has {batch} sample(s): "
                         "pass one key per sample")
    return tuple(out)


def key_of(name: str) -> int:
    """A stable key (an integer in ``[0, 2**63)``) for a sample's name, e.g. a picture's
    path relative to its folder: the same in every process and every run."""
    digest = hashlib.blake2b(str(name).encode("utf-8"), digest_size=8,
                             person=b"revsde-key").digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class Seeds:
    """The noise of a batch: a run's ``seed`` and one ``key`` per sample.

    Sample ``i``'s noise depends on ``(seed, keys[i])`` alone, so that it is the same
    alone, in any batch and at any position.  ``keys=None`` is the one path shared by
    the whole batch that revsde drew before per-sample keys (read back from latents
    files of format version 1).
    """

    seed: int
    keys: tuple[int, ...] | None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not (
                0 <= self.seed < KEY_BOUND):
            raise TypeError(f"seed must be a non-negative integer (< 2**63); got {self.seed!r}")
        if self.keys is not None:
            object.__setattr__(self, "keys", check_keys(self.keys))

    @classmethod
    def of(cls, seed: int | Seeds, batch: int) -> Seeds:
        """``seed`` itself, or an integer seed with the default keys ``0 .. batch-1``."""
        if isinstance(seed, Seeds):
            if seed.keys is not None and len(seed.keys) != batch:
                raise ValueError(f"the seeds hold {len(seed.keys)} key(s) but the batch has "
                                 f"{batch} sample(s): pass one key per sample")
            return seed
        return cls(seed, tuple(range(batch)))


class KeyedNormal:
    """Standard normals ``z[n]`` (one per step ``n``) of shape ``size``, sample ``i``'s
    from its own generator seeded by ``(seed, keys[i], n)``, drawn on the CPU.

    ``keys=None``: one generator per step for the whole batch.  Indexing
    (``noise[n]``) draws step ``n`` (the same bits in any order).  The draws of one thread
    reuse one generator object, reseeded for each (``manual_seed`` resets its whole
    state): making one costs about a quarter of a small draw.
    """

    def __init__(self, seed: int, keys: Sequence[int] | None, size: Sequence[int], *,
                 dtype: torch.dtype, device: torch.device | str | None = None) -> None:
        self.seed = seed
        self.size = _size(size)
        self.keys = None if keys is None else check_keys(keys, self.size[0])
        self.dtype = dtype
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self._local = threading.local()  # each thread's generator (:meth:`__getitem__`)

    def __getitem__(self, n: int) -> torch.Tensor:
        keys = self.keys
        gen = getattr(self._local, "gen", None)
        if gen is None:
            gen = self._local.gen = torch.Generator()
        if keys is None or len(keys) == 1:
            # the whole batch from one generator; a batch of one drawn with its own shape:
            # the numbers, in the same order, of its one sample's shape drawn into it
            gen.manual_seed(
                _seed(self.seed, n, 2) if keys is None else _seed(self.seed, keys[0], n, 2))
            z = torch.randn(self.size, generator=gen, dtype=self.dtype)
        else:
            z = torch.empty(self.size, dtype=self.dtype)
            for i, key in enumerate(keys):
                gen.manual_seed(_seed(self.seed, key, n, 2))
                torch.randn(self.size[1:], generator=gen, dtype=self.dtype, out=z[i])
        return z if self.device.type == "cpu" else z.to(self.device)


class BrownianGrid:
    """An exact Brownian path (with space-time Lévy area) on a fixed time grid.

    On each grid cell ``[t_n, t_{n+1}]`` of length ``h`` the increment is
    ``W ~ N(0, h)`` and the Lévy area ``H ~ N(0, h/12)``, independent, as for a
    true Brownian motion.  Cells are generated in chunks from counter-based
    seeds, so a query returns the same bits in any order (forward or reverse),
    and a new object with the same grid and entropy gives the same path.
    Memory stays bounded: at most ``cache_size`` chunks of ``chunk`` cells
    (one chunk by default: sequential and reverse walks never regenerate).  A query over several
    cells returns their exact combination (sum of ``W``; ``U`` combined by
    ``U_ac = U_ab + U_bc + (c-b) W_ab``), so coarse increments are sums of
    fine ones.  Queries must start and end on grid points.

    Args:
        grid: 1-D increasing sequence of times (python floats or a tensor).
        size: shape of one increment, e.g. ``(batch, d)``.
        dtype: dtype of the increments.
        device: device of the increments.
        entropy: integer seed of the path.
        keys: one integer key per sample (``size[0]`` of them): sample ``i``'s cells come
            from ``(entropy, keys[i])`` alone, drawn on the CPU with the shape of one
            sample, so the path of a sample does not depend on the batch, its position
            or the device (then moved to ``device``).  ``None``: one draw for the whole
            ``size``, on ``device``.
        levy_area: also generate ``H`` (needed by SEA, ShARK, SRA1).
        chunk: cells per generated chunk.
        cache_size: chunks kept in memory.
    """

    def __init__(self, grid: Sequence[float] | torch.Tensor, size: Sequence[int], *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
                 entropy: int = 0, keys: Sequence[int] | None = None,
                 levy_area: bool = False, chunk: int = 8, cache_size: int = 1):
        try:
            raw = grid.tolist() if torch.is_tensor(grid) else list(grid)
        except TypeError:
            raise TypeError(
                f"BrownianGrid grid must be a sequence of times; got {grid!r}"
            ) from None
        times = (raw if all(type(t) is float for t in raw)  # python floats: already numbers
                 else [check_real(t, "a BrownianGrid grid time") for t in raw])
        if len(times) < 2:
            raise ValueError("BrownianGrid needs at least two grid times")
        if not all(math.isfinite(t) for t in times):
            raise ValueError("BrownianGrid grid times must be finite")
        if any(b <= a for a, b in zip(times[:-1], times[1:])):
            raise ValueError("BrownianGrid grid times must be strictly increasing")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"BrownianGrid dtype must be floating point; got {dtype}")
        seed = check_entropy(entropy)
        if seed is None:
            raise TypeError("BrownianGrid entropy must be a non-negative integer seed; got None")
        self.times = times
        self.t0, self.t1 = times[0], times[-1]
        self._grid = torch.tensor(times, dtype=torch.float64)
        self.size = _size(size)
        self.shape = self.size
        self.dtype = dtype
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.entropy = seed
        self.keys = None if keys is None else check_keys(keys, self.size[0])
        self.levy_area = check_flag(levy_area, "levy_area")
        self.chunk = check_int(chunk, "chunk", "a positive integer")
        self._cache_size = check_int(cache_size, "cache_size", "a positive integer")
        if self.chunk < 1 or self._cache_size < 1:
            raise ValueError(
                f"chunk and cache_size must be positive; got chunk={self.chunk}, "
                f"cache_size={self._cache_size}"
            )
        self._cache: OrderedDict[int, _Chunk] = OrderedDict()
        self._last_k: int = -1
        self._last: _Chunk | None = None
        # sqrt(h) of every cell, in float64 then cast once, shaped to scale a chunk.
        h = self._grid[1:] - self._grid[:-1]
        self._scales = h.sqrt().to(device=self.device, dtype=dtype).reshape(
            (-1,) + (1,) * len(self.size))

    # -- generation -------------------------------------------------------------
    def _chunk(self, k: int) -> _Chunk:
        hit = self._cache.get(k)
        if hit is not None:
            self._cache.move_to_end(k)
            return hit
        while len(self._cache) >= self._cache_size:  # evict first: never one chunk too many
            self._cache.popitem(last=False)
        lo = k * self.chunk
        hi = min(lo + self.chunk, len(self.times) - 1)
        scale = self._scales[lo:hi]
        w = self._normals(k, hi - lo, 0).mul_(scale)
        hh = None
        if self.levy_area:
            hh = self._normals(k, hi - lo, 1).mul_(scale / math.sqrt(12.0))
        # Tensors for multi-cell sums, per-cell views for O(1) single-cell reads.
        entry: _Chunk = (w, hh, self._cells(w), None if hh is None else self._cells(hh))
        self._cache[k] = entry
        return entry

    def _normals(self, k: int, cells: int, part: int) -> torch.Tensor:
        """Standard normals of shape ``(cells, *size)`` for chunk ``k`` (``part`` 0: ``W``,
        1: ``H``)."""
        if self.keys is None:
            gen = torch.Generator(device=self.device).manual_seed(_seed(self.entropy, k, part))
            return torch.randn((cells, *self.size), generator=gen, dtype=self.dtype,
                               device=self.device)
        # sample by sample, each from its own generator and with one sample's shape (the
        # bits a CPU generator gives depend on the shape drawn), batch dimension first
        if len(self.keys) == 1:  # (cells, 1, ...): the numbers of (cells, ...), in order
            gen = torch.Generator().manual_seed(_seed(self.entropy, self.keys[0], k, part))
            z = torch.randn((cells, *self.size), generator=gen, dtype=self.dtype)
            return z if self.device.type == "cpu" else z.to(self.device)
        z = torch.empty((self.size[0], cells, *self.size[1:]), dtype=self.dtype)
        gen = torch.Generator()  # seeded anew for each sample: its whole state reset
        for i, key in enumerate(self.keys):
            gen.manual_seed(_seed(self.entropy, key, k, part))
            torch.randn((cells, *self.size[1:]), generator=gen, dtype=self.dtype, out=z[i])
        return z.transpose(0, 1).contiguous().to(self.device)

    @staticmethod
    def _cells(x: torch.Tensor) -> list[torch.Tensor]:
        """Per-cell views of a chunk, its first and last cells copied out.

        A walk (forward or reverse) that keeps the last cell it read while it
        reads the next one, across a chunk boundary, then holds that one cell,
        not a view that would pin the whole evicted chunk.
        """
        cells = list(x.unbind(0))
        cells[0] = cells[0].clone()
        if len(cells) > 1:
            cells[-1] = cells[-1].clone()
        return cells

    def _sum(self, x: torch.Tensor) -> torch.Tensor:
        """The sum over cells (dim 0); with keys, cell after cell, so that a sample's sum
        has the same bits whatever the batch (a reduction's order depends on the shape)."""
        if self.keys is None:
            return x.sum(0)
        out = x[0].clone()
        for c in x[1:]:
            out += c
        return out

    def cell(self, n: int) -> Increment:
        """``(W, H)`` on grid cell ``n`` (``H`` is None without Lévy area)."""
        k, j = divmod(n, self.chunk)
        if k != self._last_k:  # consecutive steps stay in one chunk: skip the LRU
            self._last_k, self._last = -1, None  # let an evicted chunk go before generating
            self._last = self._chunk(k)
            self._last_k = k
        if self._last is None:  # k == _last_k == -1 before the first chunk: n < 0
            raise ValueError(f"BrownianGrid cell numbers start at 0; got {n}")
        _, _, w, hh = self._last
        return Increment(w[j], None if hh is None else hh[j])

    def _locate(self, t: float) -> int:
        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            return i
        j = int(torch.searchsorted(self._grid, torch.tensor(t, dtype=torch.float64)))
        for c in (j - 1, j):
            if 0 <= c < len(self.times) and math.isclose(
                self.times[c], t, rel_tol=1e-12, abs_tol=1e-15
            ):
                return c
        raise ValueError(
            f"BrownianGrid can only be queried on its grid points; {t!r} is not one. "
            "Build it on the solver's step grid, or use make_brownian (BrownianInterval) "
            "for off-grid queries."
        )

    # -- queries ----------------------------------------------------------------
    def __call__(self, ta: float, tb: float | None = None, return_U: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``W`` from ``ta`` to ``tb`` (or from ``t0`` to ``ta``), with ``U`` if ``return_U``."""
        if tb is None:
            ta, tb = self.t0, ta
        i, j = self._locate(float(ta)), self._locate(float(tb))
        if j < i:
            raise ValueError(f"BrownianGrid query needs ta <= tb; got ta={ta}, tb={tb}")
        if return_U and not self.levy_area:
            raise ValueError("this BrownianGrid has no Lévy area; build it with levy_area=True")
        if j == i:
            z = torch.zeros(self.size, dtype=self.dtype, device=self.device)
            return (z, z.clone()) if return_U else z
        if j == i + 1:
            w, hh = self.cell(i)
            if not return_U:
                return w
            assert hh is not None  # return_U needs levy_area (checked above)
            h = self.times[j] - self.times[i]
            return w, h * (hh + 0.5 * w)
        # Chunk by chunk: W is the sum of the cells' W; U combines as
        # U = Σ_n [h_n (H_n + W_n/2) + (t_j - t_{n+1}) W_n]  (U_ac = U_ab + U_bc + (c-b) W_ab).
        w_sum: torch.Tensor | None = None
        u_sum: torch.Tensor | None = None
        bshape = (-1,) + (1,) * len(self.size)
        for k in range(i // self.chunk, (j - 1) // self.chunk + 1):
            a = max(i, k * self.chunk)
            b = min(j, (k + 1) * self.chunk)
            wk, hk, _, _ = self._chunk(k)
            ws = wk[a - k * self.chunk : b - k * self.chunk]
            part = self._sum(ws)
            w_sum = part if w_sum is None else w_sum + part
            if return_U:
                h = self._grid[a + 1 : b + 1] - self._grid[a:b]
                c_w = (0.5 * h + (self._grid[j] - self._grid[a + 1 : b + 1])).to(ws)
                assert hk is not None  # return_U needs levy_area (checked above)
                hs = hk[a - k * self.chunk : b - k * self.chunk]
                part = (self._sum(h.to(ws).reshape(bshape) * hs)
                        + self._sum(c_w.reshape(bshape) * ws))
                u_sum = part if u_sum is None else u_sum + part
        assert w_sum is not None  # j > i + 1: the loop ran at least once
        if not return_U:
            return w_sum
        assert u_sum is not None
        return w_sum, u_sum


def increment(bm: Any, ta: float, tb: float, levy_area: bool) -> Increment:
    """``(W, H)`` of ``bm`` from ``ta`` to ``tb`` (either order), docs/mathematics.md §0.

    For ``tb < ta`` the same interval is queried and ``W`` flips sign while ``H``
    is kept.
    """
    lo, hi = (ta, tb) if ta < tb else (tb, ta)
    if levy_area and isinstance(bm, BrownianGrid):
        i, j = bm._locate(float(lo)), bm._locate(float(hi))
        if j == i + 1:
            # One cell: its stored H, bit for bit what the driver's cell fast path
            # reads, rather than H recomputed from U with a different rounding.
            w, hh = bm.cell(i)
            return Increment(-w if tb < ta else w, hh)
    if levy_area:
        w, u = bm(lo, hi, return_U=True)
        hh = u / (hi - lo) - 0.5 * w
    else:
        w, hh = bm(lo, hi), None
    if tb < ta:
        w = -w
    return Increment(w, hh)
