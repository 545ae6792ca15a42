"""The gate on synthetic runs whose truth is known: leaks, sawtooths, bumps, failures, slow recovery, shutdowns."""

from __future__ import annotations

import json
import mmap
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from soak.gate import Criterion, Status, Verdict, judge
from soak.rundir import load_run
from soak.thresholds import Thresholds, ThresholdsError
from tests.support.synthetic_run import (
    DEFAULT_SHUTDOWN,
    MB,
    bump,
    combine,
    linear,
    noise,
    sawtooth,
    write_synthetic_run,
)

HOUR = 3600.0
ERRORS = {"name": "upstream-errors", "start_s": 2400.0, "end_s": 3000.0, "faults": {"error_rate": 0.5}}


def judged(tmp_path: Path, thresholds: Thresholds | None = None, **kwargs: Any) -> Verdict:
    kwargs.setdefault("duration_s", 2 * HOUR)
    return judge(load_run(write_synthetic_run(tmp_path / "run", **kwargs)), thresholds or Thresholds())


def criterion(verdict: Verdict, name: str) -> Criterion:
    return next(c for c in verdict.criteria if c.name == name)


def first_number(text: str) -> float:
    found = re.search(r"[+−-]?\d+(?:\.\d+)?", text)
    assert found, text
    return float(found.group().replace("−", "-"))


