"""The ``revsde`` command (also ``python -m revsde``).

Every subcommand takes ``--json``, which prints exactly one JSON document on
stdout.

    revsde solvers [--json]
    revsde convergence [--problem P ...] [--methods M ...] [--steps N ...] [--samples S]
                       [--out DIR] [--json]
    revsde invert [IMAGE] [--size PX] [--steps N ...] [--sampler S] [--dtype D ...] [--json]
    revsde invert DIR --out OUT [--size PX] [--steps N] [--sampler S] [--seed N]   (torchrun-able)
    revsde bench [NAME] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = ("forward", "memory", "sample_quality", "inversion")


def _fmt_orders(orders: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in orders.items()) or "-"


def cmd_solvers(args) -> int:
    from .registry import list_solvers

    infos = list_solvers()
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    header = ("name", "rev", "sde types", "noise types", "strong order", "weak", "ode",
              "nfe/step", "levy")
    rows = [
        (
            i["name"],
            "yes" if i["reversible"] else "no",
            ",".join(i["sde_types"]) or "-",
            ",".join(i["noise_types"]) or "ODE only",
            _fmt_orders(i["strong_order"]),
            "-" if i["weak_order"] is None else f"{i['weak_order']:g}",
            f"{i['ode_order']:g}",
            str(i["nfe_per_step"]),
            "yes" if i["needs_levy_area"] else "no",
        )
        for i in infos
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_convergence(args) -> int:
    """Measure orders of every applicable method on each problem; plots and a summary."""
    import time

    from .convergence import plot_convergence, plot_roundtrip, roundtrip_errors, study

    t0 = time.perf_counter()
    samples = args.samples
    if args.quick and samples is None:
        samples = 64
    # Names are checked before anything runs or is written (ValueError -> exit 2).
    res = study(args.methods, args.problem, steps=args.steps, samples=samples,
                progress=not args.no_progress)
    trips = [] if args.no_roundtrip or args.quick else roundtrip_errors(
        {r.method for r in res.results}, progress=not args.no_progress)
    out = Path(args.out)
    figures = {}
    if res.results:
        figures["convergence"] = plot_convergence(res, out / "convergence.png")
    if trips:
        figures["roundtrip"] = plot_roundtrip(trips, out / "roundtrip.png")
    disagree = [r for r in res.results if r.agrees(args.tol) is False]
    if args.json:
        doc = res.as_dict()
        doc.update(roundtrip=[t.as_dict() for t in trips], figures=figures,
                   figure=figures.get("convergence", [None])[0], tolerance=args.tol,
                   all_agree=not disagree, seconds=round(time.perf_counter() - t0, 2))
        print(json.dumps(doc, indent=2))
        return 0
    for prob in dict.fromkeys(r.problem for r in res.results):
        print(f"\n{prob}")
        print(f"  {'method':18s} {'fitted':>6s} {'± 95%':>6s} {'declared':>8s}")
        for r in (r for r in res.results if r.problem == prob):
            flag = {True: "", False: "  <- differs", None: ""}[r.agrees(args.tol)]
            dec = "-" if r.declared is None else f"{r.declared:g}"
            print(f"  {r.method:18s} {r.order:6.2f} {r.fit.halfwidth:6.2f} {dec:>8s}{flag}")
    by_reason: dict[tuple[str, str], list[str]] = {}
    for sk in res.skipped:
        if sk.reason.startswith(("a diffusion sampler;", "a core solver;")):
            continue  # the two families never mix; said once below
        by_reason.setdefault((sk.problem, sk.reason), []).append(sk.method)
    if res.skipped:
        print("\nskipped (method does not apply; core solvers run the SDE/ODE problems, "
              "diffusion samplers the pf_ode/reverse_sde ones):")
        for (prob, reason), names in by_reason.items():
            print(f"  {prob}: {', '.join(names)} -- {reason}")
    if trips:
        print("\nround trip, max |x_back - x| at the most steps:")
        for t in trips:
            print(f"  {t.method:18s} {t.dtype:8s} {t.steps[-1]:5d} steps  {t.errors[-1]:.1e}")
    print(f"\n{len(res.results)} runs, {len(disagree)} outside ±{args.tol:g} of the declared "
          f"order; {time.perf_counter() - t0:.0f} s")
    for paths in figures.values():
        print("figure: " + ", ".join(paths))
    return 0


def cmd_invert(args) -> int:
    """Round trip of a picture at its own size and colour with the shipped model."""
    from .app.demo import format_report, roundtrip_report

    if args.size is not None and args.size < 4:
        raise ValueError(f"--size must be at least 4 pixels; got {args.size}")
    if args.image is not None and Path(args.image).is_dir():  # a dataset: app/dataset.py
        from .app.dataset import run

        return run(args.image, args.out, model=args.model, sampler=args.sampler or "rex_euler",
                   steps=args.steps[0], seed=args.seed, max_side=args.size,
                   dtype=args.dtype[0], progress=not args.json)
    from .diffusion.pretrained import list_pretrained

    shipped = args.model in list_pretrained() or (
        str(args.model).endswith(".pt") and Path(args.model).is_file())
    if not shipped and not Path(args.model).is_dir():
        raise ValueError(f"--model {args.model!r} is neither a shipped model "
                         f"{list_pretrained()}, a .pt weight file, nor a diffusers folder "
                         "(that path does not exist)")
    if not shipped:  # a diffusers folder (save_pretrained)
        from .app.invert_model import format_diffusers_report, invert_with_diffusers

        if args.image is None:
            raise ValueError("--model with a diffusers folder needs a picture file: "
                             "revsde invert photo.png --model DIR")
        if len(args.steps) != 1 or len(args.dtype) != 1 or args.dtype[0] not in (
                "float32", "float64"):
            raise ValueError("a diffusers folder takes one --steps and one --dtype "
                             "(float32 or float64)")
        rep = invert_with_diffusers(args.model, args.image, steps=args.steps[0],
                                    sampler=args.sampler, dtype=args.dtype[0],
                                    max_size=args.size, seed=args.seed)
        print(json.dumps(rep, indent=2) if args.json else format_diffusers_report(rep))
        return 0
    report = roundtrip_report(
        image=args.image, steps=args.steps, sampler=args.sampler, dtype=args.dtype,
        figure=None if args.no_figure else args.figure, max_side=args.size,
        methods=("rex", *args.baselines), seed=args.seed, state_dtype=args.state_dtype,
        model=args.model,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _bench_root() -> Path:
    return Path(__file__).resolve().parents[1] / "benchmarks"


def _benchmarks() -> list[str]:
    root = _bench_root()
    found = sorted(p.stem[len("bench_"):] for p in root.glob("bench_*.py")) if root.is_dir() \
        else []
    return found or list(BENCHMARKS)


def cmd_bench(args) -> int:
    """Run one benchmark script (its JSON on stdout); with no name, list them."""
    root = _bench_root()
    if args.name is None:
        names = _benchmarks()
        available = root.is_dir()
        if args.json:
            print(json.dumps({"benchmarks": names, "folder": str(root),
                              "available": available}))
        else:
            print("benchmarks (revsde bench NAME [--quick]): " + ", ".join(names))
            if not available:
                print(f"(their scripts live in {root}, in a source checkout of revsde)")
        return 0
    script = root / f"bench_{args.name}.py"
    if not script.exists():
        raise FileNotFoundError(
            f"benchmark script {script} not found: `revsde bench` runs the scripts of a "
            f"source checkout (git clone the repository); names: {', '.join(_benchmarks())}")
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return done.returncode
    doc = json.loads(done.stdout)
    print(json.dumps(doc, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="revsde", description="Reversible SDE solvers.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solvers", help="list the solver registry")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_solvers)

    s = sub.add_parser("convergence", help="measure convergence orders and draw the plots",
                       description="Run every method that applies to each problem (default: "
                       "all registered methods on the default problems), fit the orders, and "
                       "draw log-log plots and round-trip plots (PNG and SVG).")
    s.add_argument("--problem", "--problems", dest="problem", nargs="+", default=None,
                   metavar="NAME", help="problems (see revsde.convergence.PROBLEMS)")
    s.add_argument("--methods", nargs="+", default=None, metavar="NAME",
                   help="solver or sampler names (default: all)")
    s.add_argument("--steps", nargs="+", type=int, default=None, metavar="N",
                   help="step counts for every problem (default: each problem's own)")
    s.add_argument("--samples", type=int, default=None,
                   help="Monte Carlo samples (default: each problem's own)")
    s.add_argument("--out", default="out", help="folder for the figures (default: out)")
    s.add_argument("--tol", type=float, default=0.2,
                   help="flag fitted orders further than this from the declared ones")
    s.add_argument("--quick", action="store_true", help="64 samples and no round trips")
    s.add_argument("--no-roundtrip", action="store_true", help="skip the round-trip plot")
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_convergence)

    from .app.demo import BASELINE_METHODS, DEFAULT_SAMPLER, DEFAULT_STEPS, NETWORK_DTYPES
    from .app.images import DEFAULT_PICTURE, MAX_SIDE, PACKAGED_PICTURES

    s = sub.add_parser(
        "invert", help="exact round trip of a picture through noise, against the baselines",
        description="Encode a picture to noise and decode it back with the shipped model, at "
        "the picture's own size (long side capped by --size) and colour, with a Rex sampler "
        "and with the baselines at equal steps and at equal network evaluations.")
    s.add_argument("image", nargs="?", default=None,
                   help=f"picture file (PNG, JPEG, ...), a bundled name, or a folder of "
                   f"pictures to invert one by one into --out (default: "
                   f"{DEFAULT_PICTURE}, 256x256 RGB; packaged: {', '.join(PACKAGED_PICTURES)})")
    s.add_argument("--size", type=int, default=MAX_SIDE,
                   help=f"cap on the long side in pixels (default {MAX_SIDE}; never upscales)")
    s.add_argument("--steps", type=int, nargs="+", default=[DEFAULT_STEPS],
                   help=f"Rex step counts (default {DEFAULT_STEPS})")
    s.add_argument("--sampler", default=None,
                   help=f"reversible sampler (default {DEFAULT_SAMPLER})")
    s.add_argument("--dtype", nargs="+", default=["float32"], choices=list(NETWORK_DTYPES),
                   help="the network's dtype(s) (default float32)")
    s.add_argument("--state-dtype", default="float64", choices=["float64", "float32"],
                   help="the reversible state's dtype (default float64)")
    s.add_argument("--baselines", nargs="*", default=list(BASELINE_METHODS),
                   choices=list(BASELINE_METHODS), help="baselines to compare (default: all)")
    s.add_argument("--seed", type=int, default=0, help="Brownian seed of SDE samplers")
    s.add_argument("--model", default="small-unet",
                   help="a shipped model name, a .pt weight file, or a diffusers folder "
                   "(default small-unet)")
    s.add_argument("--figure", default="out/invert.png")
    s.add_argument("--no-figure", action="store_true")
    s.add_argument("--out", default="out/latents",
                   help="with a folder of pictures: where the latents and manifest go "
                   "(resumable; under torchrun, sharded by rank)")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_invert)

    s = sub.add_parser("bench", help="run a benchmark script (prints JSON); no name: list them")
    s.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="benchmark name (bench_NAME.py in benchmarks/)")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--json", action="store_true", help="print one JSON document (default)")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler below
        return code
    except BrokenPipeError:
        # the reader closed the pipe (`revsde solvers --json | head -1`): stop quietly,
        # with stdout on devnull so that the interpreter's last flush does not fail again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as err:
        print(f"revsde {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
