"""Durations on the soak command line: the forms an operator types, and the ones refused with a clear message."""

from __future__ import annotations

import pytest

from soak.durations import DurationError, format_clock, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86_400.0),
        ("90m", 5_400.0),
        ("45s", 45.0),
        ("1h30m", 5_400.0),
        ("1h30m15s", 5_415.0),
        ("2d", 172_800.0),
        ("1.5h", 5_400.0),
        ("30", 30.0),
        ("2.5", 2.5),
        (" 1H 30M ", 5_400.0),
    ],
)
def test_parse_duration_reads_units_and_bare_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "  ", "abc", "1x", "h", "1h-5m", "10 minutes", "1e3"])
def test_parse_duration_refuses_what_it_cannot_read_and_shows_the_accepted_forms(text: str) -> None:
    with pytest.raises(DurationError, match="1h30m"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["30m1h", "1h1h", "5s2m"])
def test_parse_duration_requires_units_from_largest_to_smallest_each_once(text: str) -> None:
    with pytest.raises(DurationError, match="largest to smallest"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0s", "0h0m"])
def test_parse_duration_refuses_zero(text: str) -> None:
    with pytest.raises(DurationError, match="greater than zero"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0s"), (45, "45s"), (125, "2m5s"), (5_400, "1h30m"), (86_400, "1d"), (90_061, "1d1h1m1s")],
)
def test_format_duration_is_compact_and_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    if seconds >= 1:
        assert parse_duration(text) == round(seconds)


def test_format_clock_has_a_fixed_layout_for_the_progress_line() -> None:
    assert format_clock(0) == "0:00:00"
    assert format_clock(3_725.9) == "1:02:05"
    assert format_clock(86_400) == "24:00:00"
    assert format_clock(-3) == "0:00:00"
