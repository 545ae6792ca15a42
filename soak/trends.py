"""Trend criteria: does a resource, or latency, keep growing after the warm-up, faster than its allowance?

A criterion decides as soon as the evidence is clear, not after a fixed number of minutes:

* **broken** when the whole confidence interval of the slope lies above the allowance, on enough points, by enough
  whole steps for a counter, *and* each half of the trend data grows on its own (faster than the allowance and at
  least ``sustained_fraction`` of the whole slope), the second half's interval not wholly below the first's. A
  leak grows all along at its pace; a bounded cache filling slows and stops, and a transient held, a level shift
  of the allocator or a step of warm-up growth comes in one burst, so such growth is not called a leak on a short
  run.
* **held** when the interval's upper bound (and, for a whole-step counter, its resolution) is within the allowance.
* **inconclusive** otherwise, with why and roughly how long a run would need.

The intervals account for autocorrelation (``soak.stats``). Every criterion also states its 24-hour projection
against a per-night budget (the allowance over ``night_hours``), so a short run answers the overnight question
with a bound. Memory growth while the target's own bounded tiers are still filling (what its ``/metrics`` reports,
entries and bytes against their caps) is explained growth: the memory trend starts once they have settled.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from soak.context import (
    BoolArray,
    FloatArray,
    GateContext,
    degradation_windows,
    sessions_accumulating,
    settled_time,
)
from soak.formatting import MEGABYTE, SECONDS_PER_HOUR, fmt_duration, fmt_hours, fmt_interval, fmt_num, fmt_p
from soak.growth_sites import reason_text
from soak.night import Evidence, backtest, compressed, judge_night
from soak.plotfiles import PlotFile
from soak.projection import Interval
from soak.stats import Trend, ess_factor, fit_trend
from soak.thresholds import Thresholds
from soak.verdict import Criterion, Status, TrendLine


@dataclass(frozen=True)
class TrendSpec:
    """One trended resource: its column, display unit, allowance and the smallest step the counter can take."""

    key: str
    column: str
    label: str
    unit: str
    scale: float
    allowance: Callable[[Thresholds], float]
    quantum: float
    group: str
    plot: PlotFile


PAGE_MB = mmap.PAGESIZE / MEGABYTE
"""RSS and USS move in whole pages: a span flat to the page bounds growth to one page over it, not to zero."""

TREND_SPECS: tuple[TrendSpec, ...] = (
    TrendSpec("memory", "rss_bytes", "RSS memory", "MB", MEGABYTE, lambda th: th.memory_growth_mb_per_h, PAGE_MB,
              "memory", PlotFile.MEMORY),
    TrendSpec("file descriptors", "fds", "open file descriptors", "FDs", 1.0, lambda th: th.fd_growth_per_h, 1.0,
              "resources", PlotFile.FDS_THREADS),
    TrendSpec("threads", "threads", "threads", "threads", 1.0, lambda th: th.thread_growth_per_h, 1.0,
              "resources", PlotFile.FDS_THREADS),
    TrendSpec("client sockets", "tcp_clients", "established client sockets", "sockets", 1.0,
              lambda th: th.socket_growth_per_h, 1.0, "resources", PlotFile.TCP),
    TrendSpec("upstream sockets", "tcp_upstream", "established upstream sockets", "sockets", 1.0,
              lambda th: th.socket_growth_per_h, 1.0, "resources", PlotFile.TCP),
    TrendSpec("CLOSE_WAIT sockets", "tcp_close_wait", "sockets in CLOSE_WAIT", "sockets", 1.0,
              lambda th: th.close_wait_growth_per_h, 1.0, "resources", PlotFile.TCP),
)  # fmt: skip
USS_SPEC = TrendSpec(
    "uss", "uss_bytes", "USS memory", "MB", MEGABYTE, lambda th: th.memory_growth_mb_per_h, PAGE_MB, "memory",
    PlotFile.MEMORY,
)  # fmt: skip
PY_BLOCKS_SPEC = TrendSpec(
    "python heap", "py_blocks", "Python heap", "kblocks", 1000.0, lambda th: 0.0, 0.0, "memory", PlotFile.MEMORY
)
"""Not gated: read beside RSS, it tells leaked Python objects (both rise) from allocator high-water (blocks flat)."""
BOUNDED_TIERS: tuple[tuple[str, str, str, float, str], ...] = (
    ("cache_memory_entries", "cache_memory_entries_limit", "entries", 1.0, "memory tier"),
    ("cache_memory_bytes", "cache_memory_bytes_limit", "MB", MEGABYTE, "memory tier"),
)
"""(value column, cap column, unit, scale, tier): the target's own bounded structures, as its /metrics reports them."""
LATENCY_COLUMNS: tuple[tuple[str, str, Callable[[Thresholds], float]], ...] = (
    ("p50 latency creep", "p50_ms", lambda th: th.p50_ratio),
    ("p95 latency creep", "p95_ms", lambda th: th.p95_ratio),
)


