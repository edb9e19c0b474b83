"""Editing benchmark: turn held-out real digits into every other digit by exact inversion.

For each held-out digit of the shipped ``digits-unet`` (the first ``--digits`` of the 297
held-out ones, default 200) :func:`revsde.diffusion.edit` inverts it under its true label
and regenerates it under three other labels (the latent is computed once per digit,
:func:`revsde.diffusion.regenerate`): digit ``i`` with label ``y`` goes to
``y + o mod 10`` for ``o`` in {1, 4, 7}, {2, 5, 8} or {3, 6, 9} as ``i mod 3`` is 0, 1
or 2, so that every (source, target) pair of labels is edited (``pair_min_edits``
times at least).  Per method and setting it records:

* ``reached_judge``: the fraction of edits the independent judge
  (:func:`revsde.diffusion.pretrained.judge.digit_judge`, an SVM on 8x8 digits) reads as
  the target; ``reached_classifier``: the same by the CNN classifier; ``pair_success``:
  the judge's rate per (source, target) pair, a 10x10 table (main setting only);
* closeness to the source: ``pixel_mae`` (mean ``|edit - source|`` in the [-1, 1]
  range), ``ssim`` (``skimage.metrics.structural_similarity`` on the pictures clamped to
  [-1, 1], 7x7 windows), ``out_of_range`` (fraction of edits with a pixel beyond ±1.5:
  the edit blew up);
* the latent: ``latent_rel_err``, the RMS distance of the method's latent (at the time
  the edit starts from) to a converged one (float64 DDIM inversion over the same interval
  with the same guidance at N = ``--reference-steps`` and 2N steps, Richardson-extrapolated
  as ``2·DDIM(2N) - DDIM(N)``; at N = 128 its own error is ~0.003 of the latent's RMS,
  measured against the extrapolation of 256 and 512 steps), relative to the converged
  latent's RMS; ``reconstruction_max``: the largest error of the decode under the
  source (the exactness of the inversion).

Methods at equal network evaluations (``--budget`` per direction at strength 1): the
default reversible sampler of ``encode`` (and its other lifted ODE case), the default
sampler of ``edit`` (``rev_heun``), DDIM inversion, EDICT, BDIA and O-BELM.  Settings:
strength 1, 0.75 and 0.5 at the main guidance scale, and guidance 1 and 4 at strength 1
(strength ``s`` regenerates ``round(s·steps)`` of the grid's steps).

    python benchmarks/bench_editing.py [--quick] [--digits 200] [--budget 24]
        [--write-docs]   # docs/data/editing.json, the table in docs/howto-edit.md and
                         # docs/img/edits.png
        [--render]       # the docs table from docs/data/editing.json only
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from revsde.diffusion import classifier_free, edit, pretrained, regenerate, time_grid
from revsde.diffusion.inversion.edit import EDIT_DEFAULTS, ENCODE_DEFAULTS
from revsde.diffusion.pretrained.digits import digit_classifier, digits_data
from revsde.diffusion.pretrained.judge import digit_judge
from revsde.diffusion.samplers import get_encoder
from revsde.docblocks import write_block

ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "howto-edit.md"
DOCS_DATA = ROOT / "docs" / "data" / "editing.json"
DOCS_IMG = ROOT / "docs" / "img" / "edits.png"
#: the generated block of DOCS_PAGE that :func:`render` writes
BLOCK = "editing-table"
#: the main guidance scale, and the sweeps around the main setting (strength 1)
MAIN_GUIDANCE = 2.0
STRENGTHS = (1.0, 0.75, 0.5)
GUIDANCES = (1.0, 4.0)


def methods(budget: int) -> list[dict]:
    """The methods at ``budget`` network evaluations per direction (strength 1)."""
    name = ENCODE_DEFAULTS["sampler"]
    default = get_encoder(name)
    case = default.options.get("case")
    other = {"ode_x0": "ode_eps", "ode_eps": "ode_x0"}.get(case)
    out = [{"label": f"default ({name}, {case})", "sampler": name, "options": {}}]
    if other is not None:
        out.append({"label": f"{name}, {other}", "sampler": name, "options": {"case": other}})
    mine = EDIT_DEFAULTS["sampler"]
    if mine != name:
        out.append({"label": f"{mine} (edit's default)", "sampler": mine, "options": {}})
    out += [{"label": b, "sampler": b, "options": {}} for b in ("ddim", "edict", "bdia",
                                                                "obelm")]
    for m in out:
        s = get_encoder(m["sampler"], **m["options"])
        m["steps"] = max(1, (budget - s.init_nfe) // s.nfe_per_step)
    return out


#: target labels per digit
TARGETS = 3


def offsets(n: int, j: int) -> torch.Tensor:
    """The ``j``-th label offset of digits ``0 .. n-1``: 1 + (i mod 3) + 3j."""
    return 1 + torch.arange(n) % 3 + 3 * j


def settings() -> list[tuple[float, float]]:
    """(strength, guidance) pairs: the main one first."""
    out = [(s, MAIN_GUIDANCE) for s in STRENGTHS]
    return out + [(1.0, g) for g in GUIDANCES]


def ssim(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """skimage's SSIM per picture (clamped to [-1, 1], data range 2)."""
    from skimage.metrics import structural_similarity

    a = a.detach().clamp(-1, 1).to(torch.float64).numpy()
    b = b.detach().clamp(-1, 1).to(torch.float64).numpy()
    return [float(structural_similarity(a[i, 0], b[i, 0], data_range=2.0))
            for i in range(a.shape[0])]


