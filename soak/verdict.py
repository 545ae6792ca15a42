"""What the gate answers: a status per criterion, the figure it judged against its threshold, and the reason.

Plain data, so ``verdict.json`` is a faithful dump and a re-rendered report reads back exactly what was judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from soak.formatting import SECONDS_PER_HOUR


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
    projection_24h: dict[str, Any] | None = None
    """Trend criteria: growth projected over a 24-hour night (``value``, ``low``, ``high``, ``unit``, ``budget``)."""
    per_hour: dict[str, float] | None = None
    """Compressed runs' trend criteria: growth per hour of uptime (``value``, ``low``, ``high``)."""
    per_1k_calls: dict[str, float] | None = None
    """Compressed runs' trend criteria: growth per 1,000 calls (``value``, ``low``, ``high``)."""
    backtest: dict[str, Any] | None = None
    """Runs of 2 h or more: the run's end projected from its first half, beside what was measured."""


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
    autocorrelation: float = 0.0

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
    injected: int | None = None
    """Faults the mock injected inside the window (None: not recorded); 0 means it met no upstream traffic."""


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
    failure_rule: str = ""
    allocations: dict[str, Any] = field(default_factory=dict)
    """Top allocation sites by growth, outside and inside fault windows, when the target exposed snapshots."""

    def with_status(self, status: Status) -> list[Criterion]:
        return [c for c in self.criteria if c.status is status]

    def trend(self, column: str) -> TrendLine | None:
        return next((line for line in self.trends if line.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        for item, criterion in zip(data["criteria"], self.criteria, strict=True):
            item["status"] = str(criterion.status)
            item["plot"] = str(criterion.plot)
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
