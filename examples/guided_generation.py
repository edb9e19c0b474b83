"""Guided generation: optimise the starting noise so that the sample minimises a loss.

Two tasks with the shipped ``digits-unet`` (run unconditionally) and digit classifier:

* **classifier**: turn each sample into a target digit (the classifier's cross-entropy;
  the target is the digit five away from the one the noise produces at first);
* **low-res**: match a 4x4 low-resolution copy of a real held-out digit (squared
  error after 4x4 average pooling); success means the sample shows the same digit.

Every gradient method of ``revsde.diffusion.gradient`` (the registry's, in its order:
``reversible`` (exact, O(1) memory), the AdjointDEIS variants (the paper's scheme and
the exact-VP-weight ones, docs/mathematics.md §8), ``backprop`` (exact, O(N) memory) and
``greedy`` (one-step Tweedie gradient)) drives the same Adam optimisation of ``x_T``
(kept on the sphere of its starting norm) from the same noises.  It records the loss
against iterations and against network evaluations, the success rate by the guiding
classifier *and* by an independent judge (an SVM on 8x8 digits that shares nothing with
the classifier but the training digits, :mod:`revsde.diffusion.pretrained.judge`: a
sample that fools the classifier without reading as the digit is not confirmed), the
peak tensor memory of one gradient call and the cosine of each method's first gradient
with the exact one, prints them as JSON and draws one figure
(``out/guided_generation.png``).

    python examples/guided_generation.py [--iters 25] [--steps 20] [--batch 8]
        [--write-docs]   # also docs/data/guided_generation.json, the tables of
                         # docs/guided-generation.md and docs/img/guided_generation.png
    python examples/guided_generation.py --render   # the tables from the saved JSON only

Needs scikit-learn (the held-out digits of the low-res task): pip install scikit-learn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.nn import functional as F

from revsde.diffusion import gradient, list_gradient_methods, pretrained, sample
from revsde.diffusion.gradients import GradientAccuracyWarning
from revsde.diffusion.pretrained.digits import digit_classifier, digits_data
from revsde.diffusion.pretrained.judge import digit_judge
from revsde.docblocks import write_block
from revsde.memory import peak_tensor_bytes

#: every registered gradient method, in the registry's order
METHODS = tuple(m["name"] for m in list_gradient_methods())
LABELS = {"greedy": "greedy (Tweedie)", "adjointdeis-1": "AdjointDEIS-1",
          "adjointdeis-2m": "AdjointDEIS-2M", "adjointdeis-vp1": "AdjointDEIS-VP1",
          "adjointdeis-vp2m": "AdjointDEIS-VP2M", "adjointdeis-lin1": "AdjointDEIS-Lin1",
          "adjointdeis-lin2m": "AdjointDEIS-Lin2M", "adjointdeis-lin2s": "AdjointDEIS-Lin2S",
          "adjointdeis-linvp1": "AdjointDEIS-LinVP1", "adjointdeis-linvp2s": "AdjointDEIS-LinVP2S",
          "reversible": "reversible (exact, O(1))",
          "backprop": "backprop (exact, O(N))"}
COLORS = {"greedy": "tab:gray", "adjointdeis-1": "tab:orange", "adjointdeis-2m": "tab:red",
          "adjointdeis-vp1": "tab:olive", "adjointdeis-vp2m": "tab:purple",
          "adjointdeis-lin1": "tab:cyan", "adjointdeis-lin2m": "tab:brown",
          "adjointdeis-lin2s": "tab:pink", "adjointdeis-linvp1": "goldenrod",
          "adjointdeis-linvp2s": "deeppink",
          "reversible": "tab:blue", "backprop": "tab:green"}
ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "guided-generation.md"
DOCS_DATA = ROOT / "docs" / "data" / "guided_generation.json"
DOCS_IMG = ROOT / "docs" / "img" / "guided_generation.png"
#: the generated block of DOCS_PAGE that :func:`render` writes
BLOCK = "guided-generation-tables"


def method_label(m: str) -> str:
    """The figure's and table's name of method ``m`` (the registry name if unlisted)."""
    return LABELS.get(m, m)


@contextlib.contextmanager
def quiet_stderr():
    """Silence the C++ profiler's own lines ("profiler_start", ...) on file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def on_sphere(z: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """``z`` rescaled per sample to the norm ``radius`` (keeps x_T a typical noise)."""
    norm = z.flatten(1).norm(dim=1).reshape(-1, *([1] * (z.dim() - 1)))
    return z * (radius / norm)


