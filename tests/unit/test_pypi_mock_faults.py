from __future__ import annotations

import random
from collections import Counter

import pytest

from pypi_mock.faults import DEFAULT_OVERSIZE_BYTES, FaultKind, FaultPlan, FaultValidationError


def _fields_named(raw: object) -> list[str]:
    with pytest.raises(FaultValidationError) as caught:
        FaultPlan.from_dict(raw)
    return [error.field for error in caught.value.errors]


def test_an_empty_object_means_every_fault_is_off() -> None:
    plan = FaultPlan.from_dict({})
    assert plan == FaultPlan()
    assert not plan.is_active
    assert plan.error_status == 503
    assert plan.oversize_bytes == DEFAULT_OVERSIZE_BYTES
    assert plan.decide("anything", random.Random(0)) is None
    assert plan.delay_s("anything", random.Random(0)) == 0.0


def test_a_plan_round_trips_through_its_dict() -> None:
    plan = FaultPlan.from_dict(
        {"latency_ms": 5, "error_rate": 0.25, "error_status": 502, "retry_after_s": 2, "match": "fast*"}
    )
    assert plan.is_active
    assert FaultPlan.from_dict(plan.to_dict()) == plan
    assert plan.to_dict()["error_rate"] == 0.25


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"error_rate": "0.5"}, "error_rate"),
        ({"error_rate": True}, "error_rate"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"hang_rate": -0.1}, "hang_rate"),
        ({"slow_body_rate": float("nan")}, "slow_body_rate"),
        ({"error_status": 404}, "error_status"),
        ({"error_status": 503.0}, "error_status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_jitter_ms": None}, "latency_jitter_ms"),
        ({"oversize_bytes": -5}, "oversize_bytes"),
        ({"oversize_bytes": 1.5}, "oversize_bytes"),
        ({"retry_after_s": -2}, "retry_after_s"),
        ({"match": 7}, "match"),
        ({"match": ["a*"]}, "match"),
    ],
)
def test_each_bad_field_is_named(raw: dict[str, object], field: str) -> None:
    assert _fields_named(raw) == [field]


def test_every_bad_field_is_named_at_once() -> None:
    assert sorted(_fields_named({"error_rate": 2, "nope": 0, "match": 1})) == ["error_rate", "match", "nope"]


@pytest.mark.parametrize("raw", [[], "x", 3, None])
def test_a_faults_value_that_is_not_an_object_is_refused(raw: object) -> None:
    assert _fields_named(raw) == ["(body)"]


@pytest.mark.parametrize("kind", list(FaultKind))
def test_a_rate_of_one_always_injects_that_fault(kind: FaultKind) -> None:
    plan = FaultPlan.from_dict({f"{kind.value}_rate": 1.0})
    rng = random.Random(1)
    assert {plan.decide("pkg", rng) for _ in range(200)} == {kind}


def test_rates_are_honoured_statistically() -> None:
    plan = FaultPlan.from_dict({"error_rate": 0.2, "throttle_rate": 0.1, "reset_rate": 0.05})
    rng = random.Random(42)
    counts = Counter(plan.decide("pkg", rng) for _ in range(20_000))
    assert counts[FaultKind.ERROR] / 20_000 == pytest.approx(0.2, abs=0.015)
    assert counts[FaultKind.THROTTLE] / 20_000 == pytest.approx(0.1, abs=0.015)
    assert counts[FaultKind.RESET] / 20_000 == pytest.approx(0.05, abs=0.01)
    assert counts[None] / 20_000 == pytest.approx(0.65, abs=0.02)


def test_decisions_repeat_for_the_same_seed() -> None:
    plan = FaultPlan.from_dict({"error_rate": 0.5, "hang_rate": 0.3})
    first, second = random.Random(7), random.Random(7)
    assert [plan.decide("p", first) for _ in range(100)] == [plan.decide("p", second) for _ in range(100)]


def test_rates_adding_up_past_one_give_priority_in_decision_order() -> None:
    plan = FaultPlan.from_dict({"reset_rate": 1.0, "error_rate": 1.0})
    assert plan.decide("p", random.Random(0)) is FaultKind.RESET


def test_match_limits_faults_and_latency_to_matching_normalised_names() -> None:
    plan = FaultPlan.from_dict({"error_rate": 1.0, "latency_ms": 50, "match": "Pydantic*"})
    rng = random.Random(0)
    assert plan.decide("pydantic-core", rng) is FaultKind.ERROR
    assert plan.decide("fastapi", rng) is None
    assert plan.delay_s("pydantic", rng) == pytest.approx(0.05)
    assert plan.delay_s("fastapi", rng) == 0.0


def test_latency_is_the_fixed_part_plus_bounded_jitter() -> None:
    plan = FaultPlan.from_dict({"latency_ms": 100, "latency_jitter_ms": 50})
    rng = random.Random(3)
    delays = [plan.delay_s("p", rng) for _ in range(500)]
    assert all(0.1 <= d <= 0.15 for d in delays)
    assert max(delays) - min(delays) > 0.03


def test_throttle_defaults_to_one_second_retry_after_and_errors_carry_one_only_when_set() -> None:
    assert FaultPlan().retry_after_header(FaultKind.THROTTLE) == "1"
    assert FaultPlan().retry_after_header(FaultKind.ERROR) is None
    plan = FaultPlan.from_dict({"retry_after_s": 3})
    assert plan.retry_after_header(FaultKind.ERROR) == "3"
    assert plan.retry_after_header(FaultKind.THROTTLE) == "3"
    assert FaultPlan.from_dict({"retry_after_s": 0.25}).retry_after_header(FaultKind.ERROR) == "0.25"
    assert plan.retry_after_header(FaultKind.HANG) is None
