"""The main job: an exact round trip of a real picture through noise, against the baselines.

``roundtrip_report(...)`` loads the shipped model, reads a picture at its own
size and colour (long side capped at 256 px by default), encodes it to noise and
decodes it back with a Rex sampler (``revsde.diffusion.encode`` / ``decode``) and
with the baselines of docs/mathematics.md §5 (DDIM inversion, EDICT, BDIA, O-BELM), and
returns the errors as a JSON-ready dict; it can also draw the figure.
``revsde invert`` and ``examples/invert_image.py`` are thin wrappers around it.

**Equal cost.**  Every baseline runs twice: at the Rex sampler's step count
(``"equal_steps"``) and at the step count whose round trip costs the nearest
number of network evaluations to the Rex round trip without exceeding it
(``"equal_nfe"``; one row marked ``"both"`` when they coincide).  NFE counts
both directions (encode + decode), as measured by the latents.

**Precision.**  The network runs in ``dtype`` (float32 by default; float16 and
bfloat16 too) while the reversible state is kept in ``state_dtype`` (float64 by
default), for every method alike: see :mod:`revsde.diffusion.inversion.encode`.

Every method runs on the same grid, ``time_grid(schedule, steps, grid)`` with
``grid="uniform_lambda"`` by default (the default of ``encode``).

**Fidelity** (:mod:`revsde.diffusion.inversion.fidelity`).  Beside the round trip, each
method's latent is compared with a converged encoding of the picture, computed once
per run (DDIM inversion in a float64 state at ``reference_steps`` and twice as many
steps, Richardson-extrapolated, with a third level for its error estimate; the network
in the run's first dtype): its distance to it (max abs, RMS), its statistics against
N(0, I) and the decode-from-reference check (the reference latent generated back by the
same method on the same grid).  ``reference_steps=None`` skips it.

**Defaults.**  ``rev_heun_exp`` (its default case ``ode_x0``) at 20 steps (21 network
evaluations to encode) on the ``uniform_lambda`` grid: the best latent per network
evaluation among the exact samplers (``benchmarks/bench_inversion.py --fidelity``,
docs/howto-invert.md).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..checks import check_step_count
from ..diffusion.baselines import BASELINES
from ..diffusion.inversion import fidelity
from ..diffusion.pretrained import pretrained
from ..diffusion.schedules import time_grid
from .images import DEFAULT_PICTURE, MAX_SIDE, load_picture, picture_shape, picture_size

__all__ = ["roundtrip", "roundtrip_nfe", "equal_nfe_steps", "roundtrip_report", "format_report",
           "draw_figure", "BASELINE_METHODS", "DEFAULT_SAMPLER", "DEFAULT_STEPS", "DEFAULT_GRID",
           "REFERENCE_STEPS", "NETWORK_DTYPES", "MAX_STEPS", "memory_estimate", "memory_limit",
           "figure_path"]

#: the baselines of the registry (:data:`revsde.diffusion.baselines.BASELINES`)
BASELINE_METHODS = tuple(BASELINES)
#: the reversible sampler of the main job: the best latent per network evaluation among the
#: exact samplers (reversible Heun with exponential weights, data-prediction PF-ODE;
#: measured by ``benchmarks/bench_inversion.py --fidelity``, docs/howto-invert.md)
DEFAULT_SAMPLER = "rev_heun_exp"
#: 21 network evaluations to encode (the old ``rex_euler`` at 10 steps took 20)
DEFAULT_STEPS = 20
DEFAULT_GRID = "uniform_lambda"  # the library default of encode
#: the Richardson levels of the run's converged reference encoding (DDIM inversion at
#: N/2, N and 2N steps: 3.5 N network evaluations, once per run)
REFERENCE_STEPS = 100
NETWORK_DTYPES = {"float32": torch.float32, "float64": torch.float64,
                  "bfloat16": torch.bfloat16, "float16": torch.float16}
_STATE_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the most steps ``revsde invert`` takes (the round trip is exact already at 10)
MAX_STEPS = 10_000
#: peak bytes per pixel of a round trip with the shipped model, per network dtype: measured
#: (``revsde.memory.peak_tensor_bytes``, 64x64, float64 state) and taken 1.5 times
_BYTES_PER_PIXEL = {"float32": 1700, "float64": 7500, "bfloat16": 1700, "float16": 1700}


def _as_tuple(v, kind):
    if isinstance(v, (str, int)):
        v = (v,)
    v = tuple(v)
    if not v:
        raise ValueError(f"need at least one {kind}")
    return v


def _check_args(steps, dtypes, methods, state_dtype):
    steps = _as_tuple(steps, "step count")
    for n in steps:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"step counts must be integers >= 2; got {n!r}")
        check_step_count(n, MAX_STEPS, what=f"a round trip of --steps {n}",
                         fix=f"use --steps {MAX_STEPS} or fewer (the Rex round trip is exact "
                         "already at 10)")
    dtypes = _as_tuple(dtypes, "dtype")
    for d in dtypes:
        if d not in NETWORK_DTYPES:
            raise ValueError(f"unknown network dtype {d!r}; valid ones are "
                             f"{list(NETWORK_DTYPES)}")
    methods = _as_tuple(methods, "method")
    for m in methods:
        if m != "rex" and m not in BASELINE_METHODS:
            raise ValueError(f"unknown method {m!r}; valid ones are "
                             f"{['rex', *BASELINE_METHODS]}")
    if state_dtype not in _STATE_DTYPES:
        raise ValueError(f"unknown state dtype {state_dtype!r}; valid ones are "
                         f"{list(_STATE_DTYPES)}")
    return steps, dtypes, methods


def roundtrip(model, x0, steps: int, sampler: str = DEFAULT_SAMPLER, seed: int = 0,
              grid: str = DEFAULT_GRID, **options):
    """``(x0_back, latents, nfe)`` through ``revsde.diffusion.encode``/``decode``.

    ``sampler`` is a reversible sampler or a baseline (``ddim``, ``edict``, ...);
    ``nfe`` counts both directions.
    """
    from ..diffusion import decode, encode  # the inversion API (revsde.diffusion.inversion)

    lat = encode(model, x0, steps=steps, sampler=sampler, seed=seed, grid=grid, **options)
    back = decode(model, lat)
    nfe, decode_nfe = lat.nfe, lat.decode_nfe
    if nfe is None or decode_nfe is None:  # encode always counts them
        raise RuntimeError(f"{sampler}: the latents do not record their network evaluations")
    return back, lat, int(nfe) + int(decode_nfe)


def roundtrip_nfe(method: str, steps: int, grid: str = DEFAULT_GRID,
                  schedule: Any = None) -> int:
    """Network evaluations of one round trip (encode + decode) of ``method`` at ``steps``.

    Counted by running it on a 4-pixel input with a network that returns zeros
    (the count does not depend on the network or the picture); ``schedule``: the
    shipped model's (read from its weight file when not given).
    """
    from ..diffusion import decode, encode
    from ..diffusion.models import DiffusionModel

    calls = [0]

    def net(x, t, **cond):
        calls[0] += 1
        return torch.zeros_like(x)

    model = DiffusionModel(net, schedule if schedule is not None else pretrained_schedule())
    x = torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64)
    with torch.no_grad():
        decode(model, encode(model, x, steps=steps, sampler=method, seed=0, grid=grid))
    return calls[0]


def pretrained_schedule():
    """The shipped model's schedule (read from its weight file)."""
    from ..diffusion.pretrained import load_record
    from ..diffusion.schedules import schedule_from_dict

    return schedule_from_dict(load_record("small-unet")["schedule"])


