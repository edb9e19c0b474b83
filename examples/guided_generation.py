"""Guided generation: optimise the starting noise so that the sample minimises a loss.

Two tasks with the shipped ``digits-unet`` (run unconditionally) and digit classifier:

* **classifier**: turn each sample into a target digit (the classifier's cross-entropy;
  the target is the digit five away from the one the noise produces at first);
* **low-res**: match a 4x4 low-resolution copy of a real held-out digit (squared
  error after 4x4 average pooling); success means the sample shows the same digit.

Each gradient method of ``revsde.diffusion.gradient`` drives the same Adam
optimisation of ``x_T`` (kept on the sphere of its starting norm) from the same
noises: ``greedy`` (one-step Tweedie gradient), ``adjointdeis-1``,
``adjointdeis-2m``, ``reversible`` (exact, O(1) memory) and ``backprop``
(exact, O(N) memory).  It records the loss against iterations and against
network evaluations, the success rate and the peak tensor memory of one
gradient call, prints them as JSON and draws one figure (``out/guided_generation.png``).

    python examples/guided_generation.py [--iters 25] [--steps 20] [--batch 8]

Needs scikit-learn (the held-out digits of the low-res task): pip install scikit-learn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from revsde.diffusion import gradient, pretrained, sample
from revsde.diffusion.pretrained.digits import digit_classifier, digits_data
from revsde.memory import peak_tensor_bytes

METHODS = ("greedy", "adjointdeis-1", "adjointdeis-2m", "reversible", "backprop")
LABELS = {"greedy": "greedy (Tweedie)", "adjointdeis-1": "AdjointDEIS-1",
          "adjointdeis-2m": "AdjointDEIS-2M", "reversible": "reversible (exact, O(1))",
          "backprop": "backprop (exact, O(N))"}
COLORS = {"greedy": "tab:gray", "adjointdeis-1": "tab:orange", "adjointdeis-2m": "tab:red",
          "reversible": "tab:blue", "backprop": "tab:green"}


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


def optimise(model, clf, task, x_T, method, iters, steps, sampler, lr):
    """Adam on x_T (on its sphere); returns the history and the final samples."""
    radius = x_T.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    z = x_T.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    hist = {"loss": [], "nfe": [], "success": []}
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
    fig = plt.figure(figsize=(17, 4.6 * len(names)), dpi=70)
    outer = fig.add_gridspec(len(names), 3, width_ratios=[1.35, 1, 1], wspace=0.28,
                             hspace=0.38)
    for row, name in enumerate(names):
        task, res = tasks[name], results[name]
        rows = [("start", start)] + ([("target (4x4)", task["show"])]
                                     if task["show"] is not None else [])
        rows += [(LABELS[m].split(" (")[0], res[m]["samples"]) for m in methods]
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
                    ok = bool(res[m]["hit"][j])
                    for s in ax.spines.values():
                        s.set_edgecolor("tab:green" if ok else "tab:red")
                        s.set_linewidth(2.0)
        ax_it = fig.add_subplot(outer[row, 1])
        ax_nfe = fig.add_subplot(outer[row, 2])
        for m in methods:
            h = res[m]["history"]
            label = (f"{LABELS[m]}: {100 * h['success'][-1]:.0f}% reached, "
                     f"{res[m]['peak_mb']:.1f} MB")
            # reversible and backprop give the same gradient: dash the one drawn on top
            style = dict(color=COLORS[m], lw=2, ls="--" if m == "reversible" else "-",
                         zorder=3 if m == "reversible" else 2)
            ax_it.plot(range(len(h["loss"])), h["loss"], label=label, **style)
            ax_nfe.plot(h["nfe"], h["loss"], marker=".", ms=4, **style)
        ax_it.set_xlabel("iteration (Adam on x_T)")
        ax_it.set_ylabel("loss per sample")
        ax_it.set_title(f"{task['title']}: loss vs iterations", fontsize=11)
        start_hit = 100 * res[methods[0]]["history"]["success"][0]
        ax_it.legend(fontsize=8.5, loc="upper right", title_fontsize=8.5,
                     title=f"success (start: {start_hit:.0f}%), peak memory per call")
        ax_nfe.set_xlabel("network evaluations spent")
        ax_nfe.set_title("loss vs network evaluations", fontsize=11)
        for ax in (ax_it, ax_nfe):
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
    fig.suptitle("Guided generation with digits-unet: a green frame is a sample the classifier "
                 "reads as the wanted digit", fontsize=13)
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
    args = ap.parse_args(argv)
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
    g = torch.Generator().manual_seed(args.seed)
    x_T = torch.randn((args.batch, *model.image_shape), generator=g)
    x_T = x_T * model.schedule.sigma(torch.tensor(model.schedule.t_max)).float()
    tasks = make_tasks(model, clf, x_T, args.steps, args.sampler)
    with torch.no_grad():
        start = sample(model, x_T, steps=args.steps, sampler=args.sampler)
    from tqdm.auto import tqdm

    results, report = {}, {}
    bar = tqdm(total=len(tasks) * len(args.methods), desc="guided generation", unit="run",
               file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
    for name, task in tasks.items():
        results[name], report[name] = {}, {}
        for m in args.methods:
            bar.set_postfix_str(f"{name}, {m}")
            hist, final = optimise(model, clf, task, x_T, m, args.iters, args.steps,
                                   args.sampler, args.lr)
            with quiet_stderr():
                peak = peak_tensor_bytes(lambda m=m, loss=task["loss"]: gradient(
                    loss, model, x_T, steps=args.steps, sampler=args.sampler, method=m))
            with torch.no_grad():
                hit = clf(final).argmax(-1) == task["target"]
            results[name][m] = {"history": hist, "samples": final, "hit": hit,
                                "peak_mb": peak / 2**20}
            report[name][m] = {"loss_start": hist["loss"][0], "loss_end": hist["loss"][-1],
                               "success_rate": hist["success"][-1],
                               "nfe_total": hist["nfe"][-1], "peak_tensor_mb": peak / 2**20}
            bar.update(1)
    bar.close()
    png = args.out / "guided_generation.png"
    figure(png, results, tasks, start, list(args.methods))
    if args.docs_copy is not None:
        from PIL import Image

        # a 256-colour copy for the docs (a few times smaller than the RGBA original)
        Image.open(png).convert("RGB").quantize(256).save(args.docs_copy, optimize=True)
    out = {"figure": str(png), "iters": args.iters, "steps": args.steps, "batch": args.batch,
           "sampler": args.sampler, "lr": args.lr, "results": report,
           "seconds": round(time.perf_counter() - t0, 1)}
    (args.out / "guided_generation.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
