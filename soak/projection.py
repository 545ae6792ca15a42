"""Growth per hour and growth per 1,000 calls, told apart, and the 24-hour night they add up to (pure statistics).

A compressed soak (``soak.compress``) alternates its load between busy and quiet blocks, so elapsed time and
cumulative calls stop moving in lock step and a resource can be fitted against both at once:
``y = a + b·hours + c·kcalls``. A leak per call shows as ``c`` (it grows faster in busy blocks), one per hour as
``b`` (it does not care). The night's growth at a rate ``r`` calls/s is then ``24·b + 86.4·r·c`` with the variance of
that combination, so both kinds project to a real night at the nominal rate.

The fit is ordinary least squares on time-bin medians (the medians shrug off the spikes and GC sawtooth that the
gate's Theil–Sen fits are robust to) with heteroskedasticity- and autocorrelation-consistent (Newey–West) standard
errors from ``statsmodels``, the maintained library for them. Its bandwidth is Andrews' (1991) AR(1) plug-in for the
Bartlett kernel, from the lag-1 autocorrelation of the residuals: soak series wander for minutes, and a fixed rule
of thumb (``4·(n/100)^(2/9)``, six lags here) under-covered on them. Intervals use Student's t on the effective
number of points ``n·(1 − ρ)/(1 + ρ)`` (at least 1 degree of freedom), times :data:`INTERVAL_INFLATION`.

That factor is calibrated on data, because HAC errors are known to be too small on short, strongly persistent
series and these are. A trendless 2-hour compressed night on the shipped pace plan (four blocks, 120 bins) was
simulated 500 times per source with the real RSS residuals of two 2-hour soaks of 3 Dec (detrended, circularly
shifted segments, from 40 and from 69 minutes on), and the factor read off as the 95th percentile of
|estimate| / (t quantile × standard error). Both readings of ``soak.night`` were checked: the full 24 hours of
per-hour growth (what an external target's projection is) needed 1.52–2.42, the 24/K hours of a timer-scaled
run 1.43–1.72. 2.5 is shipped; it covers 95.4–99.8 % in all eight conditions (``notes/night.md``; a GLSAR
AR(1)/AR(2) fit and coarser or finer bins under-covered as well, 72–88 %, in the first calibration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import statsmodels.api as sm
from scipy import stats as scipy_stats

from soak.stats import bin_medians

FloatArray = npt.NDArray[np.float64]

SECONDS_PER_DAY = 86_400.0
MIN_POINTS = 12
INTERVAL_INFLATION = 2.5
"""Interval half-widths times this (see above): at least 95 % coverage on real soak noise instead of 71–94 %."""
MAX_POINTS = 120
"""Bins the two-rate fit uses (about 48 s each on a 2-hour night): what the inflation was calibrated at."""
MIN_SPREAD = 0.001
"""The calls' deviation from a straight line in time, relative to their range, below which time and calls cannot
be told apart (a plain soak's calls grow in proportion to time; the default pace plan gives ~0.008)."""


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def scaled(self, factor: float) -> Interval:
        low, high = sorted((self.low * factor, self.high * factor))
        return Interval(self.value * factor, low, high)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}

    def at_least(self, half: float) -> Interval:
        """This interval, widened to ``value ± half`` where it is narrower (a resolution floor)."""
        return Interval(self.value, min(self.low, self.value - half), max(self.high, self.value + half))


@dataclass(frozen=True)
class TimeAndCalls:
    """``y = intercept + per_hour·hours + per_1k_calls·kcalls``, with the covariance of the two rates."""

    intercept: float
    per_hour: Interval
    per_1k_calls: Interval
    covariance: tuple[tuple[float, float], tuple[float, float]]
    quantile: float
    points: int
    effective_points: float
    autocorrelation: float
    lags: int
    hours_start: float
    hours_end: float
    kcalls_span: float
    quantum: float

    def growth(self, hours: float, kcalls: float) -> Interval:
        """Growth over ``hours`` hours in which ``kcalls`` thousand calls are served, with its interval.

        The interval is at least the fit's resolution: one ``quantum`` over the fitted span, carried to ``hours``
        or to ``kcalls``, whichever projects further. A series flat to its quantum (RSS unchanged to the page for
        half an hour) has zero residuals and so a zero HAC error, but growth below one step was not seen, not
        ruled out.
        """
        (vb, cbc), (_, vc) = self.covariance
        value = self.per_hour.value * hours + self.per_1k_calls.value * kcalls
        variance = max(hours * hours * vb + 2.0 * hours * kcalls * cbc + kcalls * kcalls * vc, 0.0)
        half = self.quantile * math.sqrt(variance)
        return Interval(value, value - half, value + half).at_least(self.resolution(hours, kcalls))

    def resolution(self, hours: float, kcalls: float) -> float:
        """What one ``quantum`` over the fitted span projects to over ``hours`` and ``kcalls`` (0: no quantum)."""
        span = self.hours_end - self.hours_start
        by_time = hours / span if span > 0 else 0.0
        by_calls = kcalls / self.kcalls_span if self.kcalls_span > 0 else 0.0
        return self.quantum * max(by_time, by_calls)

    def predict(self, hours: float, kcalls: float) -> float:
        return self.intercept + self.per_hour.value * hours + self.per_1k_calls.value * kcalls


