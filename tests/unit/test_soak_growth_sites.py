"""Allocation snapshots, from when they are taken to the sites a report names as growing."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soak.allocations import append_snapshot, parse_snapshot, read_snapshots
from soak.gate import judge
from soak.growth_sites import reason_text, summarize
from soak.rundir import load_run
from soak.schedule import FaultPhase, FaultSchedule
from soak.snapshots import MAX_SNAPSHOTS, SnapshotTaker, snapshot_plan
from soak.thresholds import Thresholds
from soak.verdict import FaultWindow
from tests.support.synthetic_run import MB, combine, linear, noise, write_synthetic_run


def _snapshot(t: float, sites: Mapping[tuple[str, int], tuple[int, int]]) -> dict[str, Any]:
    rows = [{"file": f, "line": line, "size": size, "count": count} for (f, line), (size, count) in sites.items()]
    total = sum(size for size, _count in sites.values())
    return {"tracing": True, "frames": 1, "traced_bytes": total, "traced_peak_bytes": total, "total_blocks": 1,
            "total_sites": len(rows), "elapsed_ms": 1.0, "sites": rows}  # fmt: skip


def test_growth_outside_and_inside_fault_windows_is_told_apart_and_the_biggest_outside_site_is_named() -> None:
    quiet = ("autodocs_mcp/service.py", 10)
    failing = ("autodocs_mcp/upstream.py", 99)
    snaps = [
        ("warm-up end", parse_snapshot(100, _snapshot(100, {quiet: (1000, 10), failing: (0, 0)}))),
        ("storm start", parse_snapshot(200, _snapshot(200, {quiet: (51_000, 510), failing: (0, 0)}))),
        ("storm end", parse_snapshot(300, _snapshot(300, {quiet: (51_000, 510), failing: (900_000, 90)}))),
        ("end", parse_snapshot(400, _snapshot(400, {quiet: (101_000, 1010), failing: (900_000, 90)}))),
    ]
    summary = summarize(snaps, [FaultWindow("storm", 200, 300)], warmup_s=100)
    assert summary["snapshots"] == 4
    assert summary["outside_faults"][0] == {"site": "autodocs_mcp/service.py:10", "size_delta": 100_000,
                                            "count_delta": 1000}  # fmt: skip
    assert summary["inside_faults"][0]["site"] == "autodocs_mcp/upstream.py:99"
    assert "autodocs_mcp/service.py:10" in reason_text(summary)
    assert "upstream.py" not in reason_text(summary)


def test_snapshots_before_the_warm_up_are_not_counted_and_one_snapshot_names_nothing() -> None:
    site = ("a.py", 1)
    snaps = [
        ("early", parse_snapshot(5, _snapshot(5, {site: (1, 1)}))),
        ("end", parse_snapshot(90, _snapshot(90, {site: (9, 9)}))),
    ]
    assert summarize(snaps, [], warmup_s=10) == {}
    assert reason_text({}) == ""


def test_the_memory_criterion_of_a_run_with_snapshots_names_its_top_growing_site(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(
        tmp_path / "run", duration_s=3600, rss=combine(150 * MB, linear(5 * MB), noise(MB, 1))
    )
    site = ("autodocs_mcp/store.py", 42)

    for t, size in ((720.0, 1000), (2000.0, 400_000), (3590.0, 900_000)):
        append_snapshot(run_dir, t, "planned", _snapshot(t, {site: (size, size // 100)}))
    run = load_run(run_dir)
    assert len(run.allocations) == 3 and len(read_snapshots(run_dir)) == 3
    verdict = judge(run, Thresholds())
    memory = next(c for c in verdict.criteria if c.name == "memory")
    assert "autodocs_mcp/store.py:42" in memory.reason, memory.reason
    assert verdict.allocations["outside_faults"][0]["site"] == "autodocs_mcp/store.py:42"


def test_the_plan_snapshots_the_warm_up_end_every_fault_boundary_after_it_and_every_hour_within_a_bound() -> None:
    schedule = FaultSchedule((FaultPhase("early", 10, 20, {}), FaultPhase("storm", 4000, 4600, {})))
    plan = snapshot_plan(3 * 3600.0, 1800.0, schedule)
    times = [t for t, _label in plan]
    assert times == sorted(times) and (1800.0, "warm-up end") in plan
    assert plan[0] == (10.0, "primer")
    assert (4000.0, "storm start") in plan and (4600.0, "storm end") in plan
    assert (5400.0, "hourly") in plan and not any(10.0 < t < 1800.0 for t in times)
    many = FaultSchedule(tuple(FaultPhase(f"p{i}", 100.0 + 10 * i, 105.0 + 10 * i, {}) for i in range(200)))
    assert len(snapshot_plan(10_000.0, 50.0, many)) == MAX_SNAPSHOTS - 1


def test_a_snapshot_due_while_another_still_runs_is_skipped_and_said_so(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()
    events: list[tuple[str, dict[str, Any]]] = []

    def slow_fetch(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        entered.set()
        release.wait(10)
        return _snapshot(0, {("a.py", 1): (10, 1)})

    taker = SnapshotTaker(
        "http://127.0.0.1:9", {}, tmp_path, [(1.0, "first"), (2.0, "second")], lambda: 1.0,
        lambda kind, **data: events.append((kind, data)), fetch=slow_fetch,
    )  # fmt: skip
    taker.poll(1.5)
    assert entered.wait(10)
    taker.poll(2.5)
    release.set()
    taker.final()
    kinds = [(kind, data.get("label")) for kind, data in events]
    assert ("allocation_snapshot_skipped", "second") in kinds
    assert ("allocation_snapshot", "first") in kinds and ("allocation_snapshot", "end") in kinds
    assert [label for label, _snap in read_snapshots(tmp_path)] == ["first", "end"]
