"""Hot-path cost of the resilience cores: every upstream request pays for one limiter acquire and one breaker check.

Targets: both under 5 µs median per operation. The CI gate is the ratio test: a limiter that has served a million
requests must cost what a fresh one does (O(1) per acquire, O(limit) memory).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from autodocs_mcp.breaker import CircuitBreaker
from autodocs_mcp.clock import SYSTEM_CLOCK
from autodocs_mcp.limiter import RateLimiter
from tests.support.fakeclock import FakeClock

pytestmark = pytest.mark.timeout(120)

BATCH = 100  # acquires per benchmark round, so one run_until_complete (~14 µs) is spread over many acquires


def record_per_op(benchmark: BenchmarkFixture, ops_per_round: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["ops_per_round"] = ops_per_round
        benchmark.extra_info["median_us_per_op"] = stats.stats.median / ops_per_round * 1e6


async def acquire_many(limiter: RateLimiter, count: int) -> None:
    for _ in range(count):
        await limiter.acquire()


async def timed_acquires(limiter: RateLimiter, count: int) -> float:
    """Seconds per acquire over ``count`` back-to-back acquires, timed inside the loop to leave its overhead out."""
    start = time.perf_counter()
    for _ in range(count):
        await limiter.acquire()
    return (time.perf_counter() - start) / count


def test_bench_limiter_acquire_uncontended(benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop) -> None:
    # 100,000 per 10 ms is far beyond what a round can issue, so nobody waits; old entries still age out.
    limiter = RateLimiter(100_000, 0.01, SYSTEM_CLOCK)
    benchmark(lambda: loop.run_until_complete(acquire_many(limiter, BATCH)))
    assert limiter.stats()["delayed"] == 0
    record_per_op(benchmark, BATCH)


def test_bench_breaker_check(benchmark: BenchmarkFixture) -> None:
    breaker = CircuitBreaker("pypi.org", 5, 30.0, SYSTEM_CLOCK)

    def check() -> None:
        breaker.record_success(breaker.before_call())

    benchmark(check)
    assert breaker.stats()["transitions_total"] == 0
    record_per_op(benchmark, 1)


def test_limiter_acquire_costs_the_same_after_a_million_requests_as_after_a_thousand(
    loop: asyncio.AbstractEventLoop,
) -> None:
    limit, window_s, arrival_gap_s = 1000, 1.0, 0.002  # 500 arrivals/s against 1000/s: steady state, no waiting
    reps, per_rep = 150, 200

    def fresh(prior: int) -> RateLimiter:
        limiter = RateLimiter(limit, window_s, FakeClock(start=1000.0, step=arrival_gap_s))
        loop.run_until_complete(acquire_many(limiter, prior))
        return limiter

    veteran = fresh(1_000_000)
    young_costs: list[float] = []
    veteran_costs: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            young = fresh(1000)
            young_costs.append(loop.run_until_complete(timed_acquires(young, per_rep)))
            veteran_costs.append(loop.run_until_complete(timed_acquires(veteran, per_rep)))
    finally:
        gc.enable()

    young_us = statistics.median(young_costs) * 1e6
    veteran_us = statistics.median(veteran_costs) * 1e6
    # only the last window's requests are remembered: 1 s at one arrival every 2 ms, both ends included
    assert veteran.stats()["tracked"] == round(window_s / arrival_gap_s) + 1
    assert veteran.stats()["delayed"] == 0
    print(f"\nlimiter acquire median: {young_us:.3f} µs after 1e3 requests, {veteran_us:.3f} µs after 1e6")
    assert veteran_us <= 1.5 * young_us, f"{veteran_us:.3f} µs after 1e6 vs {young_us:.3f} µs after 1e3"
