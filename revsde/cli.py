"""The ``revsde`` command (also ``python -m revsde``).

Every subcommand takes ``--json``, which prints exactly one JSON document on
stdout.

    revsde solvers [--json]
    revsde convergence [--problem P ...] [--methods M ...] [--steps N ...] [--samples S]
                       [--out DIR] [--json]
    revsde invert [IMAGE] [--size PX] [--steps N ...] [--sampler S] [--dtype D ...] [--json]
    revsde invert DIR --out OUT [--size PX] [--steps N] [--sampler S] [--seed N]   (torchrun-able)
    revsde edit [IMAGE] [--digit N] [--source L] [--target L] [--strength S]
                [--guidance-scale G] [--steps N] [--sampler S] [--figure FILE] [--json]
    revsde bench [NAME] [--quick] [--dir DIR] [--json]
    revsde --version

A command that runs more than a few seconds shows a progress bar on stderr, unless
``--json`` or ``--no-progress`` is given or stderr is not a terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from . import __version__

#: the benchmark scripts (benchmarks/bench_NAME.py of the source repository; not installed)
BENCHMARKS = ("adaptive", "diffusers", "editing", "flow_inversion", "forward", "gradient_map",
              "gradients", "inversion", "memory", "reproducible", "sample_quality", "samplers")
#: the most steps ``revsde convergence --steps`` takes per run
MAX_CONVERGENCE_STEPS = 1_000_000


def _progress(args) -> bool:
    """A progress bar on stderr: not with --json or --no-progress, only on a terminal."""
    return not (args.json or getattr(args, "no_progress", False)) and sys.stderr.isatty()


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
    from .convergence import plot_convergence, plot_roundtrip, roundtrip_errors, study

    if not (math.isfinite(args.tol) and args.tol > 0):
        raise ValueError(f"--tol must be a positive number (an order difference, e.g. 0.2); "
                         f"got {args.tol:g}")
    if args.samples is not None and args.samples < 2:
        raise ValueError(f"--samples must be an integer of at least 2; got {args.samples}")
    for n in args.steps or ():
        if not 1 <= n <= MAX_CONVERGENCE_STEPS:
            raise ValueError(f"--steps must be between 1 and {MAX_CONVERGENCE_STEPS:,}; "
                             f"got {n:,}")
    t0 = time.perf_counter()
    samples = args.samples
    if args.quick and samples is None:
        samples = 64
    # Names are checked before anything runs or is written (ValueError -> exit 2).
    res = study(args.methods, args.problem, steps=args.steps, samples=samples,
                progress=_progress(args))
    trips = [] if args.no_roundtrip or args.quick else roundtrip_errors(
        {r.method for r in res.results}, progress=_progress(args))
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


def _check_model(model: str) -> bool:
    """True for a shipped model (a name or a .pt file), False for a diffusers folder."""
    from .diffusion.pretrained import list_pretrained

    if model in list_pretrained():
        return True
    path = Path(model)
    if path.is_file():
        if path.suffix == ".pt":
            return True
        raise ValueError(f"--model {model!r} is a file, not a model: give a shipped model name "
                         f"{list_pretrained()}, a .pt weight file or a diffusers folder "
                         "(save_pretrained); a picture goes first: revsde invert PICTURE "
                         "--model MODEL")
    if path.is_dir():
        return False
    raise ValueError(f"--model {model!r} is neither a shipped model {list_pretrained()}, a .pt "
                     "weight file, nor a diffusers folder (that path does not exist)")


def cmd_invert(args) -> int:
    """Round trip of a picture at its own size and colour with the shipped model."""
    from .app.demo import (
        BASELINE_METHODS,
        DEFAULT_SAMPLER,
        MAX_STEPS,
        REFERENCE_STEPS,
        _check_sampler,
        figure_path,
        format_report,
        roundtrip_report,
    )
    from .checks import check_step_count

    if not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be a non-negative integer below 2**63; got {args.seed}")
    if args.size is not None and args.size < 4:
        raise ValueError(f"--size must be at least 4 pixels; got {args.size}")
    if args.image is not None and Path(args.image).is_dir():  # a dataset: app/dataset.py
        from .app.dataset import run

        return run(args.image, args.out, model=args.model, sampler=args.sampler or DEFAULT_SAMPLER,
                   steps=args.steps[0], seed=args.seed, max_side=args.size,
                   dtype=args.dtype[0], progress=not (args.json or args.no_progress))
    for n in args.steps:
        if n < 2:
            raise ValueError(f"--steps must be integers >= 2; got {n}")
        check_step_count(n, MAX_STEPS, what=f"a round trip of --steps {n:,}",
                         fix=f"use --steps {MAX_STEPS:,} or fewer (the Rex round trip is "
                         "exact already at 10)")
    if args.reference_steps is not None and args.reference_steps != 0 and \
            args.reference_steps < 4:
        raise ValueError(f"--reference-steps must be 0 (no fidelity figures) or at least 4; "
                         f"got {args.reference_steps}")
    if args.max_memory is not None and not (math.isfinite(args.max_memory)
                                            and args.max_memory > 0):
        raise ValueError(f"--max-memory must be a positive number of GB; got {args.max_memory}")
    sampler = args.sampler or DEFAULT_SAMPLER
    _check_sampler(sampler)
    shipped = _check_model(args.model)
    if not shipped:  # a diffusers folder (save_pretrained)
        from .app.invert_model import format_diffusers_report, invert_with_diffusers

        if args.image is None:
            raise ValueError("--model with a diffusers folder needs a picture file: "
                             "revsde invert photo.png --model DIR")
        if len(args.steps) != 1 or len(args.dtype) != 1 or args.dtype[0] not in (
                "float32", "float64"):
            raise ValueError("a diffusers folder takes one --steps and one --dtype "
                             "(float32 or float64)")
        for flag, given in (("--baselines", args.baselines is not None),
                            ("--figure", args.figure is not None),
                            ("--max-memory", args.max_memory is not None),
                            ("--reference-steps", args.reference_steps is not None)):
            if given:
                raise ValueError(f"{flag} works with the shipped models only; with a diffusers "
                                 "folder (--model DIR) leave it out")
        rep = invert_with_diffusers(args.model, args.image, steps=args.steps[0],
                                    sampler=sampler, dtype=args.dtype[0],
                                    max_size=args.size, seed=args.seed,
                                    state_dtype=args.state_dtype, progress=_progress(args),
                                    prompt=args.prompt, negative_prompt=args.negative_prompt,
                                    guidance_scale=args.guidance_scale)
        print(json.dumps(rep, indent=2) if args.json else format_diffusers_report(rep))
        return 0
    for flag, given in (("--prompt", args.prompt), ("--negative-prompt", args.negative_prompt),
                        ("--guidance-scale", args.guidance_scale)):
        if given is not None:
            raise ValueError(f"{flag} works with a diffusers pipeline folder (--model DIR); "
                             f"the shipped model {args.model!r} is unconditional: leave it out")
    figure = None if args.no_figure else figure_path(args.figure or "out/invert.png")
    baselines = BASELINE_METHODS if args.baselines is None else args.baselines
    report = roundtrip_report(
        image=args.image, steps=args.steps, sampler=sampler, dtype=args.dtype,
        figure=figure, max_side=args.size, methods=("rex", *baselines), seed=args.seed,
        state_dtype=args.state_dtype, model=args.model, progress=_progress(args),
        max_memory=None if args.max_memory is None else int(args.max_memory * 2**30),
        reference_steps=(REFERENCE_STEPS if args.reference_steps is None
                         else args.reference_steps or None),
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_edit(args) -> int:
    """Edit a digit's label by exact inversion (revsde.app.edit_digits)."""
    from .app.demo import figure_path
    from .app.edit_digits import edit_report, format_edit_report

    if not (math.isfinite(args.strength) and 0 < args.strength <= 1):
        raise ValueError(f"--strength must be in (0, 1] (the fraction of the steps "
                         f"regenerated); got {args.strength:g}")
    if not (math.isfinite(args.guidance_scale) and args.guidance_scale >= 0):
        raise ValueError(f"--guidance-scale must be a number >= 0 (1: no guidance); got "
                         f"{args.guidance_scale:g}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be a positive integer; got {args.steps}")
    if args.image is not None and args.digit is not None:
        raise ValueError("give a picture file or --digit N, not both")
    figure = None if args.no_figure else figure_path(args.figure)
    rep = edit_report(image=args.image, digit=0 if args.digit is None else args.digit,
                      source=args.source, target=args.target, strength=args.strength,
                      guidance_scale=args.guidance_scale, steps=args.steps,
                      sampler=args.sampler, model=args.model, figure=figure,
                      progress=_progress(args))
    print(json.dumps(rep, indent=2) if args.json else format_edit_report(rep))
    return 0


