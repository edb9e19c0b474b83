"""revsde's exact inversion against diffusers' DDIMInverseScheduler, on one diffusers UNet.

The network is a ``UNet2DModel`` with the architecture of a 256x256 pixel-space DDPM
(the google/ddpm-*-256 config: block_out_channels (128, 128, 256, 256, 512, 512),
layers_per_block 2, attention in the fifth level, 16x16 at 256 px), with seeded
random weights (no download), and the DDPM linear schedule (1000 timesteps,
β 1e-4 .. 0.02).  A real picture (scikit-image's astronaut, RGB, resized to
``--size``) goes to noise and back:

* diffusers: ``DDIMInverseScheduler`` for ``--steps`` steps, then ``DDIMScheduler`` back
  (``clip_sample=False`` for both), one network evaluation per step;
* revsde: ``from_diffusers`` on the same network, ``encode``/``decode`` with reversible
  samplers at the same number of network evaluations per direction (``rev_heun``,
  ``rev_heun_exp`` and ``rev_heun_sde``: steps - 1 steps plus one to start;
  ``rex_euler`` and ``rex_em``: steps/2 steps), the network in float32 and the
  reversible state in float64 (compensated, encode's default); ``rev_heun`` also in
  exact mode (``exact=True``: fixed-point lifted state, a bit-exact round trip).

Prints one JSON document: per method the max abs and mean square round-trip error in
pixel space (pictures in [-1, 1]), the network evaluations per direction, and the
wall time of one round trip (best of ``--repeats``).  It is heavy on a CPU: the default
``--size 64`` keeps it to a few minutes on one thread; ``--size 256`` is the real size.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

DDPM_256 = {
    "block_out_channels": (128, 128, 256, 256, 512, 512),
    "layers_per_block": 2,
    "down_block_types": ("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
    "norm_num_groups": 32, "norm_eps": 1e-6, "downsample_padding": 0,
    "flip_sin_to_cos": False, "freq_shift": 1, "in_channels": 3, "out_channels": 3,
}
EXACT_DATA_RANGE = 64.0
SCHEDULER = {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 1e-4,
             "beta_end": 0.02, "clip_sample": False, "prediction_type": "epsilon"}


def build_unet(size: int, seed: int, device, dtype, width: int = 128):
    """The DDPM-256 UNet (``width`` 128); a smaller ``width`` scales every level (smoke runs)."""
    from diffusers import UNet2DModel

    config = dict(DDPM_256)
    config["block_out_channels"] = tuple(c * width // 128 for c in DDPM_256["block_out_channels"])
    config["norm_num_groups"] = min(32, width // 4)
    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=size, **config).eval().to(device=device)
    return unet if dtype == torch.float32 else unet.to(dtype)


def picture(size: int, device, dtype) -> torch.Tensor:
    import skimage.data
    import skimage.transform

    img = skimage.transform.resize(skimage.data.astronaut(), (size, size), anti_aliasing=True)
    x = torch.as_tensor(img, dtype=torch.float64).permute(2, 0, 1)[None] * 2 - 1
    return x.to(device=device, dtype=dtype)


def ddim_roundtrip(unet, x0, steps: int):
    from diffusers import DDIMInverseScheduler, DDIMScheduler

    inverse, forward = DDIMInverseScheduler(**SCHEDULER), DDIMScheduler(**SCHEDULER)
    inverse.set_timesteps(steps)
    forward.set_timesteps(steps)
    x = x0
    for t in inverse.timesteps:
        x = inverse.step(unet(x, t).sample, t, x).prev_sample
    for t in forward.timesteps:
        x = forward.step(unet(x, t).sample, t, x).prev_sample
    return x


def revsde_roundtrip(model, x0, steps: int, sampler: str, exact: bool = False):
    from revsde import diffusion as D

    # exact mode: a fixed-point grid sized for |x0| <= data_range; a random-weight network
    # overshoots the a-priori bound of data in [-1, 1], so leave it headroom
    extra = {"exact": True, "data_range": EXACT_DATA_RANGE} if exact else {}
    lat = D.encode(model, x0, steps=steps, sampler=sampler, seed=0, **extra)
    return D.decode(model, lat), lat.nfe, lat.dtype


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def errors(back, x0) -> dict:
    d = back.to(torch.float64) - x0.to(torch.float64)
    return {"max_abs_error": float(d.abs().max()), "mse": float(d.pow(2).mean())}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64, help="picture size (256 is the real one)")
    p.add_argument("--steps", type=int, default=10,
                   help="network evaluations per direction (DDIM steps)")
    p.add_argument("--samplers", nargs="*",
                   default=["rev_heun", "rev_heun_exp", "rex_euler", "rev_heun_sde", "rex_em"])
    p.add_argument("--exact", nargs="*", default=["rev_heun"],
                   help="samplers also run in exact mode (fixed-point lifted state, "
                        "docs/mathematics.md §7)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--width", type=int, default=128,
                   help="channels of the first level (128 is the DDPM-256 UNet)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: size 32, 4 steps, width 16 (not the real network)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.width = 32, 4, 16
    if args.size % 32 or args.size < 32:
        p.error("--size must be a multiple of 32 (the UNet halves the picture 5 times)")
    if args.steps < 2:
        p.error("--steps must be at least 2")
    from revsde import diffusion as D

    dtype = torch.float32
    if args.width < 4 or args.width % 4:
        p.error("--width must be a positive multiple of 4")
    unet = build_unet(args.size, args.seed, args.device, dtype, args.width)
    model = D.from_diffusers(unet, SCHEDULER)
    x0 = picture(args.size, args.device, dtype)
    rows = []
    with torch.no_grad():
        back, seconds = timed(lambda: ddim_roundtrip(unet, x0, args.steps), args.repeats)
        rows.append({"method": "diffusers DDIMInverseScheduler + DDIMScheduler",
                     "steps": args.steps, "nfe_per_direction": args.steps,
                     "seconds_per_roundtrip": seconds, **errors(back, x0)})
        runs = [(n, False) for n in args.samplers] + [(n, True) for n in args.exact]
        for name, exact in runs:
            info = D.get_sampler(name).info()
            steps = (args.steps - info["init_nfe"]) // info["nfe_per_step"]
            if steps < 1:
                continue
            (back, nfe, state), seconds = timed(lambda n=name, s=steps, e=exact: revsde_roundtrip(
                model, x0, s, n, e), args.repeats)
            label = f"revsde {name}" + (" exact mode" if exact else "")
            rows.append({"method": label, "steps": steps, "nfe_per_direction": nfe,
                         "bit_exact": bool(torch.equal(back, x0)),
                         "state_dtype": state, "seconds_per_roundtrip": seconds,
                         **errors(back, x0)})
    params = sum(p.numel() for p in unet.parameters())
    arch = "google/ddpm-*-256 architecture" if args.width == 128 else f"width {args.width}"
    doc = {"benchmark": "diffusers", "network": f"UNet2DModel, {arch}, random weights",
           "parameters": params, "steps": args.steps, "size": args.size, "dtype": "float32",
           "device": str(args.device), "threads": torch.get_num_threads(),
           "picture": "skimage astronaut (RGB)", "results": rows}
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
