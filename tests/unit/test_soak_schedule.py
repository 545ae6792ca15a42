"""The fault schedule: the default covers every mock fault mode at any run length and keeps the gate's windows
clean; schedule files are validated with every problem named."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pypi_mock.faults import FaultPlan
from soak.schedule import (
    ALL_MODES,
    DEFAULT_MODES,
    FAULTS_FROM,
    FAULTS_UNTIL,
    MAX_CYCLE_S,
    FaultPhase,
    FaultSchedule,
    ScheduleCursor,
    ScheduleError,
    default_schedule,
    exercised_modes,
    load_schedule,
    parse_schedule,
)

RUN_LENGTHS = [120.0, 600.0, 86_400.0]


@pytest.mark.parametrize("duration", RUN_LENGTHS)
def test_default_schedule_exercises_every_mock_fault_mode(duration: float) -> None:
    assert default_schedule(duration).modes() == ALL_MODES


@pytest.mark.parametrize("duration", RUN_LENGTHS)
def test_default_phases_lie_inside_the_run_sorted_and_separated_by_recovery_gaps(duration: float) -> None:
    phases = default_schedule(duration).phases
    assert all(0 <= p.start_s < p.end_s <= duration for p in phases)
    for before, after in itertools.pairwise(phases):
        assert after.start_s > before.end_s


@pytest.mark.parametrize("duration", RUN_LENGTHS)
def test_default_schedule_keeps_the_warm_up_and_the_gate_comparison_windows_clean(duration: float) -> None:
    """Warm-up is the first 20 %, the gate's first tenth after it ends by 28 %, its last tenth starts at 90 %."""
    phases = default_schedule(duration).phases
    assert phases[0].start_s >= 0.28 * duration
    assert phases[0].start_s == pytest.approx(FAULTS_FROM * duration)
    assert phases[-1].end_s <= FAULTS_UNTIL * duration
    assert phases[-1].end_s + 15.0 < 0.9 * duration  # the last phase's recovery allowance ends before it


@pytest.mark.parametrize("duration", RUN_LENGTHS)
def test_default_faults_are_accepted_by_the_mock(duration: float) -> None:
    for phase in default_schedule(duration).phases:
        FaultPlan.from_dict(phase.faults)


def test_a_two_minute_run_still_gets_an_outage_longer_than_the_soak_server_deadline() -> None:
    outage = next(p for p in default_schedule(120.0).phases if p.name == "outage")
    # a short run gives --server-env AUTODOCS_REQUEST_TIMEOUT=5: its hung calls fail and open the breaker
    assert outage.duration_s > 5.0


def test_a_day_long_run_repeats_the_cycle_instead_of_stretching_each_phase() -> None:
    phases = default_schedule(86_400.0).phases
    size = len(DEFAULT_MODES)
    cycles = [phases[i : i + size] for i in range(0, len(phases), size)]
    assert len(cycles) > 1
    for cycle in cycles:
        assert FaultSchedule(tuple(cycle)).modes() == ALL_MODES
        assert cycle[-1].end_s - cycle[0].start_s <= MAX_CYCLE_S


def test_phase_at_finds_the_phase_in_force_and_nothing_in_gaps() -> None:
    schedule = FaultSchedule((FaultPhase("a", 10, 20, {"error_rate": 1}), FaultPhase("b", 30, 40, {})))
    assert schedule.phase_at(10).name == "a"  # type: ignore[union-attr]
    assert schedule.phase_at(19.99).name == "a"  # type: ignore[union-attr]
    assert schedule.phase_at(20) is None
    assert schedule.phase_at(35).name == "b"  # type: ignore[union-attr]
    assert schedule.phase_at(5) is None


def test_exercised_modes_reads_rates_and_latency() -> None:
    assert exercised_modes({"error_rate": 0.5, "retry_after_s": 1}) == {"error"}
    assert exercised_modes({"latency_jitter_ms": 10, "hang_rate": 0}) == {"latency"}
    assert exercised_modes({"oversize_rate": True}) == frozenset()


