"""Criteria for what a rude night breaks first: the session table, and whether a newcomer still gets in.

A server can pass every resource trend while it locks new clients out: abandoned sessions fill its session cap and
every newcomer gets a 503 (the original server did this for up to 30 minutes). Two criteria judge that directly:

- **sessions open**: the count's level and trend against the server's session cap (``sessions_max`` in its
  ``/metrics``). Broken when the peak leaves less than ``session_headroom`` of the cap free, or when even the
  slope's lower bound would fill the cap within the night; held when the upper bound stays below the headroom line
  by the end of the night; inconclusive otherwise. Abandoned sessions are reaped after the idle timeout, so until
  the run has outlasted it the count rises by design: the trend is fitted only after the warm-up *and* one idle
  timeout, and a run too short for that is inconclusive, not broken. Not judged for an external target that does
  not report sessions.
- **newcomer**: the probe's tries (``soak.probe``). Broken when any try failed to connect, initialise or list the
  tools, or failed a tool call outside fault windows and their recovery time; a tool call that failed while
  upstream was faulty is named but excused, since the call itself depends on upstream.
"""

from __future__ import annotations

import numpy as np

from soak.context import FloatArray, GateContext, reaped_from
from soak.formatting import fmt_duration, fmt_interval, fmt_num
from soak.plotfiles import PlotFile
from soak.probe import ProbeResult
from soak.trends import TrendSpec, fit_column, trend_line
from soak.verdict import Criterion, Status

SESSIONS = "sessions open"
NEWCOMER = "newcomer can connect"
TOOL_STEP_PREFIX = "tools/call"
SESSIONS_SPEC = TrendSpec(
    SESSIONS, "sessions_open", "open sessions", "sessions", 1.0, lambda th: 0.0, 1.0, "resources", PlotFile.SESSIONS
)


def judge_sessions(ctx: GateContext) -> list[Criterion]:
    samples = ctx.run.samples
    if not samples.has("sessions_open"):
        return ctx.missing(SESSIONS, "open-session count", "resources", PlotFile.SESSIONS)
    values = samples.col("sessions_open")
    if not samples.has("sessions_max"):
        ctx.notes.append(f"{SESSIONS}: the target reports no session cap; only the trend is shown")
        return []
    cap = float(np.nanmax(samples.col("sessions_max")))
    headroom = ctx.thresholds.session_headroom
    line = cap * (1.0 - headroom)
    threshold = f"peak and night's projection < {fmt_num(line)} ({1 - headroom:.0%} of the cap {cap:g})"
    peak_index = int(np.nanargmax(values))
    peak = float(values[peak_index])
    evicted = _growth(samples.col("sessions_evicted")) if samples.has("sessions_evicted") else 0.0
    refused = _growth(samples.col("sessions_refused")) if samples.has("sessions_refused") else 0.0
    told = f"peak {peak:g} at {fmt_duration(float(ctx.t[peak_index]))}; {evicted:g} evicted, {refused:g} refused"
    if peak >= line:
        reason = f"{told}: the session table came within {headroom:.0%} of its cap"
        return [Criterion(SESSIONS, Status.BROKEN, told, threshold, reason, "resources", PlotFile.SESSIONS)]
    reaping = reaped_from(ctx)
    trend = fit_column(ctx, values, ctx.trend_mask & (ctx.t >= (reaping or 0.0)))
    if trend is None:
        reason = (
            f"{told}; abandoned sessions are reaped from {fmt_duration(reaping)} on, and the run ended too "
            "soon after that to show whether the count levels off"
            if reaping is not None
            else f"{told}; too few samples after the warm-up for a trend"
        )
        return [Criterion(SESSIONS, Status.INCONCLUSIVE, told, threshold, reason, "resources", PlotFile.SESSIONS)]
    ctx.lines.append(trend_line(SESSIONS_SPEC, trend))
    est = trend.estimate
    level = est.intercept + est.slope * trend.x_end
    hours = ctx.thresholds.night_hours
    high, low = level + max(est.high, 0.0) * hours, level + max(est.low, 0.0) * hours
    figure = f"{told}; {fmt_num(est.slope, True)}/h (CI {fmt_interval(est.low, est.high)})"
    projected = f"by {hours:g} h {fmt_num(low)}…{fmt_num(high)} sessions"
    if low >= cap:
        reason = f"{projected}: even the slope's lower bound fills the cap of {cap:g} within the night"
        status = Status.BROKEN
    elif high < line:
        reason = f"{projected}, below {fmt_num(line)}: the table keeps its headroom through the night"
        status = Status.HELD
    else:
        reason = f"{projected}: the interval reaches the headroom line {fmt_num(line)}; a longer run would tell"
        status = Status.INCONCLUSIVE
    return [Criterion(SESSIONS, status, figure, threshold, reason, "resources", PlotFile.SESSIONS)]


def _growth(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1] - finite[0]) if len(finite) else 0.0


def _faulty(ctx: GateContext, t: float) -> bool:
    return any(w.start_s <= t <= w.end_s + ctx.recovery_allow_s for w in ctx.windows)


def judge_newcomer(ctx: GateContext) -> list[Criterion]:
    probes = ctx.run.probes
    threshold = "every try connects, initialises, lists tools (and calls one outside fault windows)"
    if len(probes) < ctx.thresholds.min_probes:
        reason = f"{len(probes)} probe tries recorded, {ctx.thresholds.min_probes} needed (one every 30 s)"
        if not probes and not ctx.run.probe_expected:
            ctx.notes.append(f"{NEWCOMER}: not judged, this run had no newcomer probe")
            return []
        return [Criterion(NEWCOMER, Status.INCONCLUSIVE, f"{len(probes)} tries", threshold, reason, "errors")]
    failed = [p for p in probes if not p.ok]
    excused = [p for p in failed if p.step.startswith(TOOL_STEP_PREFIX) and _faulty(ctx, p.t)]
    broken = [p for p in failed if p not in excused]
    slowest = max(probes, key=lambda p: p.seconds)
    figure = (
        f"{len(probes) - len(failed)} of {len(probes)} answered; slowest {slowest.seconds:.2f} s at "
        f"{fmt_duration(slowest.t)}"
    )
    notes = f"; {len(excused)} tool call(s) failed inside fault windows (excused)" if excused else ""
    if broken:
        first = broken[0]
        reason = (
            f"{len(broken)} newcomer(s) were not served; the first at {fmt_duration(first.t)} stopped at "
            f"{first.step}: {first.reason}{notes}"
        )
        return [Criterion(NEWCOMER, Status.BROKEN, figure, threshold, reason, "errors")]
    reason = f"a new client got in and got an answer on every try{notes}"
    return [Criterion(NEWCOMER, Status.HELD, figure, threshold, reason, "errors")]


__all__ = ["NEWCOMER", "SESSIONS", "ProbeResult", "judge_newcomer", "judge_sessions"]
