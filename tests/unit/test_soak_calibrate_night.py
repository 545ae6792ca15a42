"""The night's interval calibration reads the inflation real noise needs and fails when the shipped one is short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soak.calibrate_night import main
from tests.support.synthetic_run import MB, Series, combine, noise, write_synthetic_run


def _slow_wave(amplitude: float, period_s: float) -> Series:
    """A wander slower than the blocks: each shifted copy looks like a trend, which no HAC error can price."""
    return lambda t: amplitude * np.sin(2 * np.pi * t / period_s)


def test_independent_noise_is_covered_by_the_shipped_inflation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_synthetic_run(tmp_path / "white", duration_s=7200.0, rss=combine(150 * MB, noise(0.2 * MB)))
    assert main([str(run), "--reps", "60"]) == 0
    out = capsys.readouterr().out
    assert "24 h of per-hour growth" in out and "24/K h (scaled timers)" in out


def test_a_wandering_noise_the_interval_cannot_cover_fails_the_calibration(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path / "walk", duration_s=7200.0, rss=combine(150 * MB, _slow_wave(1 * MB, 3000.0), noise(0.01 * MB))
    )
    assert main([str(run), "--reps", "60"]) == 1


def test_a_run_too_short_for_its_start_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_synthetic_run(tmp_path / "short", duration_s=600.0, rss=combine(150 * MB, noise(0.2 * MB)))
    assert main([str(run), "--reps", "60"]) == 2
    assert "fewer than 600 RSS samples" in capsys.readouterr().err
