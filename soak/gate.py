"""The reliability gate: a pure function from a read run folder to a verdict with one line of reason per criterion.

Each criterion answers held, broken or inconclusive, and says which figure it judged against which threshold.
"Inconclusive" is a real answer, not a soft pass: a three-minute run cannot show that memory does not grow by 1 MB
an hour, and the reason says roughly how long a run would need to be. Trend criteria look only at samples after the
warm-up and outside fault windows; error and latency criteria also skip the recovery time after each window, which
has its own criterion. Nothing here reads files or clocks, so the same run folder always gets the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from soak.rundir import Event, RunData
from soak.stats import Trend, fit_trend
from soak.thresholds import Thresholds

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_HOUR = 3600.0
MEGABYTE = 1e6


class Status(StrEnum):
    HELD = "held"
    BROKEN = "broken"
    INCONCLUSIVE = "inconclusive"


_SEVERITY = {Status.HELD: 0, Status.INCONCLUSIVE: 1, Status.BROKEN: 2}


def worst(statuses: list[Status]) -> Status:
    """Broken beats inconclusive beats held; no criteria at all proves nothing."""
    if not statuses:
        return Status.INCONCLUSIVE
    return max(statuses, key=lambda s: _SEVERITY[s])


@dataclass
class Criterion:
    name: str
    status: Status
    figure: str
    threshold: str
    reason: str
    group: str = ""
    plot: str = ""


@dataclass
class TrendLine:
    """A Theil–Sen fit in display units (``value / scale``) against time in hours, for the verdict and the plots."""

    column: str
    label: str
    unit: str
    scale: float
    slope_per_h: float
    low_per_h: float
    high_per_h: float
    p_value: float
    intercept: float
    t_start_s: float
    t_end_s: float
    points: int

    def value_at(self, t_s: float) -> float:
        return self.intercept + self.slope_per_h * t_s / SECONDS_PER_HOUR


@dataclass
class FaultWindow:
    name: str
    start_s: float
    end_s: float
    faults: dict[str, Any] = field(default_factory=dict)
    finished: bool = True
    recovery_s: float | None = None
    recovery_status: Status = Status.INCONCLUSIVE
    recovery_note: str = ""


@dataclass
class Verdict:
    status: Status
    criteria: list[Criterion]
    run_id: str
    duration_s: float
    planned_duration_s: float | None = None
    warmup_s: float = 0.0
    samples: int = 0
    target: str = ""
    pacing: str = ""
    fault_windows: list[FaultWindow] = field(default_factory=list)
    trends: list[TrendLine] = field(default_factory=list)
    compared: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    thresholds: dict[str, float | int] = field(default_factory=dict)

    def with_status(self, status: Status) -> list[Criterion]:
        return [c for c in self.criteria if c.status is status]

    def trend(self, column: str) -> TrendLine | None:
        return next((line for line in self.trends if line.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        for item, criterion in zip(data["criteria"], self.criteria, strict=True):
            item["status"] = str(criterion.status)
        for item, window in zip(data["fault_windows"], self.fault_windows, strict=True):
            item["recovery_status"] = str(window.recovery_status)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        fields = dict(data)
        fields["status"] = Status(fields["status"])
        fields["criteria"] = [Criterion(**{**c, "status": Status(c["status"])}) for c in data.get("criteria", [])]
        fields["fault_windows"] = [
            FaultWindow(**{**w, "recovery_status": Status(w["recovery_status"])}) for w in data.get("fault_windows", [])
        ]
        fields["trends"] = [TrendLine(**t) for t in data.get("trends", [])]
        return cls(**fields)


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
    plot: str


TREND_SPECS: tuple[TrendSpec, ...] = (
    TrendSpec(
        "memory",
        "rss_bytes",
        "RSS memory",
        "MB",
        MEGABYTE,
        lambda th: th.memory_growth_mb_per_h,
        0.0,
        "memory",
        "rss.png",
    ),
    TrendSpec(
        "file descriptors",
        "fds",
        "open file descriptors",
        "FDs",
        1.0,
        lambda th: th.fd_growth_per_h,
        1.0,
        "resources",
        "fds_threads.png",
    ),
    TrendSpec(
        "threads",
        "threads",
        "threads",
        "threads",
        1.0,
        lambda th: th.thread_growth_per_h,
        1.0,
        "resources",
        "fds_threads.png",
    ),
    TrendSpec(
        "client sockets",
        "tcp_clients",
        "established client sockets",
        "sockets",
        1.0,
        lambda th: th.socket_growth_per_h,
        1.0,
        "resources",
        "tcp.png",
    ),
    TrendSpec(
        "upstream sockets",
        "tcp_upstream",
        "established upstream sockets",
        "sockets",
        1.0,
        lambda th: th.socket_growth_per_h,
        1.0,
        "resources",
        "tcp.png",
    ),
    TrendSpec(
        "CLOSE_WAIT sockets",
        "tcp_close_wait",
        "sockets in CLOSE_WAIT",
        "sockets",
        1.0,
        lambda th: th.close_wait_growth_per_h,
        1.0,
        "resources",
        "tcp.png",
    ),
)
USS_SPEC = TrendSpec(
    "uss", "uss_bytes", "USS memory", "MB", MEGABYTE, lambda th: th.memory_growth_mb_per_h, 0.0, "memory", "rss.png"
)
PY_BLOCKS_SPEC = TrendSpec(
    "python heap", "py_blocks", "Python heap", "kblocks", 1000.0, lambda th: 0.0, 0.0, "memory", "rss.png"
)
"""Not gated: read beside RSS, it tells leaked Python objects (both rise) from allocator high-water (blocks flat)."""


# ---------------------------------------------------------------------------------------------------------------
# formatting: every figure a person reads carries its unit


def fmt_num(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    text = f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"
    return text.replace("-", "−")


def fmt_p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def fmt_duration(seconds: float) -> str:
    """Compact elapsed time: 45.0s, 12m05s, 3h07m."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_hours(hours: float) -> str:
    """A rough duration for "would need ...": one decimal under 10 h, whole hours above."""
    if hours >= 1000:
        return "more than 1000 h"
    if hours >= 10:
        return f"about {hours:.0f} h"
    return f"about {max(hours, 0.1):.1f} h"


