"""The columns of ``samples.csv``: the one contract between the sampler that writes it and the gate that reads it."""

from __future__ import annotations

from typing import Final

TEXT_COLUMNS: Final = ("breaker_state", "fault_phase")
SAMPLE_COLUMNS: Final = (
    "t",
    "wall",
    "rss_bytes",
    "uss_bytes",
    "fds",
    "threads",
    "cpu_percent",
    "tcp_clients",
    "tcp_upstream",
    "tcp_close_wait",
    "tcp_time_wait",
    "children",
    "pool_open",
    "pool_active",
    "pool_idle",
    "pool_queued",
    "pool_max",
    "breaker_state",
    "in_flight",
    "sessions_open",
    "cache_memory_entries",
    "cache_memory_bytes",
    "py_blocks",
    "limiter_waiting",
    "rps",
    "fail_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "users",
    "fault_phase",
    "sampler_cpu_s",
)
NUMERIC_COLUMNS: Final = tuple(c for c in SAMPLE_COLUMNS if c not in TEXT_COLUMNS)
