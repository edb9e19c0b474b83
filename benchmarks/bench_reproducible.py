"""The reproducible mode of encode/decode against the batched one: what it costs, what it buys.

Prints one JSON document.  Setting: the shipped ``small-unet`` and a batch of 8
pictures (the packaged ``astronaut`` and ``coffee`` and scikit-image's ``chelsea``,
``rocket``, ``camera``, ``coins``, ``hubble_deep_field``, ``retina``), resized to
``--size`` px (40 by default), in [-1, 1]; 10 steps; the samplers ``rex_euler``,
``rev_heun``, ``rex_em`` and ``rev_heun_sde``.

* ``cost``: encode and decode time per picture at batch 8 in three modes:
  ``batched`` (``reproducible=False``: the whole batch per network call, torch's
  thread count, ``--threads``), ``batched_1thread`` (the same with one thread) and
  ``reproducible`` (the default: one sample per call, one thread, deterministic
  kernels); ``slowdown`` is reproducible over batched.
* ``table``: the batch/thread-dependence table in both modes: per sampler, the max abs round-trip
  error (``nothing`` changed), the max abs difference between a decode with 2
  intra-op threads and one with 1 after an encode with 1 (``threads_2``), and the
  max abs difference of the first picture's lifted latent encoded alone and in the
  batch (``alone_vs_batch``).  The reproducible mode fixes the threads for the decode
  itself, so its ``threads_2`` is the decode the user gets after
  ``torch.set_num_threads(2)``.

    python benchmarks/bench_reproducible.py [--quick] [--size 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from revsde.app.images import picture_tensor, read_picture
from revsde.diffusion import decode, encode, pretrained

PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field",
            "retina")
SAMPLERS = ("rex_euler", "rev_heun", "rex_em", "rev_heun_sde")


def _pictures(size: int, n: int) -> torch.Tensor:
    xs = []
    for name in PICTURES[:n]:
        x = picture_tensor(read_picture(name), max_side=None, channels=3)
        xs.append(torch.nn.functional.interpolate(x, size=(size, size), mode="area"))
    return torch.cat(xs).clamp(-1, 1).to(torch.float32)


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _with_threads(n: int, fn):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(old)


def cost(model, x0, samplers, steps, threads, repeats) -> list[dict]:
    rows = []
    modes = {"batched": (False, threads), "batched_1thread": (False, 1),
             "reproducible": (True, threads)}
    for s in samplers:
        row: dict = {"sampler": s}
        for mode, (rep, n) in modes.items():
            def enc(rep=rep, s=s):
                return encode(model, x0, steps=steps, sampler=s, seed=0, reproducible=rep)

            t_enc, lat = _with_threads(n, lambda enc=enc: _best(enc, repeats))
            t_dec, _ = _with_threads(n, lambda lat=lat: _best(lambda: decode(model, lat),
                                                              repeats))
            row[mode] = {"encode_s_per_picture": t_enc / len(x0),
                         "decode_s_per_picture": t_dec / len(x0), "threads": n}
        row["slowdown"] = (row["reproducible"]["encode_s_per_picture"]
                           / row["batched"]["encode_s_per_picture"])
        row["slowdown_vs_1thread"] = (row["reproducible"]["encode_s_per_picture"]
                                      / row["batched_1thread"]["encode_s_per_picture"])
        rows.append(row)
    return rows


def table(model, x0, samplers, steps) -> list[dict]:
    rows = []
    for s in samplers:
        for rep in (False, True):
            def run(s=s, rep=rep):
                lat = encode(model, x0, steps=steps, sampler=s, seed=0, reproducible=rep)
                back1 = decode(model, lat)
                torch.set_num_threads(2)
                try:
                    back2 = decode(model, lat)
                finally:
                    torch.set_num_threads(1)
                alone = encode(model, x0[:1], steps=steps, sampler=s, seed=0, reproducible=rep)
                return {"sampler": s, "mode": "reproducible" if rep else "batched",
                        "nothing": float((back1 - x0).abs().max()),
                        "threads_2": float((back2 - back1).abs().max()),
                        "alone_vs_batch": float((alone.y - lat.y[:1]).abs().max())}

            rows.append(_with_threads(1, run))
    return rows


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 samplers, 2 pictures, 16 px, 4 steps")
    p.add_argument("--size", type=int, default=40)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="threads of the batched mode (default: torch's count)")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    samplers: tuple[str, ...] = SAMPLERS
    if args.quick:
        args.size, args.steps, args.batch, args.repeats = 16, 4, 2, 1
        samplers = ("rex_euler", "rex_em")
    model = pretrained("small-unet")
    x0 = _pictures(args.size, args.batch)
    t0 = time.perf_counter()
    doc = {"benchmark": "reproducible", "quick": args.quick, "model": "small-unet",
           "pictures": list(PICTURES[:args.batch]), "picture_shape": list(x0.shape[1:]),
           "steps": args.steps, "batch": args.batch, "threads": args.threads,
           "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "cost": cost(model, x0, samplers, args.steps, args.threads, args.repeats),
           "table": table(model, x0[:4], samplers, args.steps)}
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
