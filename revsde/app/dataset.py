"""Invert a whole folder of pictures: one latents file per picture and a manifest.

:func:`invert_dataset` (and ``revsde invert DIR --out OUT``) encodes every picture
of a folder (recursively; PNG, JPEG, ...) with the shipped model, writing

* ``OUT/latents/<picture path>.pt``: the picture's :class:`~revsde.diffusion.Latents`
  (a batch of one), whose noise key is :func:`revsde.brownian.key_of` of the
  picture's path relative to the folder, so that its latent is a function of the
  picture, the seed and the model alone (docs/howto-invert.md);
* ``OUT/latents/<picture path>.json``: the picture's manifest record;
* ``OUT/manifest.json``: every record (picture, key, round-trip error, fidelity
  figures, run fingerprint) with the job's configuration;
* ``OUT/job.json``: the configuration, checked by a rerun.

Every file is written to a temporary name and renamed, so a finished file is never
replaced by a partial one; a rerun (after an interruption, or a failed process)
skips the pictures whose two files are there and finishes the others.

**Across processes.**  Under ``torchrun --nproc_per_node=K`` (or across nodes) the
job initialises :mod:`torch.distributed` (gloo on the CPU, nccl on CUDA), takes the
pictures ``rank, rank + K, ...`` of the sorted list, and gathers the records on rank
0, which writes the manifest.  Pictures are encoded in the reproducible mode (one
sample per network call, one intra-op thread: :mod:`revsde.diffusion.inversion.
reproducible`), so the files do not depend on ``K``, on the batch size or on which
process encoded a picture.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..brownian import key_of

__all__ = ["invert_dataset", "list_pictures", "PICTURE_SUFFIXES", "DatasetError"]

#: file suffixes read as pictures (lower case)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")
_JOB_FIELDS = ("model", "weights_sha256", "sampler", "steps", "seed", "max_side", "grid",
               "dtype")


class DatasetError(ValueError):
    """A dataset job that cannot run as asked (no pictures, another job's output folder)."""


def list_pictures(folder: str | os.PathLike) -> list[str]:
    """The pictures under ``folder`` (recursively), as sorted POSIX paths relative to it."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{str(folder)!r} is not a folder of pictures")
    found = [p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES]
    return sorted(found)


def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp)`` then rename to ``path``: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        write(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_json(path: Path, doc: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")

    _write_atomic(path, write)


def _fidelity(lat, sigma_T: float) -> dict[str, float]:
    """How much the latent looks like the model's noise: ``z = x_T/σ_T`` should be
    standard normal; its std, mean and Kolmogorov–Smirnov distance to N(0, 1)."""
    z = (lat.noise.to(torch.float64) / sigma_T).reshape(-1)
    s = z.sort().values
    n = s.numel()
    cdf = 0.5 * torch.erfc(-s / math.sqrt(2.0))
    i = torch.arange(1, n + 1, dtype=torch.float64)
    ks = torch.maximum(i / n - cdf, cdf - (i - 1) / n).max()
    return {"latent_std": float(z.std()), "latent_mean": float(z.mean()),
            "latent_ks": float(ks)}


class _Dist:
    """torch.distributed for this job: initialised from torchrun's environment
    (``WORLD_SIZE`` > 1), else one process."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owned = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                backend = "nccl" if device.startswith("cuda") else "gloo"
                dist.init_process_group(backend)
                self.owned = True
            self.world, self.rank = dist.get_world_size(), dist.get_rank()

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (``None`` elsewhere)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0)
        return out

    def close(self) -> None:
        if self.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _device(device: str | None, local_rank: int) -> str:
    if device in (None, "auto"):
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return f"cuda:{local_rank}"
    return str(device)


def _batches(names: Sequence[str], load: Callable[[str], torch.Tensor],
             size: int) -> Iterator[tuple[list[str], torch.Tensor]]:
    """Consecutive pictures of one shape, at most ``size`` at a time, read as they come."""
    group: list[str] = []
    xs: list[torch.Tensor] = []
    for n in names:
        x = load(n)
        if group and (len(group) == size or xs[0].shape != x.shape):
            yield group, torch.cat(xs)
            group, xs = [], []
        group.append(n)
        xs.append(x)
    if group:
        yield group, torch.cat(xs)


