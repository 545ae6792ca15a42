"""The columns of ``samples.csv``: the one contract between the sampler that writes it and the gate that reads it."""

from __future__ import annotations

from typing import Final

TCP_COLUMNS: Final = ("tcp_clients", "tcp_upstream", "tcp_close_wait", "tcp_time_wait")
PROCESS_COLUMNS: Final = ("rss_bytes", "uss_bytes", "fds", "threads", "cpu_percent", *TCP_COLUMNS, "children")
"""What the process-tree probe measures (all empty when the server is gone)."""
TEXT_COLUMNS: Final = ("breaker_state", "fault_phase")
SAMPLE_COLUMNS: Final = (
    "t",
    "wall",
    *PROCESS_COLUMNS,
    "pool_open",
    "pool_active",
    "pool_idle",
    "pool_queued",
    "pool_max",
    "breaker_state",
    "in_flight",
    "sessions_open",
    "sessions_max",
    "sessions_client_max",
    "sessions_evicted",
    "sessions_refused",
    "cache_memory_entries",
    "cache_memory_bytes",
    "cache_memory_entries_limit",
    "cache_memory_bytes_limit",
    "py_blocks",
    "limiter_waiting",
    "rps",
    "fail_rps",
    "calls_total",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "users",
    "fault_phase",
    "sampler_cpu_s",
)
NUMERIC_COLUMNS: Final = tuple(c for c in SAMPLE_COLUMNS if c not in TEXT_COLUMNS)
DECIMALS: Final = {
    "t": 3,
    "wall": 3,
    "cpu_percent": 1,
    "rps": 2,
    "fail_rps": 2,
    "p50_ms": 1,
    "p95_ms": 1,
    "p99_ms": 1,
    "sampler_cpu_s": 4,
}
"""Digits after the point of the fractional columns; every other numeric column is a whole count."""
WHOLE_COLUMNS: Final = frozenset(c for c in NUMERIC_COLUMNS if c not in DECIMALS)