# ---------------------------------------------------------------------------------------------------------------
# the decision, pure: two fits and an allowance in, a status and the words for it out


@dataclass(frozen=True)
class Decision:
    status: Status
    reason: str


def needed_hours(trend: Trend, allowance: float, quantum: float, thresholds: Thresholds) -> float:
    """Roughly how long a whole run would need to be for this series' interval to settle against the allowance.

    The target half-width is half the allowance while the interval still contains zero (the estimate is noise),
    else the distance between the estimate and the allowance (at least a quarter of it). The half-width is assumed
    to shrink in proportion to 1/duration: faster than a sqrt(n) rule, slower than white noise's duration^-1.5,
    because soak noise is correlated; so the figure errs long. A counter that moves in whole steps cannot show
    growth below one step per trend span at all. The warm-up is added back.
    """
    estimate = trend.estimate
    half = max((estimate.high - estimate.low) / 2.0, 0.0)
    if estimate.low <= 0.0 <= estimate.high:
        target = allowance / 2.0
    else:
        target = max(abs(allowance - estimate.slope), allowance / 4.0)
    needed = trend.span * max(half / target, 1.0) if target > 0 else math.inf
    if quantum > 0 and estimate.slope < allowance:
        needed = max(needed, quantum / (allowance - max(estimate.slope, 0.0)))
    return whole_run_hours(needed, thresholds)


def whole_run_hours(trend_span_h: float, thresholds: Thresholds) -> float:
    """The length of a whole run whose part after the warm-up is ``trend_span_h`` long."""
    fraction = thresholds.warmup_fraction
    return min(trend_span_h / (1.0 - fraction), trend_span_h + thresholds.warmup_max_s / SECONDS_PER_HOUR)


def _grows_on(half: Trend | None, whole: Trend, allowance: float, th: Thresholds) -> bool:
    """A half of the trend data grows like the whole: faster than the allowance and ``sustained_fraction`` of it."""
    if half is None:
        return False
    slope = half.estimate.slope
    return slope > allowance and slope >= th.sustained_fraction * whole.estimate.slope