def invert_dataset(folder: str | os.PathLike, out: str | os.PathLike, *,
                   model: str = "small-unet", sampler: str = "rev_heun_exp", steps: int = 20,
                   seed: int = 0, max_side: int | None = 64, batch: int = 8,
                   grid: str = "uniform_lambda", dtype: str = "float32",
                   device: str | None = "auto", progress: bool = True,
                   limit: int | None = None) -> dict[str, Any]:
    """Encode every picture of ``folder`` into ``out`` (see the module docstring).

    Args:
        folder: a folder of pictures (searched recursively).
        out: the output folder (created; a rerun into it finishes what is missing).
        model: a shipped model name or a ``.pt`` weight file
            (:func:`revsde.diffusion.pretrained`).
        sampler, steps, seed, grid: as in :func:`revsde.diffusion.encode`; each picture's
            noise key is :func:`revsde.brownian.key_of` of its relative path.
        max_side: cap on a picture's long side in pixels (aspect ratio kept, never
            upscaled); ``None``: the pictures' own size.
        batch: pictures of one shape encoded together (the files do not depend on it).
        dtype: the network's dtype (``float32``, ``float64``, ...).
        device: ``"auto"`` (``cuda:LOCAL_RANK`` when CUDA is there, else the CPU),
            ``"cpu"``, ``"cuda"`` or a device string.
        progress: show a progress bar (rank 0's share) on stderr.
        limit: encode at most this many new pictures in this process, then stop (the
            manifest is then partial; a rerun finishes).

    Returns:
        the manifest (also written to ``out/manifest.json`` by rank 0; other ranks get
        their own records only).
    """
    from ..diffusion import encode, pretrained
    from ..diffusion.inversion.latents import Latents
    from .images import load_picture

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DatasetError(f"batch must be a positive integer; got {batch!r}")
    names = list_pictures(folder)
    if not names:
        raise DatasetError(f"{str(folder)!r} is a folder with no pictures "
                           f"({', '.join(PICTURE_SUFFIXES)}) in it: give a picture file, or a "
                           "folder of pictures to invert them all")
    dist = _Dist(_device(device, int(os.environ.get("LOCAL_RANK", "0"))))
    try:
        dev = _device(device, dist.local_rank)
        net_dtype = getattr(torch, dtype, None)
        if not isinstance(net_dtype, torch.dtype):
            raise DatasetError(f"unknown dtype {dtype!r}; use float32, float64, ...")
        net = pretrained(model, dtype=net_dtype).to(dev)
        root, outdir = Path(folder), Path(out)
        config = {"model": str(model), "weights_sha256": net.fingerprint(), "sampler": sampler,
                  "steps": int(steps), "seed": int(seed), "max_side": max_side, "grid": grid,
                  "dtype": dtype}
        _check_job(outdir, config, dist)
        mine = names[dist.rank::dist.world]
        done: list[dict] = []
        todo: list[str] = []
        for n in mine:
            rec = _record_of(outdir, n, config)
            if rec is None:
                todo.append(n)
            else:
                done.append(rec)
        if limit is not None:
            todo = todo[:limit]
        channels = int(getattr(net, "channels", 3))
        sigma_T = None
        bar = _bar(len(mine), len(done), progress and dist.rank == 0,
                   f"rank 0/{dist.world}" if dist.world > 1 else "pictures")
        def load(n: str) -> torch.Tensor:
            return load_picture(str(root / n), max_side=max_side, channels=channels,
                                dtype=torch.float64, device=dev)

        records = list(done)
        for group, x0 in _batches(todo, load, batch):
            keys = [key_of(n) for n in group]
            lat = encode(net, x0, steps=steps, sampler=sampler, seed=seed, grid=grid,
                         keys=keys, verify=True)
            if sigma_T is None:
                sigma_T = float(net.schedule.sigma(lat.ts[0]))
            for i, n in enumerate(group):
                item: Latents = lat[i]
                rec = {"picture": n, "key": keys[i], "latents": f"latents/{n}.pt",
                       "shape": list(x0.shape[1:]), "roundtrip_error": item.verify_error,
                       **_fidelity(item, sigma_T), "fingerprint": item.run, "config": config}
                _write_atomic(outdir / "latents" / f"{n}.pt", item.save)
                _write_json(outdir / "latents" / f"{n}.json", rec)
                records.append(rec)
            bar(len(group))
        bar(0, close=True)
        gathered = dist.gather(records)
        manifest: dict[str, Any] = {"config": config}
        if gathered is None:
            manifest["pictures"] = sorted(records, key=lambda r: r["picture"])
            return manifest
        allrec = sorted((r for part in gathered for r in part), key=lambda r: r["picture"])
        for r in allrec:
            r.pop("config", None)
        missing = sorted(set(names) - {r["picture"] for r in allrec})
        manifest.update(pictures=allrec, count=len(allrec), missing=missing,
                        complete=not missing)
        _write_json(outdir / "manifest.json", manifest)
        return manifest
    finally:
        dist.close()


