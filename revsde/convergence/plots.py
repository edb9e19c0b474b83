"""Log–log convergence figures and round-trip figures (PNG and SVG).

Every method keeps one style in every panel and figure: a colour, a marker and
a line style (solid for non-reversible methods, dashed with open markers for
reversible ones, so a reversible wrapper and its base stay apart where their
errors coincide).  With more methods than colours the marker and line style
still tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .measure import ConvergenceResult, Study
    from .roundtrip import RoundTrip

__all__ = ["plot_convergence", "plot_roundtrip", "method_styles"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")


def _palette(n: int) -> list:
    """Saturated colours: tab10, then Dark2 and Set1 (no pale or grey ones)."""
    colours = _listed("tab10")
    if n > len(colours):
        extra = _listed("Dark2")[:7]
        extra += [c for i, c in enumerate(_listed("Set1")) if i in (0, 1, 3, 6)]
        colours = [c for i, c in enumerate(colours) if i != 7] + extra  # tab10's grey last
        colours += [_listed("tab10")[7]]
    return colours


def _listed(name: str) -> list:
    """The colours of matplotlib's qualitative (listed) colour map ``name``."""
    import matplotlib
    import numpy as np
    from matplotlib.colors import ListedColormap

    cmap = matplotlib.colormaps[name]
    colours = cmap.colors if isinstance(cmap, ListedColormap) else None
    if not isinstance(colours, (list, tuple, np.ndarray)):
        raise TypeError(f"matplotlib's {name!r} is not a listed colour map")
    return list(colours)


def method_styles(names: Sequence[str], reversible: Iterable[str] = ()) -> dict[str, dict]:
    """``{name: matplotlib style}``: distinct colour and marker per method.

    Args:
        names: the methods, in a fixed order (the registry's), so that a method
            keeps its style across figures.
        reversible: names drawn dashed with open markers.
    """
    rev = set(reversible)
    colours = _palette(len(names))
    out = {}
    for i, name in enumerate(names):
        c = colours[i % len(colours)]
        out[name] = {
            "color": c,
            "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": "--" if name in rev else "-",
            "markerfacecolor": "white" if name in rev else c,
            "markeredgecolor": c,
            "markersize": 6,
            "linewidth": 1.4,
        }
    return out


def _style_table(names: Sequence[str]) -> dict[str, dict]:
    """Styles in registry order, counted within each family (solvers and samplers never
    share a panel), so a method keeps its style across figures."""
    from .measure import list_methods

    table = list_methods()
    out: dict[str, dict] = {}
    for family in ("solver", "sampler"):
        fam = [n for n, e in table.items() if e["family"] == family]
        rev = [n for n in fam if table[n].get("reversible")]
        out.update(method_styles(fam, rev))
    others = [n for n in names if n not in out]
    out.update(method_styles(others))
    return out


def _save(fig, path) -> list[str]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    out = []
    for ext in (".png", ".svg"):
        fig.savefig(stem.with_suffix(ext), dpi=fig.dpi, bbox_inches="tight")
        out.append(str(stem.with_suffix(ext)))
    return out


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"


def _reference_slopes(ax, results) -> None:
    """Dashed grey lines ``C h^p`` for each declared order p in the panel, labelled."""
    import numpy as np

    orders = sorted({r.declared for r in results if r.declared is not None})
    hs_all = sorted({h for r in results for h in r.hs})
    h_lo, h_hi = hs_all[0], hs_all[-1]
    for p in orders:
        group = [r for r in results if r.declared == p]
        # anchor below the group's smallest error at the largest h, so the guide sits apart
        e_hi = min(r.errors[int(np.argmax(r.hs))] for r in group) / 3.0
        xs = np.array([h_lo, h_hi])
        ys = e_hi * (xs / h_hi) ** p
        ax.plot(xs, ys, color="0.45", linestyle=(0, (4, 3)), linewidth=1.0, zorder=1)
        ax.annotate(f"slope {p:g}", (xs[0], ys[0]), xytext=(-3, 3), ha="right", va="bottom",
                    textcoords="offset points", fontsize=8, color="0.35",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})


