"""A compressed night's verdict: growth per call and per hour told apart, projected to a real night with a bound,
guarded like the wall-clock gate, checked against the run's own end, and refused when the load was not paced."""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_locust.pace_plan import PacePlan
from soak.compress import Compression
from soak.gate import judge
from soak.rundir import load_run
from soak.thresholds import Thresholds
from tests.support.synthetic_run import MB, START_EPOCH, combine, linear, noise, write_synthetic_run

K = 12.0
USERS, NOMINAL_PACE = 8, 2.0
PACE = NOMINAL_PACE * K


def _plan(duration_s: float) -> PacePlan:
    warmup = min(0.2 * duration_s, Thresholds().warmup_max_s)
    return Compression(K).pace_plan(duration_s, warmup)


def _rps(duration_s: float, delivered: float = 1.0) -> Any:
    plan = _plan(duration_s)

    def rps(t: np.ndarray) -> np.ndarray:
        levels = np.array([plan.multiplier_at(x) for x in t])
        return USERS * PACE * levels * np.where(levels > 1, delivered, 1.0)

    return rps


def _calls(duration_s: float) -> Any:
    rps = _rps(duration_s)
    return lambda t: np.cumsum(rps(t))


SCALED = [{"key": "AUTODOCS_INDEX_TTL", "value": "300", "shipped": "3600", "reason": "--compress 12"}]


def _night(
    tmp_path: Path, duration_s: float, *, delivered: float = 1.0, scaled: bool = False, **series: Any
) -> dict[str, Any]:
    compress = {
        "k": K,
        "pace_plan": [list(s) for s in _plan(duration_s).steps],
        "levels": [2 - 1 / K, 1 / K],
        "scaled_settings": SCALED if scaled else [],
    }
    run_dir = write_synthetic_run(
        tmp_path / "run", duration_s=duration_s, users=USERS, pace_per_user_s=PACE, rps=_rps(duration_s, delivered),
        compress=compress, **series,
    )  # fmt: skip
    return {c.name: c for c in judge(load_run(run_dir), Thresholds()).criteria}


def _inside(interval: dict[str, float] | None, value: float) -> bool:
    assert interval is not None
    return interval["low"] <= value <= interval["high"]


def test_memory_that_grows_with_calls_is_put_on_calls_and_breaks_the_night(tmp_path: Path) -> None:
    duration = 3600.0
    per_1k = 0.1 * MB  # 100 kB per 1,000 calls
    calls = _calls(duration)
    memory = _night(tmp_path, duration, rss=lambda t: 150 * MB + calls(t) / 1000 * per_1k + noise(0.2 * MB)(t))[
        "memory"
    ]
    assert memory.status == "broken", memory.reason
    assert _inside(memory.per_1k_calls, 0.1) and _inside(memory.per_hour, 0.0), (memory.per_hour, memory.per_1k_calls)
    night_kcalls = USERS * NOMINAL_PACE * 86.4
    assert memory.projection_24h is not None and _inside(memory.projection_24h, 0.1 * night_kcalls)


def test_memory_that_grows_with_uptime_is_put_on_hours(tmp_path: Path) -> None:
    memory = _night(tmp_path, 3600.0, rss=combine(150 * MB, linear(5 * MB), noise(0.2 * MB)))["memory"]
    assert memory.status == "broken", memory.reason
    assert _inside(memory.per_hour, 5.0) and _inside(memory.per_1k_calls, 0.0), (memory.per_hour, memory.per_1k_calls)
    assert memory.projection_24h is not None and _inside(memory.projection_24h, 5.0 * 24)


def test_growth_per_hour_on_scaled_clocks_is_carried_over_the_nights_share_of_the_run(tmp_path: Path) -> None:
    memory = _night(tmp_path, 7200.0, scaled=True, rss=combine(150 * MB, linear(60 * MB), noise(0.2 * MB)))["memory"]
    assert memory.status == "broken", memory.reason
    projection = memory.projection_24h
    assert projection is not None and projection["time_hours"] == pytest.approx(24 / K)
    assert _inside(projection, 60.0 * 24 / K) and _inside(projection["wall_clock"], 60.0 * 24), projection


def test_growth_within_budget_on_scaled_clocks_but_over_it_on_the_wall_clock_is_not_held(tmp_path: Path) -> None:
    # 5 MB/h of this run: 10 MB over the 2 h that hold a real night's timers, 120 MB if it followed the wall clock.
    memory = _night(tmp_path, 7200.0, scaled=True, rss=combine(150 * MB, linear(5 * MB), noise(0.05 * MB)))["memory"]
    projection = memory.projection_24h
    assert projection is not None and projection["high"] <= projection["budget"] < projection["wall_clock"]["low"]
    assert memory.status == "inconclusive" and "wall clock" in memory.reason, memory.reason


def test_flat_resources_on_scaled_clocks_hold_a_two_hour_night(tmp_path: Path) -> None:
    criteria = _night(tmp_path, 7200.0, scaled=True)
    for name in ("memory", "file descriptors", "threads"):
        assert criteria[name].status == "held", (name, criteria[name].reason)


