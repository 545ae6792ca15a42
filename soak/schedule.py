"""The fault schedule: which mock faults run when, as offsets from the start of the load (pure).

The default exercises every fault mode of the PyPI mock at fixed fractions of the run, so a 2-minute smoke run and
a 24-hour soak see the same story. The gate compares clean windows, so those stay clean whatever the length: the
warm-up (the first 20 %), the first tenth after it (the degradation baseline, which ends by 28 % of the run), and the
last tenth (from 90 %) with room before it for the last phase's recovery allowance. The fault phases therefore lie
between 30 % and 75 % of the run, each followed by a gap for recovery. Long runs repeat the cycle (at most 2 h per
cycle) instead of stretching one error storm over hours.

A schedule file is JSON (see :func:`parse_schedule` and ``notes/soak.md``)::

    {"phases": [
        {"name": "storm", "start": "20%", "end": "25%", "faults": {"error_rate": 0.5, "retry_after_s": 1}},
        {"name": "outage", "start": "1h", "end": "1h10m", "faults": {"hang_rate": 1.0}},
        {"name": "slow", "start_s": 600, "end_s": 660, "faults": {"latency_ms": 300}}
    ]}
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeGuard

from pypi_mock.faults import FaultKind, FaultPlan, FaultValidationError
from soak.durations import DurationError, format_duration, parse_duration

FAULTS_FROM: Final = 0.30
"""Fraction of the run where the first phase starts: after the warm-up and the gate's first comparison window."""
FAULTS_UNTIL: Final = 0.75
"""Fraction of the run by which the last slot (phase plus gap) ends, leaving the gate's last tenth clean."""
ACTIVE_FRACTION: Final = 0.6
"""Share of each phase's slot with faults on; the rest of the slot is the recovery gap before the next phase."""
MAX_CYCLE_S: Final = 2 * 3600.0

_RATE_MODES: Final = {
    "reset_rate": FaultKind.RESET.value,
    "hang_rate": FaultKind.HANG.value,
    "error_rate": FaultKind.ERROR.value,
    "throttle_rate": FaultKind.THROTTLE.value,
    "malformed_rate": FaultKind.MALFORMED.value,
    "oversize_rate": FaultKind.OVERSIZE.value,
    "slow_body_rate": FaultKind.SLOW_BODY.value,
}
ALL_MODES: Final = frozenset([*_RATE_MODES.values(), "latency"])
"""Every fault mode the mock can inject: its fault kinds plus added latency."""


@dataclass(frozen=True)
class _Mode:
    name: str
    faults: Mapping[str, object]
    weight: int = 1


# Ordered so the outage (the longest recovery: the breaker has to open and close again) is mid-cycle and the cycle
# ends on the mildest faults, which recover at once. The outage gets a triple slot: its calls only fail once the
# server's deadline passes, and the breaker needs several failures in a row before it opens.
DEFAULT_MODES: Final[tuple[_Mode, ...]] = (
    _Mode("error_storm", {"error_rate": 0.5, "error_status": 503, "retry_after_s": 1}),
    # A bad day rather than an outage (issue 14): every call should ride it out on its retries.
    _Mode(
        "bad_day",
        {
            "latency_ms": 100,
            "error_rate": 0.3,
            "error_status": 503,
            "retry_after_s": 1,
            "hang_rate": 0.02,
            "reset_rate": 0.02,
            "malformed_rate": 0.02,
        },
    ),
    _Mode("throttle", {"throttle_rate": 0.4, "retry_after_s": 1}),
    _Mode("outage", {"hang_rate": 1.0}, weight=3),
    _Mode("resets", {"reset_rate": 0.3}),
    _Mode("malformed", {"malformed_rate": 0.3}),
    _Mode("oversize", {"oversize_rate": 0.2, "oversize_bytes": 20_000_000}),
    _Mode("slow_body", {"slow_body_rate": 0.3}),
    # Upstream answering in 1.5 s ± 1 s: calls wait inside their deadline, the pool and the limiter fill up.
    _Mode("slow_upstream", {"latency_ms": 500, "latency_jitter_ms": 2000}),
    _Mode("latency", {"latency_ms": 150, "latency_jitter_ms": 250}),
)