def equal_nfe_steps(method: str, budget: int, grid: str = DEFAULT_GRID) -> int:
    """The most steps (>= 2) at which ``method``'s round trip costs at most ``budget`` NFE.

    A round trip's NFE grows with its steps, so the answer is bisected (a few dozen tiny
    round trips, not one per step count).
    """
    schedule = pretrained_schedule()

    def nfe(steps: int) -> int:
        return roundtrip_nfe(method, steps, grid, schedule)

    if nfe(2) > budget:
        return 2
    lo, hi = 2, 3  # NFE(lo) <= budget; find hi with NFE(hi) > budget
    while nfe(hi) <= budget:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if nfe(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def memory_estimate(height: int, width: int, dtype: str = "float32") -> int:
    """About the peak bytes of one round trip of an ``height x width`` picture with the
    shipped model whose network runs in ``dtype`` (measured per pixel, with a margin)."""
    return int(height) * int(width) * _BYTES_PER_PIXEL[dtype]


def memory_limit() -> int:
    """The default memory limit of ``revsde invert``: 80% of this machine's memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        total = 16 * 2**30
    return int(0.8 * total)


def figure_path(path) -> Path:
    """The file a figure is written to: ``path``, with ``.png`` added when it has no suffix;
    a suffix matplotlib cannot write is refused (before any work is done)."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    if not path.suffix:
        return path.with_name(path.name + ".png")
    kinds = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in kinds:
        raise ValueError(f"cannot write a figure as {path.suffix!r} ({path}): use one of "
                         f"{', '.join('.' + k for k in sorted(kinds))}")
    return path


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def _check_memory(image: str, max_side, dtypes, limit) -> None:
    h, w = picture_size(picture_shape(image), max_side)
    need = max(memory_estimate(h, w, d) for d in dtypes)
    if need > limit:
        f = math.sqrt(limit / need)
        side = max(4, int(max(h, w) * f))
        raise ValueError(f"a round trip of this {w}x{h} picture would need about {_gb(need)} "
                         f"of memory, more than the limit of {_gb(limit)}: pass a smaller "
                         f"--size (about {side} fits) or a larger --max-memory")


def _metrics(x0, back, latent, seconds, nfe) -> dict:
    d = back.detach().to(torch.float64) - x0.detach().to(torch.float64)
    lat = latent.detach().to(torch.float64)
    mse = float(d.pow(2).mean())
    return {"max_abs": float(d.abs().max()), "mse": mse,
            "psnr_db": math.inf if mse == 0 else 10 * math.log10(4.0 / mse),
            "nfe": int(nfe), "seconds": seconds,
            "latent_std": float(lat.std()), "finite": bool(torch.isfinite(back).all())}


def _plan(methods, sampler, n, grid):
    """``[(method_name, steps, comparison)]`` for one Rex step count ``n``."""
    plan = []
    budget = None
    if "rex" in methods:
        budget = roundtrip_nfe(sampler, n, grid)
        plan.append((sampler, n, "reference"))
    for m in methods:
        if m == "rex":
            continue
        k = None if budget is None else equal_nfe_steps(m, budget, grid)
        if k == n:
            plan.append((m, n, "both"))
        else:
            plan.append((m, n, "equal_steps"))
            if k is not None:
                plan.append((m, k, "equal_nfe"))
    return plan


def roundtrip_report(image=None, steps=DEFAULT_STEPS, sampler=None, dtype="float32",
                     figure="out/invert.png", methods=("rex", *BASELINE_METHODS),
                     model: str = "small-unet", seed: int = 0, grid: str = DEFAULT_GRID,
                     max_side: int | None = MAX_SIDE, state_dtype: str = "float64",
                     progress: bool = False, max_memory: int | None = None,
                     reference_steps: int | None = REFERENCE_STEPS) -> dict:
    """Round-trip errors per method x steps x network dtype (a JSON-ready dict).

    ``image``: a packaged or bundled picture name (default ``"astronaut"``, 256x256
    RGB) or a file path, kept at its own size (long side capped at ``max_side``)
    and colour.  ``steps`` and ``dtype`` (the network's) take one value or
    several; each baseline is run at equal steps and at equal NFE.  ``figure=None``
    skips the figure; it shows the first dtype and step count (a path without a
    suffix gets ``.png``).  ``progress`` shows a bar of network evaluations on
    stderr.  A run that would need more than ``max_memory`` bytes (default
    :func:`memory_limit`) or more than :data:`MAX_STEPS` steps is refused before
    it starts.  ``reference_steps``: the Richardson levels of the converged reference
    encoding the fidelity of every latent is measured against (``None``: no fidelity).

    The picture's range comes from its file (:func:`revsde.app.images.read_picture`),
    so the encoder's guess from the values (``check_range``) is not made: a bright
    picture, every pixel above mid-gray, is a picture like any other.
    """
    from tqdm.auto import tqdm

    steps, dtypes, methods = _check_args(steps, dtype, methods, state_dtype)
    if reference_steps is not None and (isinstance(reference_steps, bool) or not isinstance(
            reference_steps, int) or reference_steps < 4):
        raise ValueError(f"reference steps must be an integer >= 4; got {reference_steps!r}")
    sampler = sampler or DEFAULT_SAMPLER
    _check_sampler(sampler)
    image = DEFAULT_PICTURE if image is None else str(image)
    if figure is not None:
        figure = figure_path(figure)
    sdt = _STATE_DTYPES[state_dtype]
    _check_memory(image, max_side, dtypes, memory_limit() if max_memory is None else max_memory)
    t_all = time.perf_counter()
    rows, panels = [], {}
    net = pretrained(model)
    x0 = load_picture(image, max_side=max_side, channels=getattr(net, "channels", 3) or 3,
                      dtype=sdt)
    plans = {n: _plan(methods, sampler, n, grid) for n in steps}
    total = len(dtypes) * sum(roundtrip_nfe(m, k, grid) for p in plans.values() for m, k, _ in p)
    if reference_steps is not None:  # the reference (3.5 N) and one regeneration per run
        total += 7 * reference_steps // 2 + len(dtypes) * sum(
            roundtrip_nfe(m, k, grid) // 2 for p in plans.values() for m, k, _ in p)
    bar = tqdm(total=total, desc="invert", unit="NFE", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, leave=False)
    calls = [0]

    def count(*_):
        calls[0] += 1
        bar.update(1)

    reference = None
    for di, dname in enumerate(dtypes):
        net = pretrained(model, dtype=NETWORK_DTYPES[dname])
        hook = net.net.register_forward_hook(count) if isinstance(
            net.net, torch.nn.Module) and progress else None
        if reference_steps is not None and reference is None:
            bar.set_postfix_str(f"reference: DDIM {reference_steps // 2}/{reference_steps}/"
                                f"{2 * reference_steps} steps", refresh=False)
            reference = fidelity.reference_encoding(net, x0, reference_steps, grid=grid)
        for si, n in enumerate(steps):
            for name, k, kind in plans[n]:
                ts = time_grid(net.schedule, k, grid)
                bar.set_postfix_str(f"{name} {k} steps {dname}", refresh=False)
                calls[0] = 0
                options = {"check_range": False}  # the range is known from the file
                t0 = time.perf_counter()
                with torch.no_grad():
                    back, lat, nfe = roundtrip(net, x0, k, name, seed, grid, dtype=sdt,
                                               **options)
                sec = time.perf_counter() - t0
                if progress and nfe > calls[0]:
                    bar.update(nfe - calls[0])
                if not torch.equal(lat.ts, ts.to(torch.float64)):
                    raise RuntimeError(f"{name} ran on another grid than the other methods")
                row = {"method": name, "steps": k, "rex_steps": n, "comparison": kind,
                       "dtype": dname, "state_dtype": state_dtype,
                       **_metrics(x0, back, lat.x_T, sec, nfe)}
                if reference is not None:
                    row["fidelity"] = fidelity.measure(net, lat, reference)
                rows.append(row)
                if di == 0 and si == 0 and kind in ("reference", "both", "equal_nfe"):
                    panels[name] = (x0[0], lat.x_T[0], back[0], row)
        if hook is not None:
            hook.remove()
    bar.close()
    report = {
        "image": image,
        "image_shape": list(x0.shape),
        "model": model,
        "weights_sha256": pretrained(model).fingerprint(),
        "schedule": net.schedule.to_dict()["type"],
        "grid": grid,
        "rex_sampler": sampler,
        "state_dtype": state_dtype,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "results": rows,
        "reference": None if reference is None else reference.summary(),
        "seconds": time.perf_counter() - t_all,
        "figure": None,
    }
    if figure is not None and panels:
        title = (f"{image} {x0.shape[-1]}x{x0.shape[-2]}: {sampler} {steps[0]} steps, network "
                 f"{dtypes[0]}, state {state_dtype}")
        report["figure"] = str(draw_figure(panels, [r for r in rows if r["dtype"] == dtypes[0]
                                                    and r["rex_steps"] == steps[0]],
                                           figure, title=title,
                                           reference=None if reference is None
                                           else reference.x_T[0]))
    return report


def _check_sampler(sampler: str) -> None:
    from ..diffusion.samplers import reversible_names

    names = reversible_names()
    if sampler not in names:
        hint = (f"; {sampler} is a baseline, compared with --baselines"
                if sampler in BASELINE_METHODS else "")
        raise ValueError(f"sampler {sampler!r} is not a reversible sampler (encode needs one "
                         f"to invert exactly){hint}; reversible samplers: {', '.join(names)}")


def _rgb(x: torch.Tensor, scale: float = 1.0):
    """``(C, H, W)`` in [-scale, scale] as an ``(H, W, 3)`` array in [0, 1] for imshow."""
    x = (x.detach().to(torch.float64).cpu() / scale).clamp(-1, 1) * 0.5 + 0.5
    if x.shape[0] == 1:
        x = x.expand(3, *x.shape[1:])
    return x.permute(1, 2, 0).numpy()


def draw_figure(panels: dict, rows: list, path, title: str = "",
                reference: torch.Tensor | None = None):
    """Picture, Rex latent and reconstruction, |error| maps, and max error / NFE per method;
    ``reference``: the converged latent of the picture (``(C, H, W)``), drawn beside them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    names = list(panels)
    ref = next((n for n, p in panels.items() if p[3]["comparison"] == "reference"), names[0])
    cols = max(4, len(names))
    fig = Figure(figsize=(2.6 * cols, 9.0), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(3, cols, height_ratios=[1, 1, 1.1])
    orig, lat, back, row = panels[ref]
    std = float(lat.to(torch.float64).std()) or 1.0
    fid = row.get("fidelity")
    lat_label = f"{ref} latent x_T (std {std:.3g})" + (
        f"\nmax |x_T - converged| {fid['latent_max_abs']:.2g}" if fid else "")
    for c, (img, label) in enumerate([
            (_rgb(orig), "original"),
            (_rgb(lat, 2.5 * std), lat_label),
            (_rgb(back), f"{ref} decode(encode(x))")]):
        ax = fig.add_subplot(gs[0, c])
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.set_axis_off()
    errs = {n: (p[2] - p[0]).abs().to(torch.float64).amax(0).clamp_min(1e-17)
            for n, p in panels.items()}
    lo = max(1e-17, min(float(e.min()) for e in errs.values()))
    hi = max(float(e.max()) for e in errs.values())
    norm = LogNorm(vmin=lo, vmax=max(hi, lo * 10))
    order = [ref] + [n for n in names if n != ref]
    im = None
    for c, n in enumerate(order):
        ax = fig.add_subplot(gs[1, c]) if c else fig.add_subplot(gs[0, 3])
        im = ax.imshow(errs[n].cpu().numpy(), cmap="magma", norm=norm, interpolation="nearest")
        r = panels[n][3]
        f = r.get("fidelity")
        ax.set_title(f"|error| {n}, {r['steps']} steps, {r['nfe']} NFE\nmax {r['max_abs']:.1e}" +
                     (f"; latent err {f['latent_max_abs']:.2g}, std "
                      f"{f['latent_stats']['std']:.2g}" if f else ""), fontsize=8)
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=fig.axes[3:], shrink=0.7, label="|x - decode(encode(x))| (max RGB)")
    if reference is not None:  # on the same colour scale as the sampler's latent
        ax = fig.add_subplot(gs[1, 0])
        ax.imshow(_rgb(reference, 2.5 * std), interpolation="nearest")
        ax.set_title(f"converged latent (std {float(reference.to(torch.float64).std()):.3g})",
                     fontsize=8)
        ax.set_axis_off()

    ax = fig.add_subplot(gs[2, :])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = 0.38
    for j, (kinds, label, color) in enumerate([
            (("reference", "both", "equal_steps"), "equal steps", "C0"),
            (("reference", "both", "equal_nfe"), "equal NFE", "C1")]):
        for i, m in enumerate(methods):
            r = next((r for r in rows if r["method"] == m and r["comparison"] in kinds), None)
            if r is None:
                continue
            x = i + (j - 0.5) * width
            ax.bar(x, max(r["max_abs"], 1e-17), width, color=color,
                   label=label if i == 0 else None)
            ax.text(x, max(r["max_abs"], 1e-17) * 1.5, f"{r['steps']} st\n{r['nfe']} NFE",
                    ha="center", fontsize=7)
            f = r.get("fidelity")
            if f is not None:  # the latent's distance to the converged encoding
                ax.plot([x], [max(f["latent_max_abs"], 1e-17)], marker="D", color="k",
                        markersize=5, linestyle="none",
                        label="max |latent - converged latent|" if i == 0 and j == 0
                        else None)
    ax.set_yscale("log")
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel("max |round-trip error|\n(diamonds: latent error)")
    ax.set_ylim(top=max(10.0, hi * 100))
    ax.legend(fontsize=8)
    fig.suptitle(title)
    path = figure_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def format_report(report: dict) -> str:
    """The report as a text table: one line per run."""
    h, w = report["image_shape"][-2:]
    lines = [f"picture {report['image']} {w}x{h}x{report['image_shape'][1]}, model "
             f"{report['model']} (weights {report['weights_sha256'][:12]}), {report['grid']} "
             f"grid, state {report['state_dtype']}, {report['threads']} thread(s)"]
    ref = report.get("reference")
    fid = ref is not None
    head = (f"{'method':12s} {'steps':>5s} {'NFE':>5s} {'compared at':12s} {'network':8s} "
            f"{'max|err|':>9s} {'MSE':>9s}" +
            (f" {'latent err':>10s} {'lat std':>7s} {'KS':>5s} {'regen err':>9s}" if fid
             else "") + f" {'seconds':>7s}")
    lines += [head, "-" * len(head)]
    for r in report["results"]:
        kind = {"reference": "(Rex)", "both": "steps & NFE", "equal_steps": "equal steps",
                "equal_nfe": "equal NFE"}[r["comparison"]]
        f = r.get("fidelity")
        cols = (f" {f['latent_max_abs']:10.2e} {f['latent_stats']['std']:7.3g} "
                f"{f['latent_stats']['ks_statistic']:5.3f} {f['regen_max_abs']:9.2e}"
                if fid and f else "")
        lines.append(f"{r['method']:12s} {r['steps']:5d} {r['nfe']:5d} {kind:12s} "
                     f"{r['dtype']:8s} {r['max_abs']:9.2e} {r['mse']:9.2e}{cols} "
                     f"{r['seconds']:7.2f}")
    if ref is not None:
        lines.append(
            f"max|err|: round trip. Fidelity against a converged encoding (DDIM inversion "
            f"at {ref['steps'][0]} and {ref['steps'][1]} steps, Richardson-extrapolated, "
            f"float64 state; estimated error {ref['error_estimate']:.1e}; latent std "
            f"{ref['latent_std']:.3g}): latent err = max |x_T - reference|; KS = "
            "Kolmogorov-Smirnov distance of the latent to N(0, 1); regen err = max "
            "|x - decode(reference)| with the same method.")
    lines.append(f"total {report['seconds']:.1f}s" +
                 (f"; figure: {report['figure']}" if report.get("figure") else ""))
    return "\n".join(lines)