def _check_job(outdir: Path, config: dict, dist: _Dist) -> None:
    """Rank 0 writes ``job.json`` (or checks that a rerun has the same configuration) and
    removes temporary files a killed run left; the others wait."""
    if dist.rank == 0:
        job = outdir / "job.json"
        if job.exists():
            with open(job) as f:
                old = json.load(f)
            diff = [k for k in _JOB_FIELDS if old.get(k) != config.get(k)]
            if diff:
                raise DatasetError(
                    f"{str(outdir)!r} holds the output of another job (it differs in "
                    f"{', '.join(diff)}); give another --out, or the same settings to finish it")
        else:
            _write_json(job, config)
        for tmp in outdir.rglob("*.tmp-*"):
            tmp.unlink(missing_ok=True)
    dist.barrier()


def _record_of(outdir: Path, name: str, config: dict) -> dict | None:
    """The record of a finished picture (both of its files there, same configuration),
    else ``None``."""
    lat, rec = outdir / "latents" / f"{name}.pt", outdir / "latents" / f"{name}.json"
    if not (lat.is_file() and rec.is_file()):
        return None
    try:
        with open(rec) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("config") != config:
        return None
    return doc


def _bar(total: int, initial: int, show: bool, desc: str) -> Callable[..., None]:
    if not show:
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, unit="pic", file=sys.stderr,
               dynamic_ncols=True)

    def update(n: int, close: bool = False) -> None:
        if n:
            bar.update(n)
        if close:
            bar.close()

    return update


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m revsde.app.dataset DIR --out OUT [...]`` (what ``revsde invert DIR``
    runs), for ``torchrun --nproc_per_node=K -m revsde.app.dataset ...``."""
    import argparse

    p = argparse.ArgumentParser(prog="revsde invert DIR",
                                description="invert every picture of a folder")
    p.add_argument("folder")
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="small-unet")
    p.add_argument("--sampler", default="rev_heun_exp")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run(args.folder, args.out, model=args.model, sampler=args.sampler,
               steps=args.steps, seed=args.seed, max_side=args.size, batch=args.batch,
               dtype=args.dtype, device=args.device, progress=not args.no_progress,
               limit=args.limit)


def run(folder: str, out: str, **kw: Any) -> int:
    """Run the job and print a one-line summary (rank 0)."""
    t0 = time.perf_counter()
    m = invert_dataset(folder, out, **kw)
    if "count" in m:
        errs = [r["roundtrip_error"] for r in m["pictures"]]
        print(json.dumps({"out": str(out), "pictures": m["count"], "missing": len(m["missing"]),
                          "world_size": int(os.environ.get("WORLD_SIZE", "1")),
                          "max_roundtrip_error": max(errs) if errs else None,
                          "seconds": round(time.perf_counter() - t0, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