def test_a_healthy_two_hour_run_holds_every_criterion(tmp_path: Path) -> None:
    verdict = judged(tmp_path, faults=[ERRORS])
    assert verdict.status is Status.HELD, [c for c in verdict.criteria if c.status is not Status.HELD]
    assert {"memory", "file descriptors", "recovery after faults", "clean shutdown"} <= {
        c.name for c in verdict.criteria
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flat_memory_with_noise_and_a_gc_sawtooth_is_not_a_leak(tmp_path: Path, seed: int) -> None:
    rss = combine(150 * MB, sawtooth(8 * MB, 300), noise(1 * MB, seed))
    memory = criterion(judged(tmp_path, duration_s=4 * HOUR, rss=rss, seed=seed), "memory")
    assert memory.status is Status.HELD, memory.reason


def test_a_slow_five_mb_per_hour_leak_over_two_hours_is_broken_with_its_rate_in_the_reason(tmp_path: Path) -> None:
    rss = combine(150 * MB, linear(5 * MB), noise(1 * MB, 4))
    memory = criterion(judged(tmp_path, rss=rss), "memory")
    assert memory.status is Status.BROKEN
    assert first_number(memory.figure) == pytest.approx(5.0, abs=0.3)
    assert "+5.0" in memory.reason or "+4.9" in memory.reason
    assert "MB/h" in memory.figure and "1.00 MB/h" in memory.threshold


def test_the_memory_reason_sets_the_python_heap_trend_beside_rss_to_tell_objects_from_allocator(
    tmp_path: Path,
) -> None:
    rss = combine(150 * MB, linear(5 * MB), noise(1 * MB, 4))
    objects = judged(tmp_path / "objects", rss=rss, py_blocks=combine(400_000, linear(60_000), noise(500, 4)))
    allocator = judged(tmp_path / "allocator", rss=rss, py_blocks=combine(400_000, noise(500, 4)))
    grows = re.search(r"Python heap ([+−-][\d.]+) kblocks/h", criterion(objects, "memory").reason)
    flat = re.search(r"Python heap ([+−-]?[\d.]+) kblocks/h", criterion(allocator, "memory").reason)
    assert grows and flat, (criterion(objects, "memory").reason, criterion(allocator, "memory").reason)
    assert first_number(grows.group(1)) == pytest.approx(60.0, abs=3.0)
    assert abs(first_number(flat.group(1))) < 3.0
    assert "not gated" in criterion(allocator, "memory").reason
    assert criterion(allocator, "memory").status is Status.BROKEN  # RSS alone is what the gate judges
    assert objects.trend("py_blocks") is not None


def test_a_memory_step_after_a_fault_window_that_comes_back_down_is_not_a_leak(tmp_path: Path) -> None:
    rss = combine(150 * MB, bump(40 * MB, 2400, 4200), noise(0.5 * MB, 5))
    memory = criterion(judged(tmp_path, rss=rss, faults=[ERRORS]), "memory")
    assert memory.status is Status.HELD, memory.reason


def test_one_leaked_file_descriptor_every_three_minutes_is_broken(tmp_path: Path) -> None:
    verdict = judged(tmp_path, fds=lambda t: 40 + np.floor(t / 180))
    fds = criterion(verdict, "file descriptors")
    assert fds.status is Status.BROKEN
    assert first_number(fds.figure) == pytest.approx(20.0, abs=1.0)
    assert verdict.status is Status.BROKEN


def test_a_three_minute_noisy_run_is_inconclusive_and_says_how_long_a_run_would_need(tmp_path: Path) -> None:
    verdict = judged(tmp_path, duration_s=180, rss=combine(150 * MB, noise(1 * MB, 6)))
    memory = criterion(verdict, "memory")
    assert memory.status is Status.INCONCLUSIVE
    needed = re.search(r"would need about ([\d.]+) h", memory.reason)
    assert needed, memory.reason
    assert 0.2 <= float(needed.group(1)) <= 24
    assert criterion(verdict, "file descriptors").status is Status.INCONCLUSIVE
    assert verdict.status is Status.INCONCLUSIVE


def test_steep_steady_growth_over_a_ten_minute_run_is_broken_at_once_without_waiting_half_an_hour(
    tmp_path: Path,
) -> None:
    rss = combine(150 * MB, linear(50 * MB), noise(0.2 * MB, 8))
    memory = criterion(judged(tmp_path, duration_s=600, rss=rss), "memory")
    assert memory.status is Status.BROKEN, memory.reason
    assert "grows in both halves" in memory.reason


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_bounded_cache_that_fills_then_plateaus_within_a_six_minute_run_is_not_a_leak(
    tmp_path: Path, seed: int
) -> None:
    filling = lambda t: 30 * MB * np.minimum(t, 180.0) / 180.0  # noqa: E731
    rss = combine(100 * MB, filling, sawtooth(1 * MB, 20), noise(0.2 * MB, seed))
    memory = criterion(judged(tmp_path, duration_s=360, rss=rss, seed=seed), "memory")
    assert memory.status is not Status.BROKEN, memory.reason


def test_forty_megabytes_held_from_thirty_to_fifty_percent_of_a_short_run_then_released_is_not_a_leak(
    tmp_path: Path,
) -> None:
    rss = combine(100 * MB, bump(40 * MB, 108, 180), noise(0.3 * MB, 3))
    memory = criterion(judged(tmp_path, duration_s=360, rss=rss), "memory")
    assert memory.status is not Status.BROKEN, memory.reason


def test_a_descriptor_leaked_every_twenty_seconds_is_broken_in_a_six_minute_run(tmp_path: Path) -> None:
    fds = criterion(judged(tmp_path, duration_s=360, fds=lambda t: 40 + np.floor(t / 20)), "file descriptors")
    assert fds.status is Status.BROKEN, fds.reason
    assert first_number(fds.figure) == pytest.approx(180.0, rel=0.1)


def test_one_descriptor_opened_once_during_a_short_run_is_not_a_leak(tmp_path: Path) -> None:
    fds = criterion(judged(tmp_path, duration_s=360, fds=lambda t: 40 + (t > 200)), "file descriptors")
    assert fds.status is not Status.BROKEN, fds.reason


def test_growth_before_the_targets_bounded_tiers_settle_is_explained_and_not_judged(tmp_path: Path) -> None:
    tier = lambda t: np.minimum(t, 1500.0)  # noqa: E731
    rss = combine(100 * MB, lambda t: 20_000 * tier(t), noise(0.1 * MB, 2))
    verdict = judged(tmp_path, duration_s=1800, rss=rss, cache_entries=tier)
    memory = criterion(verdict, "memory")
    assert memory.status is not Status.BROKEN, memory.reason
    assert "explained by the target's bounded tiers" in memory.reason
    assert "of 1,024 entries" in memory.reason


def test_a_tier_whose_entries_dip_while_its_bytes_stay_flat_does_not_excuse_memory_growth(tmp_path: Path) -> None:
    # The 4 Dec night: the tier's entry count dipped below 95 % in the fault windows, its bytes did not move, and
    # RSS stepped up there; the dip must not make the gate call that growth "tiers filling".
    dip = lambda t: np.where((t > 1500) & (t < 2700), 900.0, 1000.0)  # noqa: E731
    rss = combine(150 * MB, lambda t: np.clip(t - 1500, 0, 1200) / 1200 * 8 * MB, noise(0.05 * MB, 3))
    verdict = judged(tmp_path, duration_s=3600, rss=rss, cache_entries=dip, cache_bytes=lambda t: np.full(t.size, 2e7))
    memory = criterion(verdict, "memory")
    assert "explained by the target's bounded tiers" not in memory.reason, memory.reason
    assert memory.status is not Status.HELD, memory.reason  # the old rule held it


def test_every_trend_criterion_states_its_24_hour_projection_against_the_night_budget(tmp_path: Path) -> None:
    rss = combine(150 * MB, linear(5 * MB), noise(1 * MB, 4))
    verdict = judged(tmp_path, rss=rss)
    memory = criterion(verdict, "memory")
    assert memory.projection_24h is not None
    assert memory.projection_24h["value"] == pytest.approx(120.0, rel=0.1)
    assert memory.projection_24h["low"] <= 120.0 <= memory.projection_24h["high"] * 1.05
    assert memory.projection_24h["budget"] == pytest.approx(24.0) and memory.projection_24h["within_budget"] is False
    assert "by 24 h" in memory.reason
    for name in ("file descriptors", "threads", "upstream sockets", "p50 latency creep", "p95 latency creep"):
        assert criterion(verdict, name).projection_24h is not None, name


def test_memory_flat_to_the_page_projects_one_page_over_its_span_not_a_zero_width_night(tmp_path: Path) -> None:
    flat = lambda t: np.full(t.size, 150 * MB)  # noqa: E731
    verdict = judged(tmp_path, duration_s=3600, rss=flat, uss=flat)
    memory = criterion(verdict, "memory")
    assert "USS memory +0.000 MB/h (CI −0.005…+0.005, not gated)" in memory.reason, memory.reason
    assert "CI −0.005…+0.005;" in memory.figure, memory.figure
    projection = memory.projection_24h
    assert projection is not None and memory.status is Status.HELD, memory.reason
    span_h = 0.8  # after the 12-minute warm-up of a one-hour run
    assert projection["high"] - projection["value"] >= mmap.PAGESIZE / MB * 24 / span_h * 0.99, projection
    assert projection["within_budget"] is True


def test_latency_that_grows_five_ms_a_minute_is_broken_on_p50_and_p95_in_a_six_minute_run(tmp_path: Path) -> None:
    creep = lambda t: 19 + 5 * t / 60  # noqa: E731
    verdict = judged(
        tmp_path, duration_s=360, p50_ms=combine(0, creep, noise(1, 1)), p95_ms=combine(0, creep, creep, noise(4, 2))
    )
    for name in ("p50 latency creep", "p95 latency creep"):
        assert criterion(verdict, name).status is Status.BROKEN, criterion(verdict, name).reason


def test_a_noisy_first_tenth_does_not_make_flat_latency_look_improved_or_creeping(tmp_path: Path) -> None:
    p95 = combine(40, noise(3, 9), lambda t: np.where((t > 72) & (t < 100), 40.0, 0.0))
    verdict = judged(tmp_path, duration_s=360, p95_ms=p95)
    assert criterion(verdict, "p95 latency creep").status is not Status.BROKEN


def test_a_target_that_drained_and_died_by_the_sigterm_it_was_sent_shut_down_cleanly(tmp_path: Path) -> None:
    shutdown = {**DEFAULT_SHUTDOWN, "exit_code": -15, "exit_signal": "SIGTERM"}
    verdict = judged(tmp_path, shutdown=shutdown)
    clean = criterion(verdict, "clean shutdown")
    assert clean.status is Status.HELD, clean.reason
    assert "SIGTERM" in clean.reason


def test_a_sample_column_the_contract_does_not_name_is_an_error_not_a_missing_series(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "run", duration_s=60))
    with pytest.raises(KeyError, match="unknown sample column"):
        run.samples.col("rss_mb")
    assert not run.samples.has("py_blocks") or run.samples.has("rss_bytes")


