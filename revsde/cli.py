"""The ``revsde`` command (also ``python -m revsde``).

Every subcommand takes ``--json``, which prints exactly one JSON document on
stdout.

    revsde solvers [--json]
    revsde convergence [--methods M ...] [--problems P ...] [--out DIR] [--quick] [--json]
    revsde invert [IMAGE] [--steps N] [--sampler S] [--dtype float32|float64] [--json]
    revsde bench {forward,memory,sample_quality,inversion} [--quick] [--json]
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
    from .convergence import convergence_table, plot_convergence

    kwargs = {"steps": (4, 8, 16), "batch": 64} if args.quick else {}
    results = convergence_table(args.methods, args.problems, **kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "convergence.png"
    plot_convergence(results, figure)
    if args.json:
        print(json.dumps({"figure": str(figure), "results": [r.as_dict() for r in results]},
                         indent=2))
        return 0
    print(f"{'method':18s} {'problem':9s} {'fitted':>7s} {'declared':>8s}")
    for r in results:
        exp = "-" if r.expected is None else f"{r.expected:g}"
        print(f"{r.method:18s} {r.problem:9s} {r.order:7.2f} {exp:>8s}")
    print(f"figure: {figure}")
    return 0


def cmd_invert(args) -> int:
    from .app.demo import roundtrip_report

    report = roundtrip_report(
        image=args.image, steps=args.steps, sampler=args.sampler, dtype=args.dtype,
        figure=None if args.no_figure else args.figure,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from .app.demo import format_report

        print(format_report(report))
    return 0


def cmd_bench(args) -> int:
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    script = root / f"bench_{args.name}.py"
    if not script.exists():
        print(
            f"benchmark script {script} not found: `revsde bench` runs the scripts of a "
            "source checkout (git clone the repository)",
            file=sys.stderr,
        )
        return 2
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

    s = sub.add_parser("convergence", help="fit strong/ODE orders and draw the plots")
    s.add_argument("--methods", nargs="*", default=None, help="registry names (default: all)")
    s.add_argument("--problems", nargs="*", default=None,
                   help="additive, diagonal, scalar, general, ode (default: all)")
    s.add_argument("--out", default="out", help="folder for convergence.png")
    s.add_argument("--quick", action="store_true", help="fewer steps and samples")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_convergence)

    s = sub.add_parser("invert", help="exact round trip of an image through noise")
    s.add_argument("image", nargs="?", default=None,
                   help="image file (default: scikit-image's bundled camera)")
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("--sampler", default=None, help="reversible sampler (default: the library's)")
    s.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    s.add_argument("--figure", default="out/invert.png")
    s.add_argument("--no-figure", action="store_true")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(func=cmd_invert)

    s = sub.add_parser("bench", help="run a benchmark script (prints JSON)")
    s.add_argument("name", choices=BENCHMARKS)
    s.add_argument("--quick", action="store_true")
    s.add_argument("--json", action="store_true", help="print one JSON document (default)")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"revsde {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
