"""Theil–Sen, Sen's interval, Mann–Kendall and the bin reduction on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soak.stats import bin_medians, fit_trend, mann_kendall, mann_kendall_variance, theil_sen


def test_theil_sen_recovers_an_exact_line_with_a_zero_width_interval() -> None:
    x = np.arange(20, dtype=float)
    estimate = theil_sen(x, 2.0 * x + 1.0)
    assert estimate.slope == pytest.approx(2.0)
    assert estimate.intercept == pytest.approx(1.0)
    assert estimate.low == pytest.approx(2.0)
    assert estimate.high == pytest.approx(2.0)


def test_theil_sen_ignores_a_fifth_of_gross_outliers_that_drag_least_squares_away() -> None:
    rng = np.random.default_rng(7)
    x = np.linspace(0, 10, 200)
    y = 3.0 * x + rng.normal(0, 0.5, x.size)
    y[::5] += 400.0 * (x[::5] / 10.0) ** 2
    least_squares = np.polyfit(x, y, 1)[0]
    estimate = theil_sen(x, y)
    assert abs(least_squares - 3.0) > 5
    assert estimate.slope == pytest.approx(3.0, abs=0.3)


def test_sen_interval_covers_the_true_slope_and_narrows_with_more_points() -> None:
    rng = np.random.default_rng(11)
    widths = []
    for n in (50, 400):
        x = np.linspace(0, 1, n)
        estimate = theil_sen(x, -0.5 * x + rng.normal(0, 0.1, n))
        assert estimate.low <= -0.5 <= estimate.high
        widths.append(estimate.high - estimate.low)
    assert widths[1] < widths[0] / 2


def test_theil_sen_refuses_too_few_points_and_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        theil_sen([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        theil_sen([0.0, 1.0, 2.0], [0.0, 1.0])


def test_mann_kendall_on_a_strictly_increasing_series_matches_the_closed_form() -> None:
    result = mann_kendall(np.arange(10, dtype=float))
    assert result.s == 45
    assert result.var_s == pytest.approx(10 * 9 * 25 / 18)
    z = 44 / math.sqrt(125)
    assert result.z == pytest.approx(z)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert result.p_value < 1e-3


def test_mann_kendall_tie_correction_reduces_the_variance_as_in_the_textbook_case() -> None:
    result = mann_kendall([1.0, 2.0, 2.0, 3.0])
    assert result.s == 5
    assert result.var_s == pytest.approx((4 * 3 * 13 - 2 * 1 * 9) / 18)
    assert result.z == pytest.approx(4 / math.sqrt(result.var_s))
    assert result.p_value == pytest.approx(0.1486, abs=1e-3)


def test_mann_kendall_of_a_constant_series_is_never_significant() -> None:
    result = mann_kendall(np.full(50, 42.0))
    assert result.s == 0
    assert mann_kendall_variance(np.full(50, 42.0)) == pytest.approx(0.0)
    assert result.p_value == 1.0


def test_mann_kendall_sees_a_decrease_as_negative_s() -> None:
    result = mann_kendall(np.linspace(10, 0, 30))
    assert result.s < 0
    assert result.p_value < 0.001


def test_trendless_noise_is_rarely_significant_at_the_five_percent_level() -> None:
    rng = np.random.default_rng(2024)
    trials = 300
    hits = sum(mann_kendall(rng.normal(0, 1, 80)).p_value < 0.05 for _ in range(trials))
    assert 0.01 <= hits / trials <= 0.09


def test_bin_medians_take_the_median_per_bin_and_drop_missing_values() -> None:
    x = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0, np.nan])
    y = np.array([5.0, 1.0, 100.0, 3.0, np.nan, 4.0, 8.0, 9.0])
    centres, medians = bin_medians(x, y, 10.0)
    assert medians.tolist() == [5.0, 4.0]
    assert centres.tolist() == pytest.approx([1.0, 35.0 / 3.0])


def test_fit_trend_reduces_long_series_to_at_most_max_points_bins() -> None:
    x = np.arange(86_400, dtype=float) / 3600.0
    trend = fit_trend(x, 0.5 * x, max_points=720)
    assert trend is not None
    assert trend.estimate.points <= 720
    assert trend.raw_points == 86_400
    assert trend.estimate.slope == pytest.approx(0.5, rel=1e-3)
    assert trend.span == pytest.approx(x[-1])


def test_fit_trend_gives_up_on_fewer_than_three_points() -> None:
    assert fit_trend([0.0, 1.0, np.nan], [1.0, 2.0, 3.0], max_points=10) is None