def test_failures_outside_fault_windows_break_the_error_criterion(tmp_path: Path) -> None:
    verdict = judged(tmp_path, fail_rps=lambda t: np.where((t > 1200) & (t < 1500), 4.0, 0.0))
    failures = criterion(verdict, "unexpected failures")
    assert failures.status is Status.BROKEN
    assert "%" in failures.figure and "20m" in failures.reason


def test_failures_inside_a_fault_window_and_its_recovery_time_are_not_counted(tmp_path: Path) -> None:
    verdict = judged(tmp_path, faults=[ERRORS], recovery_s=8.0)
    assert criterion(verdict, "unexpected failures").status is Status.HELD
    assert criterion(verdict, "recovery after faults").status is Status.HELD


def test_recovering_two_minutes_after_a_fault_with_a_five_second_breaker_is_broken(tmp_path: Path) -> None:
    verdict = judged(tmp_path, faults=[ERRORS], recovery_s=120.0)
    recovery = criterion(verdict, "recovery after faults")
    assert recovery.status is Status.BROKEN
    assert "upstream-errors" in recovery.reason
    assert verdict.fault_windows[0].recovery_s == pytest.approx(121.0, abs=1.5)


def test_recovery_is_inconclusive_when_the_run_ends_right_after_the_window(tmp_path: Path) -> None:
    late = {**ERRORS, "start_s": 7000.0, "end_s": 7195.0}
    verdict = judged(tmp_path, faults=[late], recovery_s=60.0)
    recovery = criterion(verdict, "recovery after faults")
    assert recovery.status is Status.INCONCLUSIVE, recovery.reason


