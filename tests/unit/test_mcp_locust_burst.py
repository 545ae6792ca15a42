"""The burst plan as a function of elapsed time, and the pass/fail thresholds of a headless run."""

from __future__ import annotations

import pytest

from mcp_locust.burst import BurstPlan
from mcp_locust.thresholds import Thresholds, Totals, broken


def test_each_cycle_is_baseline_then_a_centred_spike_then_baseline() -> None:
    plan = BurstPlan(base_users=5, peak_users=50, period_s=30, spike_s=10, ramp_s=2, cycles=2)
    levels = [plan.tick(t) for t in (0, 9.9, 10, 19.9, 20, 29.9, 30, 40, 55)]
    assert [level[0] if level else None for level in levels] == [5, 5, 50, 50, 5, 5, 5, 50, 5]


def test_the_spike_is_reached_within_the_ramp_time() -> None:
    plan = BurstPlan(base_users=5, peak_users=50, ramp_s=2)
    assert plan.tick(0) == (5, 22.5)


def test_the_spawn_rate_is_at_least_one_user_per_second() -> None:
    assert BurstPlan(base_users=1, peak_users=2, ramp_s=10).spawn_rate == 1.0


def test_the_plan_ends_after_its_cycles() -> None:
    plan = BurstPlan(period_s=10, spike_s=2, cycles=3)
    assert plan.total_s == 30
    assert plan.tick(29.99) is not None
    assert plan.tick(30) is None


def test_a_run_time_cuts_the_plan_short() -> None:
    plan = BurstPlan(period_s=30, spike_s=10, cycles=3, run_time_s=45)
    assert plan.total_s == 45
    assert plan.tick(44) is not None and plan.tick(45) is None


def test_a_run_time_longer_than_the_cycles_does_not_extend_them() -> None:
    assert BurstPlan(period_s=10, spike_s=2, cycles=2, run_time_s=100).total_s == 20


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_users": -1},
        {"base_users": 10, "peak_users": 5},
        {"peak_users": 0, "base_users": 0},
        {"spike_s": 0},
        {"spike_s": 30, "period_s": 30},
        {"ramp_s": 0},
        {"cycles": 0},
        {"run_time_s": 0},
        {"period_s": float("inf"), "spike_s": 10},
    ],
)
def test_impossible_plans_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BurstPlan(**kwargs)  # type: ignore[arg-type]


def test_a_run_within_both_thresholds_passes() -> None:
    assert broken(Totals(requests=1000, failures=10, p95_ms=2000), Thresholds(0.01, 2000)) == []


def test_too_many_failures_break_the_run_and_the_line_says_by_how_much() -> None:
    assert broken(Totals(1000, 11, 10), Thresholds(0.01, 2000)) == [
        "failure ratio 0.0110 > 0.01 (11 of 1000 requests failed)"
    ]


def test_a_slow_p95_breaks_the_run() -> None:
    assert broken(Totals(1000, 0, 0.5), Thresholds(0.01, 0.001)) == ["p95 0.5 ms > 0.001 ms"]


def test_both_thresholds_can_break_at_once() -> None:
    assert len(broken(Totals(10, 5, 3000), Thresholds())) == 2


def test_a_headless_run_without_requests_fails_but_an_idle_web_ui_session_does_not() -> None:
    assert broken(Totals(0, 0, 0), Thresholds()) == ["no requests were made"]
    assert broken(Totals(0, 0, 0), Thresholds(), require_requests=False) == []
