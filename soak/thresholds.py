"""The gate's thresholds: defaults in code, overridable from a JSON file or a dict of overrides.

Every number the gate compares against lives here, so a report can print exactly what it was judged by and a team
can tighten or loosen one criterion without touching the statistics. Unknown keys are errors: a misspelt override
that silently did nothing would make a night look judged by rules it was not.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self


class ThresholdsError(ValueError):
    """A thresholds file or override that cannot be used, with the key at fault in the message."""


@dataclass(frozen=True)
class Thresholds:
    """Allowances are growth per hour of trend data; latency ratios bound the fitted end of the run against the first
    tenth's level, the throughput ratio compares the last tenth with the first.

    A trend is broken once its interval clears the allowance on ``min_decision_points`` points, by at least
    ``min_leak_steps`` whole steps for a counter, while each half of the trend data grows at ``sustained_fraction`` of
    the whole slope or more and the second half is not slower than the first (slower: its interval lies wholly
    below the first half's and its slope is under ``slowing_ratio`` of it).
    Projections are over ``night_hours``, against the allowance times that many hours; a compressed run projects
    per hour and per call at ``project_calls_per_s`` (0: its nominal rate).
    Open sessions keep ``session_headroom`` of the server's cap free; the newcomer criterion needs ``min_probes``
    tries.
    """

    memory_growth_mb_per_h: float = 1.0
    fd_growth_per_h: float = 2.0
    thread_growth_per_h: float = 1.0
    socket_growth_per_h: float = 2.0
    close_wait_growth_per_h: float = 1.0
    max_fail_ratio: float = 0.005
    recovery_margin_s: float = 10.0
    assumed_breaker_timeout_s: float = 30.0
    p50_ratio: float = 1.5
    p95_ratio: float = 1.5
    throughput_ratio: float = 0.8
    warmup_fraction: float = 0.2
    warmup_max_s: float = 1800.0
    alpha: float = 0.05
    trend_max_points: int = 720
    min_trend_points: int = 10
    min_decision_points: int = 30
    min_effective_points: float = 8.0
    min_leak_steps: float = 3.0
    sustained_fraction: float = 0.5
    slowing_ratio: float = 0.8
    night_hours: float = 24.0
    project_calls_per_s: float = 0.0
    """Calls/s a compressed run's 24-hour projection assumes; 0: the night's nominal rate (the run's own ÷ K)."""
    backtest_min_hours: float = 2.0
    """Runs at least this long also project their own end from their first half (the report's backtest)."""
    min_pacing_ratio: float = 0.9
    """A compressed run must deliver this share of its planned calls in each load level, or it did not play K×."""
    degradation_min_samples: int = 5
    shutdown_margin_s: float = 1.0
    session_headroom: float = 0.1
    min_probes: int = 3

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ThresholdsError(f"threshold {f.name} must be a finite number >= 0, got {value!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ThresholdsError(f"threshold alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ThresholdsError(f"threshold warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not 0.0 <= self.session_headroom < 1.0:
            raise ThresholdsError(f"threshold session_headroom must be in [0, 1), got {self.session_headroom}")
        if self.trend_max_points < 3:
            raise ThresholdsError(f"threshold trend_max_points must be at least 3, got {self.trend_max_points}")
        if self.min_trend_points < 3:
            raise ThresholdsError(f"threshold min_trend_points must be at least 3, got {self.min_trend_points}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Defaults overridden by the JSON object in ``path`` (any subset of the field names)."""
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ThresholdsError(f"cannot read thresholds file {source}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ThresholdsError(f"thresholds file {source} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ThresholdsError(f"thresholds file {source} must hold a JSON object, got {type(data).__name__}")
        return cls().with_overrides(data)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """A copy with the given fields replaced; values are coerced to the field's type (int or float)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, raw in overrides.items():
            if key not in known:
                raise ThresholdsError(f"unknown threshold {key!r}; known: {', '.join(sorted(known))}")
            changes[key] = _coerce(key, raw, int if known[key].type in (int, "int") else float)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.names()}


def _coerce(key: str, raw: Any, kind: type[int] | type[float]) -> float | int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ThresholdsError(f"threshold {key} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError as exc:
        raise ThresholdsError(f"threshold {key} must be a number, got {raw!r}") from exc
    if kind is int:
        if not value.is_integer():
            raise ThresholdsError(f"threshold {key} must be a whole number, got {raw!r}")
        return int(value)
    return value