def decide(
    trend: Trend,
    halves: tuple[Trend | None, Trend | None],
    allowance: float,
    quantum: float,
    label: str,
    unit: str,
    th: Thresholds,
    *,
    leak_shape: bool = True,
) -> Decision:
    """Broken, held or inconclusive for one fitted series and its two halves (see the module docstring).

    ``leak_shape`` asks for a leak's shape too (both halves growing, no slowing), which tells a leak from bounded
    growth. Latency does not ask it: a median that ends ×3 where it started has degraded, whatever its shape.
    """
    est = trend.estimate
    early, late = halves
    span_text = fmt_duration(trend.span * SECONDS_PER_HOUR)
    resolution = quantum / trend.span if quantum > 0 and trend.span > 0 else 0.0
    effective = est.points / ess_factor(est.autocorrelation)
    enough_points = est.points >= th.min_decision_points and effective >= th.min_effective_points
    enough_steps = quantum <= 0 or est.low * trend.span >= th.min_leak_steps * quantum
    clear = est.low > allowance and enough_points and enough_steps
    early_slope = early.estimate.slope if early is not None else math.nan
    late_slope = late.estimate.slope if late is not None else math.nan
    # Slowing needs both: halves whose intervals part, and a second half that is materially slower. A steady leak's
    # halves can part on a tiny difference when the intervals are narrow (a 12 GB/h leak: +12,073 then +12,066).
    slowing = (
        early is not None
        and late is not None
        and late.estimate.high < early.estimate.low
        and late.estimate.slope < th.slowing_ratio * early.estimate.slope
    )
    leak_like = _grows_on(early, trend, allowance, th) and _grows_on(late, trend, allowance, th) and not slowing
    sustained = leak_like or not leak_shape
    halves_text = f"first half {fmt_num(early_slope, True)}, second half {fmt_num(late_slope, True)} {unit}"
    if clear and sustained:
        return Decision(
            Status.BROKEN,
            f"{label} grows {fmt_num(est.slope, True)} {unit} over {span_text} after warm-up, and even the CI's "
            f"lower bound {fmt_num(est.low, True)} exceeds the {fmt_num(allowance)} {unit} allowance; "
            + (f"it grows in both halves ({halves_text})" if leak_shape else halves_text),
        )
    if max(est.high, resolution) <= allowance:
        held = f"{label} slope {fmt_num(est.slope, True)} {unit}; the CI's upper bound is within the allowance"
        return Decision(Status.HELD, held)
    # Growth that is clear but not leak-like is settled by a run long enough to show whether it levels off.
    needed = fmt_hours(2.0 * trend.x_end if clear else needed_hours(trend, allowance, quantum, th))
    if clear and slowing:
        why = (
            f"{label} grew {fmt_num(est.slope, True)} {unit} over {span_text}, but it is slowing ({halves_text}; "
            f"the second half's interval lies wholly below the first's and under ×{th.slowing_ratio:g} of its slope): "
            "a bounded structure filling looks like "
            "this, a leak keeps its pace; a longer run shows whether it levels off"
        )
    elif clear:
        why = (
            f"{label} grew {fmt_num(est.slope, True)} {unit} over {span_text}, but not in both halves alike "
            f"({halves_text}): growth that stops or comes in one burst (a bounded structure filling, a transient "
            "held, a step) is not called a leak"
        )
    elif est.low > allowance and not enough_points:
        why = (
            f"{label} grows, but on only {est.points} points, {effective:.1f} of them independent at lag-1 "
            f"r={est.autocorrelation:.2f} (a decision needs {th.min_decision_points} and "
            f"{th.min_effective_points:g})"
        )
    elif est.low > allowance:
        why = (
            f"{label} grew only {fmt_num(est.low * trend.span)} whole {unit.removesuffix('/h')} at the CI's lower "
            f"bound (a leak needs {th.min_leak_steps:g} steps)"
        )
    elif est.slope > allowance:
        why = (
            f"slope {fmt_num(est.slope, True)} {unit} is above the allowance, but the CI reaches down to "
            f"{fmt_num(est.low, True)}: too wide to call"
        )
    elif est.high > allowance:
        why = f"the CI's upper bound {fmt_num(est.high, True)} {unit} is above the allowance: growth is not ruled out"
    else:
        why = f"a whole-step counter cannot show growth below {fmt_num(resolution)} {unit} over a {span_text} span"
    return Decision(Status.INCONCLUSIVE, f"{why}; the run would need {needed} to decide")


def projection(slope: Interval, budget: float, unit: str, th: Thresholds) -> dict[str, Any]:
    """Growth over a night (``night_hours``) at the fitted rate, with the slope's interval (``slope_interval``,
    so at least one step over the span, carried to the night), against a budget."""
    hours = th.night_hours
    night = slope.scaled(hours)
    return {"hours": hours, **night.to_dict(), "unit": unit, "budget": budget, "within_budget": night.high <= budget}


def projection_text(proj: dict[str, Any]) -> str:
    unit = proj["unit"]
    verdict = "within" if proj["within_budget"] else "not shown within"
    return (
        f"projected {fmt_num(proj['value'], True)} {unit} (CI {fmt_interval(proj['low'], proj['high'])}) by "
        f"{proj['hours']:g} h, {verdict} the night's budget of {fmt_num(proj['budget'])} {unit}"
    )


# ---------------------------------------------------------------------------------------------------------------
# fitting a column of the run


