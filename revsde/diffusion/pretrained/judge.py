"""An independent digit judge: a scikit-learn SVM on 8x8 digits, trained at run time.

The guided-generation example and the editing benchmark optimise or condition towards
a target digit; judging their pictures with the classifier that guided them
(:class:`~revsde.diffusion.pretrained.digits.DigitClassifier`, a CNN on 16x16
pictures) would count adversarial pictures as successes.  The judge shares nothing
with it but the training split: another model family (an RBF support-vector machine,
Cortes & Vapnik 1995), another resolution (the pictures average-pooled to 8x8, the
resolution of the original scikit-learn digits) and no gradient ever flows through it.

Deterministic: ``SVC`` with fixed hyper-parameters on the training digits ``0..1499``
(:data:`~revsde.diffusion.pretrained.digits.DIGITS_SPLIT`), no random state involved;
its accuracy on the 297 held-out digits is measured when it is built
(:attr:`DigitJudge.held_out_accuracy`).  Needs scikit-learn.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .digits import digits_data

__all__ = ["DigitJudge", "digit_judge", "JUDGE_SIZE"]

#: the judge's resolution: pictures are average-pooled to JUDGE_SIZE x JUDGE_SIZE
JUDGE_SIZE = 8
#: the SVM's hyper-parameters (RBF kernel; ``gamma`` in units of 1/(features · variance))
_C = 10.0
_GAMMA = "scale"


def _features(x: torch.Tensor) -> torch.Tensor:
    """``(batch, 1, H, W)`` pictures in [-1, 1] as ``(batch, 64)`` float64 features: clamped
    to the data range and average-pooled to 8x8."""
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"the judge takes gray digits of shape (batch, 1, H, W); got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    if x.shape[-1] % JUDGE_SIZE or x.shape[-2] % JUDGE_SIZE:
        raise ValueError(f"the judge needs H and W divisible by {JUDGE_SIZE} (16x16 digits); "
                         f"got {tuple(x.shape[-2:])}")
    x = x.detach().to("cpu", torch.float64).clamp(-1.0, 1.0)
    x = torch.nan_to_num(x, nan=0.0)
    return F.adaptive_avg_pool2d(x, JUDGE_SIZE).flatten(1)


class DigitJudge:
    """An RBF SVM on 8x8-pooled digits (see the module docstring); build with
    :func:`digit_judge`.

    ``predict(x)`` returns the digit of each picture (``(batch,)`` int64);
    ``held_out_accuracy`` is its accuracy on the held-out real digits.
    """

    def __init__(self, svm, held_out_accuracy: float) -> None:
        self.svm = svm
        self.held_out_accuracy = float(held_out_accuracy)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The digit the judge reads in each picture of ``x`` (``(batch, 1, H, W)`` in
        [-1, 1]; values outside are clamped, NaN read as 0)."""
        feats = _features(x)
        if feats.shape[0] == 0:
            return torch.zeros(0, dtype=torch.int64)
        return torch.as_tensor(self.svm.predict(feats.numpy()), dtype=torch.int64)

    def agrees(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``predict(x) == labels`` (a bool tensor)."""
        return self.predict(x) == torch.as_tensor(labels).to("cpu", torch.int64)

    def __repr__(self) -> str:
        return (f"DigitJudge(RBF SVM on {JUDGE_SIZE}x{JUDGE_SIZE} digits, held-out accuracy "
                f"{self.held_out_accuracy:.3f})")


def digit_judge() -> DigitJudge:
    """Train the judge on the training digits (deterministic, about a second) and measure
    its accuracy on the held-out ones."""
    try:
        from sklearn.svm import SVC
    except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
        raise ImportError("the digit judge needs scikit-learn: pip install scikit-learn "
                          "(or pip install 'revsde[images]')") from e
    x, y = digits_data(16, "train")
    svm = SVC(C=_C, gamma=_GAMMA, kernel="rbf")
    svm.fit(_features(x).numpy(), y.numpy())
    xt, yt = digits_data(16, "test")
    acc = float((torch.as_tensor(svm.predict(_features(xt).numpy())) == yt).float().mean())
    return DigitJudge(svm, acc)
