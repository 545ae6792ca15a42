"""Robust trend statistics for soak series, in numpy only.

A soak gate must not call a leak on a GC sawtooth or on one bump after a fault, and must not call "no leak" on a
run too short to tell. Theil–Sen (the median of pairwise slopes) shrugs off outliers and steps; its Sen confidence
interval and the Mann–Kendall rank test share one variance, tie-corrected because FD and thread counts are integers
with long flat stretches. Both are O(m²) in the number of points, so long series are first reduced to at most
``max_points`` time-bin medians (``bin_medians``): a 24-hour 1 Hz run becomes ~2-minute medians, which keeps the
pairwise work fixed while the O(n) reduction scales with the rows.

Soak series are strongly autocorrelated (memory wanders for minutes; a counter is a staircase), and Var(S) under
independence makes Sen's interval and the rank test overconfident: on trendless AR(1) noise of 288 one-second points
with φ = 0.97 the independent interval's lower bound lay above zero in 43 % of 200 series (2.5 % is nominal).
``fit_trend`` therefore inflates Var(S) by the effective-sample-size factor (1 + r)/(1 − r) of the lag-1
autocorrelation r of the series' residuals about its Theil–Sen line (Bayley & Hammersley 1946; Zwiers & von Storch
1995), r bias-corrected for short series as Kendall's (1 + 4r)/n, which left 7 % on the same series. Hamed–Rao's
rank-autocorrelation correction (``pymannkendall``, the maintained library for it) was measured on such series and
left 15–22 % one-sided misses, because the lags it counts must pass a significance test that short series rarely
pass, so the lag-1 factor is computed here (``notes/gate-calibration.md``, ``make calibrate``). The gate's rule on
top (a leak must grow in both halves, by enough points and steps) brings false alarms on healthy series to ≤ 5 %.
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
    autocorrelation: float = 0.0
    variance_factor: float = 1.0


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


def mann_kendall(y_values: npt.ArrayLike, variance_factor: float = 1.0) -> MannKendall:
    """Mann–Kendall trend test on a series in time order, with the normal approximation.

    ``variance_factor`` (≥ 1) inflates Var(S) for autocorrelated series. The p-value is two-sided; callers wanting
    "significant growth" check ``s > 0`` as well.
    """
    y = _as_float(y_values)
    n = len(y)
    if n < MIN_POINTS:
        raise ValueError(f"Mann–Kendall needs at least {MIN_POINTS} points, got {n}")
    i, j = _pair_indices(n)
    s = int(np.sum(np.sign(y[j] - y[i])))
    var_s = mann_kendall_variance(y) * max(variance_factor, 1.0)
    if var_s <= 0.0 or s == 0:
        return MannKendall(s=s, var_s=var_s, z=0.0, p_value=1.0, points=n)
    z = (s - math.copysign(1.0, s)) / math.sqrt(var_s)
    p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))
    return MannKendall(s=s, var_s=var_s, z=z, p_value=p_value, points=n)


def theil_sen(
    x_values: npt.ArrayLike, y_values: npt.ArrayLike, confidence: float = 0.95, autocorrelated: bool = False
) -> SlopeEstimate:
    """Median of pairwise slopes, with Sen's (1968) nonparametric interval from the Mann–Kendall variance.

    With N pairwise slopes sorted ascending and C = z·sqrt(f·Var S), the bounds are the slopes of rank (N − C)/2 and
    (N + C)/2 (rounded outwards, so the interval errs wide). f is 1 for independent points; with ``autocorrelated``
    it is the lag-1 factor of the residuals about the fitted line (``ess_factor``). Pairs with equal x carry no
    slope and are skipped.
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
    mid_low, mid_high = (count - 1) // 2, count // 2
    ordered = np.partition(slopes, sorted({mid_low, mid_high}))
    slope = float((ordered[mid_low] + ordered[mid_high]) / 2.0)
    rho = lag1_autocorrelation(x, y, slope) if autocorrelated else 0.0
    factor = min(ess_factor(rho), max(n / MIN_EFFECTIVE_POINTS, 1.0))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    c = z * math.sqrt(max(mann_kendall_variance(y) * factor, 0.0))
    low_rank = int(np.clip(math.floor((count - c) / 2.0), 0, count - 1))
    high_rank = int(np.clip(math.ceil((count + c) / 2.0), 0, count - 1))
    ordered = np.partition(slopes, sorted({low_rank, high_rank}))
    intercept = float(np.median(y - slope * x))
    return SlopeEstimate(
        slope=slope,
        intercept=intercept,
        low=float(ordered[low_rank]),
        high=float(ordered[high_rank]),
        confidence=confidence,
        points=n,
        autocorrelation=rho,
        variance_factor=factor,
    )


MAX_AUTOCORRELATION = 0.995
"""r is capped here: beyond it the factor (≈ 400) says only that the series is a random walk at this length."""
MIN_EFFECTIVE_POINTS = 10.0
"""The factor never leaves fewer than this many effective points: below it Sen's ranks fall off both ends of the
pairwise slopes and the interval becomes the steepest neighbouring pair (tens of GB/h on a 40 MB bump), which says
nothing more than "too wide to call"."""


def lag1_autocorrelation(x: FloatArray, y: FloatArray, slope: float) -> float:
    """Lag-1 autocorrelation of the residuals about a line of ``slope``, bias-corrected, in [0, MAX]."""
    n = len(y)
    residuals = y - slope * x
    residuals = residuals - residuals.mean()
    denominator = float(np.dot(residuals, residuals))
    if n < MIN_POINTS or denominator <= 0.0:
        return 0.0
    r = float(np.dot(residuals[1:], residuals[:-1])) / denominator
    corrected = r + (1.0 + 4.0 * r) / n
    return float(np.clip(corrected, 0.0, MAX_AUTOCORRELATION))


def ess_factor(autocorrelation: float) -> float:
    """How many times fewer independent points an AR(1) series holds than it has: (1 + r)/(1 − r)."""
    r = float(np.clip(autocorrelation, 0.0, MAX_AUTOCORRELATION))
    return (1.0 + r) / (1.0 - r)


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
    """Theil–Sen and Mann–Kendall over a series reduced to at most ``max_points`` bins; None if too few points.

    The interval and the test account for the series' lag-1 autocorrelation (see the module docstring).
    """
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
    estimate = theil_sen(xb, yb, confidence, autocorrelated=True)
    return Trend(
        estimate=estimate,
        test=mann_kendall(yb, estimate.variance_factor),
        x_start=x_start,
        x_end=x_end,
        raw_points=raw,
        bin_width=width,
    )