def fit_column(ctx: GateContext, values: FloatArray, mask: BoolArray) -> Trend | None:
    """A column's Theil–Sen trend against hours, over the masked finite samples; None with too few of them."""
    keep = mask & np.isfinite(values)
    if int(keep.sum()) < ctx.thresholds.min_trend_points:
        return None
    return fit_trend(
        ctx.t[keep] / SECONDS_PER_HOUR,
        values[keep],
        max_points=ctx.thresholds.trend_max_points,
        confidence=1.0 - ctx.thresholds.alpha,
    )


def _halves(ctx: GateContext, values: FloatArray, mask: BoolArray, trend: Trend) -> tuple[Trend | None, Trend | None]:
    """The same fit over the first and over the second half of the trend's time span."""
    middle = (trend.x_start + trend.x_end) / 2.0 * SECONDS_PER_HOUR
    return fit_column(ctx, values, mask & (ctx.t < middle)), fit_column(ctx, values, mask & (ctx.t >= middle))


def slope_interval(spec: TrendSpec, trend: Trend) -> Interval:
    """The fitted slope and its interval, at least one step of the series over the span (a page of RSS, one FD):
    a series flat to its step has a zero-width Theil–Sen interval, but growth below one step was not seen, not
    ruled out. What the figure, the plot's legend and the side notes show."""
    est = trend.estimate
    floor = spec.quantum / trend.span if spec.quantum > 0 and trend.span > 0 else 0.0
    return Interval(est.slope, est.low, est.high).at_least(floor)


def trend_line(spec: TrendSpec, trend: Trend) -> TrendLine:
    estimate = trend.estimate
    slope = slope_interval(spec, trend)
    return TrendLine(
        column=spec.column,
        label=spec.label,
        unit=spec.unit,
        scale=spec.scale,
        slope_per_h=estimate.slope,
        low_per_h=slope.low,
        high_per_h=slope.high,
        p_value=trend.test.p_value,
        intercept=estimate.intercept,
        t_start_s=trend.x_start * SECONDS_PER_HOUR,
        t_end_s=trend.x_end * SECONDS_PER_HOUR,
        points=trend.raw_points,
        autocorrelation=estimate.autocorrelation,
    )


def _figure(spec: TrendSpec, trend: Trend, unit: str) -> str:
    est = trend.estimate
    slope = slope_interval(spec, trend)
    level = round(100 * est.confidence)
    return (
        f"{fmt_num(est.slope, True)} {unit} ({level}% CI {fmt_interval(slope.low, slope.high)}; "
        f"Mann–Kendall {fmt_p(trend.test.p_value)}, lag-1 r={est.autocorrelation:.2f})"
    )


# ---------------------------------------------------------------------------------------------------------------
# explained growth: the target's own bounded tiers


def settled_at(ctx: GateContext) -> tuple[float | None, str]:
    """When every bounded tier the target reports had settled at its final level, and a line saying so.

    None when the target reports no tier. A tier's final level is the median of its last tenth; it has settled
    once it never again falls below ``SETTLED_FRACTION`` of that level. A tier that reports its bytes settles on
    them alone: memory is what this explains, and the entry count moves whenever entry sizes do. On the 2-hour
    night of 4 Dec the tier's entries dipped to 93 % during the fault windows while its bytes stayed flat, and
    the gate excused 4 MB of RSS growth there as "tiers filling" (``notes/night.md``).
    """
    samples = ctx.run.samples
    latest: float | None = None
    described: dict[str, list[str]] = {}
    with_bytes = {tier for column, _, _, _, tier in BOUNDED_TIERS if column.endswith("_bytes") and samples.has(column)}
    for column, cap_column, unit, scale, tier in BOUNDED_TIERS:
        settled = settled_time(ctx.t, samples.col(column), ctx.thresholds.min_trend_points)
        if settled is None:
            continue
        at, final = settled
        if tier not in with_bytes or column.endswith("_bytes"):  # its entry count is described, not waited for
            latest = at if latest is None else max(latest, at)
        caps = samples.col(cap_column)
        of = f" of {fmt_num(float(np.nanmax(caps)) / scale)}" if np.isfinite(caps).any() else ""
        described.setdefault(tier, []).append(f"{fmt_num(final / scale)}{of} {unit}")
    if latest is None:
        return None, ""
    tiers = ", ".join(f"{tier} {', '.join(levels)}" for tier, levels in described.items())
    return latest, f"{tiers}; settled at {fmt_duration(latest)}"


