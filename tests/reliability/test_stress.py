"""``make stress``: the reliability scenarios at full size. Minutes each; never part of ``make test``.

Run with ``pytest -m stress tests/reliability``; rows land in ``reports/reliability/stress.jsonl``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import scenarios
from tests.reliability.conftest import SLOW_CLIENT_TIMEOUT_S
from tests.reliability.harness import Ledger, running
from tests.reliability.test_client_connections import idle_keep_alive, slowloris
from tests.reliability.test_client_sessions import abandoned_sessions, session_env
from tests.support.processes import ManagedProcess

pytestmark = [pytest.mark.stress, pytest.mark.timeout(3600)]
PART = "stress"


def test_500_concurrent_calls_through_a_pool_of_10_are_all_answered(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    scenarios.pool_flood(tmp_path, mock_url, ledger, calls=500, pool=10, latency_ms=50, part=PART)


def test_a_500_call_pool_timeout_storm_refuses_cleanly_and_leaks_nothing(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    scenarios.pool_timeout_storm(tmp_path, mock_url, ledger, calls=500, part=PART)


def test_the_breaker_cycles_three_times_under_bursts_of_200_with_one_probe_each_time(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    scenarios.breaker_cycles(tmp_path, mock_url, ledger, concurrency=200, cycles=3, probe_latency_ms=3000, part=PART)


def test_the_limiter_holds_30_a_minute_in_every_window_while_serving_a_45_name_burst(
    tmp_path: Path, hostile_upstream: str, ledger: Ledger
) -> None:
    scenarios.limiter_burst(
        tmp_path, hostile_upstream, ledger, rpm=30, names=45, timeout_s=150.0, all_served=True, part=PART
    )


def test_100000_distinct_packages_keep_the_memory_tier_bounded_and_the_disk_pruned(
    tmp_path: Path, mock_url: str, ledger: Ledger
) -> None:
    scenarios.cache_flood(
        tmp_path,
        mock_url,
        ledger,
        names=100_000,
        memory_entries=1_000,
        memory_mb=4,
        concurrency=24,
        plateau_from=0.25,
        prune=True,
        part=PART,
    )


@pytest.fixture
def session_server(tmp_path: Path, mock_url: str) -> Iterator[ManagedProcess]:
    with running(tmp_path, mock_url, session_env()) as proc:
        yield proc


def test_12000_abandoned_sessions_are_capped_reclaimed_and_leave_no_growth(
    session_server: ManagedProcess, ledger: Ledger
) -> None:
    abandoned_sessions(session_server, ledger, waves=20, wave_size=600, part=PART)


@pytest.fixture
def slow_client_server(tmp_path: Path, mock_url: str) -> Iterator[ManagedProcess]:
    env = {
        "AUTODOCS_HTTP_HEADER_TIMEOUT": str(SLOW_CLIENT_TIMEOUT_S),
        "AUTODOCS_HTTP_BODY_TIMEOUT": str(SLOW_CLIENT_TIMEOUT_S),
    }
    with running(tmp_path, mock_url, env) as proc:
        yield proc


def test_1500_slowloris_sockets_are_cut_off_and_the_server_keeps_answering(
    slow_client_server: ManagedProcess, ledger: Ledger
) -> None:
    slowloris(slow_client_server, ledger, per_kind=500, part=PART)


def test_2000_idle_keep_alive_connections_are_reaped(slow_client_server: ManagedProcess, ledger: Ledger) -> None:
    idle_keep_alive(slow_client_server, ledger, count=2_000, part=PART)
