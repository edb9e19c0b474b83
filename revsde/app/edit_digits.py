"""``revsde edit``: change a digit's label by exact inversion with the shipped ``digits-unet``.

The digit (a held-out real one by index, or a picture file) is inverted under its label
and regenerated under the target label (:func:`revsde.diffusion.edit`, with
classifier-free guidance in both directions); the report says what the guiding
classifier and the independent judge (:mod:`revsde.diffusion.pretrained.judge`) read in
the edit, how far it moved from the source, and the reconstruction error of the
inversion (decode under the source label).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.nn import functional as F

__all__ = ["edit_report", "format_edit_report", "load_digit", "DEFAULT_MODEL",
           "DEFAULT_GUIDANCE", "DEFAULT_SHIFT", "HELD_OUT"]

DEFAULT_MODEL = "digits-unet"
#: the CLI's guidance scale (the digits model was trained with 20 % label dropout)
DEFAULT_GUIDANCE = 2.0
#: the default target is the source label plus this, modulo 10
DEFAULT_SHIFT = 5
#: the number of held-out digits (sklearn digits 1500..1796)
HELD_OUT = 297


def _label(v: object, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9:
        raise ValueError(f"{name} must be a digit label 0..9; got {v!r}")
    return int(v)


def load_digit(source: str | int, size: int = 16) -> tuple[torch.Tensor, int | None]:
    """``(x, label)``: a held-out digit by index (its true label), or a picture file as a
    ``(1, 1, size, size)`` digit in [-1, 1] (gray, resized; a light background is flipped
    to the training digits' bright ink on dark) with ``label`` ``None``."""
    if isinstance(source, int):
        from ..diffusion.pretrained.digits import digits_data

        if not 0 <= source < HELD_OUT:
            raise ValueError(f"--digit must be a held-out digit index 0..{HELD_OUT - 1}; got "
                             f"{source}")
        x, y = digits_data(size, "test")
        return x[source:source + 1], int(y[source])
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{source!r} is not a picture file (give a PNG/JPEG of a digit, or "
                         "leave it out and pick a held-out digit with --digit N)")
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path).convert("L").resize((size, size), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read {source!r} as a picture: {e}") from e
    import numpy as np

    a = torch.as_tensor(np.asarray(img, dtype=np.float32)).reshape(1, 1, size, size) / 255.0
    if float(a.mean()) > 0.5:  # dark ink on light paper: the model's digits are bright
        a = 1.0 - a
    return a * 2.0 - 1.0, None


def edit_report(*, image: str | None = None, digit: int = 0, source: int | None = None,
                target: int | None = None, strength: float = 1.0,
                guidance_scale: float = DEFAULT_GUIDANCE, steps: int | None = None,
                sampler: str | None = None, model: str = DEFAULT_MODEL,
                figure: Path | None = None, progress: bool = False) -> dict:
    """Edit one digit and report (see the module docstring); draws ``figure`` if given."""
    from tqdm.auto import tqdm

    from ..diffusion import edit, pretrained
    from ..diffusion.checks import cond_names
    from ..diffusion.pretrained.digits import digit_classifier
    from ..diffusion.pretrained.judge import digit_judge

    t0 = time.perf_counter()
    bar = tqdm(total=4, desc="edit", file=__import__("sys").stderr, disable=not progress,
               leave=False)
    x, true = load_digit(image if image is not None else digit)
    if source is None and true is None:
        raise ValueError("a picture file needs --source LABEL: the digit it shows")
    src = _label(true if source is None else source, "--source")
    tgt = _label((src + DEFAULT_SHIFT) % 10 if target is None else target, "--target")
    net = pretrained(model)
    names = cond_names(net)
    if names is not None and "label" not in names:
        raise ValueError(f"--model {model!r} takes no digit label (its conditioning keywords "
                         f"are {sorted(names)}); revsde edit needs a label-conditioned model "
                         "such as digits-unet")
    bar.set_postfix_str("judge")
    bar.update(1)
    judge, clf = digit_judge(), digit_classifier()
    bar.set_postfix_str("inverting and regenerating")
    bar.update(1)

    def onehot(k: int) -> dict:
        return {"label": F.one_hot(torch.tensor([k]), 10).float()}

    with torch.no_grad():
        res = edit(net, x, source=onehot(src), target=onehot(tgt), strength=strength,
                   guidance_scale=guidance_scale, steps=steps, sampler=sampler, verify=True)
    out = res.edited.float()
    bar.update(1)
    lat = res.latents
    report = {
        "model": model, "input": image if image is not None else f"held-out digit {digit}",
        "source": src, "target": tgt, "strength": strength, "guidance_scale": guidance_scale,
        "sampler": lat.sampler, "options": lat.options, "steps": lat.grid.get("of"),
        "steps_regenerated": res.steps_regenerated, "t_start": res.t_start, "nfe": res.nfe,
        "judge_reads": int(judge.predict(out)[0]),
        "classifier_reads": int(clf(out.clamp(-1, 1)).argmax(-1)[0]),
        "judge_reads_source": int(judge.predict(x)[0]),
        "pixel_mae": float((out - x).abs().mean()),
        "reconstruction_error": res.reconstruction_error,
        "latent_std": float(lat.noise.std()),
        "judge_held_out_accuracy": judge.held_out_accuracy,
        "figure": None, "seconds": 0.0,
    }
    report["target_reached"] = report["judge_reads"] == tgt
    if figure is not None:
        bar.set_postfix_str("figure")
        report["figure"] = str(_draw(figure, x, lat.noise.float(), out, report))
    bar.update(1)
    bar.close()
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def _draw(path: Path, x, latent, out, rep: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"source ({rep['source']})", x, 1.0),
              (f"latent at t={rep['t_start']:.2g}", latent, 3.0),
              (f"edit ({rep['target']}); judge: {rep['judge_reads']}", out, 1.0)]
    fig, axes = plt.subplots(1, 3, figsize=(6.6, 2.5), dpi=100)
    for ax, (title, img, lim) in zip(axes, panels):
        ax.imshow(img[0, 0].clamp(-lim, lim).numpy(), cmap="gray", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def format_edit_report(r: dict) -> str:
    """The report as a few lines of text."""
    ok = "reached" if r["target_reached"] else "NOT reached"
    lines = [
        f"{r['input']}: label {r['source']} -> {r['target']} with {r['model']}, "
        f"{r['sampler']} ({r['options'].get('case') or 'baseline'}), "
        f"{r['steps_regenerated']} of {r['steps']} steps regenerated (from t={r['t_start']:.3g}), "
        f"guidance {r['guidance_scale']:g}, {r['nfe']} network evaluations",
        f"  target {ok}: the independent judge reads {r['judge_reads']}, the classifier "
        f"{r['classifier_reads']} (the judge reads the source as {r['judge_reads_source']}; "
        f"held-out accuracy {100 * r['judge_held_out_accuracy']:.1f} %)",
        f"  mean |edit - source| {r['pixel_mae']:.3f} (pixels in [-1, 1]); latent std "
        f"{r['latent_std']:.2f}",
        f"  inversion: decoding the latent under the source label gives the digit back to "
        f"{r['reconstruction_error']:.1e}",
    ]
    if r["figure"]:
        lines.append(f"figure: {r['figure']}")
    lines.append(f"{r['seconds']:.1f} s")
    return "\n".join(lines)