# ---------------------------------------------------------------------------------------------------------------
# the criteria


def memory_mask(ctx: GateContext) -> tuple[BoolArray, str]:
    """The samples every memory series is fitted on (RSS, USS and the Python heap alike), and why growth before
    them is explained: after the warm-up, once the target's bounded tiers and its session table have settled.

    One mask for the three, so the heap read beside RSS tells leaked objects from allocator high-water over the
    same span, not over one that still holds the tables filling.
    """
    mask = ctx.trend_mask
    explained = ""
    settled, tiers = settled_at(ctx)
    if settled is not None and settled > ctx.warmup_s:
        mask = mask & (ctx.t >= settled)
        explained = f"growth before {fmt_duration(settled)} is explained by the target's bounded tiers ({tiers})"
    elif settled is not None:
        explained = f"bounded tiers settled within the warm-up ({tiers})"
    accumulating = sessions_accumulating(ctx)
    if accumulating is not None and accumulating[0] > max(ctx.warmup_s, settled or 0.0):
        mask = mask & (ctx.t >= accumulating[0])
        sessions = f"growth before {fmt_duration(accumulating[0])} is explained by sessions ({accumulating[1]})"
        explained = "; ".join(part for part in (explained, sessions) if part)
    return mask, explained


def _judge_resource(
    ctx: GateContext, spec: TrendSpec, memory: tuple[BoolArray, str], extra: str = ""
) -> list[Criterion]:
    if not ctx.run.samples.has(spec.column):
        return ctx.missing(spec.key, spec.label, spec.group, spec.plot)
    th = ctx.thresholds
    allowance = spec.allowance(th)
    unit = f"{spec.unit}/h"
    threshold = f"≤ {fmt_num(allowance)} {unit}"
    values = ctx.run.samples.col(spec.column) / spec.scale
    mask, explained = memory if spec.group == "memory" else (ctx.trend_mask, "")
    trend = fit_column(ctx, values, mask)
    if trend is None:
        reason = f"fewer than {th.min_trend_points} {spec.label} samples after the warm-up"
        if explained:
            reason = f"{reason}: {explained}"
        return [Criterion(spec.key, Status.INCONCLUSIVE, "too few samples", threshold, reason, spec.group, spec.plot)]
    ctx.lines.append(trend_line(spec, trend))
    sites = reason_text(ctx.allocations) if spec.column == "rss_bytes" else ""
    tested = backtest(ctx, values, mask, spec.unit, spec.quantum)
    budget = allowance * th.night_hours
    halves = _halves(ctx, values, mask, trend)
    night = None
    if compressed(ctx):
        evidence = Evidence(
            sustained=all(half is not None and _grows_on(half, trend, 0.0, th) for half in halves),
            observed_growth=trend.estimate.slope * trend.span,
            quantum=spec.quantum,
        )
        night = judge_night(ctx, values, mask & np.isfinite(values), spec.unit, budget, evidence)
    if night is not None:
        reason = "; ".join(part for part in (night.reason, explained, sites, extra) if part)
        night_threshold = f"24 h projection ≤ {fmt_num(budget)} {spec.unit}"
        return [
            Criterion(spec.key, night.status, night.figure, night_threshold, reason, spec.group, spec.plot,
                      night.projection, night.per_hour, night.per_1k_calls, tested)
        ]  # fmt: skip
    decision = decide(trend, halves, allowance, spec.quantum, spec.label, unit, th)
    proj = projection(slope_interval(spec, trend), budget, spec.unit, th)
    parts = [decision.reason, projection_text(proj), explained, sites, extra]
    reason = "; ".join(part for part in parts if part)
    return [
        Criterion(spec.key, decision.status, _figure(spec, trend, unit), threshold, reason, spec.group, spec.plot, proj,
                  backtest=tested)
    ]  # fmt: skip


def _side_note(ctx: GateContext, spec: TrendSpec, mask: BoolArray) -> str:
    """The fitted slope of a column read beside a gated one (drawn on its plot, named in its reason, not gated)."""
    if not ctx.run.samples.has(spec.column):
        return ""
    trend = fit_column(ctx, ctx.run.samples.col(spec.column) / spec.scale, mask)
    if trend is None:
        return ""
    ctx.lines.append(trend_line(spec, trend))
    slope = slope_interval(spec, trend)
    interval = fmt_interval(slope.low, slope.high)
    return f"{spec.label} {fmt_num(slope.value, True)} {spec.unit}/h (CI {interval}, not gated)"


