"""The main job: an exact round trip of a real image through noise, against the baselines.

``roundtrip_report(...)`` loads the shipped model, encodes a real 32x32 image
to noise and decodes it back with Rex (``revsde.diffusion.encode`` /
``decode``) and with the baselines of MATH.md §5 (DDIM inversion, EDICT, BDIA,
O-BELM), for each step count and dtype, and returns the errors as a
JSON-ready dict; it can also draw the figure.  ``examples/invert_image.py``
and ``revsde invert`` are thin wrappers around it.

Every method runs on the same grid, ``time_grid(schedule, steps, grid)`` with
``grid="uniform_lambda"`` by default (the default of ``encode``), from the data
end ``t_min`` to the noise end ``t_max``; the image is taken as the state at
``t_min``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..diffusion.baselines import BASELINES
from ..diffusion.pretrained import pretrained
from ..diffusion.schedules import time_grid
from .images import BUNDLED_IMAGES, load_image

__all__ = ["roundtrip", "roundtrip_report", "format_report", "draw_figure",
           "BASELINE_METHODS", "DEFAULT_SAMPLER", "DEFAULT_GRID"]

#: the baselines of the registry (:data:`revsde.diffusion.baselines.BASELINES`)
BASELINE_METHODS = tuple(BASELINES)
DEFAULT_SAMPLER = "rex_rk4"
DEFAULT_GRID = "uniform_lambda"  # the library default of encode
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _as_tuple(v, kind):
    if isinstance(v, (str, int)):
        v = (v,)
    v = tuple(v)
    if not v:
        raise ValueError(f"need at least one {kind}")
    return v


def _check_args(steps, dtypes, methods):
    steps = _as_tuple(steps, "step count")
    for n in steps:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"step counts must be integers >= 2; got {n!r}")
    dtypes = _as_tuple(dtypes, "dtype")
    for d in dtypes:
        if d not in _DTYPES:
            raise ValueError(f"unknown dtype {d!r}; valid ones are {list(_DTYPES)}")
    methods = _as_tuple(methods, "method")
    for m in methods:
        if m != "rex" and m not in BASELINE_METHODS:
            raise ValueError(f"unknown method {m!r}; valid ones are "
                             f"{['rex', *BASELINE_METHODS]}")
    return steps, dtypes, methods


def _metrics(x0, back, latent, seconds, nfe) -> dict:
    d = (back.detach().to(torch.float64) - x0.detach().to(torch.float64))
    lat = latent.detach().to(torch.float64)
    return {"max_abs": float(d.abs().max()), "mse": float(d.pow(2).mean()),
            "nfe": int(nfe), "seconds": seconds,
            "latent_std": float(lat.std()), "latent_mean": float(lat.mean()),
            "finite": bool(torch.isfinite(back).all())}


def roundtrip(model, x0, steps: int, sampler: str = DEFAULT_SAMPLER, seed: int = 0,
              grid: str = DEFAULT_GRID, **options):
    """``(x0_back, latents, nfe)`` through ``revsde.diffusion.encode``/``decode``.

    ``sampler`` is a reversible sampler or a baseline (``ddim``, ``edict``, ...);
    ``nfe`` counts both directions.
    """
    from ..diffusion import decode, encode  # the inversion API (revsde.diffusion.inversion)

    lat = encode(model, x0, steps=steps, sampler=sampler, seed=seed, grid=grid, **options)
    back = decode(model, lat)
    return back, lat, int(lat.nfe) + int(lat.decode_nfe)


def roundtrip_report(image=None, steps=(10, 20, 50), sampler=None, dtype=("float32", "float64"),
                     figure="out/invert_image.png", methods=("rex", *BASELINE_METHODS),
                     model: str = "small-unet", seed: int = 0, grid: str = DEFAULT_GRID,
                     figure_steps: int | None = None, figure_dtype: str = "float32") -> dict:
    """Round-trip errors per method x steps x dtype (a JSON-ready dict); draws ``figure``.

    ``image``: a bundled image name (default ``"camera"``) or a file path, made
    32x32 gray in [-1, 1].  ``steps`` and ``dtype`` take one value or several.
    ``figure=None`` skips the figure.  The figure shows ``figure_dtype`` at
    ``figure_steps`` (default: the smallest step count).
    """
    steps, dtypes, methods = _check_args(steps, dtype, methods)
    sampler = sampler or DEFAULT_SAMPLER
    image = "camera" if image is None else str(image)
    fig_steps = min(steps) if figure_steps is None else figure_steps
    if figure is not None and (fig_steps not in steps or figure_dtype not in dtypes):
        raise ValueError(f"the figure setting ({fig_steps} steps, {figure_dtype}) must be one "
                         f"of the runs: steps {list(steps)}, dtypes {list(dtypes)}")
    t_all = time.perf_counter()
    rows, panels = [], {}
    for dname in dtypes:
        dt = _DTYPES[dname]
        net = pretrained(model, dtype=dt)
        shape = net.image_shape
        x0 = load_image(image, size=shape[-1], dtype=dt)
        for n in steps:
            ts = time_grid(net.schedule, n, grid)
            for m in methods:
                t0 = time.perf_counter()
                name = sampler if m == "rex" else m
                with torch.no_grad():
                    back, lat, nfe = roundtrip(net, x0, n, name, seed, grid)
                if not torch.equal(lat.ts, ts.to(torch.float64)):
                    raise RuntimeError(f"{name} ran on another grid than the other methods")
                sec = time.perf_counter() - t0
                row = {"method": name, "steps": n, "dtype": dname,
                       **_metrics(x0, back, lat.x_T, sec, nfe)}
                rows.append(row)
                if dname == figure_dtype and n == fig_steps:
                    panels[name] = (x0[0, 0], lat.x_T[0, 0], back[0, 0], row)
    report = {
        "image": image if image in BUNDLED_IMAGES else str(Path(image)),
        "image_shape": list(x0.shape),
        "model": model,
        "schedule": net.schedule.to_dict()["type"],
        "grid": grid,
        "t_range": [float(net.schedule.t_min), float(net.schedule.t_max)],
        "rex_sampler": sampler,
        "seed": seed,
        "results": rows,
        "seconds": time.perf_counter() - t_all,
        "figure": None,
    }
    if figure is not None:
        report["figure"] = str(draw_figure(panels, rows, figure,
                                           title=f"{image}: {fig_steps} steps, {figure_dtype}"))
    return report


def draw_figure(panels: dict, rows: list, path, title: str = "") -> Path:
    """Original / latent / reconstruction / |error| per method, plus MSE against steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    names = list(panels)
    fig = Figure(figsize=(10, 2.3 * len(names) + 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(len(names) + 1, 4, height_ratios=[1] * len(names) + [1.4])
    errs = [(p[2] - p[0]).abs().to(torch.float64).clamp_min(1e-17) for p in panels.values()]
    lo = max(1e-17, min(float(e.min()) for e in errs))
    hi = max(float(e.max()) for e in errs)
    norm = LogNorm(vmin=lo, vmax=max(hi, lo * 10))
    im = None
    for r, name in enumerate(names):
        orig, lat, back, row = panels[name]
        for c, (img, label) in enumerate([(orig, "original"), (lat, "latent x_T"),
                                          (back, "reconstruction")]):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(img.detach().to(torch.float64).cpu().numpy(), cmap="gray",
                      vmin=-1 if c != 1 else None, vmax=1 if c != 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}: {label}" if c == 0 else label, fontsize=8)
        ax = fig.add_subplot(gs[r, 3])
        im = ax.imshow(errs[r].cpu().numpy(), cmap="magma", norm=norm)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"|error|, max {row['max_abs']:.1e}", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=fig.axes[3::4], shrink=0.8, label="|x0 - decode(encode(x0))|")
    ax = fig.add_subplot(gs[len(names), :])
    styles = {"float32": "-", "float64": "--"}
    for i, m in enumerate(dict.fromkeys(r["method"] for r in rows)):
        for d, ls in styles.items():
            pts = sorted((r["steps"], r["mse"]) for r in rows
                         if r["method"] == m and r["dtype"] == d)
            if pts:
                ax.plot([p[0] for p in pts], [max(p[1], 1e-36) for p in pts], ls,
                        marker="o", color=f"C{i}", label=f"{m} {d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted({r["steps"] for r in rows})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("steps")
    ax.set_ylabel("round-trip MSE")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def format_report(report: dict) -> str:
    """The report as a text table: one line per method and step count, a column per dtype."""
    dtypes = list(dict.fromkeys(r["dtype"] for r in report["results"]))
    head = f"{'method':10s} {'steps':>5s}"
    for d in dtypes:
        head += f"  {d + ' max|err|':>17s} {d + ' MSE':>12s}"
    head += f"  {'NFE':>5s} {'latent std':>10s}"
    lines = [f"image {report['image']} {report['image_shape'][-1]}x"
             f"{report['image_shape'][-2]}, model {report['model']} "
             f"({report['schedule']}, {report['grid']} grid), Rex sampler "
             f"{report['rex_sampler']}", head, "-" * len(head)]
    keys = list(dict.fromkeys((r["method"], r["steps"]) for r in report["results"]))
    by = {(r["method"], r["steps"], r["dtype"]): r for r in report["results"]}
    for m, n in keys:
        line = f"{m:10s} {n:5d}"
        last = None
        for d in dtypes:
            r = by.get((m, n, d))
            if r is None:
                line += f"  {'-':>17s} {'-':>12s}"
                continue
            last = r
            line += f"  {r['max_abs']:17.2e} {r['mse']:12.2e}"
        std = "-" if last is None or not math.isfinite(last["latent_std"]) else \
            f"{last['latent_std']:.3g}"
        line += f"  {last['nfe'] if last else '-':>5} {std:>10s}"
        lines.append(line)
    lines.append(f"total {report['seconds']:.1f}s" +
                 (f"; figure: {report['figure']}" if report.get("figure") else ""))
    return "\n".join(lines)
