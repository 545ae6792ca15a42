"""Criteria of a compressed night: did it play K× (pacing), and what does each resource add over a real 24-hour night.

A compressed run's wall-clock slope mixes K× the calls with the hours, so its trend criteria are decided on the
24-hour projection instead (``soak.projection``): growth per hour and per 1,000 calls fitted together, projected at
the nominal rate (the run's own calls/s ÷ K, or ``--project-rate``) over ``night_hours``. The projection's interval
against the per-night budget (the allowance × ``night_hours``) decides: all of it inside HOLDS, all of it above
BREAKS, otherwise inconclusive with roughly how long a run would need.

Which hours a night's time-driven growth takes depends on whose clocks ran fast. When the runner scaled our
server's timers (``clocks_scaled``), a real night's expiries, reaps and prunes all happened in ``night_hours / K`` of
this run, so that is the time the per-hour rate is carried over. A mechanism nothing scaled (a timer in a library,
growth per wall-clock second) would be projected K× too small that way, so the wall-clock reading (the per-hour
rate over the full ``night_hours``) is kept beside it: a night HOLDS only if that reading does not show growth above
the budget either, and BREAKS only if both readings are above it. What a 2-hour run cannot do is bound wall-clock
growth as tightly as a real night: that interval is reported, and README says so.

The backtest checks the projection machinery against the run itself: on a run of ``backtest_min_hours`` or more,
each resource's fit over the first half of its span projects the run's own end, beside what was measured there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcp_locust.pace_plan import PacePlan
from mcp_locust.results import read_history_totals
from soak.context import BoolArray, FloatArray, GateContext
from soak.formatting import SECONDS_PER_HOUR, fmt_duration, fmt_interval, fmt_num
from soak.projection import MAX_POINTS, Interval, TimeAndCalls, fit_time_and_calls
from soak.stats import fit_trend
from soak.verdict import Criterion, Status

KCALLS = 1000.0


def compressed(ctx: GateContext) -> bool:
    return ctx.run.meta.compress > 1.0 and ctx.run.samples.has("calls_total")


def clocks_scaled(ctx: GateContext) -> bool:
    """Whether the run divided the server's own timers by K (``run.json`` → ``compress.scaled_settings``).

    Then a real night's time-driven growth is what ``night_hours / K`` of this run's hours add: every TTL expiry,
    reap, prune and breaker cycle of the night happened in them. An external target's timers are its own, so its
    hours are real hours and the whole ``night_hours`` are projected.
    """
    raw = ctx.run.meta.raw.get("compress")
    return isinstance(raw, dict) and bool(raw.get("scaled_settings"))


def kcalls(ctx: GateContext) -> FloatArray:
    """Cumulative calls (Locust's requests: tool calls and the handshakes) in thousands, forward-filled."""
    calls = ctx.run.samples.col("calls_total").copy()
    finite = np.isfinite(calls)
    if finite.any():
        index = np.where(finite, np.arange(len(calls)), 0)
        np.maximum.accumulate(index, out=index)
        calls = calls[index]
        calls[: int(np.argmax(finite))] = np.nan
    result: FloatArray = calls / KCALLS
    return result


def nominal_calls_per_s(ctx: GateContext) -> tuple[float | None, str]:
    """The rate a real night serves: ``project_calls_per_s`` when given, else the run's mean after the warm-up ÷ K."""
    if ctx.thresholds.project_calls_per_s > 0:
        return ctx.thresholds.project_calls_per_s, "at --project-rate"
    calls = kcalls(ctx) * KCALLS
    keep = (ctx.t >= ctx.warmup_s) & np.isfinite(calls)
    if int(keep.sum()) < 2:
        return None, ""
    t, c = ctx.t[keep], calls[keep]
    if t[-1] <= t[0]:
        return None, ""
    rate = float((c[-1] - c[0]) / (t[-1] - t[0])) / ctx.run.meta.compress
    return rate, f"at the nominal {fmt_num(rate)} calls/s (this run's ÷ {ctx.run.meta.compress:g})"


def fit_night(ctx: GateContext, values: FloatArray, mask: BoolArray, quantum: float) -> TimeAndCalls | None:
    return fit_time_and_calls(
        ctx.t[mask] / SECONDS_PER_HOUR,
        kcalls(ctx)[mask],
        values[mask],
        max_points=MAX_POINTS,
        confidence=1.0 - ctx.thresholds.alpha,
        quantum=quantum,
    )


@dataclass(frozen=True)
class NightJudgement:
    status: Status
    figure: str
    reason: str
    projection: dict[str, Any]
    per_hour: dict[str, float]
    per_1k_calls: dict[str, float]


@dataclass(frozen=True)
class Evidence:
    """What the wall-clock trend of the same series says, which a projection alone cannot: whether the growth was
    sustained (both halves grow like the whole) and, for a whole-step counter, how many steps it actually took."""

    sustained: bool
    observed_growth: float
    quantum: float


def judge_night(
    ctx: GateContext, values: FloatArray, mask: BoolArray, unit: str, budget: float, evidence: Evidence
) -> NightJudgement | None:
    """The 24-hour projection of one resource of a compressed run, decided against ``budget``; None if unfittable.

    The same guards as the wall-clock gate: a projection above budget breaks only if the growth was sustained
    across both halves and, for a counter, took at least ``min_leak_steps`` whole steps (one thread started late in
    a four-minute run projects to thousands a night); and a flat counter holds only if one step over the span would
    still have projected within budget.
    """
    fit = fit_night(ctx, values, mask, evidence.quantum)
    rate, rate_text = nominal_calls_per_s(ctx)
    if fit is None or rate is None:
        return None
    hours = ctx.thresholds.night_hours
    night_kcalls = rate * hours * SECONDS_PER_HOUR / KCALLS
    scaled = clocks_scaled(ctx)
    time_hours = hours / ctx.run.meta.compress if scaled else hours
    night = fit.growth(time_hours, night_kcalls)
    wall = fit.growth(hours, night_kcalls)
    proj = {
        "hours": hours,
        **night.to_dict(),
        "unit": unit,
        "budget": budget,
        "within_budget": night.high <= budget,
        "calls_per_s": rate,
        "time_hours": time_hours,
        "wall_clock": wall.to_dict() if scaled else None,
    }
    span = fit.hours_end - fit.hours_start
    th = ctx.thresholds
    resolution = fit.resolution(time_hours, night_kcalls)
    steps = evidence.observed_growth / evidence.quantum if evidence.quantum > 0 else math.inf
    wall_text = (
        f"; if it followed the wall clock instead (a mechanism nothing scaled), {fmt_num(wall.value, True)} {unit} "
        f"(CI {fmt_interval(wall.low, wall.high)})"
        if scaled
        else ""
    )
    if resolution > budget and night.low <= budget:
        status = Status.INCONCLUSIVE
        why = (
            f"within budget, but one step over a {fmt_duration(span * SECONDS_PER_HOUR)} span already projects to "
            f"{fmt_num(resolution)} {unit}; a run about {fmt_duration(span * resolution / budget * SECONDS_PER_HOUR)} "
            "long would decide"
        )
    elif night.high <= budget and wall.low > budget:
        status = Status.INCONCLUSIVE
        why = (
            "within budget if the growth follows the server's scaled clocks, but above it if it follows the wall "
            f"clock; a plain soak about {needed(wall, budget, span)} long decides"
        )
    elif night.high <= budget:
        status, why = Status.HELD, "the whole interval is within the night's budget"
    elif min(night.low, wall.low) > budget and evidence.sustained and steps >= th.min_leak_steps:
        status, why = Status.BROKEN, "the whole interval is above the night's budget"
    elif min(night.low, wall.low) > budget:
        status = Status.INCONCLUSIVE
        why = (
            "above the night's budget, but the growth "
            + ("was not sustained in both halves" if not evidence.sustained else f"took only {steps:.0f} whole steps")
            + f"; a longer run decides (at least {needed(night, budget, span)})"
        )
    else:
        status = Status.INCONCLUSIVE
        why = f"the interval straddles the night's budget; a run about {needed(night, budget, span)} long would decide"
    figure = (
        f"{fmt_num(fit.per_hour.value, True)} {unit}/h (CI {fmt_interval(fit.per_hour.low, fit.per_hour.high)}) and "
        f"{fmt_num(fit.per_1k_calls.value, True)} {unit}/1k calls "
        f"(CI {fmt_interval(fit.per_1k_calls.low, fit.per_1k_calls.high)})"
    )
    reason = (
        f"{why}: {fmt_num(night.value, True)} {unit} (CI {fmt_interval(night.low, night.high)}) over a real "
        f"{hours:g}-hour night {rate_text}, budget {fmt_num(budget)} {unit}{wall_text}; fitted on time and calls "
        "together over "
        f"{fmt_duration(span * SECONDS_PER_HOUR)} ({fit.points} points, ~{fit.effective_points:.0f} independent, "
        f"{fit.lags} Newey–West lags)"
    )
    return NightJudgement(status, figure, reason, proj, fit.per_hour.to_dict(), fit.per_1k_calls.to_dict())


def needed(night: Interval, budget: float, span_h: float) -> str:
    """Roughly the trend span that would settle the question, assuming the half-width shrinks like 1/span."""
    half = (night.high - night.low) / 2.0
    target = max(abs(budget - night.value), budget / 4.0) if budget > 0 else 0.0
    if target <= 0 or half <= 0:
        return "of unknown length"
    return fmt_duration(span_h * SECONDS_PER_HOUR * max(half / target, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# pacing: did the run deliver the calls it planned at each level?


def judge_pacing(ctx: GateContext) -> list[Criterion]:
    """Each load level's delivered polite calls/s against what the plan asked of the polite users (fault windows
    out). The polite users' tool calls are read from Locust's per-name history, so the rude clients, which come
    on top and outnumber the polite calls at the quiet level, cannot hide a shortfall there; a run folder without
    that history falls back to every request Locust counted, and says so."""
    if ctx.run.meta.compress <= 1.0:
        return []
    name, group = "pacing", "degradation"
    raw = ctx.run.meta.raw.get("compress")
    steps = raw.get("pace_plan") if isinstance(raw, dict) else None
    users, pace = ctx.run.meta.users, ctx.run.meta.pace_per_user_s
    threshold = f"each level ≥ ×{ctx.thresholds.min_pacing_ratio:g} of its planned polite calls/s"
    plan = _pace_plan(steps)
    calls, counted = polite_calls(ctx)
    if plan is None or users is None or pace is None or calls is None:
        reason = "run.json has no pace plan or the run no call counts: cannot tell whether the night played K×"
        return [Criterion(name, Status.INCONCLUSIVE, "not measured", threshold, reason, group)]
    level = np.array([plan.multiplier_at(x) for x in ctx.t])
    rate = np.full_like(calls, np.nan)
    rate[1:] = np.diff(calls) / np.maximum(np.diff(ctx.t), 1e-9)
    usable = (ctx.t >= ctx.warmup_s) & ~ctx.in_fault_or_recovery & np.isfinite(rate)
    parts, worst_ratio = [], math.inf
    for multiplier in sorted({float(m) for m in level}, reverse=True):
        at = usable & (level == multiplier)
        if int(at.sum()) < ctx.thresholds.degradation_min_samples:
            continue
        planned = users * pace * multiplier
        delivered = float(np.median(rate[at]))
        ratio = delivered / planned if planned > 0 else math.inf
        worst_ratio = min(worst_ratio, ratio)
        parts.append(f"×{multiplier:.3g}: {fmt_num(delivered)} of {fmt_num(planned)} calls/s (×{ratio:.2f})")
    if not parts:
        reason = "too few samples outside fault windows in any load level"
        return [Criterion(name, Status.INCONCLUSIVE, "too few samples", threshold, reason, group)]
    status = Status.HELD if worst_ratio >= ctx.thresholds.min_pacing_ratio else Status.BROKEN
    reason = (
        f"median {counted} per second at each level, outside fault windows and their recovery, beside the polite "
        "users' plan"
        + ("" if status is Status.HELD else f"; the machine did not pace K={ctx.run.meta.compress:g}: use a smaller K")
    )
    return [Criterion(name, status, "; ".join(parts), threshold, reason, group)]


LOCUST_HISTORY = ("locust", "locust_stats_history.csv")
"""Where the runner has Locust write its per-second history (``--csv-full-history``), inside the run folder."""
POLITE_PREFIX = "tools/call "
"""The polite users' tool calls, the only requests the pace plan schedules (the rude rows start ``rude:``)."""


def polite_calls(ctx: GateContext) -> tuple[FloatArray | None, str]:
    """Cumulative polite tool calls at each sample, from Locust's history when the run folder has it, else every
    request Locust counted (``calls_total``); and what was counted, for the reason."""
    path = ctx.run.run_dir.joinpath(*LOCUST_HISTORY) if ctx.run.run_dir is not None else None
    if path is not None and path.is_file() and ctx.run.samples.has("wall"):
        history = read_history_totals(path, lambda row: row.startswith(POLITE_PREFIX))
        if len(history) >= 2:
            stamps = np.array([h[0] for h in history], dtype=np.float64)
            totals = np.array([h[1] for h in history], dtype=np.float64)
            wall = ctx.run.samples.col("wall")
            inside = np.isfinite(wall) & (wall >= stamps[0]) & (wall <= stamps[-1])
            calls: FloatArray = np.where(inside, np.interp(wall, stamps, totals), np.nan)
            return calls, "polite tool calls (Locust's per-name history)"
    if not ctx.run.samples.has("calls_total"):
        return None, ""
    return kcalls(ctx) * KCALLS, "requests of every client, the rude ones included (no per-name history)"


def _pace_plan(steps: object) -> PacePlan | None:
    if not isinstance(steps, list) or not steps:
        return None
    try:
        return PacePlan(tuple(sorted((float(s[0]), float(s[1])) for s in steps)))
    except (TypeError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------------------------------------------
# the backtest: the first half projects the end


def backtest(ctx: GateContext, values: FloatArray, mask: BoolArray, unit: str, quantum: float) -> dict[str, Any] | None:
    """The run's own end projected from the first half of ``mask``'s span, beside the level measured there.

    Measured is the median of the last ``trend_max_points``-th of the span; projected is the first half's line (the
    two-rate fit for a compressed run, Theil–Sen otherwise) carried to the same time and calls, with its interval.
    """
    keep = mask & np.isfinite(values)
    if ctx.duration_s < ctx.thresholds.backtest_min_hours * SECONDS_PER_HOUR or int(keep.sum()) < 40:
        return None
    t = ctx.t[keep]
    middle = (t[0] + t[-1]) / 2.0
    first = keep & (ctx.t < middle)
    tail_from = t[-1] - (t[-1] - t[0]) / 20.0
    end = keep & (ctx.t >= tail_from)
    measured = float(np.median(values[end]))
    t_end = float(np.median(ctx.t[end])) / SECONDS_PER_HOUR
    if compressed(ctx):
        fit = fit_night(ctx, values, first, quantum)
        if fit is None:
            return None
        calls = kcalls(ctx)
        c_end = float(np.median(calls[end]))
        last = first & np.isfinite(calls)
        t_last = float(ctx.t[last][-1]) / SECONDS_PER_HOUR
        c_last = float(calls[last][-1])
        start_level = fit.predict(t_last, c_last)
        growth = fit.growth(t_end - t_last, c_end - c_last)
        projected = Interval(start_level + growth.value, start_level + growth.low, start_level + growth.high)
    else:
        trend = fit_trend(
            ctx.t[first] / SECONDS_PER_HOUR,
            values[first],
            max_points=ctx.thresholds.trend_max_points,
            confidence=1.0 - ctx.thresholds.alpha,
        )
        if trend is None:
            return None
        est = trend.estimate
        t_last = trend.x_end
        start_level = est.intercept + est.slope * t_last
        dt = t_end - t_last
        projected = Interval(start_level + est.slope * dt, start_level + est.low * dt, start_level + est.high * dt)
    return {
        "from_half_ending_s": round(middle, 1),
        "at_s": round(t_end * SECONDS_PER_HOUR, 1),
        "projected": projected.to_dict(),
        "measured": measured,
        "error": measured - projected.value,
        "inside": projected.low <= measured <= projected.high,
        "unit": unit,
    }