def plot_convergence(results: Iterable[ConvergenceResult] | Study, path: str | Path, *,
                     title: str | None = None, ncols: int = 2,
                     dpi: int = 100) -> list[str]:
    """Draw log–log error against step size, one panel per problem; save PNG and SVG.

    Each method is a line with its Monte Carlo confidence band (shaded), the
    legend gives its fitted order ``± the 95 % interval`` and the declared
    order in brackets, and dashed grey lines show the declared slopes.

    Args:
        results: :class:`~revsde.convergence.ConvergenceResult` objects (or a
            :class:`~revsde.convergence.Study`).
        path: output file; its suffix is replaced by ``.png`` and ``.svg``.
        title: figure title.
        ncols: panels per row.
        dpi: resolution of the PNG.

    Returns:
        The paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .measure import Study

    results = list(results.results if isinstance(results, Study) else results)
    if not results:
        raise ValueError("plot_convergence needs at least one result")
    problems = list(dict.fromkeys(r.problem for r in results))
    styles = _style_table([r.method for r in results])
    ncols = max(1, min(ncols, len(problems)))
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(8.6 * ncols, 4.3 * nrows), squeeze=False,
                             dpi=dpi)
    from .problems import PROBLEMS

    for ax, prob in zip(axes.flat, problems):
        rs = [r for r in results if r.problem == prob]
        for r in rs:
            st = styles[r.method]
            label = (f"{r.method}: {r.fit.order:.2f} ± {r.fit.halfwidth:.2f} "
                     f"({_fmt(r.declared)})")
            ax.fill_between(r.hs, [max(v, 1e-300) for v in r.low], r.high, color=st["color"],
                            alpha=0.15, linewidth=0, zorder=2)
            ax.plot(r.hs, r.errors, label=label, zorder=3, **st)
        _reference_slopes(ax, rs)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.invert_xaxis()
        hs = sorted({h for r in rs for h in r.hs})
        ax.set_xticks(hs)
        ax.set_xticklabels([f"1/{round(1 / h)}" for h in hs])
        ax.minorticks_off()
        ax.set_xlabel("step size h (fraction of the interval)")
        kind = rs[0].error
        ax.set_ylabel({"strong": "strong error", "weak": "weak error",
                       "ode": "global error"}.get(kind, "error"))
        desc = PROBLEMS[prob].description if prob in PROBLEMS else ""
        ax.set_title(f"{prob}: {desc}" if desc else prob, fontsize=10, loc="left")
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                  frameon=False, title="fitted ± 95% (declared)", title_fontsize=8)
    for ax in axes.flat[len(problems):]:
        ax.set_visible(False)
    fig.suptitle(title or "Convergence: mean error with 95% Monte Carlo bands", fontsize=12,
                 x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    paths = _save(fig, path)
    plt.close(fig)
    return paths


def plot_roundtrip(trips: Iterable[RoundTrip], path: str | Path, *, title: str | None = None,
                   dpi: int = 100) -> list[str]:
    """Round-trip error against steps: a row per family (core solvers, diffusion samplers)
    and a column per dtype (float32, float64); PNG and SVG.

    Args:
        trips: :class:`~revsde.convergence.RoundTrip` objects.
        path: output file; its suffix is replaced by ``.png`` and ``.svg``.
        title: figure title.
        dpi: resolution of the PNG.

    A zero error (a bit-exact round trip) is drawn at the bottom of the axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    trips = list(trips)
    if not trips:
        raise ValueError("plot_roundtrip needs at least one round trip")
    dtypes = [d for d in ("float32", "float64") if any(t.dtype == d for t in trips)]
    families = [f for f in ("solver", "sampler") if any(t.family == f for t in trips)]
    styles = _style_table([t.method for t in trips])
    fig, axes = plt.subplots(len(families), len(dtypes),
                             figsize=(5.6 * len(dtypes) + 2.6, 4.0 * len(families)),
                             squeeze=False, dpi=dpi)
    eps = {"float32": 2.0**-23, "float64": 2.0**-52}
    what = {"solver": "core solvers", "sampler": "diffusion samplers (encode, decode)"}
    for row, fam in zip(axes, families):
        for ax, d in zip(row, dtypes):
            ts = [t for t in trips if t.dtype == d and t.family == fam]
            floor = eps[d] * 1e-2
            for t in ts:
                errs = [max(e, floor) for e in t.errors]
                ax.plot(t.steps, errs, label=f"{t.method} ({t.problem})", **styles[t.method])
            ax.axhline(eps[d], color="0.45", linestyle=(0, (4, 3)), linewidth=1.0)
            ax.text(0.01, eps[d], " machine epsilon", transform=ax.get_yaxis_transform(),
                    fontsize=8, color="0.35", va="bottom")
            ax.set_xscale("log")
            ax.set_yscale("log")
            steps = sorted({n for t in ts for n in t.steps})
            ax.set_xticks(steps)
            ax.set_xticklabels([str(n) for n in steps])
            ax.xaxis.set_minor_formatter(NullFormatter())
            # 1, 2 and 5 per decade, so a panel spanning less than a decade keeps labels
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("steps")
            ax.set_ylabel("max |x_back − x|")
            ax.set_title(f"{what[fam]}, {d}", fontsize=10, loc="left")
            ax.grid(True, which="major", alpha=0.3)
            ax.tick_params(labelsize=9)
        row[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       borderaxespad=0, frameon=False, title="method (problem)",
                       title_fontsize=8)
    fig.suptitle(title or "Round trips of the reversible methods: forward, then inverse on "
                 "the same Brownian path", fontsize=12, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    paths = _save(fig, path)
    plt.close(fig)
    return paths
