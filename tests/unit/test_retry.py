"""Retry policy: retryable statuses, jittered backoff, Retry-After parsing and its precedence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from autodocs_mcp.retry import RETRYABLE_STATUSES, RetryPolicy, is_retryable_status, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
NOW_EPOCH = NOW.timestamp()


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 204, 301, 304, 400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 501, 505])
def test_other_statuses_including_every_other_4xx_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status)


def test_no_4xx_outside_408_425_429_is_retryable() -> None:
    assert {s for s in range(400, 500) if is_retryable_status(s)} == {408, 425, 429}
    assert frozenset({408, 425, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), ("  7  ", 7.0), ("1.5", 1.5), ("-3", 0.0), ("+4", 4.0)],
)
def test_retry_after_delta_seconds_are_read_as_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW_EPOCH) == expected


def test_retry_after_http_date_becomes_seconds_from_now() -> None:
    assert parse_retry_after(http_date(NOW + timedelta(seconds=90)), NOW_EPOCH) == 90.0


def test_retry_after_date_in_the_minus_zero_zone_is_read_as_gmt() -> None:
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 -0000", NOW_EPOCH) == 30.0


def test_retry_after_date_in_the_past_means_retry_now() -> None:
    assert parse_retry_after(http_date(NOW - timedelta(hours=1)), NOW_EPOCH) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "12s", "1e3", "nan", "inf", "0x10", "1_000", "Mon, 99 Foo 2026 12:00:00 GMT", "Sat,"],
)
def test_retry_after_garbage_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW_EPOCH) is None


def test_retry_after_too_large_for_a_float_is_ignored() -> None:
    assert parse_retry_after("9" * 400, NOW_EPOCH) is None


def test_retry_after_huge_but_finite_is_returned_uncapped() -> None:
    assert parse_retry_after("31536000000", NOW_EPOCH) == 31536000000.0
    far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW_EPOCH)
    assert far is not None and far > 1e11


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0, "base_delay_s": 0.1, "max_delay_s": 1.0},
        {"max_attempts": 3, "base_delay_s": -0.1, "max_delay_s": 1.0},
        {"max_attempts": 3, "base_delay_s": 0.1, "max_delay_s": float("inf")},
        {"max_attempts": 3, "base_delay_s": 0.1, "max_delay_s": 1.0, "max_retry_after_s": float("nan")},
    ],
)
def test_an_invalid_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_stays_between_zero_and_the_exponential_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=1000.0)
    rng = random.Random(1)
    for retry_index in range(8):
        cap = 0.5 * 2**retry_index
        draws = [policy.backoff_s(retry_index, rng) for _ in range(2000)]
        assert all(0.0 <= d <= cap for d in draws)
        # full jitter spreads over the whole range, not just near the cap
        assert min(draws) < 0.05 * cap
        assert max(draws) > 0.95 * cap


def test_backoff_grows_with_each_retry_until_the_maximum_delay() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.25, max_delay_s=4.0)
    rng = random.Random(2)
    means = [sum(policy.backoff_s(i, rng) for _ in range(4000)) / 4000 for i in range(8)]
    assert means[0] < means[1] < means[2] < means[3] < means[4]
    assert means[4] == pytest.approx(2.0, rel=0.1)
    assert means[7] == pytest.approx(2.0, rel=0.1)
    assert max(policy.backoff_s(50, rng) for _ in range(2000)) <= 4.0


def test_backoff_for_a_huge_retry_index_does_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=1e300, max_delay_s=30.0)
    rng = random.Random(3)
    for retry_index in (1023, 1024, 10**6, 10**100):
        assert 0.0 <= policy.backoff_s(retry_index, rng) <= 30.0


def test_backoff_rejects_a_negative_retry_index() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0).backoff_s(-1, random.Random(0))


def test_backoff_is_reproducible_from_the_seeded_generator() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=5.0)
    first = [policy.backoff_s(i, random.Random(7)) for i in range(5)]
    assert first == [policy.backoff_s(i, random.Random(7)) for i in range(5)]


def test_retry_after_wins_over_backoff_when_given() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=10.0, max_delay_s=100.0)
    assert policy.delay_s(5, 2.5, random.Random(0)) == 2.5
    assert policy.delay_s(0, 0.0, random.Random(0)) == 0.0


def test_retry_after_is_capped_by_the_policy() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0, max_retry_after_s=60.0)
    assert policy.delay_s(0, 3600.0, random.Random(0)) == 60.0
    assert policy.delay_s(0, 31536000000.0, random.Random(0)) == 60.0


def test_without_retry_after_the_delay_is_the_jittered_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0)
    assert policy.delay_s(2, None, random.Random(9)) == policy.backoff_s(2, random.Random(9))
    assert 0.0 <= policy.delay_s(2, float("nan"), random.Random(9)) <= 0.4


def test_attempts_are_counted_including_the_first() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0)
    assert [policy.may_retry(attempt) for attempt in (1, 2, 3, 4)] == [True, True, False, False]
    assert RetryPolicy(max_attempts=1, base_delay_s=0.1, max_delay_s=1.0).may_retry(1) is False