def judge_resources(ctx: GateContext) -> list[Criterion]:
    memory = memory_mask(ctx)  # decided once: RSS and the series read beside it share it
    memory_notes = "; ".join(note for spec in (USS_SPEC, PY_BLOCKS_SPEC) if (note := _side_note(ctx, spec, memory[0])))
    criteria: list[Criterion] = []
    for spec in TREND_SPECS:
        criteria += _judge_resource(ctx, spec, memory, memory_notes if spec.column == "rss_bytes" else "")
    return criteria


def _latency_spec(name: str, column: str) -> TrendSpec:
    what = column.removesuffix("_ms")
    return TrendSpec(name, column, f"{what} latency", "ms", 1.0, lambda th: 0.0, 0.0, "degradation", PlotFile.LATENCY)


def judge_latency(ctx: GateContext) -> list[Criterion]:
    """p50 and p95 as trends: the robust slope over the run against the first tenth's level.

    The allowance is the ratio over the run: a median that would end the trend span more than ×ratio above where
    the first tenth after warm-up started is creep. Fault windows and their recovery are left out, as is every
    sample without traffic.
    """
    samples = ctx.run.samples
    th = ctx.thresholds
    (a0, a1), _last = degradation_windows(ctx.warmup_s, ctx.duration_s)
    rps = samples.col("rps")
    usable = ctx.trend_mask & ~ctx.in_fault_or_recovery & (rps > 0)
    criteria: list[Criterion] = []
    for name, column, ratio_of in LATENCY_COLUMNS:
        limit = ratio_of(th)
        threshold = f"fitted end ≤ ×{limit:g} the first tenth's median"
        if not samples.has(column):
            criteria += ctx.missing(name, column, "degradation", PlotFile.LATENCY)
            continue
        values = samples.col(column)
        mask = usable & np.isfinite(values)
        early = values[mask & (ctx.t >= a0) & (ctx.t <= a1)]
        trend = fit_column(ctx, values, mask)
        if len(early) < th.degradation_min_samples or trend is None:
            reason = (
                f"only {len(early)} usable samples in the first tenth after warm-up (need "
                f"{th.degradation_min_samples}) or too few for a trend"
            )
            criteria.append(
                Criterion(name, Status.INCONCLUSIVE, "too few samples", threshold, reason, "degradation",
                          PlotFile.LATENCY)
            )  # fmt: skip
            continue
        baseline = float(np.median(early))
        span_h = trend.span
        ctx.lines.append(trend_line(_latency_spec(name, column), trend))
        what = column.removesuffix("_ms")
        end = baseline + trend.estimate.slope * span_h
        ctx.compared[column] = [baseline, end]
        if baseline <= 0 or span_h <= 0:
            figure = f"{fmt_num(baseline)} ms first tenth"
            reason = "the first tenth's median is zero, so no ratio can be formed"
            criteria.append(Criterion(name, Status.INCONCLUSIVE, figure, threshold, reason, "degradation",
                                      PlotFile.LATENCY))  # fmt: skip
            continue
        allowance = baseline * (limit - 1.0) / span_h
        halves = _halves(ctx, values, mask, trend)
        decision = decide(trend, halves, allowance, 0.0, f"median {what}", "ms/h", th, leak_shape=False)
        est = trend.estimate
        figure = (
            f"{fmt_num(baseline)} → {fmt_num(end)} ms over {fmt_duration(span_h * SECONDS_PER_HOUR)} "
            f"(×{end / baseline:.2f}; {fmt_num(est.slope, True)} ms/h, CI {fmt_interval(est.low, est.high)})"
        )
        proj = projection(Interval(est.slope, est.low, est.high), baseline * (limit - 1.0), "ms", th)
        reason = (
            f"{decision.reason}; allowance {fmt_num(allowance)} ms/h is ×{limit:g} over this run's span; "
            f"{projection_text(proj)}"
        )
        criteria.append(
            Criterion(name, decision.status, figure, threshold, reason, "degradation", PlotFile.LATENCY, proj)
        )
    return criteria