def test_parse_schedule_accepts_percentages_durations_and_seconds_in_any_order() -> None:
    raw = {
        "phases": [
            {"name": "late", "start_s": 600, "end_s": 660, "faults": {"latency_ms": 300}},
            {"name": "storm", "start": "20%", "end": "25%", "faults": {"error_rate": 0.5, "retry_after_s": 1}},
            {"name": "outage", "start": "5m", "end": "5m30s", "faults": {"hang_rate": 1.0}},
            {"name": "quiet", "start": 0, "end": "0.5m"},
        ]
    }
    schedule = parse_schedule(raw, 1_000.0)
    assert [(p.name, p.start_s, p.end_s) for p in schedule.phases] == [
        ("quiet", 0.0, 30.0),
        ("storm", 200.0, 250.0),
        ("outage", 300.0, 330.0),
        ("late", 600.0, 660.0),
    ]
    assert schedule.to_list()[1] == {
        "name": "storm",
        "start_s": 200.0,
        "end_s": 250.0,
        "faults": {"error_rate": 0.5, "retry_after_s": 1},
    }


def _problems(raw: object, duration: float = 1_000.0) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(raw, duration)
    return caught.value.problems


def test_a_schedule_that_is_not_an_object_with_phases_is_refused() -> None:
    assert "JSON object" in _problems([])[0]
    assert "'phases' must be a list" in _problems({"phases": {}})[-1]
    assert any("unknown top-level key 'phase'" in p for p in _problems({"phase": [], "phases": []}))


def test_every_problem_of_a_schedule_is_reported_with_where_it_is() -> None:
    problems = _problems(
        {
            "phases": [
                {"name": "", "start": "10s", "end": "5s", "faults": {}},
                {"name": "bad", "start": "1x", "end_s": -1, "faults": {"error_rate": 2, "colour": "red"}},
                {"name": "both", "start": "1s", "start_s": 1, "end": "2s", "extra": 1},
                {"name": "far", "start": "10m", "end": "2h"},
                {"name": "pct", "start": "150%", "end": "160%"},
                "not a phase",
                {"name": "typed", "start": [1], "end": "2s", "faults": "error"},
            ]
        }
    )
    text = "\n".join(problems)
    for expected in (
        "phases[0].name: must be a non-empty string",
        "phases[0]: end (5s) must be after start (10s)",
        "phases[1].start: cannot read duration '1x'",
        "phases[1].end_s: must be a number of seconds >= 0",
        "phases[1].faults.error_rate:",
        "phases[1].faults.colour: unknown field",
        "phases[2]: unknown key 'extra'",
        "phases[2]: give exactly one of 'start' or 'start_s'",
        "phases[3].end: 2h is past the end of the run (16m40s)",
        "phases[4].start: percentage must be between 0% and 100%",
        "phases[5]: must be an object",
        "phases[6].start: must be a duration like '1h30m'",
        "phases[6].faults: must be the mock's faults object",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"


def test_overlapping_phases_are_refused_naming_both() -> None:
    problems = _problems(
        {
            "phases": [
                {"name": "one", "start": "1m", "end": "3m", "faults": {}},
                {"name": "two", "start": "2m", "end": "4m", "faults": {}},
            ]
        }
    )
    assert problems == ["phases[1] ('two') starts at 2m, before phases[0] ('one') ends at 3m; phases must not overlap"]


def test_load_schedule_reads_a_file_and_names_it_when_it_is_not_json(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"phases": [{"name": "x", "start": "10%", "end": "20%", "faults": {}}]}))
    assert load_schedule(good, 100.0).phases == (FaultPhase("x", 10.0, 20.0, {}),)
    bad = tmp_path / "bad.json"
    bad.write_text('{"phases": [\n  {"name": }\n]}')
    with pytest.raises(ScheduleError, match=r"bad\.json: not JSON .* line 2"):
        load_schedule(bad, 100.0)
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.json", 100.0)


def test_cursor_yields_each_boundary_once_in_time_order() -> None:
    a = FaultPhase("a", 10, 20, {"error_rate": 1})
    b = FaultPhase("b", 20, 30, {"hang_rate": 1})
    cursor = ScheduleCursor(FaultSchedule((a, b)))
    assert cursor.advance(5) == []
    assert cursor.next_at() == 10
    assert [(tr.kind, tr.phase.name) for tr in cursor.advance(10)] == [("fault_start", "a")]
    assert cursor.open_phase() is a
    assert cursor.advance(15) == []
    # back to back: a's end comes before b's start, so the two never look overlapped
    assert [(tr.kind, tr.phase.name) for tr in cursor.advance(25)] == [("fault_end", "a"), ("fault_start", "b")]
    assert cursor.open_phase() is b
    assert [(tr.kind, tr.phase.name) for tr in cursor.advance(100)] == [("fault_end", "b")]
    assert cursor.next_at() is None
    assert cursor.open_phase() is None
