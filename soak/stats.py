"""Robust trend statistics for soak series, in numpy only.

A soak gate must not call a leak on a GC sawtooth or on one bump after a fault, and must not call "no leak" on a
run too short to tell. Theil–Sen (the median of pairwise slopes) shrugs off outliers and steps; its Sen confidence
interval and the Mann–Kendall rank test share one variance, tie-corrected because FD and thread counts are integers
with long flat stretches. Both are O(m²) in the number of points, so long series are first reduced to at most
``max_points`` time-bin medians (``bin_medians``): a 24-hour 1 Hz run becomes ~2-minute medians, which keeps the
pairwise work fixed while the O(n) reduction scales with the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 3


@dataclass(frozen=True)
class SlopeEstimate:
    """Theil–Sen line ``y = intercept + slope * x`` with Sen's two-sided confidence interval for the slope."""

    slope: float
    intercept: float
    low: float
    high: float
    confidence: float
    points: int


@dataclass(frozen=True)
class MannKendall:
    """Mann–Kendall statistic S, its tie-corrected variance, the continuity-corrected z and the two-sided p-value."""

    s: int
    var_s: float
    z: float
    p_value: float
    points: int


@dataclass(frozen=True)
class Trend:
    """A fitted trend over one series: the slope estimate, the rank test and how the series was reduced."""

    estimate: SlopeEstimate
    test: MannKendall
    x_start: float
    x_end: float
    raw_points: int
    bin_width: float

    @property
    def span(self) -> float:
        return self.x_end - self.x_start


def _tie_term(y: FloatArray) -> float:
    _, counts = np.unique(y, return_counts=True)
    tied = counts[counts > 1].astype(np.float64)
    return float(np.sum(tied * (tied - 1.0) * (2.0 * tied + 5.0)))


def mann_kendall_variance(y: FloatArray) -> float:
    """Var(S) under no trend, reduced for groups of equal values (the standard tie correction)."""
    n = float(len(y))
    return (n * (n - 1.0) * (2.0 * n + 5.0) - _tie_term(y)) / 18.0


def _pair_indices(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    i, j = np.triu_indices(n, 1)
    return i, j


def _as_float(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _check_same_length(x: FloatArray, y: FloatArray) -> None:
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")


def mann_kendall(y_values: npt.ArrayLike) -> MannKendall:
    """Mann–Kendall trend test on a series in time order, with the normal approximation.

    The p-value is two-sided; callers wanting "significant growth" check ``s > 0`` as well.
    """
    y = _as_float(y_values)
    n = len(y)
    if n < MIN_POINTS:
        raise ValueError(f"Mann–Kendall needs at least {MIN_POINTS} points, got {n}")
    i, j = _pair_indices(n)
    s = int(np.sum(np.sign(y[j] - y[i])))
    var_s = mann_kendall_variance(y)
    if var_s <= 0.0 or s == 0:
        return MannKendall(s=s, var_s=var_s, z=0.0, p_value=1.0, points=n)
    z = (s - math.copysign(1.0, s)) / math.sqrt(var_s)
    p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))
    return MannKendall(s=s, var_s=var_s, z=z, p_value=p_value, points=n)


def theil_sen(x_values: npt.ArrayLike, y_values: npt.ArrayLike, confidence: float = 0.95) -> SlopeEstimate:
    """Median of pairwise slopes, with Sen's (1968) nonparametric interval from the Mann–Kendall variance.

    With N pairwise slopes sorted ascending and C = z·sqrt(Var S), the bounds are the slopes of rank (N − C)/2 and
    (N + C)/2 (rounded outwards, so the interval errs wide). Pairs with equal x carry no slope and are skipped.
    """
    x = _as_float(x_values)
    y = _as_float(y_values)
    _check_same_length(x, y)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = len(x)
    if n < MIN_POINTS:
        raise ValueError(f"Theil–Sen needs at least {MIN_POINTS} points, got {n}")
    i, j = _pair_indices(n)
    dx = x[j] - x[i]
    usable = dx != 0.0
    slopes = (y[j] - y[i])[usable] / dx[usable]
    count = len(slopes)
    if count == 0:
        raise ValueError("Theil–Sen needs at least two distinct x values")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    c = z * math.sqrt(max(mann_kendall_variance(y), 0.0))
    low_rank = int(np.clip(math.floor((count - c) / 2.0), 0, count - 1))
    high_rank = int(np.clip(math.ceil((count + c) / 2.0), 0, count - 1))
    mid_low, mid_high = (count - 1) // 2, count // 2
    kth = sorted({low_rank, high_rank, mid_low, mid_high})
    ordered = np.partition(slopes, kth)
    slope = float((ordered[mid_low] + ordered[mid_high]) / 2.0)
    intercept = float(np.median(y - slope * x))
    return SlopeEstimate(
        slope=slope,
        intercept=intercept,
        low=float(ordered[low_rank]),
        high=float(ordered[high_rank]),
        confidence=confidence,
        points=n,
    )


def bin_medians(x_values: npt.ArrayLike, y_values: npt.ArrayLike, width: float) -> tuple[FloatArray, FloatArray]:
    """Reduce a series to one point per ``width``-wide bin of x: the mean x and the median y of the bin.

    Non-finite points are dropped first. A width of zero or less returns the finite points unchanged. Medians, not
    means, so one spike in a bin does not move it.
    """
    x = _as_float(x_values)
    y = _as_float(y_values)
    _check_same_length(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if width <= 0.0 or len(x) == 0:
        return x, y
    bins = np.floor((x - x.min()) / width).astype(np.int64)
    order = np.lexsort((y, bins))
    bins_sorted, y_sorted, x_sorted = bins[order], y[order], x[order]
    starts = np.flatnonzero(np.concatenate(([True], bins_sorted[1:] != bins_sorted[:-1])))
    counts = np.diff(np.concatenate((starts, [len(bins_sorted)])))
    medians = (y_sorted[starts + (counts - 1) // 2] + y_sorted[starts + counts // 2]) / 2.0
    centres = np.add.reduceat(x_sorted, starts) / counts
    return centres, medians


def fit_trend(
    x_values: npt.ArrayLike, y_values: npt.ArrayLike, *, max_points: int, confidence: float = 0.95
) -> Trend | None:
    """Theil–Sen and Mann–Kendall over a series reduced to at most ``max_points`` bins; None if too few points."""
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}, got {max_points}")
    x = _as_float(x_values)
    y = _as_float(y_values)
    _check_same_length(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    raw = len(x)
    if raw < MIN_POINTS:
        return None
    x_start, x_end = float(x.min()), float(x.max())
    width = 0.0
    if raw > max_points and x_end > x_start:
        width = (x_end - x_start) / max_points * (1.0 + 1e-9)
    xb, yb = bin_medians(x, y, width)
    if len(xb) < MIN_POINTS or float(xb.max()) == float(xb.min()):
        return None
    return Trend(
        estimate=theil_sen(xb, yb, confidence),
        test=mann_kendall(yb),
        x_start=x_start,
        x_end=x_end,
        raw_points=raw,
        bin_width=width,
    )