def test_flat_resources_hold_a_two_hour_night_with_every_projection_in_budget(tmp_path: Path) -> None:
    criteria = _night(tmp_path, 7200.0)
    for name in ("memory", "file descriptors", "threads"):
        assert criteria[name].status == "held", (name, criteria[name].reason)
        projection = criteria[name].projection_24h
        assert projection is not None and projection["high"] <= projection["budget"]
    assert criteria["pacing"].status == "held", criteria["pacing"].figure


def test_memory_flat_to_the_page_gets_an_interval_of_one_page_over_its_span_not_of_zero(tmp_path: Path) -> None:
    memory = _night(tmp_path, 7200.0, scaled=True, rss=lambda t: np.full(t.size, 150 * MB))["memory"]
    projection = memory.projection_24h
    assert projection is not None and memory.per_hour is not None
    page_mb = mmap.PAGESIZE / MB
    fitted_h = (7200.0 - min(0.2 * 7200.0, Thresholds().warmup_max_s)) / 3600.0  # after the warm-up
    assert projection["high"] - projection["value"] >= page_mb * (24 / K) / fitted_h * 0.99, projection
    assert projection["wall_clock"]["high"] - projection["wall_clock"]["value"] >= page_mb * 24 / fitted_h * 0.99
    assert memory.per_hour["high"] - memory.per_hour["low"] >= 2 * page_mb / fitted_h * 0.99, memory.per_hour
    assert memory.status == "held", memory.reason


def test_one_thread_started_late_in_a_short_run_is_not_called_a_leak(tmp_path: Path) -> None:
    threads = _night(tmp_path, 360.0, threads=lambda t: np.where(t > 200, 10.0, 9.0))["threads"]
    assert threads.status == "inconclusive", threads.reason


def test_a_flat_counter_on_a_run_too_short_to_see_one_step_is_not_held(tmp_path: Path) -> None:
    threads = _night(tmp_path, 3600.0)["threads"]
    assert threads.status == "inconclusive" and "one step" in threads.reason, threads.reason


def _write_locust_history(run_dir: Path, duration_s: float, polite: Any, rude_per_s: float) -> None:
    """Locust's per-name history: the polite tool calls at ``polite(t)`` calls/s, and a rude row on top."""
    t = np.arange(0.0, duration_s + 1.0)
    polite_total = np.cumsum(polite(t))
    lines = ["Timestamp,Name,Total Request Count"]
    for second, total in zip(t, polite_total, strict=True):
        stamp = int(START_EPOCH + second)
        lines += [
            f"{stamp},tools/call get_package_docs,{int(total)}",
            f"{stamp},rude: abort initialize,{int(rude_per_s * second)}",
            f"{stamp},Aggregated,{int(total + rude_per_s * second)}",
        ]
    (run_dir / "locust").mkdir(exist_ok=True)
    (run_dir / "locust" / "locust_stats_history.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("quiet_delivered", [1.0, 0.5])
def test_pacing_counts_the_polite_calls_so_rude_clients_cannot_hide_a_short_quiet_level(
    tmp_path: Path, quiet_delivered: float
) -> None:
    duration = 3600.0
    plan = _plan(duration)

    def polite(t: np.ndarray) -> np.ndarray:
        levels = np.array([plan.multiplier_at(x) for x in t])
        return USERS * PACE * levels * np.where(levels < 1, quiet_delivered, 1.0)

    rude = 45.0  # the rude clients' requests at K=12: more than the quiet level's 16 polite calls/s
    compress = {"k": K, "pace_plan": [list(s) for s in plan.steps], "levels": [2 - 1 / K, 1 / K]}
    run_dir = write_synthetic_run(
        tmp_path / "run", duration_s=duration, users=USERS, pace_per_user_s=PACE,
        rps=lambda t: polite(t) + rude, compress=compress,
    )  # fmt: skip
    _write_locust_history(run_dir, duration, polite, rude)
    pacing = next(c for c in judge(load_run(run_dir), Thresholds()).criteria if c.name == "pacing")
    assert "per-name history" in pacing.reason, pacing.reason
    assert pacing.status == ("held" if quiet_delivered == 1.0 else "broken"), pacing.figure


def test_a_machine_that_cannot_pace_the_busy_blocks_breaks_the_pacing_criterion(tmp_path: Path) -> None:
    pacing = _night(tmp_path, 3600.0, delivered=0.7)["pacing"]
    assert pacing.status == "broken" and "smaller K" in pacing.reason, pacing.figure


@pytest.mark.parametrize("compressed", [True, False])
def test_a_two_hour_run_projects_its_own_end_from_its_first_half(tmp_path: Path, compressed: bool) -> None:
    rss = combine(150 * MB, linear(2 * MB), noise(0.2 * MB))
    if compressed:
        memory = _night(tmp_path, 7200.0, rss=rss)["memory"]
    else:
        run_dir = write_synthetic_run(tmp_path / "plain", duration_s=7200.0, rss=rss)
        memory = next(c for c in judge(load_run(run_dir), Thresholds()).criteria if c.name == "memory")
    backtest = memory.backtest
    assert backtest is not None and backtest["inside"], backtest
    assert abs(backtest["error"]) < 1.0, backtest


def test_a_run_shorter_than_two_hours_has_no_backtest(tmp_path: Path) -> None:
    assert _night(tmp_path, 3600.0)["memory"].backtest is None