def make_tasks(model, clf, x_T, steps: int, sampler: str) -> dict:
    """The two losses, their targets and success tests (all from fixed data)."""
    with torch.no_grad():
        x0 = sample(model, x_T, steps=steps, sampler=sampler)
        start_class = clf(x0).argmax(-1)
    target_class = (start_class + 5) % 10

    def classifier_loss(x):
        return F.cross_entropy(clf(x), target_class, reduction="sum")

    real, real_y = digits_data(16, "test")
    # one held-out digit of each class in turn, so the batch asks for different digits
    pick = torch.stack([torch.nonzero(real_y == (i % 10))[i // 10, 0]
                        for i in range(x_T.shape[0])])
    low = F.avg_pool2d(real[pick], 4)

    def lowres_loss(x):
        return (F.avg_pool2d(x, 4) - low).pow(2).sum()

    return {
        "classifier": {"loss": classifier_loss, "target": target_class,
                       "show": None, "title": "turn each sample into a target digit"},
        "low-res": {"loss": lowres_loss, "target": real_y[pick],
                    "show": F.interpolate(low, scale_factor=4, mode="nearest"),
                    "title": "match a 4x4 low-resolution digit"},
    }


def optimise(model, clf, judge, task, x_T, method, iters, steps, sampler, lr):
    """Adam on x_T (on its sphere); returns the history and the final samples."""
    radius = x_T.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    z = x_T.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    hist: dict[str, list] = {"loss": [], "nfe": [], "success": [], "judge_success": []}
    nfe = 0
    for it in range(iters + 1):
        x = on_sphere(z, radius)
        r = gradient(task["loss"], model, x.detach(), steps=steps, sampler=sampler,
                     method=method)
        nfe += r.nfe
        with torch.no_grad():
            hit = (clf(r.sample).argmax(-1) == task["target"]).float().mean()
        hist["loss"].append(float(r.loss) / x_T.shape[0])
        hist["nfe"].append(nfe)
        hist["success"].append(float(hit))
        hist["judge_success"].append(float(judge.agrees(r.sample, task["target"]).float()
                                           .mean()))
        if it == iters:
            return hist, r.sample
        opt.zero_grad()
        x.backward(r.grad_x_T)
        opt.step()
    raise AssertionError("unreachable")


def figure(path: Path, results: dict, tasks: dict, start: torch.Tensor, methods) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(tasks)
    n = start.shape[0]
    fig = plt.figure(figsize=(17, 5.6 * len(names)), dpi=70)
    outer = fig.add_gridspec(len(names), 3, width_ratios=[1.35, 1, 1], wspace=0.28,
                             hspace=0.75)  # room for the legend under each row
    for row, name in enumerate(names):
        task, res = tasks[name], results[name]
        rows = [("start", start)] + ([("target (4x4)", task["show"])]
                                     if task["show"] is not None else [])
        rows += [(method_label(m).split(" (")[0], res[m]["samples"]) for m in methods]
        grid = outer[row, 0].subgridspec(len(rows), n, wspace=0.04, hspace=0.08)
        for i, (label, imgs) in enumerate(rows):
            for j in range(n):
                ax = fig.add_subplot(grid[i, j])
                ax.imshow(imgs[j, 0].clamp(-1, 1).numpy(), cmap="gray", vmin=-1, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"want {int(task['target'][j])}", fontsize=10)
                if j == 0:
                    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
                if label not in ("start", "target (4x4)"):
                    m = methods[i - (len(rows) - len(methods))]
                    ok, sure = bool(res[m]["hit"][j]), bool(res[m]["judge_hit"][j])
                    colour = ("tab:green" if ok and sure else "tab:orange" if ok
                              else "tab:red")
                    for s in ax.spines.values():
                        s.set_edgecolor(colour)
                        s.set_linewidth(2.0)
        ax_it = fig.add_subplot(outer[row, 1])
        ax_nfe = fig.add_subplot(outer[row, 2])
        for m in methods:
            h = res[m]["history"]
            text = (f"{method_label(m)}: {100 * h['success'][-1]:.0f}% / "
                    f"{100 * h['judge_success'][-1]:.0f}%, {res[m]['peak_mb']:.1f} MB")
            # reversible and backprop give the same gradient: dash the one drawn on top
            style = dict(color=COLORS.get(m), lw=2, ls="--" if m == "reversible" else "-",
                         zorder=3 if m == "reversible" else 2)
            ax_it.plot(range(len(h["loss"])), h["loss"], label=text, **style)
            ax_nfe.plot(h["nfe"], h["loss"], marker=".", ms=4, **style)
        ax_it.set_xlabel("iteration (Adam on x_T)")
        ax_it.set_ylabel("loss per sample")
        ax_it.set_title(f"{task['title']}: loss vs iterations", fontsize=11)
        start_hit = 100 * res[methods[0]]["history"]["success"][0]
        # below the plot, so that it covers no curve
        ax_it.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                     title_fontsize=7.5,
                     title=f"success: classifier / judge (start: {start_hit:.0f}%), "
                           "peak memory per call")
        ax_nfe.set_xlabel("network evaluations spent")
        ax_nfe.set_title("loss vs network evaluations", fontsize=11)
        for ax in (ax_it, ax_nfe):
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
    fig.suptitle("Guided generation with digits-unet: green frame = the classifier and the "
                 "independent judge read the wanted digit; orange = the classifier only",
                 fontsize=13)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=25, help="Adam iterations on x_T")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps")
    ap.add_argument("--batch", type=int, default=8, help="samples (1 to 10)")
    ap.add_argument("--lr", type=float, default=0.15, help="Adam learning rate")
    ap.add_argument("--sampler", default="rev_heun", help="reversible sampler")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                    help="gradient methods (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the starting noise")
    ap.add_argument("--out", type=Path, default=Path("out"),
                    help="folder of the figure and the JSON (default: out)")
    ap.add_argument("--docs-copy", type=Path, default=None,
                    help="also write a small 256-colour copy of the figure here")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write docs/data/guided_generation.json, the tables of "
                         "docs/guided-generation.md and docs/img/guided_generation.png")
    ap.add_argument("--render", action="store_true",
                    help="no run: the tables of docs/guided-generation.md from "
                         "docs/data/guided_generation.json")
    args = ap.parse_args(argv)
    if args.render:
        write_page(json.loads(DOCS_DATA.read_text()))
        return 0
    if args.iters < 1 or args.steps < 1 or not 1 <= args.batch <= 10:
        ap.error("need --iters >= 1, --steps >= 1 and 1 <= --batch <= 10")
    try:
        import sklearn.datasets  # noqa: F401  (the held-out digits)
    except ImportError:
        sys.exit("guided_generation.py: error: the digits data needs scikit-learn: "
                 "pip install scikit-learn (or pip install 'revsde[images]')")
    t0 = time.perf_counter()
    model = pretrained("digits-unet")
    clf = digit_classifier()
    judge = digit_judge()
    g = torch.Generator().manual_seed(args.seed)
    x_T = torch.randn((args.batch, *model.image_shape), generator=g)
    x_T = x_T * model.schedule.sigma(torch.tensor(model.schedule.t_max)).float()
    tasks = make_tasks(model, clf, x_T, args.steps, args.sampler)
    with torch.no_grad():
        start = sample(model, x_T, steps=args.steps, sampler=args.sampler)
    from tqdm.auto import tqdm

    # every method runs at --steps on purpose, outside its valid range too: measured, not warned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientAccuracyWarning)
        results, report = {}, {}
        bar = tqdm(total=len(tasks) * len(args.methods), desc="guided generation", unit="run",
                   file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
        for name, task in tasks.items():
            results[name], report[name] = {}, {}
            exact = gradient(task["loss"], model, x_T, steps=args.steps, sampler=args.sampler,
                             method="reversible").grad_x_T.flatten()
            for m in args.methods:
                bar.set_postfix_str(f"{name}, {m}")
                g0 = gradient(task["loss"], model, x_T, steps=args.steps, sampler=args.sampler,
                              method=m).grad_x_T.flatten()
                cosine = float(g0 @ exact / (g0.norm() * exact.norm()))
                hist, final = optimise(model, clf, judge, task, x_T, m, args.iters, args.steps,
                                       args.sampler, args.lr)
                with quiet_stderr():
                    peak = peak_tensor_bytes(lambda m=m, loss=task["loss"]: gradient(
                        loss, model, x_T, steps=args.steps, sampler=args.sampler, method=m))
                with torch.no_grad():
                    hit = clf(final).argmax(-1) == task["target"]
                sure = judge.agrees(final, task["target"])
                results[name][m] = {"history": hist, "samples": final, "hit": hit,
                                    "judge_hit": sure, "peak_mb": peak / 2**20}
                report[name][m] = {"loss_start": hist["loss"][0], "loss_end": hist["loss"][-1],
                                   "success_rate": hist["success"][-1],
                                   "judge_success_rate": hist["judge_success"][-1],
                                   "confirmed_rate": float((hit & sure).float().mean()),
                                   "start_success_rate": hist["success"][0],
                                   "start_judge_success_rate": hist["judge_success"][0],
                                   "nfe_total": hist["nfe"][-1], "peak_tensor_mb": peak / 2**20,
                                   "cosine_with_exact": cosine,
                                   "norm_ratio_to_exact": float(g0.norm() / exact.norm())}
                bar.update(1)
        bar.close()
    png = args.out / "guided_generation.png"
    out = {"figure": str(png), "iters": args.iters, "steps": args.steps, "batch": args.batch,
           "sampler": args.sampler, "lr": args.lr, "seed": args.seed,
           "methods": list(args.methods), "results": report,
           "quality": quality(model, clf, judge),
           "seconds": round(time.perf_counter() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "guided_generation.json").write_text(json.dumps(out, indent=2))
    figure(png, results, tasks, start, list(args.methods))
    copies = [p for p in (args.docs_copy, DOCS_IMG if args.write_docs else None) if p]
    for copy in copies:
        from PIL import Image

        # a 256-colour copy for the docs (a few times smaller than the RGBA original)
        Image.open(png).convert("RGB").quantize(256).save(copy, optimize=True)
    if args.write_docs:
        DOCS_DATA.write_text(json.dumps(dict(out, figure=str(DOCS_IMG.relative_to(ROOT))),
                                        indent=2) + "\n")
        write_page(out)
    print(json.dumps(out, indent=2))
    return 0


def quality(model, clf, judge, per_digit: int = 20, steps: int = 30) -> dict:
    """The classifier and the judge on the held-out real digits and on class-conditional
    samples (``per_digit`` of each digit, ``rev_heun``, ``steps`` steps, seed 0)."""
    real, real_y = digits_data(16, "test")
    labels = torch.arange(10 * per_digit) % 10
    with torch.no_grad():
        fake = sample(model, (labels.numel(), *model.image_shape), steps=steps,
                      sampler="rev_heun", seed=0, cond={"label": F.one_hot(labels, 10).float()})
        p_real, p_fake = clf(real).softmax(-1), clf(fake).softmax(-1)
    return {"samples": labels.numel(), "sample_steps": steps,
            "classifier_real": float((p_real.argmax(-1) == real_y).float().mean()),
            "classifier_real_confidence": float(p_real.max(-1).values.mean()),
            "classifier_samples": float((p_fake.argmax(-1) == labels).float().mean()),
            "classifier_samples_confidence": float(p_fake.max(-1).values.mean()),
            "judge_real": judge.held_out_accuracy,
            "judge_samples": float(judge.agrees(fake, labels).float().mean())}


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def _num(v: float) -> str:
    return f"{v:.3g}" if v >= 1e-2 else f"{v:.2g}"


def render(data: dict) -> str:
    """The tables of docs/guided-generation.md (between the guided-generation-tables
    markers) from the example's JSON; a test checks the page shows exactly this."""
    q = data["quality"]
    out = [f"Measured by `python examples/guided_generation.py --write-docs` "
           f"({data['iters']} iterations, {data['steps']} `{data['sampler']}` steps, batch "
           f"{data['batch']}, seed {data['seed']}; saved in `docs/data/guided_generation.json`, "
           "from which a test checks these tables are rendered). Loss per sample at the start "
           f"and after {data['iters']} iterations; network evaluations of all "
           f"{data['iters'] + 1} gradient calls; peak tensor memory of one call; success: "
           "the fraction of samples the guiding classifier reads as the target, and the "
           "fraction the independent judge (an SVM on 8×8 digits) does:", "",
           "| task | method | loss start → end | success (classifier) | success (judge) | "
           "both | evaluations | peak memory |", "|---|---|---|---|---|---|---|---|"]
    for task, res in data["results"].items():
        first = True
        for m, r in res.items():
            head = (f"{task} (start {_pct(r['start_success_rate'])} / "
                    f"{_pct(r['start_judge_success_rate'])})") if first else ""
            first = False
            out.append(f"| {head} | {method_label(m).split(' (')[0]} | {_num(r['loss_start'])} → "
                       f"{_num(r['loss_end'])} | {_pct(r['success_rate'])} | "
                       f"{_pct(r['judge_success_rate'])} | {_pct(r['confirmed_rate'])} | "
                       f"{r['nfe_total']} | {r['peak_tensor_mb']:.1f} MB |")
    tasks = list(data["results"])
    out += ["", "Each method's first gradient (at the starting noises) against the exact one "
            "(`reversible`), as the cosine and the norm ratio:", "",
            "| method | " + " | ".join(f"{t}: cosine, norm ratio" for t in tasks) + " |",
            "|---|" + "---|" * len(tasks)]
    for m in data["results"][tasks[0]]:
        cells = [f"{data['results'][t][m]['cosine_with_exact']:.3f}, "
                 f"{_num(data['results'][t][m]['norm_ratio_to_exact'])}" for t in tasks]
        out.append(f"| {method_label(m).split(' (')[0]} | " + " | ".join(cells) + " |")
    out += ["", f"The guide and the judge on real and generated digits (the 297 held-out "
            f"real digits; {q['samples']} class-conditional samples, {q['samples'] // 10} per "
            f"digit, `rev_heun`, {q['sample_steps']} steps):", "",
            "| | classifier accuracy | classifier mean confidence | judge accuracy |",
            "|---|---|---|---|",
            f"| real held-out digits | {100 * q['classifier_real']:.1f} % | "
            f"{100 * q['classifier_real_confidence']:.1f} % | {100 * q['judge_real']:.1f} % |",
            f"| samples of the asked digit | {100 * q['classifier_samples']:.1f} % | "
            f"{100 * q['classifier_samples_confidence']:.1f} % | "
            f"{100 * q['judge_samples']:.1f} % |",
            "", f"The run took {data['seconds']:.0f} s."]
    return "\n".join(out)


def write_page(data: dict) -> None:
    write_block(DOCS_PAGE, BLOCK, render(data))


if __name__ == "__main__":
    raise SystemExit(main())