def reference_latent(model, x, source, t_start: float, guidance: float, steps: int,
                     refs: dict) -> torch.Tensor:
    """The converged latent at ``t_start``: ``2·DDIM(2N) - DDIM(N)`` with ``N = steps``,
    DDIM inversion in float64 (kept in ``refs`` by (t_start, guidance) for this run)."""
    key = (round(t_start, 12), guidance)
    if key not in refs:
        guided = classifier_free(model, guidance)
        levels = []
        for n in (steps, 2 * steps):
            ts = time_grid(model.schedule, n, "uniform_lambda", t_start=t_start)
            with torch.no_grad():
                enc = get_encoder("ddim").encode_state(guided, x.to(torch.float64), ts,
                                                       cond=source)
            levels.append(enc.state[0])
        refs[key] = 2 * levels[1] - levels[0]
    return refs[key]


def run(model, judge, clf, x, y, method: dict, strength: float, guidance: float,
        ref_steps: int, refs: dict, pairs: bool) -> dict:
    """One method at one setting: every digit to every other label."""
    t0 = time.perf_counter()
    source = {"label": F.one_hot(y, 10).to(x.dtype)}
    with torch.no_grad():
        first = edit(model, x, source=source, target=source, strength=strength,
                     guidance_scale=guidance, sampler=method["sampler"],
                     steps=method["steps"], reproducible=False, **method["options"])
        lat = first.latents
        rec = (first.edited.to(torch.float64) - x.to(torch.float64)).abs()
        ok_j, ok_c, mae, ss, blown = [], [], [], [], []
        table = torch.zeros(10, 10)
        count = torch.zeros(10, 10)
        for j in range(TARGETS):
            want = (y + offsets(y.numel(), j)) % 10
            out = regenerate(model, lat, {"label": F.one_hot(want, 10).to(x.dtype)},
                             guidance_scale=guidance).to(torch.float32)
            hit = judge.agrees(out, want)
            ok_j.append(hit)
            ok_c.append(clf(out.clamp(-1, 1)).argmax(-1) == want)
            mae.append((out - x).abs().flatten(1).mean(1))
            ss += ssim(out, x)
            blown.append(out.abs().flatten(1).amax(1) > 1.5)
            table.index_put_((y, want), hit.float(), accumulate=True)
            count.index_put_((y, want), torch.ones_like(hit, dtype=torch.float32),
                             accumulate=True)
    ref = reference_latent(model, x, source, first.t_start, guidance, ref_steps, refs)
    z = lat.noise.to(torch.float64)
    lat_err = float((z - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())
    row = {
        "method": method["label"], "sampler": method["sampler"], "options": method["options"],
        "steps": method["steps"], "strength": strength, "guidance": guidance,
        "steps_regenerated": first.steps_regenerated, "t_start": first.t_start,
        "nfe": lat.nfe + int(lat.decode_nfe or lat.nfe),
        "edits": int(torch.cat(ok_j).numel()),
        "reached_judge": float(torch.cat(ok_j).float().mean()),
        "reached_classifier": float(torch.cat(ok_c).float().mean()),
        "pixel_mae": float(torch.cat(mae).mean()),
        "ssim": sum(ss) / len(ss),
        "out_of_range": float(torch.cat(blown).float().mean()),
        "latent_rel_err": lat_err,
        "reconstruction_max": float(rec.max()),
        "seconds": time.perf_counter() - t0,
    }
    if pairs:
        row["pair_success"] = [[round(v, 4) for v in r]
                               for r in (table / count.clamp(min=1)).tolist()]
        off = ~torch.eye(10, dtype=torch.bool)
        row["pair_min_edits"] = int(count[off].min())
    return row


def measure(n_digits: int, budget: int, ref_steps: int, names=None, setting_list=None,
            progress=None) -> dict:
    t0 = time.perf_counter()
    model = pretrained("digits-unet")
    judge, clf = digit_judge(), digit_classifier()
    x, y = digits_data(16, "test")
    x, y = x[:n_digits], y[:n_digits]
    chosen = [m for m in methods(budget) if names is None or m["sampler"] in names]
    refs: dict = {}
    rows = []
    for st, g in setting_list or settings():
        for m in chosen:
            main = (st, g) == (1.0, MAIN_GUIDANCE)
            rows.append(run(model, judge, clf, x, y, m, st, g, ref_steps, refs, pairs=main))
            if progress:
                r = rows[-1]
                progress(f"{r['method']:28s} s={st:.2f} g={g:g}: judge {r['reached_judge']:.3f}"
                         f" mae {r['pixel_mae']:.3f} ssim {r['ssim']:.3f} lat "
                         f"{r['latent_rel_err']:.3f} rec {r['reconstruction_max']:.1e} "
                         f"({r['seconds']:.0f} s)")
    return {"benchmark": "editing", "digits": int(x.shape[0]), "targets_per_digit": TARGETS,
            "budget_nfe_per_direction": budget, "reference_steps": ref_steps,
            "main_guidance": MAIN_GUIDANCE, "judge_held_out_accuracy": judge.held_out_accuracy,
            "encode_defaults": {k: (v if isinstance(v, (int, str)) else str(v))
                                for k, v in ENCODE_DEFAULTS.items()},
            "rows": rows, "torch": torch.__version__, "machine": platform.machine(),
            "seconds": time.perf_counter() - t0}


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def render(data: dict) -> str:
    """The docs table (between the editing-table markers of docs/howto-edit.md)."""
    rows = data["rows"]
    g0 = data["main_guidance"]
    out = [f"Measured by `python benchmarks/bench_editing.py --write-docs` "
           f"(`docs/data/editing.json`; a test checks this table is rendered from it): "
           f"{data['digits']} held-out digits × {data['targets_per_digit']} targets = "
           f"{data['digits'] * data['targets_per_digit']} edits per row (every pair of source "
           f"and target label), "
           f"{data['budget_nfe_per_direction']} network evaluations per direction at "
           f"strength 1; independent judge: an SVM on 8×8 digits, "
           f"{100 * data['judge_held_out_accuracy']:.1f} % on the held-out real digits.",
           "",
           f"**Main setting** (strength 1, guidance {g0:g}):", "",
           "| method | steps | NFE (both ways) | target reached (judge) | (classifier) | "
           "pixel MAE | SSIM | blown up | latent error | reconstruction |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if (r["strength"], r["guidance"]) == (1.0, g0):
            out.append(f"| {r['method']} | {r['steps']} | {r['nfe']} | "
                       f"{_pct(r['reached_judge'])} | {_pct(r['reached_classifier'])} | "
                       f"{r['pixel_mae']:.3f} | {r['ssim']:.3f} | {_pct(r['out_of_range'])} | "
                       f"{r['latent_rel_err']:.3g} | {r['reconstruction_max']:.1e} |")
    out += ["", "**Strength and guidance** (target reached by the judge / pixel MAE / SSIM):",
            ""]
    sets = list(dict.fromkeys((r["strength"], r["guidance"]) for r in rows))
    out.append("| method | " + " | ".join(f"s={s:g}, g={g:g}" for s, g in sets) + " |")
    out.append("|---|" + "---|" * len(sets))
    for name in dict.fromkeys(r["method"] for r in rows):
        cells = []
        for s, g in sets:
            r = next(r for r in rows if r["method"] == name and (r["strength"], r["guidance"])
                     == (s, g))
            cells.append(f"{_pct(r['reached_judge'])} / {r['pixel_mae']:.2f} / "
                         f"{r['ssim']:.2f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_page(data: dict) -> None:
    write_block(DOCS_PAGE, BLOCK, render(data))


def draw(path: Path, n: int = 4, targets=(0, 3, 8)) -> None:
    """The docs picture: source, latent, regenerations under its label and other ones,
    with the default sampler at the benchmark's main setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    model = pretrained("digits-unet")
    x, y = digits_data(16, "test")
    pick = torch.tensor([0, 2, 5, 7][:n])
    x, y = x[pick], y[pick]
    src = {"label": F.one_hot(y, 10).float()}
    with torch.no_grad():
        res = edit(model, x, source=src, target=src, guidance_scale=MAIN_GUIDANCE)
        outs = [(f"label {t}", regenerate(model, res.latents,
                                          {"label": F.one_hot(torch.full_like(y, t), 10)
                                           .float()}, guidance_scale=MAIN_GUIDANCE))
                for t in targets]
    cols = [("source", x), ("latent", res.latents.noise.float()),
            ("decoded, own label", res.edited.float())] + outs
    fig, axes = plt.subplots(n, len(cols), figsize=(1.3 * len(cols), 1.35 * n), dpi=80)
    for j, (title, imgs) in enumerate(cols):
        for i in range(n):
            ax = axes[i, j]
            img = imgs[i, 0]
            lim = (-1, 1) if title != "latent" else (-3, 3)
            ax.imshow(img.clamp(*lim).numpy(), cmap="gray", vmin=lim[0], vmax=lim[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    Image.open(path).convert("RGB").quantize(32).save(path, optimize=True)


def main(argv=None) -> int:
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="10 digits, a budget of 4, two methods, two settings (smoke test)")
    ap.add_argument("--digits", type=int, default=200, help="held-out digits (1 to 297)")
    ap.add_argument("--budget", type=int, default=24,
                    help="network evaluations per direction at strength 1")
    ap.add_argument("--reference-steps", type=int, default=128,
                    help="N: the converged reference latent extrapolates DDIM inversion "
                         "at N and 2N steps")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="sampler names to run (default: all)")
    ap.add_argument("--write-docs", action="store_true",
                    help="write docs/data/editing.json, the table of docs/howto-edit.md and "
                         "docs/img/edits.png")
    ap.add_argument("--render", action="store_true",
                    help="no measurement: the docs table from docs/data/editing.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.render:
        write_page(json.loads(DOCS_DATA.read_text()))
        return 0
    if not 1 <= args.digits <= 297 or args.budget < 2 or args.reference_steps < 2:
        ap.error("need 1 <= --digits <= 297, --budget >= 2 and --reference-steps >= 2")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.quick:
        data = measure(10, 4, 8, names=args.methods or ("rev_heun", "ddim"),
                       setting_list=[(1.0, MAIN_GUIDANCE), (0.5, 1.0)], progress=log)
    else:
        data = measure(args.digits, args.budget, args.reference_steps, names=args.methods,
                       progress=log)
    data["quick"] = bool(args.quick)
    print(json.dumps(data, indent=1))
    if args.write_docs and not args.quick:
        DOCS_DATA.write_text(json.dumps(data, indent=1) + "\n")
        write_page(data)
        draw(DOCS_IMG)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