class ScheduleError(ValueError):
    """A schedule that cannot be used; ``problems`` has one line per fault, each naming where it is."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid fault schedule:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class FaultPhase:
    """Faults on from ``start_s`` (inclusive) to ``end_s`` (exclusive), seconds since the load started."""

    name: str
    start_s: float
    end_s: float
    faults: Mapping[str, object] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def contains(self, t: float) -> bool:
        return self.start_s <= t < self.end_s

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start_s": self.start_s, "end_s": self.end_s, "faults": dict(self.faults)}


@dataclass(frozen=True)
class FaultSchedule:
    """Non-overlapping phases sorted by start."""

    phases: tuple[FaultPhase, ...] = ()

    def phase_at(self, t: float) -> FaultPhase | None:
        for phase in self.phases:
            if phase.contains(t):
                return phase
        return None

    def to_list(self) -> list[dict[str, Any]]:
        return [phase.to_dict() for phase in self.phases]

    def modes(self) -> frozenset[str]:
        """The mock fault modes some phase turns on (see :data:`ALL_MODES`)."""
        found: set[str] = set()
        for phase in self.phases:
            found |= exercised_modes(phase.faults)
        return frozenset(found)


def exercised_modes(faults: Mapping[str, object]) -> frozenset[str]:
    found = {mode for key, mode in _RATE_MODES.items() if _positive(faults.get(key))}
    if _positive(faults.get("latency_ms")) or _positive(faults.get("latency_jitter_ms")):
        found.add("latency")
    return frozenset(found)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def default_schedule(duration_s: float) -> FaultSchedule:
    """Every mode once per cycle between :data:`FAULTS_FROM` and :data:`FAULTS_UNTIL`; a cycle is at most 2 h long."""
    start = FAULTS_FROM * duration_s
    window = (FAULTS_UNTIL - FAULTS_FROM) * duration_s
    cycles = max(1, math.ceil(window / MAX_CYCLE_S))
    unit = window / (cycles * sum(mode.weight for mode in DEFAULT_MODES))
    phases: list[FaultPhase] = []
    t = start
    for _ in range(cycles):
        for mode in DEFAULT_MODES:
            slot = unit * mode.weight
            phases.append(FaultPhase(mode.name, _ms(t), _ms(t + slot * ACTIVE_FRACTION), dict(mode.faults)))
            t += slot
    return FaultSchedule(tuple(phases))


def _ms(seconds: float) -> float:
    return round(seconds, 3)


def load_schedule(path: Path, duration_s: float) -> FaultSchedule:
    """Read and validate a schedule file for a run of ``duration_s``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleError([f"{path}: cannot read ({exc.strerror or exc})"]) from exc
    except json.JSONDecodeError as exc:
        raise ScheduleError([f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]) from exc
    return parse_schedule(raw, duration_s)


_PHASE_KEYS: Final = frozenset({"name", "start", "end", "start_s", "end_s", "faults"})


def parse_schedule(raw: object, duration_s: float) -> FaultSchedule:
    """Validate a decoded schedule: ``{"phases": [{name, start|start_s, end|end_s, faults}, ...]}``.

    ``start``/``end`` are durations ("1h30m", "45s"), percentages of the run ("20%") or seconds; ``start_s``/``end_s``
    are seconds. Phases may come in any order but must not overlap, and must lie inside the run. ``faults`` is the
    mock's faults object and is checked with the mock's own validation.
    """
    if not isinstance(raw, Mapping):
        raise ScheduleError(['the schedule must be a JSON object like {"phases": [...]}'])
    problems = [f"unknown top-level key {key!r} (expected only 'phases')" for key in raw if key != "phases"]
    entries = raw.get("phases")
    if not isinstance(entries, list):
        raise ScheduleError([*problems, "'phases' must be a list of phase objects"])
    phases: list[tuple[int, FaultPhase]] = []
    for index, entry in enumerate(entries):
        phase = _parse_phase(f"phases[{index}]", entry, duration_s, problems)
        if phase is not None:
            phases.append((index, phase))
    phases.sort(key=lambda item: item[1].start_s)
    for (prev_index, prev), (index, phase) in itertools.pairwise(phases):
        if phase.start_s < prev.end_s:
            problems.append(
                f"phases[{index}] ({phase.name!r}) starts at {format_duration(phase.start_s)}, before "
                f"phases[{prev_index}] ({prev.name!r}) ends at {format_duration(prev.end_s)}; phases must not overlap"
            )
    if problems:
        raise ScheduleError(problems)
    return FaultSchedule(tuple(phase for _, phase in phases))


