"""The calibration machinery at a tiny size: its noise is what it claims, it is deterministic, and its page has
every row. The figures themselves are the job of ``make calibrate``; here only the plumbing is checked, fast."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from soak.calibrate import (
    SUBJECTS,
    Case,
    Results,
    Settings,
    Tally,
    ar1,
    calibrate,
    case_rng,
    cases,
    counter_leak,
    level_shifts,
    main,
    markov_jitter,
    render,
    run_case,
    wilson_upper,
)
from soak.verdict import Status

TINY = Settings(trials=5, detect_trials=3, durations=(360.0,), seed=1)


def test_ar1_noise_has_the_stationary_sd_and_lag_one_correlation_it_is_asked_for() -> None:
    x = ar1(np.random.default_rng(3), 50_000, 0.97, 0.5)
    assert x.std() == pytest.approx(0.5, rel=0.1)
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(0.97, abs=0.01)


def test_markov_jitter_visits_three_levels_and_switches_about_every_five_seconds() -> None:
    states = markov_jitter(np.random.default_rng(4), 20_000)
    assert set(np.unique(states)) == {0.0, 1.0, 2.0}
    assert np.mean(states[1:] != states[:-1]) == pytest.approx(0.2, abs=0.02)


def test_allocator_level_shifts_revert_so_the_level_has_no_trend() -> None:
    t = np.arange(0.0, 36_000.0)
    shifts = level_shifts(np.random.default_rng(5), t, 180.0, 100.0, 0.5, 2.0)
    assert np.abs(shifts).max() > 0.5
    assert abs(np.mean(shifts[: len(t) // 2]) - np.mean(shifts[len(t) // 2 :])) < 0.5


def test_a_counter_leak_is_whole_steps_at_the_rate_asked_for() -> None:
    t = np.arange(0.0, 3600.0)
    leaked = counter_leak(np.random.default_rng(6), t, 60.0)
    assert set(np.unique(np.diff(leaked))) <= {0.0, 1.0}
    assert leaked[-1] in (59.0, 60.0)


def test_the_same_seed_gives_the_same_counts_and_each_case_draws_from_its_own_generator() -> None:
    case = Case(SUBJECTS[0], SUBJECTS[0].models[1], 360.0, 8)
    assert run_case(case, 7) == run_case(case, 7)
    first = case_rng(7, case.label).random()
    assert first == case_rng(7, case.label).random()
    assert first != case_rng(8, case.label).random()
    assert first != case_rng(7, Case(SUBJECTS[0], SUBJECTS[0].models[0], 360.0, 8).label).random()


def test_the_smallest_detected_rate_is_the_start_of_the_reliable_tail_of_the_grid() -> None:
    subject = SUBJECTS[1]
    results = Results(TINY)
    detected = dict.fromkeys(subject.grid, 10)
    detected[subject.grid[1]] = 10  # a lucky low rate below a miss does not count
    detected[subject.grid[0]] = 0
    detected[subject.grid[2]] = 5
    for rate, broken in detected.items():
        results.detection[(subject.criterion, 360.0, rate)] = Tally(trials=10, broken=broken)
    assert results.smallest_detected(subject, 360.0) == subject.grid[3]
    assert results.smallest_detected(subject, 600.0) is None


def test_wilson_upper_bound_is_above_the_observed_rate_and_informative_for_zero_counts() -> None:
    assert wilson_upper(0, 200) == pytest.approx(0.0188, abs=0.001)
    assert 0.05 < wilson_upper(10, 200) < 0.1


def test_a_tiny_calibration_prints_one_line_per_case_and_renders_every_row() -> None:
    progress = io.StringIO()
    results = calibrate(TINY, progress)
    assert len(progress.getvalue().splitlines()) == len(cases(TINY))
    for tally in [*results.false_alarms.values(), *results.detection.values()]:
        assert tally.trials in (TINY.trials, TINY.detect_trials)
        assert 0 <= tally.broken <= tally.trials
    page = render(results, Path("notes/gate-calibration.md"))
    assert "`python -m soak.calibrate --trials 5 --detect-trials 3 --durations 6m --seed 1" in page
    assert "soak/trends.py" in page
    for subject in SUBJECTS:
        for model in subject.models:
            assert f"| {subject.criterion} ({subject.allowance}) | {model.name} | **" in page
        assert f"| {subject.criterion} | {subject.allowance} | " in page
        assert f"**{subject.criterion}**: share of trials broken" in page
    assert page.count("| 6 min | 3 | ") == len(SUBJECTS)
    for heading in ("## False alarms", "## Detection limits", "## Stretch goals", "## Sen's interval"):
        assert heading in page
    assert "memory at 10 MB/h in 10 min: not measured in this run" in page


def test_the_command_writes_the_page_where_it_is_told(tmp_path: Path) -> None:
    out = tmp_path / "notes" / "calibration.md"
    assert main(["--trials", "2", "--detect-trials", "1", "--durations", "6m", "--seed", "3", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("# Gate calibration")
    assert f"--seed 3 --out {out}`" in page


def test_judged_statuses_are_counted_by_kind() -> None:
    tally = Tally()
    for status in (Status.BROKEN, Status.HELD, Status.INCONCLUSIVE, Status.HELD):
        tally.add(status)
    assert (tally.trials, tally.broken, tally.held, tally.inconclusive) == (4, 1, 2, 1)
    assert tally.rate == 0.25
