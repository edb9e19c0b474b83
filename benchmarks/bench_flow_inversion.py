"""Inverting a flow-matching transformer: the naive Euler inversion vs revsde's exact samplers.

Prints one JSON document.  Setting: an ``SD3Transformer2DModel`` of SD3-medium's width
(24 heads of 64: 1536 wide, joint attention over T5-sized 4096-dim text states and a
2048-dim pooled embedding) with fewer layers (``--layers``, 3 by default: about 250M
parameters), seeded random weights, in float32, on a 16×64×64 latent (a 512 px
picture's) with 64 text tokens; its scheduler is SD3's ``FlowMatchEulerDiscreteScheduler``
(shift 3).  The latent is a seeded standard normal sample (a trained VAE's scaled
latents have about unit variance); the text states are seeded random.

Methods, each timed on one round trip (encode to noise, decode back) and compared with
the starting latent (max abs, RMS):

* ``naive_euler``: what the approximate inversions start from: the scheduler's Euler
  steps run from data to noise (σ from 0 up the scheduler's grid, the velocity taken at
  the lower end of each step, as DDIM inversion does), then back with the scheduler's own
  ``step``; 2n network evaluations for n steps;
* revsde's reversible samplers (``rex_euler``, ``rev_heun``, ``rex_rk4`` by default) on
  :func:`revsde.diffusion.from_diffusers` of the same transformer and scheduler, with
  ``encode``'s defaults (float64 state carried compensated, the network in float32), at
  the step counts whose round trip costs the same number of network evaluations (counted
  with a forward hook on the transformer; a sampler whose one-step round trip costs more
  than the naive one is listed in ``skipped_over_budget``).  ``noise_std`` is the naive
  inversion's noise (about 1 for a good inversion); revsde's latents are its exact state.

diffusers' RF-Inversion is a community pipeline (``examples/community`` of its repository)
that the installed package does not ship, so it is not run offline; the document says
which diffusers version was checked.

``--quick``: a one-layer 16-wide transformer on 4×8×8 latents, 2 and 4 steps (a smoke
test of the script in seconds).

    python benchmarks/bench_flow_inversion.py [--quick] [--layers 3] [--steps 4 8]
        [--threads 2] [--samplers rex_euler rev_heun rex_rk4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from typing import Any

import torch

SAMPLERS = ("rex_euler", "rev_heun", "rex_rk4")


def build(quick: bool, layers: int, seed: int = 0):
    """``(transformer, scheduler, latent, cond)`` of the setting (module docstring)."""
    import diffusers

    torch.manual_seed(seed)
    net: Any
    if quick:
        net = diffusers.SD3Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=1,
            attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
            caption_projection_dim=16, pooled_projection_dim=8, pos_embed_max_size=16)
        shape, text, pooled, tokens = (1, 4, 8, 8), 16, 8, 5
    else:
        net = diffusers.SD3Transformer2DModel(
            sample_size=64, patch_size=2, in_channels=16, out_channels=16, num_layers=layers,
            attention_head_dim=64, num_attention_heads=24, joint_attention_dim=4096,
            caption_projection_dim=1536, pooled_projection_dim=2048, pos_embed_max_size=96)
        shape, text, pooled, tokens = (1, 16, 64, 64), 4096, 2048, 64
    net = net.eval()
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    g = torch.Generator().manual_seed(seed + 1)
    x0 = torch.randn(shape, generator=g)
    cond = {"encoder_hidden_states": torch.randn(1, tokens, text, generator=g),
            "pooled_projections": torch.randn(1, pooled, generator=g)}
    return net, scheduler, x0, cond


class Counter:
    """Counts the transformer's forward calls (network evaluations)."""

    def __init__(self, module):
        self.n = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, *_):
        self.n += 1


def naive_round_trip(net, scheduler, x0, cond, steps: int):
    """The scheduler's Euler steps from data to noise, then its own ``step`` back."""
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.to(torch.float32)  # descending: σ_max ... 0
    n = scheduler.config.num_train_timesteps
    x = x0.clone()
    with torch.no_grad():
        for i in reversed(range(steps)):  # σ_{i+1} → σ_i, velocity at the lower end
            lo, hi = sigmas[i + 1], sigmas[i]
            v = net(hidden_states=x, timestep=(lo * n).reshape(1), **cond,
                    return_dict=False)[0]
            x = x + (hi - lo) * v
        noise = x
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            v = net(hidden_states=x, timestep=t.reshape(1), **cond, return_dict=False)[0]
            x = scheduler.step(v, t, x, return_dict=False)[0]
    return noise, x


def revsde_round_trip(model, x0, cond, sampler: str, steps: int):
    import revsde.diffusion as D

    with torch.no_grad():
        lat = D.encode(model, x0, steps=steps, sampler=sampler, cond=cond, seed=0)
        back = D.decode(model, lat, cond=cond)
    return lat, back