def andrews_lags(residuals: FloatArray) -> tuple[int, float]:
    """Andrews' (1991) AR(1) plug-in bandwidth for the Bartlett kernel, and the lag-1 autocorrelation it used."""
    n = len(residuals)
    centred = residuals - residuals.mean()
    denominator = float(np.dot(centred, centred))
    rho = float(np.dot(centred[1:], centred[:-1]) / denominator) if denominator > 0 else 0.0
    rho = min(max(rho, -0.97), 0.97)
    alpha = 4.0 * rho * rho / ((1.0 - rho) ** 2 * (1.0 + rho) ** 2)
    lags = math.ceil(1.1447 * (alpha * n) ** (1.0 / 3.0)) if alpha > 0 else 0
    return min(max(lags, 1), max(n // 2, 1)), rho


def calls_spread(hours: FloatArray, kcalls: FloatArray) -> float:
    """How far cumulative calls stray from a straight line in time, as a share of their range (0: in lock step)."""
    span = float(kcalls.max() - kcalls.min()) if len(kcalls) else 0.0
    if span <= 0 or len(hours) < 3:
        return 0.0
    design = np.column_stack([np.ones_like(hours), hours])
    coef, *_ = np.linalg.lstsq(design, kcalls, rcond=None)
    return float(np.std(kcalls - design @ coef) / span)


def fit_time_and_calls(
    hours: npt.ArrayLike,
    kcalls: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_points: int,
    confidence: float,
    quantum: float = 0.0,
) -> TimeAndCalls | None:
    """The two-rate fit over finite points, or None when too few points or time and calls move in lock step.

    ``quantum`` is the smallest step the series can take (a page of RSS, one descriptor): each rate's interval is
    at least one step over the fitted span of hours or of calls, and so is every projection (``growth``).
    """
    h = np.asarray(hours, dtype=np.float64)
    c = np.asarray(kcalls, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(h) & np.isfinite(c) & np.isfinite(y)
    h, c, y = h[keep], c[keep], y[keep]
    if len(h) < MIN_POINTS:
        return None
    span = float(h.max() - h.min())
    if span <= 0:
        return None
    width = span / max_points
    if len(h) > max_points:
        hb, yb = bin_medians(h, y, width)
        _, cb = bin_medians(h, c, width)
        h, c, y = hb, cb, yb
    if len(h) < MIN_POINTS or calls_spread(h, c) < MIN_SPREAD:
        return None
    design = sm.add_constant(np.column_stack([h, c]), has_constant="add")
    ols = sm.OLS(y, design).fit()
    lags, rho = andrews_lags(np.asarray(ols.resid, dtype=np.float64))
    robust = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True})
    cov = np.asarray(robust.cov_params(), dtype=np.float64)
    n_eff = len(h) * (1.0 - rho) / (1.0 + rho) if rho > 0 else float(len(h))
    quantile = INTERVAL_INFLATION * float(scipy_stats.t.ppf(0.5 + confidence / 2.0, max(n_eff - 3.0, 1.0)))
    params = np.asarray(robust.params, dtype=np.float64)

    hours_span = float(h.max() - h.min())
    kcalls_span = float(c.max() - c.min())

    def interval(index: int, span: float) -> Interval:
        half = quantile * math.sqrt(max(cov[index, index], 0.0))
        value = float(params[index])
        return Interval(value, value - half, value + half).at_least(quantum / span if span > 0 else 0.0)

    return TimeAndCalls(
        intercept=float(params[0]),
        per_hour=interval(1, hours_span),
        per_1k_calls=interval(2, kcalls_span),
        covariance=((float(cov[1, 1]), float(cov[1, 2])), (float(cov[2, 1]), float(cov[2, 2]))),
        quantile=quantile,
        points=len(h),
        effective_points=n_eff,
        autocorrelation=rho,
        lags=lags,
        hours_start=float(h.min()),
        hours_end=float(h.max()),
        kcalls_span=kcalls_span,
        quantum=quantum,
    )
