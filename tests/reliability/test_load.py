"""The stress scenarios scaled down to fit ``make test``: the same code as ``test_stress.py``, smaller numbers."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import scenarios as load
from tests.reliability.harness import Ledger


def test_concurrent_calls_beyond_the_pool_are_all_answered_without_pool_timeouts(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    load.pool_flood(tmp_path, mock_url, ledger, calls=150)


def test_a_pool_timeout_storm_refuses_cleanly_and_leaks_nothing(tmp_path: Path, mock_url: str, ledger: Ledger) -> None:
    load.pool_timeout_storm(tmp_path, mock_url, ledger, calls=80)


def test_the_breaker_cycles_with_exactly_one_probe_per_half_open(tmp_path: Path, mock_url: str, ledger: Ledger) -> None:
    load.breaker_cycles(tmp_path, mock_url, ledger, concurrency=20, cycles=1, probe_latency_ms=1000)


def test_the_limiter_never_admits_more_than_its_rate_under_a_burst(
    tmp_path: Path, hostile_upstream: str, ledger: Ledger
) -> None:
    load.limiter_burst(tmp_path, hostile_upstream, ledger, rpm=10, names=25, timeout_s=3.0, all_served=False)


def test_the_memory_tier_stays_within_its_bound_over_2000_cold_names(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    load.cache_flood(tmp_path, mock_url, ledger, names=2_000, memory_entries=200, memory_mb=1)