def test_a_server_exit_event_breaks_the_run(tmp_path: Path) -> None:
    exits = [{"t": 1800.0, "kind": "server_exit", "returncode": -9}, {"t": 1805.0, "kind": "server_restart"}]
    up = criterion(judged(tmp_path, extra_events=exits), "server stayed up")
    assert up.status is Status.BROKEN
    assert "-9" in up.reason and "30m" in up.reason


def test_a_run_that_ended_early_because_the_server_exited_is_not_called_complete(tmp_path: Path) -> None:
    verdict = judged(tmp_path, run_end=False, extra_events=[{"t": 7200.0, "kind": "run_end", "reason": "server_exit"}])
    completed = criterion(verdict, "run completed")
    assert completed.status is Status.INCONCLUSIVE
    assert "ended early (server exit)" in completed.reason


def test_a_fault_window_cut_short_by_the_end_of_the_run_leaves_recovery_undecided(tmp_path: Path) -> None:
    cut = [
        {"t": 7000.0, "kind": "fault_start", "name": "late-errors", "faults": {"error_rate": 0.5}},
        {"t": 7200.0, "kind": "fault_end", "name": "late-errors", "cut_short": True},
    ]
    verdict = judged(tmp_path, extra_events=cut)
    assert verdict.fault_windows[0].finished is False
    recovery = criterion(verdict, "recovery after faults")
    assert recovery.status is Status.INCONCLUSIVE
    assert "stopped during this window" in recovery.reason


def test_p95_latency_that_grows_over_the_night_is_broken(tmp_path: Path) -> None:
    verdict = judged(tmp_path, p95_ms=lambda t: 60 + 100 * t / (2 * HOUR))
    p95 = criterion(verdict, "p95 latency creep")
    assert p95.status is Status.BROKEN
    assert "×" in p95.figure
    assert verdict.compared["p95_ms"][1] > 1.5 * verdict.compared["p95_ms"][0]


def test_throughput_falling_to_half_is_broken(tmp_path: Path) -> None:
    verdict = judged(tmp_path, rps=lambda t: np.where(t > 1.6 * HOUR, 10.0, 20.0))
    assert criterion(verdict, "throughput drop").status is Status.BROKEN


def test_a_shutdown_that_cut_in_flight_calls_is_broken(tmp_path: Path) -> None:
    shutdown = {**DEFAULT_SHUTDOWN, "cut": 3, "in_flight_at_signal": 9, "completed": 6}
    clean = criterion(judged(tmp_path, shutdown=shutdown), "clean shutdown")
    assert clean.status is Status.BROKEN
    assert "3 of 9 in-flight calls cut" in clean.reason


def test_a_shutdown_beyond_the_grace_period_or_with_a_nonzero_exit_is_broken(tmp_path: Path) -> None:
    shutdown = {**DEFAULT_SHUTDOWN, "exit_code": 1, "exit_after_s": 14.0}
    clean = criterion(judged(tmp_path, shutdown=shutdown), "clean shutdown")
    assert clean.status is Status.BROKEN
    assert "exit code 1" in clean.reason and "14.0 s" in clean.reason


def test_a_missing_shutdown_after_an_interrupt_is_inconclusive_with_the_reason(tmp_path: Path) -> None:
    verdict = judged(
        tmp_path,
        shutdown=None,
        cache_scan=False,
        run_end=False,
        extra_events=[{"t": 7200.0, "kind": "interrupted"}],
    )
    clean = criterion(verdict, "clean shutdown")
    assert clean.status is Status.INCONCLUSIVE
    assert "interrupted" in clean.reason
    assert criterion(verdict, "run completed").status is Status.INCONCLUSIVE
    assert verdict.status is Status.INCONCLUSIVE


def test_invalid_cache_files_after_the_run_are_broken(tmp_path: Path) -> None:
    cache = criterion(judged(tmp_path, cache_invalid=["ab/requests.json", "cd/flask.json"]), "cache files intact")
    assert cache.status is Status.BROKEN
    assert "ab/requests.json" in cache.reason


