"""Reading Locust's CSV output (``--csv PREFIX``) back into typed rows, for tests, the soak runner and reports.

Locust wraps a ``response.failure("reason")`` as ``CatchResponseError('reason')`` in its failure table;
``FailureRow.reason`` gives back the bare reason the user reported.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

AGGREGATED = "Aggregated"
_WRAPPED = re.compile(r"^CatchResponseError\((['\"])(.*)\1\)$", re.DOTALL)


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "N/A") else math.nan
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class StatsRow:
    method: str
    name: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def successes(self) -> int:
        return self.requests - self.failures


@dataclass(frozen=True)
class FailureRow:
    method: str
    name: str
    error: str
    occurrences: int

    @property
    def reason(self) -> str:
        match = _WRAPPED.match(self.error)
        return match.group(2) if match else self.error


def stats_path(prefix: Path | str) -> Path:
    return Path(f"{prefix}_stats.csv")


def failures_path(prefix: Path | str) -> Path:
    return Path(f"{prefix}_failures.csv")


def history_path(prefix: Path | str) -> Path:
    return Path(f"{prefix}_stats_history.csv")


def read_history_totals(path: Path, include: Callable[[str], bool]) -> list[tuple[float, int]]:
    """(Locust timestamp, cumulative requests summed over the named rows ``include`` accepts), per second.

    Needs ``--csv-full-history`` (a row per name every second, not only "Aggregated"); seconds with no accepted
    row are left out rather than counted as zero.
    """
    totals: dict[float, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stamp, name = _number(row.get("Timestamp")), row.get("Name") or ""
            count = _number(row.get("Total Request Count"))
            if name != AGGREGATED and include(name) and not (math.isnan(stamp) or math.isnan(count)):
                totals[stamp] = totals.get(stamp, 0) + int(count)
    return sorted(totals.items())


def read_stats(prefix: Path | str) -> dict[str, StatsRow]:
    """Rows of ``PREFIX_stats.csv`` by name; the total is under ``"Aggregated"``."""
    with stats_path(prefix).open(newline="", encoding="utf-8") as handle:
        return {
            row["Name"]: StatsRow(
                method=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                median_ms=_number(row.get("50%")),
                p95_ms=_number(row.get("95%")),
                p99_ms=_number(row.get("99%")),
                rps=_number(row.get("Requests/s")),
            )
            for row in csv.DictReader(handle)
        }


def read_failures(prefix: Path | str) -> list[FailureRow]:
    with failures_path(prefix).open(newline="", encoding="utf-8") as handle:
        return [
            FailureRow(row["Method"], row["Name"], row["Error"], int(row["Occurrences"]))
            for row in csv.DictReader(handle)
        ]
