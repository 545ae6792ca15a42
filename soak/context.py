"""The shared view of a run every criterion judges from: its time axis, warm-up, fault windows and the masks derived
from them, plus the trend lines and compared figures the criteria leave for the plots.

Built once per verdict from the read run folder; nothing here reads files or clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from soak.growth_sites import summarize
from soak.rundir import Event, RunData
from soak.thresholds import Thresholds
from soak.verdict import Criterion, FaultWindow, Status, TrendLine

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GateContext:
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
    allocations: dict[str, Any] = field(default_factory=dict)
    lines: list[TrendLine] = field(default_factory=list)
    compared: dict[str, list[float]] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        """Our own server exposes every series; for an external target, a missing series is just not measured."""
        return self.run.meta.target_kind != "external"

    @property
    def trend_mask(self) -> BoolArray:
        result: BoolArray = (self.t >= self.warmup_s) & ~self.in_fault
        return result

    def missing(self, name: str, what: str, group: str, plot: str = "") -> list[Criterion]:
        """A series nobody recorded: inconclusive for our own server, merely noted for an external target."""
        if self.required:
            return [
                Criterion(
                    name, Status.INCONCLUSIVE, "not measured", "—", f"no {what} samples were recorded", group, plot
                )
            ]
        self.notes.append(f"{name}: not judged, the external target's {what} was not measured")
        return []


REAPING_MARGIN_S = 60.0
"""After one idle timeout, a minute more: the server's reaper runs on its own period, not at the exact second."""
SESSION_GROWTH_MIN = 5.0
"""Open sessions must rise by more than this (and by a tenth) across the run for their accumulation to explain RSS."""
SETTLED_FRACTION = 0.95
"""A level has settled once it stays at or above this fraction of the level it ends the run at."""


def settled_time(t: FloatArray, values: FloatArray, min_points: int) -> tuple[float, float] | None:
    """When a series that fills to a level had settled there, and that final level; None on too few samples.

    The final level is the median of the last tenth; the series has settled once it never again falls below
    ``SETTLED_FRACTION`` of it. One rule for every bounded level (a cache tier, the session table), so what the
    gate calls "still filling" means the same everywhere.
    """
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) < min_points:
        return None
    final = float(np.median(values[finite[-max(len(finite) // 10, 1) :]]))
    below = finite[values[finite] < SETTLED_FRACTION * final]
    at = float(t[min(int(below[-1]) + 1, len(t) - 1)]) if len(below) else float(t[finite[0]])
    return at, final


def reaped_from(ctx: GateContext) -> float | None:
    """When abandoned sessions start being reaped: one recorded idle timeout (plus margin) after the start."""
    idle = ctx.run.meta.raw.get("session_idle_timeout_s")
    return float(idle) + REAPING_MARGIN_S if isinstance(idle, int | float) and not isinstance(idle, bool) else None


def sessions_accumulating(ctx: GateContext) -> tuple[float, str] | None:
    """When open sessions rose across the run, the time from which their count is stationary, and a line saying so.

    Clients that never close their sessions add sessions (and their memory) at a steady rate until the idle timeout
    reaps the first of them; from then on as many are reaped as arrive. RSS growth before that is the session table
    filling to its level, not a leak; the sessions criterion judges that level against the cap. The table is full
    at the later of one idle timeout and the time its count settled at its final level: clients that open sessions
    in bursts (a reconnect storm every ten minutes) keep raising the level until the first burst is reaped, which
    is after the idle timeout by up to one burst period (measured: 269 sessions at the 30-minute timeout, 309 from
    34 minutes on, in a 2-hour soak with the rude clients).
    """
    start = reaped_from(ctx)
    samples = ctx.run.samples
    if start is None or not samples.has("sessions_open"):
        return None
    values = samples.col("sessions_open")
    after = np.flatnonzero(np.isfinite(values) & (ctx.t >= ctx.warmup_s))
    if len(after) < 2:
        return None
    tenth = max(len(after) // 10, 1)
    head = min(len(after), ctx.thresholds.min_trend_points)  # the level as the warm-up ends, not a tenth later
    first, last = float(np.median(values[after[:head]])), float(np.median(values[after[-tenth:]]))
    if last - first <= max(SESSION_GROWTH_MIN, 0.1 * first):
        return None
    settled = settled_time(ctx.t, values, ctx.thresholds.min_trend_points)
    if settled is not None and settled[0] > start:
        return settled[0], (
            f"open sessions rose {first:g} → {last:g}; the idle timeout reaps them from {start:g} s and their count "
            f"settled at {settled[0]:.0f} s"
        )
    return start, f"open sessions rose {first:g} → {last:g} until the idle timeout reaps them from {start:g} s"


def warmup_seconds(duration_s: float, thresholds: Thresholds) -> float:
    return min(thresholds.warmup_fraction * max(duration_s, 0.0), thresholds.warmup_max_s)


def degradation_windows(warmup_s: float, duration_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and the last tenth of the time after warm-up, compared for throughput and latency levels."""
    tenth = max(duration_s - warmup_s, 0.0) / 10.0
    return (warmup_s, warmup_s + tenth), (duration_s - tenth, duration_s)


def _faults_of(event: Event) -> dict[str, Any]:
    faults = event.data.get("faults")
    return dict(faults) if isinstance(faults, dict) else {}


def fault_windows(run: RunData, last_t: float) -> list[FaultWindow]:
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
            finished = event.data.get("cut_short") is not True
            injected = event.data.get("injected")
            count = injected if isinstance(injected, int) and not isinstance(injected, bool) else None
            windows.append(FaultWindow(name, start.t, event.t, _faults_of(start), finished, injected=count))
    for name, pending in open_starts.items():
        windows.extend(FaultWindow(name, s.t, max(last_t, s.t), _faults_of(s), False) for s in pending)
    for window in windows:
        if not window.faults:
            window.faults = planned.get(window.name, {})
    windows.sort(key=lambda w: w.start_s)
    return windows


def build_context(run: RunData, thresholds: Thresholds) -> GateContext:
    t = run.samples.col("t")
    last_t = float(t[-1]) if len(t) else 0.0
    duration = max(last_t, 0.0)
    diffs = np.diff(t)
    interval = run.meta.sample_interval_s or (float(np.median(diffs)) if len(diffs) else 1.0)
    windows = fault_windows(run, last_t)
    breaker = run.meta.breaker_timeout_s
    notes: list[str] = [f"run folder: {w}" for w in run.warnings]
    if breaker is None:
        breaker = thresholds.assumed_breaker_timeout_s
        if windows:
            notes.append(f"breaker timeout unknown; recovery judged against an assumed {breaker:g} s")
    allow = breaker + thresholds.recovery_margin_s
    warmup = warmup_seconds(duration, thresholds)
    in_fault = np.zeros(len(t), dtype=bool)
    in_either = np.zeros(len(t), dtype=bool)
    for window in windows:
        in_fault |= (t >= window.start_s) & (t <= window.end_s)
        in_either |= (t >= window.start_s) & (t <= window.end_s + allow)
    return GateContext(
        run=run,
        thresholds=thresholds,
        t=t,
        duration_s=duration,
        warmup_s=warmup,
        interval_s=interval,
        windows=windows,
        recovery_allow_s=allow,
        in_fault=in_fault,
        in_fault_or_recovery=in_either,
        notes=notes,
        allocations=summarize(run.allocations, windows, warmup),
    )