def _bench_folders(given: str | None) -> list[Path]:
    """Where benchmark scripts are looked for: --dir, ./benchmarks, the source checkout's."""
    if given is not None:
        return [Path(given)]
    return [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[1] / "benchmarks"]


def _bench_root(given: str | None = None) -> Path | None:
    """The first folder that holds bench_*.py scripts, or None (a pip install has none)."""
    for root in _bench_folders(given):
        if root.is_dir() and any(root.glob("bench_*.py")):
            return root
    return None


WHERE = ("the benchmark scripts are not installed with the package: they live in the "
         "benchmarks/ folder of the revsde source repository; run `revsde bench NAME` "
         "from the root of a checkout, or pass --dir PATH/TO/benchmarks")


def cmd_bench(args) -> int:
    """Run one benchmark script (its JSON on stdout); with no name, list them."""
    root = _bench_root(args.dir)
    if args.dir is not None and root is None:
        raise FileNotFoundError(f"--dir {args.dir}: no bench_*.py scripts there")
    runnable = sorted(p.stem[len("bench_"):] for p in root.glob("bench_*.py")) if root else []
    names = sorted(set(BENCHMARKS) | set(runnable))
    if args.name is None:
        if args.json:
            print(json.dumps({"benchmarks": names, "runnable": runnable,
                              "folder": None if root is None else str(root),
                              "available": root is not None}))
        else:
            print("benchmarks (revsde bench NAME [--quick]): " + ", ".join(names))
            if root is None:
                print(f"none can run here: {WHERE}")
            else:
                print(f"scripts in {root}")
        return 0
    if root is None:
        raise FileNotFoundError(f"cannot run benchmark {args.name!r}: {WHERE}")
    script = root / f"bench_{args.name}.py"
    if not script.exists():
        raise FileNotFoundError(
            f"no benchmark {args.name!r} (bench_{args.name}.py not found in {root}); "
            f"names: {', '.join(runnable)}")
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    from tqdm.auto import tqdm

    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as job:
        with tqdm(desc=f"bench {args.name}", bar_format="{desc}: {elapsed} elapsed",
                  file=sys.stderr, disable=not _progress(args), leave=False) as bar:
            while True:
                try:
                    out, err = job.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    bar.refresh()
    if job.returncode != 0:
        sys.stderr.write(err)
        return job.returncode
    doc = json.loads(out)
    print(json.dumps(doc, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="revsde", description="Reversible SDE solvers.")
    p.add_argument("--version", action="version", version=f"revsde {__version__}")
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
                   help="flag fitted orders further than this (> 0) from the declared ones "
                   "(default 0.2)")
    s.add_argument("--quick", action="store_true", help="64 samples and no round trips")
    s.add_argument("--no-roundtrip", action="store_true", help="skip the round-trip plot")
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_convergence)

    from .app.demo import (
        BASELINE_METHODS,
        DEFAULT_SAMPLER,
        DEFAULT_STEPS,
        MAX_STEPS,
        NETWORK_DTYPES,
        REFERENCE_STEPS,
    )
    from .app.images import DEFAULT_PICTURE, MAX_SIDE, PACKAGED_PICTURES

    s = sub.add_parser(
        "invert", help="exact round trip of a picture through noise, against the baselines",
        description="Encode a picture to noise and decode it back with the shipped model, at "
        "the picture's own size (long side capped by --size) and colour, with a reversible "
        "sampler and with the baselines at equal steps and at equal network evaluations, and "
        "measure each latent's fidelity: its distance to a converged encoding, its "
        "statistics against N(0, I) and the converged latent decoded by the same method.  The "
        "picture's range comes from its file (8-bit, 16-bit, float in [0, 1]); its EXIF "
        "orientation is applied and an alpha channel is composited over white.")
    s.add_argument("image", nargs="?", default=None,
                   help=f"picture file (PNG, JPEG, ...), a bundled name, or a folder of "
                   f"pictures to invert one by one into --out (default: "
                   f"{DEFAULT_PICTURE}, 256x256 RGB; packaged: {', '.join(PACKAGED_PICTURES)})")
    s.add_argument("--size", type=int, default=MAX_SIDE,
                   help=f"cap on the long side in pixels (default {MAX_SIDE}; never upscales)")
    s.add_argument("--steps", type=int, nargs="+", default=[DEFAULT_STEPS],
                   help=f"step counts of the reversible sampler, 2 to {MAX_STEPS:,} (default "
                   f"{DEFAULT_STEPS})")
    s.add_argument("--sampler", default=None,
                   help=f"reversible sampler (default {DEFAULT_SAMPLER}, the best latent per "
                   "network evaluation of the exact samplers, docs/howto-invert.md; also with "
                   "--model "
                   "DIR; `python -c 'from revsde.diffusion.samplers import reversible_names; "
                   "print(reversible_names())'` lists them)")
    s.add_argument("--dtype", nargs="+", default=["float32"], choices=list(NETWORK_DTYPES),
                   help="the network's dtype(s) (default float32)")
    s.add_argument("--state-dtype", default="float64", choices=["float64", "float32"],
                   help="the reversible state's dtype (default float64)")
    s.add_argument("--baselines", nargs="*", default=None, choices=list(BASELINE_METHODS),
                   help="baselines to compare (default: all; none: --baselines alone; "
                   "shipped models only)")
    s.add_argument("--seed", type=int, default=0, help="Brownian seed of SDE samplers")
    s.add_argument("--model", default="small-unet",
                   help="a shipped model name, a .pt weight file, or a diffusers folder "
                   "(default small-unet)")
    s.add_argument("--prompt", default=None,
                   help="with --model DIR, a text-to-image pipeline folder: the prompt its "
                   "own text encoders condition the model on (default: the empty prompt)")
    s.add_argument("--negative-prompt", default=None,
                   help="with --model DIR: the unconditional half of classifier-free guidance")
    s.add_argument("--guidance-scale", type=float, default=None, metavar="S",
                   help="with --model DIR: classifier-free guidance scale (used when > 1, as "
                   "the pipelines do; FLUX: its distilled guidance input)")
    s.add_argument("--figure", default=None, metavar="FILE",
                   help="where to draw the figure (default out/invert.png; .png is added to "
                   "a name without a suffix; shipped models only)")
    s.add_argument("--no-figure", action="store_true", help="draw no figure")
    s.add_argument("--max-memory", type=float, default=None, metavar="GB",
                   help="refuse a run that would need more memory (default: 80%% of this "
                   "machine's; shipped models only)")
    s.add_argument("--reference-steps", type=int, default=None, metavar="N",
                   help=f"the converged reference of the fidelity figures: DDIM inversion at "
                   f"N/2, N and 2N steps, Richardson-extrapolated (default {REFERENCE_STEPS}; "
                   "0: no fidelity figures; shipped models only)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s.add_argument("--out", default="out/latents",
                   help="with a folder of pictures: where the latents and manifest go "
                   "(resumable; under torchrun, sharded by rank)")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_invert)

    from .app.edit_digits import DEFAULT_GUIDANCE, DEFAULT_MODEL, DEFAULT_SHIFT, HELD_OUT

    s = sub.add_parser(
        "edit", help="change a digit's label by exact inversion (invert, regenerate)",
        description="Invert a digit under its label with a reversible sampler and regenerate "
        "it under another label with the shipped label-conditioned digits model (classifier-"
        "free guidance in both directions, so the inversion stays exact). Reports what an "
        "independent judge reads in the edit, its distance to the source and the inversion's "
        "reconstruction error, and draws source, latent and edit.")
    s.add_argument("image", nargs="?", default=None,
                   help="a picture file of one digit (gray or colour; resized to 16x16; dark "
                   "ink on light paper is flipped); needs --source (default: a held-out "
                   "real digit, see --digit)")
    s.add_argument("--digit", type=int, default=None, metavar="N",
                   help=f"a held-out real digit by index, 0..{HELD_OUT - 1} (default 0); its "
                   "true label is the source")
    s.add_argument("--source", type=int, default=None, metavar="LABEL",
                   help="the label the digit is inverted under (default: its true label)")
    s.add_argument("--target", type=int, default=None, metavar="LABEL",
                   help=f"the label it is regenerated under (default: source + "
                   f"{DEFAULT_SHIFT}, mod 10)")
    s.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="fraction of the steps inverted and regenerated, in (0, 1] "
                   "(default 1: from the noise end)")
    s.add_argument("--guidance-scale", type=float, default=DEFAULT_GUIDANCE, metavar="G",
                   help=f"classifier-free guidance scale, both directions (default "
                   f"{DEFAULT_GUIDANCE:g}; 1: none)")
    s.add_argument("--steps", type=int, default=None,
                   help="grid steps (default: revsde.diffusion.edit's)")
    s.add_argument("--sampler", default=None,
                   help="reversible sampler or inversion baseline (ddim, edict, bdia, obelm; "
                   "default: revsde.diffusion.edit's)")
    s.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"a label-conditioned shipped model or .pt file (default "
                   f"{DEFAULT_MODEL})")
    s.add_argument("--figure", default="out/edit.png", metavar="FILE",
                   help="where to draw source, latent and edit (default out/edit.png)")
    s.add_argument("--no-figure", action="store_true", help="draw no figure")
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_edit)

    s = sub.add_parser("bench", help="run a benchmark script (prints JSON); no name: list them")
    s.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="benchmark name (bench_NAME.py in benchmarks/ of a source checkout)")
    s.add_argument("--quick", action="store_true",
                   help="a short smoke run (small sizes, one repeat) instead of the full one")
    s.add_argument("--dir", default=None, metavar="DIR",
                   help="folder of the bench_*.py scripts (default: ./benchmarks, or the "
                   "source checkout's)")
    s.add_argument("--no-progress", action="store_true", help="no elapsed time on stderr")
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