def _errors(back: torch.Tensor, x0: torch.Tensor) -> dict:
    d = back.to(torch.float64) - x0.to(torch.float64)
    return {"max_abs": float(d.abs().max()), "rms": float(d.square().mean().sqrt()),
            "bit_exact": bool(torch.equal(back.to(x0.dtype), x0))}


def rf_inversion_status() -> str:
    """Whether the installed diffusers ships an RF-Inversion pipeline."""
    import diffusers

    names = [n for n in dir(diffusers) if "RFInversion" in n or "RfInversion" in n]
    if names:
        return f"shipped as {names} (not yet wired into this benchmark)"
    found = importlib.util.find_spec("diffusers.pipelines.flux.pipeline_flux_rf_inversion")
    if found is not None:
        return "found as diffusers.pipelines.flux.pipeline_flux_rf_inversion"
    return (f"not shipped by diffusers {diffusers.__version__}: RF-Inversion is a community "
            "pipeline of its repository (examples/community), not in the installed package")


def round_trip_nfe(sampler: str) -> tuple[int, int]:
    """``(per_step, fixed)``: a round trip of ``m`` steps costs ``per_step·m + fixed``
    network evaluations (counted on the quick transformer at 1 and 2 steps)."""
    import revsde.diffusion as D

    net, scheduler, x0, cond = build(True, 1)
    model = D.from_diffusers(net, scheduler)
    count = Counter(net)
    nfe = []
    for m in (1, 2):
        count.n = 0
        revsde_round_trip(model, x0, cond, sampler, m)
        nfe.append(count.n)
    count.handle.remove()
    return nfe[1] - nfe[0], 2 * nfe[0] - nfe[1]


def steps_for(budget: int, per_step: int, fixed: int) -> int:
    """The most steps whose round trip costs at most ``budget`` evaluations (at least 1)."""
    return max(1, (budget - fixed) // per_step)


def main(argv=None) -> dict:
    import revsde.diffusion as D

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=None,
                    help="naive Euler step counts (default 4 8; --quick 2 4)")
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps_list = args.steps or ([2, 4] if args.quick else [4, 8])
    t0 = time.perf_counter()
    net, scheduler, x0, cond = build(args.quick, args.layers)
    build_s = time.perf_counter() - t0
    model = D.from_diffusers(net, scheduler)
    cost = {sampler: round_trip_nfe(sampler) for sampler in args.samplers}
    count = Counter(net)
    rows: list[dict] = []
    skipped: list[dict] = []
    for n in steps_list:
        count.n = 0
        t = time.perf_counter()
        noise, back = naive_round_trip(net, scheduler, x0, cond, n)
        seconds = time.perf_counter() - t
        rows.append({"method": "naive_euler", "steps": n, "nfe_round_trip": count.n,
                     "seconds_round_trip": seconds, **_errors(back, x0),
                     "noise_std": float(noise.std())})
        for sampler in args.samplers:
            per_step, fixed = cost[sampler]
            if per_step + fixed > 2 * n:  # one step costs more than the naive round trip
                skipped.append({"method": sampler, "equal_nfe_to_steps": n,
                                "one_step_round_trip_nfe": per_step + fixed})
                continue
            m = steps_for(2 * n, per_step, fixed)
            count.n = 0
            t = time.perf_counter()
            lat, back = revsde_round_trip(model, x0, cond, sampler, m)
            seconds = time.perf_counter() - t
            rows.append({"method": sampler, "steps": m, "nfe_round_trip": count.n,
                         "seconds_round_trip": seconds, **_errors(back, x0),
                         "state_dtype": lat.dtype,
                         "equal_nfe_to": {"method": "naive_euler", "steps": n,
                                          "nfe_round_trip": 2 * n}})
    count.handle.remove()
    params = sum(p.numel() for p in net.parameters())
    config = dict(net.config)
    doc = {
        "benchmark": "flow_inversion", "quick": bool(args.quick),
        "transformer": {"class": type(net).__name__, "parameters": params,
                        "layers": config["num_layers"],
                        "width": config["num_attention_heads"] * config["attention_head_dim"],
                        "latent_shape": list(x0.shape),
                        "text_tokens": int(cond["encoder_hidden_states"].shape[1]),
                        "dtype": "float32", "weights": "random (seeded)"},
        "scheduler": {"class": type(scheduler).__name__, "shift": scheduler.config.shift},
        "guidance": None, "rf_inversion": rf_inversion_status(), "rows": rows,
        "skipped_over_budget": skipped,
        "round_trip_nfe": {k: {"per_step": v[0], "fixed": v[1]} for k, v in cost.items()},
        "build_seconds": build_s,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "total_seconds": time.perf_counter() - t0,
    }
    return doc


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    sys.stdout.write("\n")
