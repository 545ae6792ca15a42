"""The circuit breaker's transitions, its single probe, and late results from calls that outlived a state."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autodocs_mcp.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from tests.support.fakeclock import FakeClock

pytestmark = pytest.mark.timeout(30)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN

Transition = tuple[BreakerState, BreakerState, str]


def make(
    threshold: int = 3, reset_s: float = 10.0, probe_timeout_s: float = 60.0
) -> tuple[CircuitBreaker, FakeClock, list[Transition]]:
    clock = FakeClock(start=1000.0)
    seen: list[Transition] = []
    breaker = CircuitBreaker(
        "pypi.org",
        threshold,
        reset_s,
        clock,
        on_transition=lambda old, new, reason: seen.append((old, new, reason)),
        probe_timeout_s=probe_timeout_s,
    )
    return breaker, clock, seen


def fail_until_open(breaker: CircuitBreaker) -> None:
    while breaker.state is CLOSED:
        breaker.record_failure(breaker.before_call())


def open_then_probe(breaker: CircuitBreaker, clock: FakeClock, reset_s: float = 10.0) -> bool:
    fail_until_open(breaker)
    clock.jump(reset_s)
    return breaker.before_call()


@pytest.mark.parametrize(
    ("threshold", "reset_s", "message"),
    [(0, 1.0, "failure_threshold"), (True, 1.0, "failure_threshold"), (1, -1.0, "reset_timeout_s")],
)
def test_invalid_settings_are_refused(threshold: int, reset_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker("x", threshold, reset_s, FakeClock())


def test_a_new_breaker_is_closed_and_lets_normal_calls_through() -> None:
    breaker, _, seen = make()
    assert breaker.state is CLOSED
    assert breaker.before_call() is False
    assert seen == []


def test_failures_below_the_threshold_keep_it_closed_and_a_success_resets_the_count() -> None:
    breaker, _, seen = make(threshold=3)
    for _ in range(2):
        breaker.record_failure(breaker.before_call())
    breaker.record_success(breaker.before_call())
    for _ in range(2):
        breaker.record_failure(breaker.before_call())
    assert breaker.state is CLOSED
    assert breaker.stats()["consecutive_failures"] == 2
    assert seen == []


def test_threshold_consecutive_failures_open_it_and_report_the_transition() -> None:
    breaker, _, seen = make(threshold=3)
    for _ in range(3):
        breaker.record_failure(breaker.before_call())
    assert breaker.state is OPEN
    assert seen == [(CLOSED, OPEN, "3 consecutive failures (threshold 3); open for 10 s")]


def test_an_open_breaker_fails_fast_with_the_time_left() -> None:
    breaker, clock, _ = make(reset_s=20.0)
    fail_until_open(breaker)
    clock.jump(7.7)
    with pytest.raises(CircuitOpenError) as raised:
        breaker.before_call()
    assert raised.value.name == "pypi.org"
    assert raised.value.retry_in_s == pytest.approx(12.3)
    assert raised.value.state is OPEN
    assert str(raised.value) == "circuit for pypi.org is open; retry in 12.3 s"
    assert breaker.stats()["rejected"] == 1


def test_reading_the_state_after_the_timeout_does_not_move_it() -> None:
    breaker, clock, seen = make(reset_s=10.0)
    fail_until_open(breaker)
    clock.jump(60.0)
    assert breaker.state is OPEN
    assert breaker.stats()["state"] == "open"
    assert len(seen) == 1


def test_the_first_call_after_the_timeout_becomes_the_half_open_probe() -> None:
    breaker, clock, seen = make(reset_s=10.0)
    assert open_then_probe(breaker, clock) is True
    assert breaker.state is HALF_OPEN
    assert seen[-1] == (OPEN, HALF_OPEN, "open time of 10 s elapsed")


def test_callers_arriving_while_the_probe_is_in_flight_fail_fast() -> None:
    breaker, clock, _ = make()
    open_then_probe(breaker, clock)
    with pytest.raises(CircuitOpenError) as raised:
        breaker.before_call()
    assert raised.value.state is HALF_OPEN
    assert raised.value.retry_in_s == 0.0
    assert "half-open" in str(raised.value)


async def test_half_open_admits_exactly_one_probe_among_many_concurrent_callers() -> None:
    breaker, clock, _ = make(reset_s=5.0)
    fail_until_open(breaker)
    clock.jump(5.0)
    gate = asyncio.Event()

    async def caller() -> str:
        await gate.wait()
        try:
            probe = breaker.before_call()
        except CircuitOpenError:
            return "rejected"
        await asyncio.sleep(0)  # the probe is in flight while the others run
        breaker.record_success(probe)
        return "probe" if probe else "normal"

    tasks = [asyncio.create_task(caller()) for _ in range(200)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("probe") == 1
    assert outcomes.count("rejected") == 199
    assert breaker.state is CLOSED
    assert breaker.stats()["probes"] == 1


def test_a_successful_probe_closes_it_and_clears_the_failure_count() -> None:
    breaker, clock, seen = make()
    breaker.record_success(open_then_probe(breaker, clock))
    assert breaker.state is CLOSED
    assert seen[-1] == (HALF_OPEN, CLOSED, "probe succeeded")
    stats = breaker.stats()
    assert stats["consecutive_failures"] == 0
    assert stats["opened_for_s"] == 0.0
    assert breaker.before_call() is False


def test_a_failed_probe_reopens_it_and_restarts_the_timer() -> None:
    breaker, clock, seen = make(reset_s=10.0)
    probe = open_then_probe(breaker, clock)
    clock.jump(3.0)
    breaker.record_failure(probe)
    assert breaker.state is OPEN
    assert seen[-1] == (HALF_OPEN, OPEN, "probe failed; open for 10 s")
    clock.jump(9.0)
    with pytest.raises(CircuitOpenError) as raised:
        breaker.before_call()
    assert raised.value.retry_in_s == pytest.approx(1.0)
    clock.jump(1.0)
    assert breaker.before_call() is True


def test_a_neutral_probe_releases_the_slot_and_the_next_caller_probes() -> None:
    breaker, clock, seen = make()
    breaker.record_neutral(open_then_probe(breaker, clock))
    assert breaker.state is HALF_OPEN
    assert breaker.stats()["probe_in_flight"] is False
    assert breaker.before_call() is True
    assert breaker.stats()["probes"] == 2
    assert [new for _, new, _ in seen] == [OPEN, HALF_OPEN]


def test_a_neutral_result_from_a_normal_call_changes_nothing() -> None:
    breaker, _, _ = make(threshold=2)
    breaker.record_failure(breaker.before_call())
    breaker.record_neutral(breaker.before_call())
    assert breaker.state is CLOSED
    assert breaker.stats()["consecutive_failures"] == 1


def test_a_late_failure_while_open_only_counts_and_does_not_extend_the_timer() -> None:
    breaker, clock, seen = make(threshold=2, reset_s=10.0)
    straggler = breaker.before_call()  # started while closed, ends after the circuit opened
    fail_until_open(breaker)
    clock.jump(9.0)
    breaker.record_failure(straggler)
    assert breaker.state is OPEN
    assert breaker.stats()["consecutive_failures"] == 3
    assert len(seen) == 1
    clock.jump(1.0)
    assert breaker.before_call() is True


def test_a_late_success_while_open_does_not_close_it() -> None:
    breaker, _, seen = make()
    straggler = breaker.before_call()
    fail_until_open(breaker)
    breaker.record_success(straggler)
    assert breaker.state is OPEN
    assert breaker.stats()["consecutive_failures"] == 3
    assert len(seen) == 1


def test_late_results_while_half_open_neither_close_reopen_nor_steal_the_probe() -> None:
    breaker, clock, seen = make()
    straggler_ok = breaker.before_call()
    straggler_bad = breaker.before_call()
    probe = open_then_probe(breaker, clock)

    breaker.record_success(straggler_ok)
    breaker.record_failure(straggler_bad)
    breaker.record_neutral(straggler_ok)
    assert breaker.state is HALF_OPEN
    assert breaker.stats()["probe_in_flight"] is True
    with pytest.raises(CircuitOpenError):
        breaker.before_call()

    breaker.record_success(probe)
    assert breaker.state is CLOSED
    assert [(old, new) for old, new, _ in seen] == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_late_failure_after_it_closed_again_counts_towards_the_new_streak_only() -> None:
    breaker, clock, _ = make(threshold=2)
    straggler = breaker.before_call()
    breaker.record_success(open_then_probe(breaker, clock))
    breaker.record_failure(straggler)
    assert breaker.state is CLOSED
    assert breaker.stats()["consecutive_failures"] == 1


def test_a_probe_result_reported_twice_is_applied_once() -> None:
    breaker, clock, seen = make()
    probe = open_then_probe(breaker, clock)
    breaker.record_failure(probe)
    clock.jump(10.0)
    breaker.record_failure(probe)
    assert breaker.state is OPEN
    assert [(old, new) for old, new, _ in seen].count((HALF_OPEN, OPEN)) == 1
    assert breaker.before_call() is True  # the repeated report did not restart the timer


def test_a_probe_that_never_reports_is_replaced_after_the_probe_timeout() -> None:
    breaker, clock, _ = make(probe_timeout_s=30.0)
    open_then_probe(breaker, clock)
    clock.jump(29.0)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.jump(1.0)
    assert breaker.before_call() is True
    stats = breaker.stats()
    assert (stats["probes"], stats["lost_probes"]) == (2, 1)


def test_a_failing_transition_observer_does_not_strand_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()

    def explode(old: BreakerState, new: BreakerState, reason: str) -> None:
        raise RuntimeError("observer bug")

    breaker = CircuitBreaker("pypi.org", 1, 5.0, clock, on_transition=explode)
    with caplog.at_level(logging.ERROR, logger="autodocs_mcp.breaker"):
        breaker.record_failure(breaker.before_call())
        clock.jump(5.0)
        probe = breaker.before_call()
        breaker.record_success(probe)
    assert breaker.state is CLOSED
    assert "on_transition callback failed" in caplog.text


def test_stats_snapshot_counts_transitions_rejections_and_probes() -> None:
    breaker, clock, _ = make(threshold=2, reset_s=10.0)
    assert breaker.stats() == {
        "name": "pypi.org",
        "state": "closed",
        "consecutive_failures": 0,
        "failure_threshold": 2,
        "reset_timeout_s": 10.0,
        "initial_reset_timeout_s": 10.0,
        "open_time_s": 10.0,
        "opened_for_s": 0.0,
        "transitions_total": 0,
        "transitions": {"closed->open": 0, "open->half_open": 0, "half_open->closed": 0, "half_open->open": 0},
        "rejected": 0,
        "probes": 0,
        "probe_in_flight": False,
        "lost_probes": 0,
    }
    fail_until_open(breaker)
    clock.jump(4.0)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    assert breaker.stats()["opened_for_s"] == 4.0
    clock.jump(6.0)
    breaker.record_failure(breaker.before_call())
    clock.jump(10.0)
    breaker.record_success(breaker.before_call())

    stats = breaker.stats()
    assert stats["state"] == "closed"
    assert stats["transitions"] == {
        "closed->open": 1,
        "open->half_open": 2,
        "half_open->closed": 1,
        "half_open->open": 1,
    }
    assert stats["transitions_total"] == 5
    assert (stats["rejected"], stats["probes"], stats["probe_in_flight"]) == (1, 2, False)


def test_the_open_time_starts_short_doubles_on_each_failed_probe_and_resets_when_it_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("pypi.org", 1, 60.0, clock, initial_reset_timeout_s=5.0)
    breaker.record_failure(breaker.before_call())
    waits = []
    for _ in range(6):
        with pytest.raises(CircuitOpenError) as refused:
            breaker.before_call()
        waits.append(round(refused.value.retry_in_s, 3))
        clock.jump(refused.value.retry_in_s)
        breaker.record_failure(breaker.before_call())
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    clock.jump(60.0)
    breaker.record_success(breaker.before_call())
    breaker.record_failure(breaker.before_call())
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_call()
    assert refused.value.retry_in_s == 5.0


def test_a_first_open_time_longer_than_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="initial_reset_timeout_s"):
        CircuitBreaker("pypi.org", 1, 5.0, FakeClock(), initial_reset_timeout_s=6.0)
