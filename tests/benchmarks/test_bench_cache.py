"""DocCache timings: memory hit, disk hit and durable write, plus the CI check that a hit is O(1) in cache size.

One event loop is reused across rounds (``asyncio.run`` per round would cost ~100 µs and drown the figure).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from autodocs_mcp.cache import DocCache

DOC: dict[str, Any] = {
    "name": "requests",
    "version": "2.31.0",
    "summary": "Python HTTP for Humans.",
    "requires_dist": [f"dep{i}>=1.{i}" for i in range(20)],
    "description": "d" * 4000,
}


def memory_only_cache(tmp_path: Path, entries: int) -> DocCache:
    """A folder that cannot exist (its parent is a file) gives a memory-only cache: no disk writes to wait for."""
    blocker = tmp_path / f"not-a-folder-{entries}"
    blocker.write_text("")
    return DocCache(blocker / "cache", memory_entries=entries, memory_bytes=1 << 30)


def test_bench_memory_hit(benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    cache = DocCache(tmp_path / "cache")
    loop.run_until_complete(cache.put_version("requests", "2.31.0", DOC))
    found = benchmark(lambda: loop.run_until_complete(cache.get_version("requests", "2.31.0")))
    assert found == DOC
    loop.run_until_complete(cache.close())


def test_bench_disk_hit(benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    cache = DocCache(tmp_path / "cache", memory_entries=0)
    loop.run_until_complete(cache.put_version("requests", "2.31.0", DOC))
    loop.run_until_complete(cache.flush())
    found = benchmark(lambda: loop.run_until_complete(cache.get_version("requests", "2.31.0")))
    assert found == DOC
    assert cache.stats()["hits"] == 0
    loop.run_until_complete(cache.close())


def test_bench_durable_write(benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    cache = DocCache(tmp_path / "cache")

    async def write() -> None:
        await cache.put_version("requests", "2.31.0", DOC)
        await cache.flush()

    benchmark(lambda: loop.run_until_complete(write()))
    assert cache.stats()["write_errors"] == 0
    loop.run_until_complete(cache.close())


def test_memory_hit_costs_the_same_with_100000_entries_as_with_100(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    probe_keys = [(f"pkg{i}", "1.0") for i in range(100)]
    small = memory_only_cache(tmp_path, entries=100)
    large = memory_only_cache(tmp_path, entries=100_000)

    async def fill() -> None:
        for name, version in probe_keys:
            await small.put_version(name, version, {"n": name})
        for i in range(100_000 - len(probe_keys)):
            await large.put_version(f"filler{i // 10}", f"1.{i % 10}", {"n": i})
        for name, version in probe_keys:
            await large.put_version(name, version, {"n": name})

    async def hit_all(cache: DocCache) -> None:
        for name, version in probe_keys:
            await cache.get_version(name, version)

    loop.run_until_complete(fill())
    assert large.stats()["memory_entries"] == 100_000
    per_call: dict[str, list[float]] = {"small": [], "large": []}
    for round_no in range(310):
        for label, cache in (("small", small), ("large", large)):
            start = time.perf_counter_ns()
            loop.run_until_complete(hit_all(cache))
            if round_no >= 10:
                per_call[label].append((time.perf_counter_ns() - start) / len(probe_keys) / 1000)
    small_us = statistics.median(per_call["small"])
    large_us = statistics.median(per_call["large"])
    print(f"\nmemory hit median per call: 100 entries {small_us:.2f} µs, 100,000 entries {large_us:.2f} µs")
    assert large_us <= 1.5 * small_us, (small_us, large_us)
    assert large_us < 20.0
    assert small.stats()["misses"] == large.stats()["misses"] == 0