# ---------------------------------------------------------------------------------------------------------------
# the shared view of a run: time axis, warm-up, fault windows and the masks derived from them


@dataclass(frozen=True)
class _Context:
    run: RunData
    thresholds: Thresholds
    t: FloatArray
    duration_s: float
    warmup_s: float
    interval_s: float
    windows: list[FaultWindow]
    recovery_allow_s: float
    in_fault: BoolArray
    in_fault_or_recovery: BoolArray
    notes: list[str]

    @property
    def required(self) -> bool:
        """Our own server exposes every series; for an external target, a missing series is just not measured."""
        return self.run.meta.target_kind != "external"

    @property
    def trend_mask(self) -> BoolArray:
        result: BoolArray = (self.t >= self.warmup_s) & ~self.in_fault
        return result


def warmup_seconds(duration_s: float, thresholds: Thresholds) -> float:
    return min(thresholds.warmup_fraction * max(duration_s, 0.0), thresholds.warmup_max_s)


def degradation_windows(warmup_s: float, duration_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and the last tenth of the time after warm-up, compared for latency and throughput creep."""
    tenth = max(duration_s - warmup_s, 0.0) / 10.0
    return (warmup_s, warmup_s + tenth), (duration_s - tenth, duration_s)


def _fault_windows(run: RunData, last_t: float) -> list[FaultWindow]:
    """Windows as they happened (fault_start/fault_end events); the planned schedule only if no events exist."""
    planned = {spec.name: dict(spec.faults) for spec in run.meta.fault_schedule}
    starts = [e for e in run.events if e.kind == "fault_start"]
    if not starts:
        return [
            FaultWindow(spec.name, spec.start_s, min(spec.end_s, last_t), dict(spec.faults), spec.end_s <= last_t)
            for spec in run.meta.fault_schedule
            if spec.start_s < last_t
        ]
    open_starts: dict[str, list[Event]] = {}
    windows: list[FaultWindow] = []
    for event in run.events:
        name = str(event.data.get("name", ""))
        if event.kind == "fault_start":
            open_starts.setdefault(name, []).append(event)
        elif event.kind == "fault_end" and open_starts.get(name):
            start = open_starts[name].pop(0)
            faults = start.data.get("faults")
            finished = event.data.get("cut_short") is not True
            windows.append(
                FaultWindow(name, start.t, event.t, dict(faults) if isinstance(faults, dict) else {}, finished)
            )
    for name, pending in open_starts.items():
        for start in pending:
            faults = start.data.get("faults")
            windows.append(
                FaultWindow(
                    name, start.t, max(last_t, start.t), dict(faults) if isinstance(faults, dict) else {}, False
                )
            )
    for window in windows:
        if not window.faults:
            window.faults = planned.get(window.name, {})
    windows.sort(key=lambda w: w.start_s)
    return windows


def _context(run: RunData, thresholds: Thresholds) -> _Context:
    t = run.samples.col("t")
    last_t = float(t[-1]) if len(t) else 0.0
    duration = max(last_t, 0.0)
    diffs = np.diff(t)
    interval = run.meta.sample_interval_s or (float(np.median(diffs)) if len(diffs) else 1.0)
    windows = _fault_windows(run, last_t)
    breaker = run.meta.breaker_timeout_s
    notes: list[str] = [f"run folder: {w}" for w in run.warnings]
    if breaker is None:
        breaker = thresholds.assumed_breaker_timeout_s
        if windows:
            notes.append(f"breaker timeout unknown; recovery judged against an assumed {breaker:g} s")
    allow = breaker + thresholds.recovery_margin_s
    in_fault = np.zeros(len(t), dtype=bool)
    in_either = np.zeros(len(t), dtype=bool)
    for window in windows:
        in_fault |= (t >= window.start_s) & (t <= window.end_s)
        in_either |= (t >= window.start_s) & (t <= window.end_s + allow)
    return _Context(
        run=run,
        thresholds=thresholds,
        t=t,
        duration_s=duration,
        warmup_s=warmup_seconds(duration, thresholds),
        interval_s=interval,
        windows=windows,
        recovery_allow_s=allow,
        in_fault=in_fault,
        in_fault_or_recovery=in_either,
        notes=notes,
    )


def _missing(ctx: _Context, name: str, what: str, group: str, plot: str = "") -> list[Criterion]:
    """A series nobody recorded: inconclusive for our own server, merely noted for an external target."""
    if ctx.required:
        return [
            Criterion(name, Status.INCONCLUSIVE, "not measured", "—", f"no {what} samples were recorded", group, plot)
        ]
    ctx.notes.append(f"{name}: not judged, the external target's {what} was not measured")
    return []


# ---------------------------------------------------------------------------------------------------------------
# trends


def _needed_hours(trend: Trend, allowance: float, quantum: float, thresholds: Thresholds) -> float:
    """Roughly how long a whole run would need to be for this series' interval to settle against the allowance.

    The target half-width is half the allowance while the interval still contains zero (the estimate is noise),
    else the distance between the estimate and the allowance (at least a quarter of it). The half-width is assumed
    to shrink in proportion to 1/duration: faster than a sqrt(n) rule, slower than white noise's duration^-1.5,
    because memory noise (GC, allocator) is correlated; so the figure errs long. A counter that moves in whole
    steps cannot show growth below one step per trend span at all. The warm-up is added back.
    """
    estimate = trend.estimate
    span_h = trend.span
    half = max((estimate.high - estimate.low) / 2.0, 0.0)
    if estimate.low <= 0.0 <= estimate.high:
        target = allowance / 2.0
    else:
        target = max(abs(allowance - estimate.slope), allowance / 4.0)
    needed = span_h * max(half / target, 1.0) if target > 0 else math.inf
    if quantum > 0 and estimate.slope < allowance:
        needed = max(needed, quantum / (allowance - max(estimate.slope, 0.0)))
    return _run_hours(needed, thresholds)


def _run_hours(trend_span_h: float, thresholds: Thresholds) -> float:
    """The whole-run length whose post-warm-up part is ``trend_span_h`` long."""
    fraction = thresholds.warmup_fraction
    return min(trend_span_h / (1.0 - fraction), trend_span_h + thresholds.warmup_max_s / SECONDS_PER_HOUR)


def _trend_line(spec: TrendSpec, trend: Trend) -> TrendLine:
    estimate = trend.estimate
    return TrendLine(
        column=spec.column,
        label=spec.label,
        unit=spec.unit,
        scale=spec.scale,
        slope_per_h=estimate.slope,
        low_per_h=estimate.low,
        high_per_h=estimate.high,
        p_value=trend.test.p_value,
        intercept=estimate.intercept,
        t_start_s=trend.x_start * SECONDS_PER_HOUR,
        t_end_s=trend.x_end * SECONDS_PER_HOUR,
        points=trend.raw_points,
    )


def _fit(ctx: _Context, spec: TrendSpec) -> Trend | None:
    values = ctx.run.samples.col(spec.column)
    mask = ctx.trend_mask & np.isfinite(values)
    if int(mask.sum()) < ctx.thresholds.min_trend_points:
        return None
    return fit_trend(
        ctx.t[mask] / SECONDS_PER_HOUR,
        values[mask] / spec.scale,
        max_points=ctx.thresholds.trend_max_points,
        confidence=1.0 - ctx.thresholds.alpha,
    )


def _judge_trend(ctx: _Context, spec: TrendSpec, lines: list[TrendLine], extra: str = "") -> list[Criterion]:
    if not ctx.run.samples.has(spec.column):
        return _missing(ctx, spec.key, spec.label, spec.group, spec.plot)
    allowance = spec.allowance(ctx.thresholds)
    unit = f"{spec.unit}/h"
    threshold = f"≤ {fmt_num(allowance)} {unit}"
    trend = _fit(ctx, spec)
    if trend is None:
        return [
            Criterion(
                spec.key,
                Status.INCONCLUSIVE,
                "too few samples",
                threshold,
                f"fewer than {ctx.thresholds.min_trend_points} {spec.label} samples after the warm-up",
                spec.group,
                spec.plot,
            )
        ]
    lines.append(_trend_line(spec, trend))
    estimate, test = trend.estimate, trend.test
    slope, low, high = estimate.slope, estimate.low, estimate.high
    span_h = trend.span
    level = round(100 * estimate.confidence)
    ci = f"{level}% CI {fmt_num(low, True)}…{fmt_num(high, True)}"
    figure = f"{fmt_num(slope, True)} {unit} ({ci}; Mann–Kendall {fmt_p(test.p_value)})"
    significant = test.p_value < ctx.thresholds.alpha and test.s > 0
    resolution = spec.quantum / span_h if spec.quantum > 0 and span_h > 0 else 0.0
    span_text = fmt_duration(span_h * SECONDS_PER_HOUR)
    grows = significant and low > allowance
    too_short = span_h * SECONDS_PER_HOUR < ctx.thresholds.min_trend_span_s
    if grows and not too_short:
        status = Status.BROKEN
        reason = (
            f"{spec.label} grows {fmt_num(slope, True)} {unit} over {span_text} after warm-up; even the CI's lower "
            f"bound {fmt_num(low, True)} exceeds the {fmt_num(allowance)} {unit} allowance"
        )
    elif max(high, resolution) <= allowance:
        status = Status.HELD
        reason = f"{spec.label} slope {fmt_num(slope, True)} {unit}; the CI's upper bound is within the allowance"
    else:
        status = Status.INCONCLUSIVE
        needed_h = _needed_hours(trend, allowance, spec.quantum, ctx.thresholds)
        if grows:
            minimum = fmt_duration(ctx.thresholds.min_trend_span_s)
            why = (
                f"{spec.label} grew {fmt_num(slope, True)} {unit} over only {span_text} after warm-up, too short to "
                f"tell a leak from warm-up growth (a trend needs {minimum})"
            )
            needed_h = max(needed_h, _run_hours(ctx.thresholds.min_trend_span_s / SECONDS_PER_HOUR, ctx.thresholds))
        elif slope > allowance:
            why = (
                f"slope {fmt_num(slope, True)} {unit} is above the allowance, but the CI reaches down to "
                f"{fmt_num(low, True)}: too wide to call"
            )
        elif high > allowance:
            why = (
                f"the CI's upper bound {fmt_num(high, True)} {unit} is above the allowance, so growth is not ruled out"
            )
        else:
            why = f"a whole-step counter cannot show growth below {fmt_num(resolution)} {unit} over a {span_text} span"
        reason = f"{why}; the run would need {fmt_hours(needed_h)} to decide"
    if extra:
        reason = f"{reason}; {extra}"
    return [Criterion(spec.key, status, figure, threshold, reason, spec.group, spec.plot)]


def _side_note(ctx: _Context, spec: TrendSpec, lines: list[TrendLine]) -> str:
    """The fitted slope of a column read beside a gated one (drawn on its plot, named in its reason, not gated)."""
    if not ctx.run.samples.has(spec.column):
        return ""
    trend = _fit(ctx, spec)
    if trend is None:
        return ""
    lines.append(_trend_line(spec, trend))
    est = trend.estimate
    return (
        f"{spec.label} {fmt_num(est.slope, True)} {spec.unit}/h "
        f"(CI {fmt_num(est.low, True)}…{fmt_num(est.high, True)}, not gated)"
    )


def _judge_trends(ctx: _Context, lines: list[TrendLine]) -> list[Criterion]:
    memory_notes = "; ".join(note for spec in (USS_SPEC, PY_BLOCKS_SPEC) if (note := _side_note(ctx, spec, lines)))
    criteria: list[Criterion] = []
    for spec in TREND_SPECS:
        criteria += _judge_trend(ctx, spec, lines, memory_notes if spec.column == "rss_bytes" else "")
    return criteria


def _judge_pool_limit(ctx: _Context) -> list[Criterion]:
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
        return _missing(ctx, name, "upstream connection count", "resources", "pool.png")
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
        return [Criterion(name, Status.BROKEN, figure, threshold, reason, "resources", "pool.png")]
    reason = f"{' and '.join(measured)} never above {limit:g}"
    return [Criterion(name, Status.HELD, figure, threshold, reason, "resources", "pool.png")]


# ---------------------------------------------------------------------------------------------------------------
# errors, crashes and recovery


def _judge_failures(ctx: _Context) -> list[Criterion]:
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
                "throughput.png",
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
                "throughput.png",
            )
        ]
    ratio = failed / total
    calls = f"≈{failed * ctx.interval_s:,.0f} of {total * ctx.interval_s:,.0f} calls"
    figure = f"{ratio:.3%} ({calls})"
    if ratio <= ctx.thresholds.max_fail_ratio:
        return [
            Criterion(
                name, Status.HELD, figure, threshold, "failure ratio within the limit", "errors", "throughput.png"
            )
        ]
    masked = np.where(mask, fails, -1.0)
    peak = int(np.argmax(masked))
    reason = (
        f"{ratio:.2%} of calls failed outside fault windows; the worst sample was {masked[peak]:.1f} failures/s "
        f"at {fmt_duration(float(ctx.t[peak]))}"
    )
    return [Criterion(name, Status.BROKEN, figure, threshold, reason, "errors", "throughput.png")]


def _judge_server_up(ctx: _Context) -> list[Criterion]:
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


def _recover(ctx: _Context, window: FaultWindow) -> None:
    if not window.finished:
        window.recovery_status = Status.INCONCLUSIVE
        window.recovery_note = "the run stopped during this window"
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


def _judge_recovery(ctx: _Context) -> list[Criterion]:
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
                "throughput.png",
            )
        ]
    for window in ctx.windows:
        _recover(ctx, window)
    status = worst([w.recovery_status for w in ctx.windows])
    breaker = ctx.recovery_allow_s - ctx.thresholds.recovery_margin_s
    threshold = f"≤ {ctx.recovery_allow_s:g} s (breaker {breaker:g} s + margin {ctx.thresholds.recovery_margin_s:g} s)"
    timed = [w for w in ctx.windows if w.recovery_s is not None]
    slowest = max(timed, key=lambda w: w.recovery_s or 0.0) if timed else None
    figure = f"slowest {slowest.recovery_s:.1f} s ({slowest.name})" if slowest else "no recovery seen"
    flagged = [w for w in ctx.windows if w.recovery_status is status and status is not Status.HELD]
    if flagged:
        reason = "; ".join(f"{w.name} at {fmt_duration(w.start_s)}: {w.recovery_note}" for w in flagged[:3])
        if len(flagged) > 3:
            reason += f"; and {len(flagged) - 3} more"
    else:
        reason = f"served successfully again after all {len(ctx.windows)} fault window(s) in time"
    return [Criterion(name, status, figure, threshold, reason, "errors", "throughput.png")]


# ---------------------------------------------------------------------------------------------------------------
# degradation: the last tenth against the first tenth after warm-up


def _judge_degradation(ctx: _Context, compared: dict[str, list[float]]) -> list[Criterion]:
    samples = ctx.run.samples
    (a0, a1), (b0, b1) = degradation_windows(ctx.warmup_s, ctx.duration_s)
    usable = (ctx.t >= ctx.warmup_s) & ~ctx.in_fault_or_recovery
    first, last = usable & (ctx.t >= a0) & (ctx.t <= a1), usable & (ctx.t >= b0) & (ctx.t <= b1)
    rps = samples.col("rps")
    th = ctx.thresholds
    checks = (
        ("p95 latency creep", "p95_ms", "ms", th.p95_ratio, True, "latency.png"),
        ("p99 latency creep", "p99_ms", "ms", th.p99_ratio, True, "latency.png"),
        ("throughput drop", "rps", "calls/s", th.throughput_ratio, False, "throughput.png"),
    )
    criteria: list[Criterion] = []
    for name, column, unit, limit, upper, plot in checks:
        threshold = f"last/first tenth {'≤' if upper else '≥'} ×{limit:g}"
        if not samples.has(column):
            criteria += _missing(ctx, name, column, "degradation", plot)
            continue
        values = samples.col(column)
        valid = np.isfinite(values) & ((rps > 0) if upper else np.ones(len(values), dtype=bool))
        early, late = values[first & valid], values[last & valid]
        if min(len(early), len(late)) < th.degradation_min_samples:
            reason = (
                f"only {len(early)} and {len(late)} usable samples in the first and last tenth after warm-up "
                f"(need {th.degradation_min_samples})"
            )
            criteria.append(
                Criterion(name, Status.INCONCLUSIVE, "too few samples", threshold, reason, "degradation", plot)
            )
            continue
        before, after = float(np.median(early)), float(np.median(late))
        compared[column] = [before, after]
        if before <= 0:
            status = Status.HELD if after <= 0 or not upper else Status.INCONCLUSIVE
            figure = f"{fmt_num(before)} → {fmt_num(after)} {unit}"
            reason = "the first tenth's median is zero, so no ratio can be formed"
            criteria.append(Criterion(name, status, figure, threshold, reason, "degradation", plot))
            continue
        ratio = after / before
        held = ratio <= limit if upper else ratio >= limit
        figure = f"{fmt_num(before)} → {fmt_num(after)} {unit} (×{ratio:.2f})"
        what = column.removesuffix("_ms")
        reason = (
            f"median {what} went from {fmt_num(before)} to {fmt_num(after)} {unit} between "
            f"{fmt_duration(a0)}–{fmt_duration(a1)} and {fmt_duration(b0)}–{fmt_duration(b1)}"
        )
        status = Status.HELD if held else Status.BROKEN
        criteria.append(Criterion(name, status, figure, threshold, reason, "degradation", plot))
    return criteria


# ---------------------------------------------------------------------------------------------------------------
# the end of the run: shutdown, cache integrity, completeness


def _early_end(ctx: _Context) -> str | None:
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


def _stop_story(ctx: _Context) -> str:
    return _early_end(ctx) or "the run ended without recording one"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _judge_shutdown(ctx: _Context) -> list[Criterion]:
    name = "clean shutdown"
    events = ctx.run.events_of("shutdown")
    grace = ctx.run.meta.shutdown_grace_s
    margin = ctx.thresholds.shutdown_margin_s
    if not events:
        threshold = "exit 0 within the grace period, no call cut"
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
    threshold = f"exit 0 within {grace_text}, 0 calls cut"
    figure = (
        f"exit {code if code is not None else '?'} after {fmt_num(after) if after is not None else '?'} s; "
        f"{in_flight if in_flight is not None else '?'} in flight, "
        f"{completed if completed is not None else '?'} completed, {cut if cut is not None else '?'} cut"
    )
    problems: list[str] = []
    unknown: list[str] = []
    if code is None:
        unknown.append("exit code")
    elif code != 0:
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
    return [Criterion(name, Status.HELD, figure, threshold, "drained in-flight calls and exited 0 in time", "shutdown")]


def _judge_cache(ctx: _Context) -> list[Criterion]:
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


def _judge_completion(ctx: _Context) -> list[Criterion]:
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


def judge(run: RunData, thresholds: Thresholds) -> Verdict:
    """Judge a run; pure and deterministic, so re-judging a folder with the same thresholds gives the same verdict."""
    ctx = _context(run, thresholds)
    lines: list[TrendLine] = []
    compared: dict[str, list[float]] = {}
    criteria = (
        _judge_completion(ctx)
        + _judge_trends(ctx, lines)
        + _judge_pool_limit(ctx)
        + _judge_failures(ctx)
        + _judge_server_up(ctx)
        + _judge_recovery(ctx)
        + _judge_degradation(ctx, compared)
        + _judge_shutdown(ctx)
        + _judge_cache(ctx)
    )
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
        trends=lines,
        compared=compared,
        notes=ctx.notes,
        thresholds=dict(thresholds.to_dict()),
    )
