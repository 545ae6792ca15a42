"""What grows, named: the target's allocation snapshots (``allocations.jsonl``) turned into the sites that gained
the most live memory after the warm-up, split into growth inside fault windows and growth outside them.

Growth inside a fault window is often a failure path holding state until the window ends; growth outside is what a
quiet night would accumulate, which is what the memory criterion's reason names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from soak.allocations import WINDOW_TOLERANCE_S, AllocationSnapshot, SiteGrowth, split_growth
from soak.formatting import fmt_bytes
from soak.verdict import FaultWindow

TOP_SITES = 12
NAMED_IN_REASON = 3


def _rows(growth: list[SiteGrowth]) -> list[dict[str, Any]]:
    return [
        {"site": f"{g.file}:{g.line}", "size_delta": g.size_delta, "count_delta": g.count_delta}
        for g in growth
        if g.size_delta > 0
    ][:TOP_SITES]


def summarize(
    snapshots: Sequence[tuple[str, AllocationSnapshot]], windows: Sequence[FaultWindow], warmup_s: float
) -> dict[str, Any]:
    """Top growing sites from the first snapshot at or after the warm-up to the last; {} with fewer than two.

    The runner plans its warm-up snapshot on the planned duration, the gate's warm-up follows the samples' last
    time, a little later: the same tolerance as at fault boundaries keeps that snapshot in.
    """
    start = warmup_s - WINDOW_TOLERANCE_S
    usable = sorted((snap for _label, snap in snapshots if snap.t >= start), key=lambda s: s.t)
    if len(usable) < 2:
        return {}
    inside, outside = split_growth(usable, [(w.start_s, w.end_s) for w in windows])
    return {
        "snapshots": len(usable),
        "from_s": usable[0].t,
        "to_s": usable[-1].t,
        "traced_delta": usable[-1].traced_bytes - usable[0].traced_bytes,
        "outside_faults": _rows(outside),
        "inside_faults": _rows(inside),
    }


def _blocks(count: int) -> str:
    return f"{count:+,}".replace("-", "−")


def reason_text(summary: dict[str, Any]) -> str:
    """The few sites that grew most outside fault windows, for the memory criterion's reason."""
    rows = summary.get("outside_faults") or []
    if not summary:
        return ""
    if not rows:
        return f"no allocation site grew outside fault windows across {summary['snapshots']} snapshots"
    named = ", ".join(
        f"{row['site']} {fmt_bytes(row['size_delta'])} ({_blocks(int(row['count_delta']))} blocks)"
        for row in rows[:NAMED_IN_REASON]
    )
    return f"top growing allocation sites outside faults: {named}"
