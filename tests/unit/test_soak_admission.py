"""The gate's admission criteria on synthetic runs: sessions against their cap, and the newcomer probe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from soak.admission import NEWCOMER, SESSIONS
from soak.gate import Criterion, Status, judge
from soak.rundir import load_run
from soak.thresholds import Thresholds
from tests.support.synthetic_run import FloatArray, combine, linear, noise, write_synthetic_run

HOUR = 3600.0
OUTAGE = {"name": "outage", "start_s": 3000.0, "end_s": 3300.0, "faults": {"hang_rate": 1.0}}


def verdict_of(tmp_path: Path, **kwargs: Any) -> dict[str, Criterion]:
    kwargs.setdefault("duration_s", 2 * HOUR)
    verdict = judge(load_run(write_synthetic_run(tmp_path / "run", **kwargs)), Thresholds())
    return {c.name: c for c in verdict.criteria}


def reaped_plateau(t: FloatArray) -> FloatArray:
    """Abandoned sessions at 10/min reaped after 30 min: a rise to 300, then flat with noise."""
    return np.minimum(t / 60.0 * 10.0, 300.0) + np.random.default_rng(1).normal(0, 3, t.size)


def test_sessions_that_plateau_well_below_the_cap_hold(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, sessions=reaped_plateau)[SESSIONS]
    assert found.status is Status.HELD, found.reason
    assert "peak" in found.figure and "0 refused" in found.figure


def test_sessions_that_climb_towards_the_cap_through_the_night_break(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, sessions=combine(100.0, linear(300.0), noise(2.0)))[SESSIONS]
    assert found.status is Status.BROKEN, found.reason
    assert "fills the cap" in found.reason


def test_sessions_at_the_cap_break_for_want_of_headroom(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, sessions=lambda t: np.minimum(t, 950.0))[SESSIONS]
    assert found.status is Status.BROKEN and "within 10% of its cap" in found.reason


def test_a_slow_climb_that_might_reach_the_headroom_line_is_inconclusive(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, sessions=combine(400.0, linear(18.0), noise(40.0)))[SESSIONS]
    assert found.status is Status.INCONCLUSIVE, (found.reason, found.figure)


def test_a_run_whose_every_newcomer_got_in_holds(tmp_path: Path) -> None:
    found = verdict_of(tmp_path)[NEWCOMER]
    assert found.status is Status.HELD and found.figure.startswith("239 of 239 answered")


def test_one_newcomer_refused_at_the_handshake_breaks_the_criterion(tmp_path: Path) -> None:
    probes = [{"t": float(t), "ok": True, "seconds": 0.1, "step": "done"} for t in range(30, 7200, 30)]
    probes[100] = {"t": 3030.0, "ok": False, "seconds": 0.02, "step": "initialize", "reason": "HTTPStatusError: 503"}
    found = verdict_of(tmp_path, probes=probes, faults=[OUTAGE])[NEWCOMER]
    assert found.status is Status.BROKEN
    assert "stopped at initialize" in found.reason and "503" in found.reason


def test_a_tool_call_that_failed_while_upstream_was_down_is_excused_but_named(tmp_path: Path) -> None:
    probes = [{"t": float(t), "ok": True, "seconds": 0.1, "step": "done"} for t in range(30, 7200, 30)]
    probes[100] = {"t": 3030.0, "ok": False, "seconds": 10.0, "step": "tools/call get_package_docs", "reason": "x"}
    found = verdict_of(tmp_path, probes=probes, faults=[OUTAGE])[NEWCOMER]
    assert found.status is Status.HELD and "1 tool call(s) failed inside fault windows" in found.reason


def test_the_same_tool_call_failing_on_a_quiet_upstream_breaks(tmp_path: Path) -> None:
    probes = [{"t": float(t), "ok": True, "seconds": 0.1, "step": "done"} for t in range(30, 7200, 30)]
    probes[200] = {"t": 6030.0, "ok": False, "seconds": 10.0, "step": "tools/call get_package_docs", "reason": "x"}
    assert verdict_of(tmp_path, probes=probes, faults=[OUTAGE])[NEWCOMER].status is Status.BROKEN


def test_a_run_from_before_the_probe_is_not_judged_on_it(tmp_path: Path) -> None:
    assert NEWCOMER not in verdict_of(tmp_path, probes=[])


def test_a_probe_that_recorded_too_few_tries_is_inconclusive(tmp_path: Path) -> None:
    probes = [{"t": 30.0, "ok": True, "seconds": 0.1, "step": "done"}]
    assert verdict_of(tmp_path, probes=probes)[NEWCOMER].status is Status.INCONCLUSIVE


def test_a_fault_window_that_met_no_upstream_traffic_is_not_counted_as_a_recovery(tmp_path: Path) -> None:
    quiet = {**OUTAGE, "injected": 0}
    busy = {"name": "storm", "start_s": 4000.0, "end_s": 4300.0, "faults": {"error_rate": 0.5}, "injected": 90}
    found = verdict_of(tmp_path, faults=[quiet, busy])["recovery after faults"]
    assert found.status is Status.HELD
    assert "1 exercised fault window(s)" in found.reason
    assert "not exercised" in found.reason and "outage" in found.reason


def test_recovery_is_unproven_when_no_fault_window_met_upstream_traffic(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, faults=[{**OUTAGE, "injected": 0}])["recovery after faults"]
    assert found.status is Status.INCONCLUSIVE and "unproven" in found.reason


def test_sessions_still_rising_before_the_idle_timeout_could_reap_any_are_inconclusive_not_broken(
    tmp_path: Path,
) -> None:
    found = verdict_of(tmp_path, duration_s=1200.0, sessions=lambda t: 8.0 + t / 60.0 * 10.0)[SESSIONS]
    assert found.status is Status.INCONCLUSIVE and "reaped from 31m00s on" in found.reason


def test_without_an_idle_timeout_on_record_the_trend_starts_after_the_warm_up(tmp_path: Path) -> None:
    found = verdict_of(tmp_path, session_idle_timeout_s=None, sessions=combine(100.0, linear(300.0), noise(2.0)))
    assert found[SESSIONS].status is Status.BROKEN


def abandoned(t: FloatArray) -> FloatArray:
    """6 sessions a minute never closed, reaped after 30 min idle: a rise to 180, then flat."""
    return 8.0 + np.minimum(t, 1800.0) / 60.0 * 6.0


def test_memory_that_follows_sessions_until_the_idle_timeout_reaps_them_is_not_a_leak(tmp_path: Path) -> None:
    rss = combine(150 * 1e6, lambda t: abandoned(t) * 42_000, noise(0.2 * 1e6, 3))
    found = verdict_of(tmp_path, sessions=abandoned, rss=rss)
    assert found["memory"].status is Status.HELD, found["memory"].reason
    assert "explained by sessions" in found["memory"].reason
    assert found[SESSIONS].status is Status.HELD, found[SESSIONS].reason


def test_a_run_shorter_than_the_idle_timeout_cannot_tell_session_growth_from_a_leak(tmp_path: Path) -> None:
    rss = combine(150 * 1e6, lambda t: abandoned(t) * 42_000, noise(0.05 * 1e6, 3))
    found = verdict_of(tmp_path, duration_s=600.0, sessions=abandoned, rss=rss)
    assert found["memory"].status is Status.INCONCLUSIVE, found["memory"].reason
    assert found[SESSIONS].status is Status.INCONCLUSIVE


def test_memory_that_keeps_growing_after_the_sessions_level_off_is_still_a_leak(tmp_path: Path) -> None:
    rss = combine(150 * 1e6, lambda t: abandoned(t) * 42_000, linear(20 * 1e6), noise(0.2 * 1e6, 3))
    assert verdict_of(tmp_path, sessions=abandoned, rss=rss)["memory"].status is Status.BROKEN


def stormy(t: FloatArray) -> FloatArray:
    """Abandoned sessions as above plus a storm of 40 every 10 minutes, each reaped 30 min idle: the level keeps
    rising until the storm after the idle timeout, at 36 min, where the rude night measured it settling."""
    storms = np.minimum(np.floor(t / 600.0) + 1.0, 3.0) * 40.0
    late = np.where(t >= 2160.0, 40.0, 0.0)
    return abandoned(t) + storms + late


def test_memory_that_follows_sessions_settling_after_the_idle_timeout_is_explained_until_they_settle(
    tmp_path: Path,
) -> None:
    rss = combine(150 * 1e6, lambda t: stormy(t) * 42_000, noise(0.2 * 1e6, 3))
    found = verdict_of(tmp_path, sessions=stormy, rss=rss)
    assert found["memory"].status is Status.HELD, found["memory"].reason
    assert "settled at 2160 s" in found["memory"].reason, found["memory"].reason


def test_the_python_heap_beside_rss_is_fitted_after_the_sessions_settle_too(tmp_path: Path) -> None:
    rss = combine(150 * 1e6, lambda t: stormy(t) * 42_000, noise(0.2 * 1e6, 3))
    blocks = combine(400_000.0, lambda t: stormy(t) * 350.0, noise(300.0, 3))
    found = verdict_of(tmp_path, duration_s=1.5 * HOUR, sessions=stormy, rss=rss, py_blocks=blocks)
    heap = re.search(r"Python heap ([+−-]?[\d.]+) kblocks/h \(CI ([+−-]?[\d.]+)…([+−-]?[\d.]+)", found["memory"].reason)
    assert heap, found["memory"].reason
    low, high = (float(v.replace("−", "-")) for v in heap.groups()[1:])
    assert low <= 0.0 <= high, found["memory"].reason  # the heap filled with the sessions, then stayed
