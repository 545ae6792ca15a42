"""Locust's CSV output read back into rows: names, counts, percentiles and the bare failure reasons."""

from __future__ import annotations

import math
from pathlib import Path

from mcp_locust.results import AGGREGATED, read_failures, read_stats

STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,tools/call echo,120,20,4,5.1,1.2,30.5,80.0,19.9,3.3,4,5,6,6,8,12,20,25,30,30,30
POST,tools/call idle,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,120,20,4,5.1,1.2,30.5,80.0,19.9,3.3,4,5,6,6,8,12,20,25,30,30,30
"""

FAILURES = """Method,Name,Error,Occurrences,First Seen,Last Seen
POST,tools/call echo,"CatchResponseError('expected E42, got success')",15,1.0,2.0
POST,tools/call echo,"ConnectionRefusedError(111, 'Connection refused')",5,1.0,2.0
"""


def write(tmp_path: Path, stats: str = STATS, failures: str = FAILURES) -> Path:
    prefix = tmp_path / "run"
    (tmp_path / "run_stats.csv").write_text(stats)
    (tmp_path / "run_failures.csv").write_text(failures)
    return prefix


def test_stats_rows_are_keyed_by_name_with_counts_and_percentiles(tmp_path: Path) -> None:
    rows = read_stats(write(tmp_path))
    echo = rows["tools/call echo"]
    assert (echo.method, echo.requests, echo.failures, echo.successes) == ("POST", 120, 20, 100)
    assert (echo.median_ms, echo.p95_ms, echo.p99_ms, echo.rps) == (4, 12, 25, 19.9)
    assert rows[AGGREGATED].requests == 120


def test_percentiles_of_a_row_without_requests_are_not_numbers(tmp_path: Path) -> None:
    assert math.isnan(read_stats(write(tmp_path))["tools/call idle"].p95_ms)


def test_failure_reasons_are_unwrapped_from_catch_response_errors_only(tmp_path: Path) -> None:
    failures = read_failures(write(tmp_path))
    assert [(f.reason, f.occurrences) for f in failures] == [
        ("expected E42, got success", 15),
        ("ConnectionRefusedError(111, 'Connection refused')", 5),
    ]