def test_upstream_connections_above_the_pool_limit_are_broken(tmp_path: Path) -> None:
    limit = criterion(judged(tmp_path, pool_open=lambda t: np.where(t > 3000, 12.0, 4.0)), "upstream connection limit")
    assert limit.status is Status.BROKEN
    assert "12" in limit.reason


def test_an_external_target_without_pool_metrics_is_judged_on_what_was_measured(tmp_path: Path) -> None:
    verdict = judged(
        tmp_path,
        target_kind="external",
        omit_columns=["pool_open", "pool_max", "tcp_upstream", "uss_bytes"],
        pool_max_connections=None,
        cache_scan=False,
    )
    names = {c.name for c in verdict.criteria}
    assert "upstream connection limit" not in names and "upstream sockets" not in names
    assert any("pool_max_connections is unknown" in n for n in verdict.notes)
    assert verdict.status is Status.HELD


def test_our_own_server_without_memory_samples_is_inconclusive(tmp_path: Path) -> None:
    memory = criterion(judged(tmp_path, omit_columns=["rss_bytes"]), "memory")
    assert memory.status is Status.INCONCLUSIVE
    assert "not measured" in memory.figure


def test_judging_is_deterministic_and_round_trips_through_json(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "run", duration_s=HOUR, faults=[ERRORS]))
    first, second = judge(run, Thresholds()), judge(run, Thresholds())
    assert first == second
    assert Verdict.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_overall_status_is_broken_over_inconclusive_over_held(tmp_path: Path) -> None:
    verdict = judged(tmp_path, duration_s=180, shutdown={**DEFAULT_SHUTDOWN, "cut": 1})
    statuses = {c.status for c in verdict.criteria}
    assert Status.INCONCLUSIVE in statuses and Status.BROKEN in statuses
    assert verdict.status is Status.BROKEN


def test_looser_thresholds_turn_a_small_leak_into_a_pass(tmp_path: Path) -> None:
    rss = combine(150 * MB, linear(5 * MB), noise(1 * MB, 4))
    loose = Thresholds().with_overrides({"memory_growth_mb_per_h": 10})
    assert criterion(judged(tmp_path, loose, rss=rss), "memory").status is Status.HELD


def test_thresholds_load_from_a_json_file_and_reject_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"max_fail_ratio": 0.01, "trend_max_points": 500}))
    loaded = Thresholds.load(path)
    assert loaded.max_fail_ratio == 0.01 and loaded.trend_max_points == 500
    assert loaded.p95_ratio == Thresholds().p95_ratio
    with pytest.raises(ThresholdsError, match="unknown threshold 'max_fail_rate'"):
        Thresholds().with_overrides({"max_fail_rate": 0.1})
    with pytest.raises(ThresholdsError, match="alpha"):
        Thresholds().with_overrides({"alpha": 1.5})
    with pytest.raises(ThresholdsError, match="whole number"):
        Thresholds().with_overrides({"trend_max_points": 10.5})
    path.write_text("[1, 2]")
    with pytest.raises(ThresholdsError, match="JSON object"):
        Thresholds.load(path)


def test_growth_that_keeps_slowing_like_a_cache_discovering_its_names_is_inconclusive_not_a_leak(
    tmp_path: Path,
) -> None:
    discovery = lambda t: 30 * MB * np.sqrt(t / 360.0)  # noqa: E731
    rss = combine(100 * MB, discovery, noise(0.05 * MB, 4))
    settled = lambda t: np.full(t.size, 500.0)  # noqa: E731  (the target reports no tier still filling)
    memory = criterion(judged(tmp_path, duration_s=360, rss=rss, cache_entries=settled), "memory")
    assert memory.status is Status.INCONCLUSIVE, memory.reason
    assert "slowing" in memory.reason or "independent" in memory.reason, memory.reason


def test_a_steady_leak_whose_narrow_halves_differ_by_a_hair_is_broken_not_slowing(tmp_path: Path) -> None:
    # +100 MB/h easing by 0.3 % over the run: the halves' intervals part (the noise is tiny), their slopes do not
    steady = lambda t: 100 * MB * (t / HOUR) - 0.15 * MB * (t / HOUR) ** 2  # noqa: E731
    settled = lambda t: np.full(t.size, 500.0)  # noqa: E731
    rss = combine(150 * MB, steady, noise(0.01 * MB, 5))
    memory = criterion(judged(tmp_path, duration_s=HOUR, rss=rss, cache_entries=settled), "memory")
    assert memory.status is Status.BROKEN, memory.reason
    assert "both halves" in memory.reason
