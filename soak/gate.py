"""The reliability gate: a pure function from a read run folder to a verdict with one line of reason per criterion.

Each criterion answers held, broken or inconclusive, and says which figure it judged against which threshold.
"Inconclusive" is a real answer, not a soft pass: a three-minute run cannot show that memory does not grow by 1 MB
an hour, and the reason says roughly how long a run would need to be. Trend criteria (``soak.trends``) look only at
samples after the warm-up and outside fault windows; error and latency criteria also skip the recovery time after
each window, which has its own criterion. The criteria are small functions of one shared context
(``soak.context``), composed in one loop (``CRITERIA``); nothing here reads files or clocks, so the same run folder
always gets the same verdict.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from typing import Any

import numpy as np

from soak.admission import judge_newcomer, judge_sessions
from soak.context import GateContext, build_context, degradation_windows
from soak.formatting import fmt_duration, fmt_num
from soak.night import judge_pacing
from soak.plotfiles import PlotFile
from soak.rundir import RunData
from soak.thresholds import Thresholds
from soak.trends import judge_latency, judge_resources
from soak.verdict import Criterion, FaultWindow, Status, Verdict, worst

__all__ = [
    "Criterion",
    "FaultWindow",
    "Status",
    "Verdict",
    "degradation_windows",
    "judge",
    "worst",
]


def _judge_pool_limit(ctx: GateContext) -> list[Criterion]:
    samples = ctx.run.samples
    limit: float | None = ctx.run.meta.pool_max_connections
    if limit is None and samples.has("pool_max"):
        limit = float(np.nanmax(samples.col("pool_max")))
    name = "upstream connection limit"
    if limit is None:
        ctx.notes.append(f"{name}: not judged, pool_max_connections is unknown")
        return []
    measured = [c for c in ("pool_open", "tcp_upstream") if samples.has(c)]
    if not measured:
        return ctx.missing(name, "upstream connection count", "resources", PlotFile.POOL)
    worst_column, worst_value, worst_t, over = "", -math.inf, 0.0, 0
    for column in measured:
        values = samples.col(column)
        finite = np.isfinite(values)
        index = int(np.nanargmax(values))
        over += int(np.sum(values[finite] > limit))
        if values[index] > worst_value:
            worst_column, worst_value, worst_t = column, float(values[index]), float(ctx.t[index])
    figure = f"max {worst_value:g} ({worst_column} at {fmt_duration(worst_t)})"
    threshold = f"≤ {limit:g} (pool_max_connections)"
    if over:
        reason = f"{worst_column} reached {worst_value:g} at {fmt_duration(worst_t)}, above the limit {limit:g}"
        reason += f" ({over} sample(s) over)"
        return [Criterion(name, Status.BROKEN, figure, threshold, reason, "resources", PlotFile.POOL)]
    reason = f"{' and '.join(measured)} never above {limit:g}"
    return [Criterion(name, Status.HELD, figure, threshold, reason, "resources", PlotFile.POOL)]


# ---------------------------------------------------------------------------------------------------------------
# errors, crashes and recovery


def _judge_failures(ctx: GateContext) -> list[Criterion]:
    name = "unexpected failures"
    threshold = f"≤ {ctx.thresholds.max_fail_ratio:.2%} of calls outside fault windows and recovery"
    samples = ctx.run.samples
    if not samples.has("rps"):
        return [
            Criterion(
                name,
                Status.INCONCLUSIVE,
                "not measured",
                threshold,
                "no request rate was recorded",
                "errors",
                PlotFile.THROUGHPUT,
            )
        ]
    rps, fails = samples.col("rps"), samples.col("fail_rps")
    fails = np.where(np.isfinite(fails), fails, 0.0)
    mask = ~ctx.in_fault_or_recovery & np.isfinite(rps)
    total, failed = float(rps[mask].sum()), float(fails[mask].sum())
    if total <= 0:
        return [
            Criterion(
                name,
                Status.INCONCLUSIVE,
                "no traffic",
                threshold,
                "no calls were recorded outside fault windows",
                "errors",
                PlotFile.THROUGHPUT,
            )
        ]
    ratio = failed / total
    calls = f"≈{failed * ctx.interval_s:,.0f} of {total * ctx.interval_s:,.0f} calls"
    figure = f"{ratio:.3%} ({calls})"
    if ratio <= ctx.thresholds.max_fail_ratio:
        return [
            Criterion(
                name, Status.HELD, figure, threshold, "failure ratio within the limit", "errors", PlotFile.THROUGHPUT
            )
        ]
    masked = np.where(mask, fails, -1.0)
    peak = int(np.argmax(masked))
    reason = (
        f"{ratio:.2%} of calls failed outside fault windows; the worst sample was {masked[peak]:.1f} failures/s "
        f"at {fmt_duration(float(ctx.t[peak]))}"
    )
    return [Criterion(name, Status.BROKEN, figure, threshold, reason, "errors", PlotFile.THROUGHPUT)]


def _judge_server_up(ctx: GateContext) -> list[Criterion]:
    name = "server stayed up"
    crashes = [e for e in ctx.run.events if e.kind in ("server_exit", "server_restart")]
    exits = [e for e in crashes if e.kind == "server_exit"]
    threshold = "no unexpected exit or restart"
    if not crashes:
        return [Criterion(name, Status.HELD, "0 exits", threshold, "no server_exit or server_restart event", "errors")]
    first = crashes[0]
    code = first.data.get("returncode")
    detail = f" (return code {code})" if code is not None else ""
    figure = f"{len(exits)} exit(s), {len(crashes) - len(exits)} restart(s)"
    reason = f"first {first.kind.replace('_', ' ')} at {fmt_duration(first.t)}{detail}"
    return [Criterion(name, Status.BROKEN, figure, threshold, reason, "errors")]


def _recover(ctx: GateContext, window: FaultWindow) -> None:
    if not window.finished:
        window.recovery_status = Status.INCONCLUSIVE
        window.recovery_note = "the run stopped during this window"
        return
    if window.injected == 0:
        window.recovery_status = Status.INCONCLUSIVE
        window.recovery_note = "not exercised: no upstream request met the fault"
        return
    rps, fails = ctx.run.samples.col("rps"), ctx.run.samples.col("fail_rps")
    fails = np.where(np.isfinite(fails), fails, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        serving = (rps > 0) & ((fails == 0) | (fails / rps <= ctx.thresholds.max_fail_ratio))
    candidates = np.flatnonzero((ctx.t >= window.end_s) & serving)
    allow = ctx.recovery_allow_s
    last = float(ctx.t[-1]) if len(ctx.t) else window.end_s
    if len(candidates):
        window.recovery_s = float(ctx.t[candidates[0]] - window.end_s)
        ok = window.recovery_s <= allow
        window.recovery_status = Status.HELD if ok else Status.BROKEN
        window.recovery_note = f"served successfully again {window.recovery_s:.1f} s after the window"
    elif last >= window.end_s + allow:
        window.recovery_status = Status.BROKEN
        window.recovery_note = f"no successful sample in the {last - window.end_s:.0f} s after the window"
    else:
        window.recovery_status = Status.INCONCLUSIVE
        window.recovery_note = f"only {max(last - window.end_s, 0.0):.0f} s of samples after the window"


def _judge_recovery(ctx: GateContext) -> list[Criterion]:
    name = "recovery after faults"
    if not ctx.windows:
        ctx.notes.append(f"{name}: not exercised, the run had no fault windows")
        return []
    if not ctx.run.samples.has("rps"):
        return [
            Criterion(
                name,
                Status.INCONCLUSIVE,
                "not measured",
                "—",
                "no request rate was recorded",
                "errors",
                PlotFile.THROUGHPUT,
            )
        ]
    for window in ctx.windows:
        _recover(ctx, window)
    exercised = [w for w in ctx.windows if w.injected != 0]
    idle = [w.name for w in ctx.windows if w.injected == 0]
    unexercised = f"; not exercised (no upstream request met the fault): {', '.join(idle)}" if idle else ""
    if not exercised:
        reason = f"no fault window met upstream traffic, so recovery is unproven{unexercised}"
        return [Criterion(name, Status.INCONCLUSIVE, "not exercised", "—", reason, "errors", PlotFile.THROUGHPUT)]
    status = worst([w.recovery_status for w in exercised])
    breaker = ctx.recovery_allow_s - ctx.thresholds.recovery_margin_s
    threshold = f"≤ {ctx.recovery_allow_s:g} s (breaker {breaker:g} s + margin {ctx.thresholds.recovery_margin_s:g} s)"
    timed = [w for w in ctx.windows if w.recovery_s is not None]
    slowest = max(timed, key=lambda w: w.recovery_s or 0.0) if timed else None
    figure = f"slowest {slowest.recovery_s:.1f} s ({slowest.name})" if slowest else "no recovery seen"
    flagged = [w for w in exercised if w.recovery_status is status and status is not Status.HELD]
    if flagged:
        reason = "; ".join(f"{w.name} at {fmt_duration(w.start_s)}: {w.recovery_note}" for w in flagged[:3])
        if len(flagged) > 3:
            reason += f"; and {len(flagged) - 3} more"
    else:
        reason = f"served successfully again after all {len(exercised)} exercised fault window(s) in time"
    reason += unexercised
    return [Criterion(name, status, figure, threshold, reason, "errors", PlotFile.THROUGHPUT)]


# ---------------------------------------------------------------------------------------------------------------
# degradation: the last tenth against the first tenth after warm-up


def _judge_throughput(ctx: GateContext) -> list[Criterion]:
    """Served calls per second in the last tenth against the first tenth after warm-up (faults and recovery out)."""
    name = "throughput drop"
    samples = ctx.run.samples
    th = ctx.thresholds
    threshold = f"last/first tenth ≥ ×{th.throughput_ratio:g}"
    if not samples.has("rps"):
        return ctx.missing(name, "rps", "degradation", PlotFile.THROUGHPUT)
    (a0, a1), (b0, b1) = degradation_windows(ctx.warmup_s, ctx.duration_s)
    usable = (ctx.t >= ctx.warmup_s) & ~ctx.in_fault_or_recovery
    values = samples.col("rps")
    valid = usable & np.isfinite(values)
    early = values[valid & (ctx.t >= a0) & (ctx.t <= a1)]
    late = values[valid & (ctx.t >= b0) & (ctx.t <= b1)]
    if min(len(early), len(late)) < th.degradation_min_samples:
        reason = (
            f"only {len(early)} and {len(late)} usable samples in the first and last tenth after warm-up "
            f"(need {th.degradation_min_samples})"
        )
        return [Criterion(name, Status.INCONCLUSIVE, "too few samples", threshold, reason, "degradation",
                          PlotFile.THROUGHPUT)]  # fmt: skip
    before, after = float(np.median(early)), float(np.median(late))
    ctx.compared["rps"] = [before, after]
    if before <= 0:
        figure = f"{fmt_num(before)} → {fmt_num(after)} calls/s"
        reason = "the first tenth's median is zero, so no ratio can be formed"
        return [Criterion(name, Status.HELD, figure, threshold, reason, "degradation", PlotFile.THROUGHPUT)]
    ratio = after / before
    figure = f"{fmt_num(before)} → {fmt_num(after)} calls/s (×{ratio:.2f})"
    reason = (
        f"median calls/s went from {fmt_num(before)} to {fmt_num(after)} between "
        f"{fmt_duration(a0)}–{fmt_duration(a1)} and {fmt_duration(b0)}–{fmt_duration(b1)}"
    )
    status = Status.HELD if ratio >= th.throughput_ratio else Status.BROKEN
    return [Criterion(name, status, figure, threshold, reason, "degradation", PlotFile.THROUGHPUT)]


# ---------------------------------------------------------------------------------------------------------------
# the end of the run: shutdown, cache integrity, completeness


def _early_end(ctx: GateContext) -> str | None:
    """Why the run did not reach its planned end, or None if it did (or nothing says otherwise)."""
    errors = ctx.run.events_of("harness_error")
    if errors:
        return f"the harness failed at {fmt_duration(errors[0].t)}: {errors[0].data.get('message', '')}"
    interrupted = ctx.run.events_of("interrupted")
    if interrupted:
        return f"the run was interrupted at {fmt_duration(interrupted[0].t)}"
    ends = ctx.run.events_of("run_end")
    if not ends:
        return f"the run stopped without a run_end event (last sample at {fmt_duration(ctx.duration_s)})"
    reason = ends[-1].data.get("reason")
    if isinstance(reason, str) and reason not in ("", "completed"):
        return f"the run ended early ({reason.replace('_', ' ')}) at {fmt_duration(ends[-1].t)}"
    return None


def _stop_story(ctx: GateContext) -> str:
    return _early_end(ctx) or "the run ended without recording one"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


CLEAN_EXIT_CODES = (0, -int(signal.SIGTERM))
"""The runner sends SIGTERM; a server that drains and then dies by that very signal (plain uvicorn re-raises it
after a graceful drain) shut down as cleanly as one that exits 0. Calls cut, time to exit and the cache decide."""


def _judge_shutdown(ctx: GateContext) -> list[Criterion]:
    name = "clean shutdown"
    events = ctx.run.events_of("shutdown")
    grace = ctx.run.meta.shutdown_grace_s
    margin = ctx.thresholds.shutdown_margin_s
    if not events:
        threshold = "exit 0 (or by the SIGTERM sent) within the grace period, no call cut"
        return [
            Criterion(
                name,
                Status.INCONCLUSIVE,
                "no shutdown recorded",
                threshold,
                f"no shutdown event: {_stop_story(ctx)}",
                "shutdown",
            )
        ]
    data = events[-1].data
    grace = _float_or_none(data.get("grace_s")) or grace
    code = _int_or_none(data.get("exit_code"))
    after = _float_or_none(data.get("exit_after_s"))
    cut = _int_or_none(data.get("cut"))
    in_flight = _int_or_none(data.get("in_flight_at_signal"))
    completed = _int_or_none(data.get("completed"))
    grace_text = f"{grace:g} s + {margin:g} s" if grace is not None else "grace (unknown)"
    threshold = f"exit 0 (or by the SIGTERM sent) within {grace_text}, 0 calls cut"
    figure = (
        f"exit {code if code is not None else '?'} after {fmt_num(after) if after is not None else '?'} s; "
        f"{in_flight if in_flight is not None else '?'} in flight, "
        f"{completed if completed is not None else '?'} completed, {cut if cut is not None else '?'} cut"
    )
    problems: list[str] = []
    unknown: list[str] = []
    if code is None:
        unknown.append("exit code")
    elif code not in CLEAN_EXIT_CODES:
        problems.append(f"exit code {code}")
    if data.get("killed") is True:
        problems.append("the server had to be killed")
    if after is None:
        unknown.append("exit time")
    elif grace is not None and after > grace + margin:
        problems.append(f"took {after:.1f} s, beyond the {grace:g} s grace")
    if grace is None:
        unknown.append("grace period")
    if cut is None:
        unknown.append("cut calls")
    elif cut > 0:
        total = f" of {in_flight}" if in_flight is not None else ""
        problems.append(f"{cut}{total} in-flight calls cut")
    if problems:
        return [Criterion(name, Status.BROKEN, figure, threshold, "; ".join(problems), "shutdown")]
    if unknown and ctx.required:
        reason = f"not recorded: {', '.join(unknown)}"
        return [Criterion(name, Status.INCONCLUSIVE, figure, threshold, reason, "shutdown")]
    if unknown:
        ctx.notes.append(f"{name}: judged without {', '.join(unknown)} (not known for the external target)")
        return [Criterion(name, Status.HELD, figure, threshold, "no problem among what was recorded", "shutdown")]
    how = "exited 0" if code == 0 else "ended by the SIGTERM it was sent (uvicorn's convention)"
    return [Criterion(name, Status.HELD, figure, threshold, f"drained in-flight calls and {how} in time", "shutdown")]


def _judge_cache(ctx: GateContext) -> list[Criterion]:
    name = "cache files intact"
    events = ctx.run.events_of("cache_scan")
    threshold = "0 invalid cache files"
    if not events:
        if not ctx.required:
            ctx.notes.append(f"{name}: not judged, no cache scan for the external target")
            return []
        return [
            Criterion(
                name,
                Status.INCONCLUSIVE,
                "no scan recorded",
                threshold,
                f"no cache_scan event: {_stop_story(ctx)}",
                "shutdown",
            )
        ]
    data = events[-1].data
    invalid = data.get("invalid_files") or []
    checked = _int_or_none(data.get("checked"))
    of = f" of {checked:,}" if checked is not None else ""
    figure = f"{len(invalid)}{of} invalid"
    if invalid:
        shown = ", ".join(str(f) for f in invalid[:3]) + (", …" if len(invalid) > 3 else "")
        reason = f"{len(invalid)} cache file(s) failed validation: {shown}"
        return [Criterion(name, Status.BROKEN, figure, threshold, reason, "shutdown")]
    return [Criterion(name, Status.HELD, figure, threshold, "every cache file parsed and validated", "shutdown")]


def _judge_completion(ctx: GateContext) -> list[Criterion]:
    name = "run completed"
    planned = ctx.run.meta.planned_duration_s
    of = f" of {fmt_duration(planned)} planned" if planned else ""
    figure = f"{fmt_duration(ctx.duration_s)}{of}, {ctx.run.samples.rows:,} samples"
    threshold = "ran to the planned end"
    early = _early_end(ctx)
    if early is not None:
        return [Criterion(name, Status.INCONCLUSIVE, figure, threshold, early, "run")]
    if ctx.run.samples.rows == 0:
        return [Criterion(name, Status.INCONCLUSIVE, figure, threshold, "no samples were recorded", "run")]
    return [Criterion(name, Status.HELD, figure, threshold, "the run reached its planned end", "run")]


def _pacing(run: RunData) -> str:
    users, pace = run.meta.users, run.meta.pace_per_user_s
    if users is None or pace is None:
        return "pacing not recorded"
    load = run.meta.raw.get("load")
    model = load.get("model") if isinstance(load, dict) else None
    how = model if isinstance(model, str) and model else "throughput-paced"
    return f"{users:g} users × {pace:g} calls/s each ≈ {users * pace:g} calls/s offered ({how})"


def _target(run: RunData) -> str:
    meta = run.meta
    where = meta.target_url or meta.target_cmd or ""
    return f"{meta.target_kind}: {where}" if where else meta.target_kind


def _failure_rule(run: RunData) -> str:
    load = run.meta.raw.get("load")
    rule = load.get("failure_rule_text") if isinstance(load, dict) else None
    return rule if isinstance(rule, str) else "a call fails when its result carries isError: true (rule not recorded)"


CRITERIA: tuple[Callable[[GateContext], list[Criterion]], ...] = (
    _judge_completion,
    judge_resources,
    _judge_pool_limit,
    judge_sessions,
    _judge_failures,
    judge_newcomer,
    _judge_server_up,
    _judge_recovery,
    judge_latency,
    _judge_throughput,
    judge_pacing,
    _judge_shutdown,
    _judge_cache,
)
"""Every criterion, in the order the report lists them; each reads the context and may leave trend lines in it."""


def judge(run: RunData, thresholds: Thresholds) -> Verdict:
    """Judge a run; pure and deterministic, so re-judging a folder with the same thresholds gives the same verdict."""
    ctx = build_context(run, thresholds)
    criteria = [criterion for judge_one in CRITERIA for criterion in judge_one(ctx)]
    return Verdict(
        status=worst([c.status for c in criteria]),
        criteria=criteria,
        run_id=run.meta.run_id,
        duration_s=ctx.duration_s,
        planned_duration_s=run.meta.planned_duration_s,
        warmup_s=ctx.warmup_s,
        samples=run.samples.rows,
        target=_target(run),
        pacing=_pacing(run),
        fault_windows=ctx.windows,
        trends=ctx.lines,
        compared=ctx.compared,
        notes=ctx.notes,
        thresholds=dict(thresholds.to_dict()),
        failure_rule=_failure_rule(run),
        allocations=ctx.allocations,
    )