def _parse_phase(where: str, entry: object, duration_s: float, problems: list[str]) -> FaultPhase | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be an object with name, start, end and faults")
        return None
    before = len(problems)
    problems.extend(f"{where}: unknown key {key!r}" for key in entry if key not in _PHASE_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: must be a non-empty string")
        name = ""
    start = _offset(where, entry, "start", duration_s, problems)
    end = _offset(where, entry, "end", duration_s, problems)
    if start is not None and end is not None and end <= start:
        problems.append(f"{where}: end ({format_duration(end)}) must be after start ({format_duration(start)})")
    for label, value in (("start", start), ("end", end)):
        if value is not None and value > duration_s:
            problems.append(
                f"{where}.{label}: {format_duration(value)} is past the end of the run ({format_duration(duration_s)})"
            )
    faults = entry.get("faults", {})
    if not isinstance(faults, Mapping):
        problems.append(f'{where}.faults: must be the mock\'s faults object, e.g. {{"error_rate": 0.5}}')
    else:
        try:
            FaultPlan.from_dict(faults)
        except FaultValidationError as exc:
            problems.extend(f"{where}.faults.{error.field}: {error.message}" for error in exc.errors)
    if len(problems) > before or start is None or end is None or not isinstance(faults, Mapping):
        return None
    return FaultPhase(name.strip(), _ms(start), _ms(end), dict(faults))


def _offset(where: str, entry: Mapping[str, Any], key: str, duration_s: float, problems: list[str]) -> float | None:
    seconds_key = f"{key}_s"
    if (key in entry) == (seconds_key in entry):
        problems.append(f"{where}: give exactly one of {key!r} or {seconds_key!r}")
        return None
    if seconds_key in entry:
        value = entry[seconds_key]
        if not _is_number(value) or value < 0:
            problems.append(f"{where}.{seconds_key}: must be a number of seconds >= 0, got {value!r}")
            return None
        return float(value)
    value = entry[key]
    if _is_number(value):
        if value < 0:
            problems.append(f"{where}.{key}: must not be negative, got {value!r}")
            return None
        return float(value)
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: must be a duration like '1h30m', a percentage like '20%' or seconds")
        return None
    text = value.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = math.nan
        if not 0.0 <= percent <= 100.0:
            problems.append(f"{where}.{key}: percentage must be between 0% and 100%, got {value!r}")
            return None
        return duration_s * percent / 100.0
    if text in ("0", "0s"):
        return 0.0
    try:
        return parse_duration(text)
    except DurationError as exc:
        problems.append(f"{where}.{key}: {exc}")
        return None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Transition:
    kind: str
    """``"fault_start"`` or ``"fault_end"``, the event names of ``events.jsonl``."""
    phase: FaultPhase
    at_s: float


class ScheduleCursor:
    """Walks the schedule as time passes, yielding each phase start and end exactly once, in time order."""

    def __init__(self, schedule: FaultSchedule) -> None:
        boundaries: list[Transition] = []
        for phase in schedule.phases:
            boundaries.append(Transition("fault_start", phase, phase.start_s))
            boundaries.append(Transition("fault_end", phase, phase.end_s))
        # An end sorts before a start at the same instant, so back-to-back phases never look overlapped.
        boundaries.sort(key=lambda tr: (tr.at_s, tr.kind == "fault_start"))
        self._pending = boundaries
        self._next = 0
        self.schedule = schedule

    def advance(self, t: float) -> list[Transition]:
        """Transitions due at or before ``t`` not yet returned."""
        due: list[Transition] = []
        while self._next < len(self._pending) and self._pending[self._next].at_s <= t:
            due.append(self._pending[self._next])
            self._next += 1
        return due

    def next_at(self) -> float | None:
        """When the next transition is due, or None when the schedule is done."""
        if self._next < len(self._pending):
            return self._pending[self._next].at_s
        return None

    def open_phase(self) -> FaultPhase | None:
        """The phase started and not yet ended (what the mock has on now), for closing it on an early stop."""
        started = {id(tr.phase) for tr in self._pending[: self._next] if tr.kind == "fault_start"}
        ended = {id(tr.phase) for tr in self._pending[: self._next] if tr.kind == "fault_end"}
        for phase in self.schedule.phases:
            if id(phase) in started - ended:
                return phase
        return None
