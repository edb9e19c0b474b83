"""Order fits and Monte Carlo confidence bands (scipy's regression and t-intervals).

An error that behaves like ``C h^p`` is a straight line of slope ``p`` in
log–log axes.  :func:`fit_order` fits that line by least squares
(:func:`scipy.stats.linregress`) and reports the slope with its standard error
and a Student-t confidence interval on ``len(hs) - 2`` degrees of freedom.
:func:`mean_band` is the t-interval of a Monte Carlo mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

__all__ = ["OrderFit", "fit_order", "mean_band"]


@dataclass(frozen=True)
class OrderFit:
    """A fitted order: the slope of ``log error`` against ``log h``.

    Attributes:
        order: the least-squares slope.
        stderr: its standard error.
        low: lower end of the ``confidence`` t-interval of the slope.
        high: upper end of that interval.
        intercept: ``log C`` of the fitted line ``error = C h^order``.
        confidence: the level of the interval (0.95 by default).
    """

    order: float
    stderr: float
    low: float
    high: float
    intercept: float
    confidence: float

    @property
    def halfwidth(self) -> float:
        """Half the width of the confidence interval of the order."""
        return 0.5 * (self.high - self.low)

    def as_dict(self) -> dict:
        return asdict(self)


def fit_order(hs: Sequence[float], errors: Sequence[float],
              confidence: float = 0.95) -> OrderFit:
    """Fit ``errors ≈ C hs^p`` in log–log axes; the slope ``p`` is the order.

    Args:
        hs: step sizes (positive).
        errors: the errors measured at those step sizes (positive).
        confidence: level of the t-interval of the slope.

    With two points the slope is exact and its interval is unbounded (``stderr``
    is ``inf``); a zero or non-finite error raises ``ValueError``.
    """
    h = np.asarray([float(v) for v in hs], dtype=float)
    e = np.asarray([float(v) for v in errors], dtype=float)
    if h.shape != e.shape or h.size < 2:
        raise ValueError(
            f"fit_order needs at least two (h, error) pairs of equal length; got {h.size} step "
            f"sizes and {e.size} errors"
        )
    if not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise ValueError(f"step sizes must be positive and finite; got {h.tolist()}")
    if not (np.all(np.isfinite(e)) and np.all(e > 0)):
        raise ValueError(
            f"errors must be positive and finite to fit an order in log-log axes; got "
            f"{e.tolist()} (a zero error means the method is exact on this problem)"
        )
    if np.unique(h).size < 2:
        raise ValueError("fit_order needs at least two different step sizes")
    x, y = np.log(h), np.log(e)
    if h.size == 2:
        slope = float((y[1] - y[0]) / (x[1] - x[0]))
        return OrderFit(slope, math.inf, -math.inf, math.inf, float(y[0] - slope * x[0]),
                        confidence)
    res = stats.linregress(x, y)
    t = float(stats.t.ppf(0.5 + confidence / 2, h.size - 2))
    slope, se = float(res.slope), float(res.stderr)
    return OrderFit(slope, se, slope - t * se, slope + t * se, float(res.intercept), confidence)


def mean_band(values: torch.Tensor, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the Student-t interval of the mean of ``values`` (1-D).

    The samples are independent Monte Carlo draws (one per Brownian path), so
    the interval is ``mean ± t_{n-1} · sd / sqrt(n)``.
    """
    v = values.detach().to(torch.float64).reshape(-1).cpu().numpy()
    n = v.size
    m = float(v.mean())
    if n < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half
