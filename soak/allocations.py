"""What grows, named: the server's allocation snapshots (``GET /debug/allocations``), stored and diffed.

The soak's memory criteria say *that* the heap grows; the difference between two snapshots says *which lines* hold
the growth. Growth during a fault window is expected (retries, stale answers, breaker bookkeeping) and must not be
confused with growth on a quiet night, so the diff of each consecutive pair of snapshots is filed as inside-fault
or outside-fault growth. Everything here but ``fetch_snapshot`` and the two file functions is pure.

Snapshots are the server's top sites only: a site that enters or leaves the top between two snapshots shows its
whole size as growth or shrinkage, so ask for more sites than the report will show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import httpx2

SNAPSHOTS_FILE: Final = "allocations.jsonl"
WINDOW_TOLERANCE_S: Final = 2.0
"""A snapshot taken at a fault boundary lands a little after it (scheduling, the request itself)."""

Site = tuple[str, int]


@dataclass(frozen=True)
class AllocationSnapshot:
    """One snapshot at run time ``t`` (seconds since the run started): (file, line) → (size, count)."""

    t: float
    sites: Mapping[Site, tuple[int, int]]
    traced_bytes: int


@dataclass(frozen=True)
class SiteGrowth:
    """How much live memory (bytes) and how many live blocks one site gained (negative: released)."""

    file: str
    line: int
    size_delta: int
    count_delta: int


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {type(value).__name__}")
    return value


def parse_snapshot(t: float, data: Mapping[str, Any]) -> AllocationSnapshot:
    """The endpoint's JSON as an ``AllocationSnapshot``; ValueError when its shape is not the endpoint's.

    A site listed twice (two paths that shorten to the same name) is summed, as the server does.
    """
    if not math.isfinite(t):
        raise ValueError(f"a snapshot's time must be finite, got {t!r}")
    if not isinstance(data, Mapping):
        raise ValueError("a snapshot must be a JSON object")
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list):
        raise ValueError("a snapshot needs a list of sites")
    sites: dict[Site, tuple[int, int]] = {}
    for index, item in enumerate(raw_sites):
        if not isinstance(item, Mapping):
            raise ValueError(f"site {index} must be an object")
        file = item.get("file")
        if not isinstance(file, str) or not file:
            raise ValueError(f"site {index} needs a file name")
        line = _count(item.get("line"), f"site {index} line")
        size = _count(item.get("size"), f"site {index} size")
        count = _count(item.get("count"), f"site {index} count")
        before_size, before_count = sites.get((file, line), (0, 0))
        sites[(file, line)] = (before_size + size, before_count + count)
    return AllocationSnapshot(t=float(t), sites=sites, traced_bytes=_count(data.get("traced_bytes"), "traced_bytes"))


def _ordered(growth: Mapping[Site, tuple[int, int]]) -> list[SiteGrowth]:
    rows = [
        SiteGrowth(file=file, line=line, size_delta=size, count_delta=count)
        for (file, line), (size, count) in growth.items()
        if size != 0 or count != 0
    ]
    rows.sort(key=lambda g: (-g.size_delta, -g.count_delta, g.file, g.line))
    return rows


def _deltas(a: AllocationSnapshot, b: AllocationSnapshot) -> dict[Site, tuple[int, int]]:
    deltas: dict[Site, tuple[int, int]] = {}
    for site in a.sites.keys() | b.sites.keys():
        size_a, count_a = a.sites.get(site, (0, 0))
        size_b, count_b = b.sites.get(site, (0, 0))
        deltas[site] = (size_b - size_a, count_b - count_a)
    return deltas


def diff(a: AllocationSnapshot, b: AllocationSnapshot) -> list[SiteGrowth]:
    """What each site gained from ``a`` to ``b`` (a site missing from one counts as 0 there), largest growth first;
    sites that did not change are left out."""
    return _ordered(_deltas(a, b))


def _add(total: dict[Site, tuple[int, int]], deltas: Mapping[Site, tuple[int, int]]) -> None:
    for site, (size, count) in deltas.items():
        size_total, count_total = total.get(site, (0, 0))
        total[site] = (size_total + size, count_total + count)


def _inside(start: float, end: float, windows: Iterable[tuple[float, float]]) -> bool:
    return any(
        start >= w_start - WINDOW_TOLERANCE_S and end <= w_end + WINDOW_TOLERANCE_S for w_start, w_end in windows
    )


def split_growth(
    snapshots: Sequence[AllocationSnapshot], windows: Sequence[tuple[float, float]]
) -> tuple[list[SiteGrowth], list[SiteGrowth]]:
    """(inside-fault growth, outside-fault growth): the diffs of consecutive snapshots (in time order), summed by
    site, a pair counted inside when both its snapshots lie within one fault window (2 s tolerance), outside
    otherwise. Together they add up to the diff of the first and the last snapshot."""
    ordered = sorted(snapshots, key=lambda s: s.t)
    inside: dict[Site, tuple[int, int]] = {}
    outside: dict[Site, tuple[int, int]] = {}
    for a, b in pairwise(ordered):
        _add(inside if _inside(a.t, b.t, windows) else outside, _deltas(a, b))
    return _ordered(inside), _ordered(outside)


def fetch_snapshot(
    base_url: str, headers: Mapping[str, str], top: int = 300, timeout_s: float = 30.0
) -> dict[str, Any] | None:
    """``GET <base_url>/debug/allocations?top=N`` (``base_url`` is the server's origin, not its ``/mcp`` URL).

    None when tracing is off (409), busy (429), slow (503), refused, unreachable or not JSON: a missing snapshot
    leaves a gap in the report, it must never stop a soak, so this never raises.
    """
    url = f"{base_url.rstrip('/')}/debug/allocations"
    try:
        with httpx2.Client(trust_env=False, timeout=timeout_s, headers=dict(headers)) as client:
            response = client.get(url, params={"top": str(top)})
            if response.status_code != 200:
                return None
            body = response.json()
    except Exception:  # any failure is "no snapshot this time"; see the docstring
        return None
    return body if isinstance(body, dict) else None


def append_snapshot(run_dir: Path, t: float, label: str, data: Mapping[str, Any]) -> None:
    """One JSON line ``{"t", "label", "snapshot"}`` appended to the run's ``allocations.jsonl`` and flushed, so an
    interrupted run keeps every snapshot taken before it stopped."""
    line = json.dumps({"t": round(float(t), 3), "label": label, "snapshot": dict(data)}, separators=(",", ":"))
    with (run_dir / SNAPSHOTS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()


def _read_line(text: str) -> tuple[str, AllocationSnapshot] | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    t, label, data = record.get("t"), record.get("label"), record.get("snapshot")
    if isinstance(t, bool) or not isinstance(t, int | float) or not isinstance(label, str):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return label, parse_snapshot(float(t), data)
    except ValueError:
        return None


def read_snapshots(run_dir: Path) -> list[tuple[str, AllocationSnapshot]]:
    """Every well-formed (label, snapshot) in file order; malformed lines (a crash mid-write) are skipped and a
    run without the file has none."""
    path = run_dir / SNAPSHOTS_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found: list[tuple[str, AllocationSnapshot]] = []
    for raw in text.splitlines():
        if raw.strip():
            parsed = _read_line(raw)
            if parsed is not None:
                found.append(parsed)
    return found
