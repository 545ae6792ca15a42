"""Load scenarios shared by the fast suite (scaled down) and ``make stress`` (full size).

Each scenario starts its own server with the settings it is about, drives it concurrently through raw MCP calls,
reads the server's ``/metrics`` and the upstream's own counters, and returns with the server stopped. Sizes are
parameters, so the fast and the stress test run the same code.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from pypi_mock.admin import set_faults
from tests.reliability.harness import (
    FD_ALLOWANCE,
    RSS_ALLOWANCE_MB,
    AsyncMcpHttp,
    Attack,
    Ledger,
    McpHttp,
    ToolReply,
    running,
    usage,
)
from tests.support.mockstats import pypi_requests
from tests.support.processes import ManagedProcess
from tests.support.serverstats import metrics, wait_for_cache_writes

SAMPLE_EVERY_S = 0.05
FLOOD_RSS_ALLOWANCE_MB = 45.0
"""A cold flood fills the service's bounded memos (512 parsed releases, 4,096 indexes, 128 renders): measured
plateau +37 MB over 10,000 names."""
PLATEAU_GROWTH_MB = 5.0
CREEP_MB_PER_NAME = 0.0002
"""Past the plateau RSS still creeps ~80-150 bytes per *new* package (measured over 24,000, 40,000 and 100,000 names).
It is not Python objects: tracemalloc from 6,000 to 12,000 names sees only bounded caches still filling (LRU keys,
pydantic-core's JSON string cache), the Python heap's blocks go flat by ~18,000 names, and 50,000 warm calls through
the whole HTTP stack leave RSS flat; it is allocator high-water (notes/reliability.md). The bound, 200 bytes per new
package, would still catch a leak of any real object per call."""
READY_TIMEOUT_S = 300.0
"""A restart on a 100,000-package cache folder scans it before it is ready."""
POOL_FD_ALLOWANCE = 5
"""Descriptors beyond the general allowance that an upstream pool may keep: its idle keep-alive connections."""


PER_CALL_HIGH_WATER_MB = 0.06
"""RSS the allocator keeps per call that was in flight at once: a 500-call burst of mostly refusals raised it 28 MB."""
PER_NEW_NAME_MB = 0.02
"""RSS of the service's bounded memos per newly cached package, until they saturate (~37 MB at ~8,000 names)."""
MEMO_SATURATION_MB = 37.0


def burst_allowance_mb(concurrency: int, new_names: int) -> float:
    """The general allowance plus what a burst legitimately keeps: its in-flight high-water and new memo entries."""
    memos = min(MEMO_SATURATION_MB, PER_NEW_NAME_MB * new_names)
    return round(RSS_ALLOWANCE_MB + PER_CALL_HIGH_WATER_MB * concurrency + memos, 1)


def unique(prefix: str) -> str:
    """A per-run name prefix, so a scenario's names are cold even against a mock that served an earlier run."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


CALLS_PER_SESSION = 50
"""A burst comes from many clients: at most this many of its calls share one session, below the server's bound on
a session's open requests (``AUTODOCS_MAX_REQUESTS_PER_SESSION``, 64 shipped), which these scenarios do not test."""


async def burst(base_url: str, names: list[str], connections: int) -> list[ToolReply]:
    """One ``get_package_docs`` per name, all at once, over ``connections`` connections in all, in name order."""
    groups = [names[i : i + CALLS_PER_SESSION] for i in range(0, len(names), CALLS_PER_SESSION)]
    per_session = max(1, -(-connections // max(len(groups), 1)))

    async def one_client(group: list[str]) -> list[ToolReply]:
        async with AsyncMcpHttp(base_url, connections=min(per_session, len(group))) as mcp:
            return list(await asyncio.gather(*(mcp.call("get_package_docs", {"package_name": n}) for n in group)))

    answered = await asyncio.gather(*(one_client(group) for group in groups))
    return [reply for group in answered for reply in group]


@dataclass
class Sampled:
    replies: list[ToolReply]
    peak_pool_open: int
    peak_queued: int
    snapshots: int


async def burst_sampled(base_url: str, names: list[str], connections: int) -> Sampled:
    """A burst while ``/metrics`` is sampled: the pool's open connections and queue are read as they happen."""
    peak_open = peak_queued = samples = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak_open, peak_queued, samples
        async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as client:
            while not done.is_set():
                pool = (await client.get(f"{base_url}/metrics", params={"format": "json"})).json()["upstream"]["pool"]
                peak_open, peak_queued = max(peak_open, pool["open"]), max(peak_queued, pool["queued"])
                samples += 1
                await asyncio.sleep(SAMPLE_EVERY_S)

    sampler = asyncio.ensure_future(sample())
    try:
        replies = await burst(base_url, names, connections)
    finally:
        done.set()
        await sampler
    return Sampled(replies, peak_open, peak_queued, samples)


def pool_flood(
    tmp: Path, mock_url: str, ledger: Ledger, *, calls: int, pool: int = 10, latency_ms: int = 50, part: str = "fast"
) -> None:
    """``calls`` concurrent cold calls through ``pool`` upstream connections with a generous pool timeout."""
    prefix = unique("pool")
    env = {
        "AUTODOCS_POOL_MAX_CONNECTIONS": str(pool),
        "AUTODOCS_POOL_MAX_KEEPALIVE": str(POOL_FD_ALLOWANCE),
        "AUTODOCS_POOL_TIMEOUT": "120",
        "AUTODOCS_REQUEST_TIMEOUT": "180",
    }
    with running(tmp, mock_url, env) as proc:
        attack = Attack(
            f"load: {calls} concurrent calls, pool of {pool}",
            proc.pid,
            proc.base_url,
            ledger,
            part=part,
            rss_allowance_mb=burst_allowance_mb(calls, new_names=calls),
            fd_allowance=FD_ALLOWANCE + POOL_FD_ALLOWANCE,
        )
        set_faults(mock_url, {"latency_ms": latency_ms, "match": f"{prefix}-*"})
        upstream_before = pypi_requests(mock_url)
        names = [f"{prefix}-{i}" for i in range(calls)]
        started = time.monotonic()
        sampled = asyncio.run(burst_sampled(proc.base_url, names, connections=calls))
        elapsed = time.monotonic() - started
        for name, reply in zip(names, sampled.replies, strict=True):
            attack.check(reply.code == "ok", f"{name}: {reply.code} {reply.text[:120]}")
        upstream = metrics(proc.base_url)["upstream"]
        attack.check(upstream["pool_timeouts"] == 0, f"{upstream['pool_timeouts']} pool timeouts")
        attack.check(sampled.peak_pool_open <= pool, f"{sampled.peak_pool_open} pool connections open, limit {pool}")
        attack.check(pypi_requests(mock_url) - upstream_before == calls, "one upstream request per cold name")
        attack.check(
            upstream["pool"]["queued"] == 0 and upstream["inflight_fetches"] == 0, f"after: {upstream['pool']}"
        )
        set_faults(mock_url, {})
        attack.notes = (
            f"mock latency {latency_ms} ms; {elapsed:.1f} s for the burst; pool peak {sampled.peak_pool_open} open, "
            f"{sampled.peak_queued} queued ({sampled.snapshots} samples)"
        )
        attack.assert_clean()


def pool_timeout_storm(tmp: Path, mock_url: str, ledger: Ledger, *, calls: int, part: str = "fast") -> None:
    """More concurrent calls than a small pool can serve within a short pool timeout: refusals, never leaks."""
    prefix = unique("storm")
    pool = 4
    env = {"AUTODOCS_POOL_MAX_CONNECTIONS": str(pool), "AUTODOCS_POOL_MAX_KEEPALIVE": str(pool)}
    with running(tmp, mock_url, {**env, "AUTODOCS_POOL_TIMEOUT": "0.2", "AUTODOCS_MAX_RETRY_ATTEMPTS": "1"}) as proc:
        attack = Attack(
            f"load: PoolTimeout storm ({calls} calls, pool {pool}, 0.2 s)",
            proc.pid,
            proc.base_url,
            ledger,
            part=part,
            rss_allowance_mb=burst_allowance_mb(calls, new_names=0),
        )
        set_faults(mock_url, {"latency_ms": 300, "match": f"{prefix}-*"})
        sampled = asyncio.run(burst_sampled(proc.base_url, [f"{prefix}-{i}" for i in range(calls)], connections=calls))
        codes = [reply.code for reply in sampled.replies]
        for code in codes:
            attack.check(code in ("ok", "upstream_saturated"), f"storm answer {code}")
        saturated = codes.count("upstream_saturated")
        attack.check(saturated > 0, "the storm never hit the pool timeout")
        set_faults(mock_url, {})
        upstream = metrics(proc.base_url)["upstream"]
        attack.check(
            upstream["pool"]["open"] <= pool and upstream["pool"]["queued"] == 0, f"pool after: {upstream['pool']}"
        )
        attack.check(
            upstream["pool_timeouts"] == saturated, f"{upstream['pool_timeouts']} timeouts, {saturated} refusals"
        )
        attack.notes = (
            f"{codes.count('ok')} served, {saturated} refused upstream_saturated; pool peak {sampled.peak_pool_open}"
        )
        attack.assert_clean()


def breaker_of(base_url: str) -> dict[str, Any]:
    breaker: dict[str, Any] = metrics(base_url)["upstream"]["breaker"]
    return breaker


def wait_until_reset_due(base_url: str, reset_s: float) -> None:
    deadline = time.monotonic() + reset_s + 10.0
    while breaker_of(base_url)["opened_for_s"] < reset_s:
        assert time.monotonic() < deadline, "the breaker never reached its reset timeout"
        time.sleep(0.05)


def breaker_cycles(
    tmp: Path,
    mock_url: str,
    ledger: Ledger,
    *,
    concurrency: int,
    cycles: int,
    probe_latency_ms: int,
    part: str = "fast",
) -> None:
    """Closed → open → half-open (probe fails) → open → half-open (probe succeeds) → closed, under bursts.

    The reset timeout must outlast the "open" burst on a loaded machine (else that burst would meet a half-open
    breaker); the probe's latency must outlast the half-open bursts, so that every call in them arrives while
    the probe is still in flight.
    """
    reset_s = 3.0
    env = {
        "AUTODOCS_CIRCUIT_BREAKER_THRESHOLD": "3",
        "AUTODOCS_CIRCUIT_BREAKER_TIMEOUT": str(reset_s),
        "AUTODOCS_MAX_RETRY_ATTEMPTS": "1",
        "AUTODOCS_REQUEST_TIMEOUT": "30",
        # Every call of a burst must reach the breaker, not queue out of the pool first.
        "AUTODOCS_POOL_MAX_CONNECTIONS": str(concurrency + 10),
        "AUTODOCS_POOL_TIMEOUT": "60",
    }
    with running(tmp, mock_url, env) as proc:
        base = proc.base_url
        attack = Attack(
            f"load: breaker cycles under bursts of {concurrency} ({cycles} cycles)",
            proc.pid,
            base,
            ledger,
            part=part,
            rss_allowance_mb=burst_allowance_mb(concurrency, new_names=2 * concurrency * cycles),
            fd_allowance=FD_ALLOWANCE + POOL_FD_ALLOWANCE,
        )
        prefix = unique("brk")
        counter = iter(range(10**9))

        def names() -> list[str]:
            return [f"{prefix}-{next(counter)}" for _ in range(concurrency)]

        def phase(label: str, expect_upstream: int, allowed: set[str]) -> list[str]:
            before = pypi_requests(mock_url)
            replies = asyncio.run(burst(base, names(), connections=concurrency))
            went_upstream = pypi_requests(mock_url) - before
            attack.check(
                went_upstream == expect_upstream, f"{label}: {went_upstream} upstream requests, want {expect_upstream}"
            )
            codes = [reply.code or "none" for reply in replies]
            for code in codes:
                attack.check(code in allowed, f"{label}: answer {code}")
            return codes

        failing = {"error_rate": 1.0, "error_status": 503, "latency_ms": probe_latency_ms, "match": f"{prefix}-*"}
        healthy = {"latency_ms": probe_latency_ms, "match": f"{prefix}-*"}
        for cycle in range(cycles):
            start = breaker_of(base)
            set_faults(mock_url, failing)
            phase(f"cycle {cycle} failing", concurrency, {"upstream_unavailable"})
            attack.check(breaker_of(base)["state"] == "open", "the breaker did not open")
            phase(f"cycle {cycle} open", 0, {"upstream_unavailable"})
            wait_until_reset_due(base, reset_s)
            phase(f"cycle {cycle} half-open, probe fails", 1, {"upstream_unavailable"})
            wait_until_reset_due(base, reset_s)
            set_faults(mock_url, healthy)
            codes = phase(f"cycle {cycle} half-open, probe succeeds", 1, {"ok", "upstream_unavailable"})
            attack.check(codes.count("ok") == 1, f"cycle {cycle}: {codes.count('ok')} calls served while half-open")
            attack.check(breaker_of(base)["state"] == "closed", "the breaker did not close")
            phase(f"cycle {cycle} closed", concurrency, {"ok"})
            end = breaker_of(base)
            moved = {t: end["transitions"][t] - start["transitions"][t] for t in end["transitions"]}
            want = {"closed->open": 1, "open->half_open": 2, "half_open->open": 1, "half_open->closed": 1}
            attack.check(moved == want, f"cycle {cycle} transitions {moved}, want {want}")
            attack.check(
                end["probes"] - start["probes"] == 2, f"cycle {cycle}: {end['probes'] - start['probes']} probes"
            )
        set_faults(mock_url, {})
        attack.notes = f"probe latency {probe_latency_ms} ms; reset timeout {reset_s:g} s; threshold 3"
        attack.assert_clean()


def arrivals(upstream_url: str) -> list[float]:
    with httpx2.Client(timeout=10.0, trust_env=False) as client:
        log = client.get(f"{upstream_url}/_log").json()["requests"]
    return sorted(float(t) for t, path in log if str(path).startswith("/pypi/"))


def busiest_window(times: list[float], window_s: float) -> int:
    """The most arrivals in any half-open interval of ``window_s`` seconds."""
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window_s))
    return best


JITTER_S = 0.25
"""Admission (server clock) and arrival (upstream clock) differ by loopback and event-loop latency."""


def limiter_burst(
    tmp: Path,
    upstream_url: str,
    ledger: Ledger,
    *,
    rpm: int,
    names: int,
    timeout_s: float,
    all_served: bool,
    part: str = "fast",
) -> None:
    """A burst of distinct cold names at a small AUTODOCS_RATE_LIMIT_RPM; arrival times are read at the upstream.

    With a short call deadline the names beyond the free slots must be refused at once (``upstream_saturated``);
    with a deadline longer than the wait (``all_served``) they must all be served, one window after another.
    """
    with httpx2.Client(timeout=5.0, trust_env=False) as client:
        client.get(f"{upstream_url}/_log/reset").raise_for_status()
    env = {"AUTODOCS_RATE_LIMIT_RPM": str(rpm), "AUTODOCS_REQUEST_TIMEOUT": str(timeout_s)}
    with running(tmp, upstream_url, env) as proc:
        attack = Attack(
            f"load: limiter, burst of {names} cold names at {rpm}/min", proc.pid, proc.base_url, ledger, part=part
        )
        limiter_before = metrics(proc.base_url)["upstream"]["limiter"]
        free_now = rpm - int(limiter_before["admitted"])  # the server is younger than the window: all still count
        prefix = unique("ok-lim")
        started = time.monotonic()
        replies = asyncio.run(burst(proc.base_url, [f"{prefix}-{i}" for i in range(names)], connections=names))
        elapsed = time.monotonic() - started
        limiter = metrics(proc.base_url)["upstream"]["limiter"]
        codes = [r.code for r in replies]
        served, refused = codes.count("ok"), codes.count("upstream_saturated")
        allowed = {"ok"} if all_served else {"ok", "upstream_saturated"}
        for code in codes:
            attack.check(code in allowed, f"limiter burst answer {code}")
        expected_served = names if all_served else min(names, free_now)
        attack.check(served == expected_served, f"{served} served, want {expected_served} ({refused} refused)")
        admitted = int(limiter["admitted"]) - int(limiter_before["admitted"])
        attack.check(admitted == served, f"limiter admitted {admitted}, served {served}")
        times = arrivals(upstream_url)
        peak = busiest_window(times, 60.0 - JITTER_S)
        attack.check(peak <= rpm, f"{peak} upstream arrivals within one {60 - JITTER_S:g} s window, limit {rpm}")
        attack.notes = (
            f"{len(times)} upstream arrivals, busiest 60 s window {peak} (limit {rpm}); limiter admitted {admitted}, "
            f"delayed {int(limiter['delayed']) - int(limiter_before['delayed'])}, rejected "
            f"{int(limiter['rejected']) - int(limiter_before['rejected'])}; burst took {elapsed:.1f} s"
        )
        attack.assert_clean()


def versions_of(mcp: McpHttp, name: str) -> list[str]:
    """A package's versions, newest first, read from the server's own version_not_found answer."""
    reply = mcp.call("get_package_docs", {"package_name": name, "version_constraint": "==0.0.0.0.0.1"})
    available = reply.structured.get("error", {}).get("details", {}).get("available", [])
    return [str(v) for v in available]


def disk_versions(cache_dir: Path) -> dict[str, int]:
    return {
        folder.name: sum(1 for f in folder.iterdir() if f.name != "_index.json" and f.suffix == ".json")
        for folder in cache_dir.iterdir()
        if folder.is_dir()
    }


def cache_flood(
    tmp: Path,
    mock_url: str,
    ledger: Ledger,
    *,
    names: int,
    memory_entries: int,
    memory_mb: int,
    concurrency: int = 16,
    plateau_from: float | None = None,
    prune: bool = False,
    part: str = "fast",
) -> None:
    """``names`` distinct cold packages through a small memory budget; with ``prune``, a restart then prunes the
    disk.

    The budget (``memory_mb``, ``memory_entries``) bounds every in-memory tier of the release store together
    (parsed releases, indexes, renders, not-found names), which fill over the first names; from ``plateau_from`` (a
    fraction of the run) on, RSS may grow only by ``PLATEAU_GROWTH_MB`` plus ``CREEP_MB_PER_NAME`` per new package.
    """
    cache_dir = tmp / "cache"
    env = {
        "AUTODOCS_MEMORY_CACHE_ENTRIES": str(memory_entries),
        "AUTODOCS_MEMORY_BUDGET_MB": str(memory_mb),
        "cache_dir": str(cache_dir),
    }
    prefix = unique("flood")
    with running(tmp, mock_url, env) as proc:
        attack = Attack(
            f"load: {names:,} distinct packages (memory tier {memory_entries} entries / {memory_mb} MB)",
            proc.pid,
            proc.base_url,
            ledger,
            part=part,
            rss_allowance_mb=round(FLOOD_RSS_ALLOWANCE_MB + CREEP_MB_PER_NAME * names, 1),
        )
        peak_entries = peak_bytes = 0
        rss_marks: list[float] = []
        step = max(concurrency, names // 20)
        started = time.monotonic()
        for offset in range(0, names, step):
            batch = [f"{prefix}-{i}" for i in range(offset, min(names, offset + step))]
            replies = asyncio.run(burst(proc.base_url, batch, connections=concurrency))
            for name, reply in zip(batch, replies, strict=True):
                attack.check(reply.code == "ok", f"{name}: {reply.code}")
            cache = metrics(proc.base_url)["cache"]
            peak_entries = max(peak_entries, int(cache["memory_entries"]))
            peak_bytes = max(peak_bytes, int(cache["memory_bytes"]))
            rss_marks.append(usage(proc.pid).rss_mb)
        elapsed = time.monotonic() - started
        attack.check(peak_entries <= memory_entries, f"memory tier held {peak_entries} entries, bound {memory_entries}")
        attack.check(
            peak_bytes <= memory_mb * 1024 * 1024, f"memory tier held {peak_bytes} bytes, bound {memory_mb} MB"
        )
        wait_for_cache_writes(proc.base_url)
        cache = metrics(proc.base_url)["cache"]
        attack.check(int(cache["disk_entries"]) >= 2 * names, f"{cache['disk_entries']} files for {names} packages")
        plateau = ""
        if plateau_from is not None:
            mark = rss_marks[int(plateau_from * (len(rss_marks) - 1))]
            bound = PLATEAU_GROWTH_MB + CREEP_MB_PER_NAME * names * (1 - plateau_from)
            plateau = f"; growth after {plateau_from:.0%}: {rss_marks[-1] - mark:.1f} MB (bound {bound:.1f})"
            attack.check(
                rss_marks[-1] - mark <= bound,
                f"RSS still growing: {mark} MB at {plateau_from:.0%}, {rss_marks[-1]} MB at the end (bound {bound})",
            )
        quarters = [rss_marks[round(q * (len(rss_marks) - 1))] for q in (0.25, 0.5, 0.75, 1.0)]
        attack.notes = (
            f"{names / elapsed:.0f} cold calls/s; memory tier peak {peak_entries} entries / "
            f"{peak_bytes / 1024:.0f} KiB; disk {cache['disk_entries']} files, "
            f"{int(cache['disk_bytes']) / 1024 / 1024:.1f} MiB (no total cap by design); "
            f"RSS at 25/50/75/100%: {quarters} MB{plateau}"
        )
        flood_failure: AssertionError | None = None
        try:
            attack.assert_clean()
        except AssertionError as failure:
            flood_failure = failure
    if prune:  # judged even when the flood failed: the disk is there either way
        try:
            prune_on_restart(tmp, mock_url, ledger, cache_dir, part=part)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)  # gigabytes at 100,000 packages; keep no copy
    if flood_failure is not None:
        raise flood_failure


def wait_for_prune(proc: ManagedProcess, timeout_s: float = 300.0) -> None:
    """The startup prune runs beside the first requests; wait (bounded) for its log line before judging the disk."""
    deadline = time.monotonic() + timeout_s
    while '"cache_pruned"' not in proc.log_text():
        assert time.monotonic() < deadline, f"no cache_pruned event within {timeout_s} s"
        time.sleep(0.1)


def prune_on_restart(tmp: Path, mock_url: str, ledger: Ledger, cache_dir: Path, *, part: str) -> None:
    """Several versions per package and some files aged past cleanup_days; a restart's prune must enforce both."""
    keep_versions, cleanup_days, packages = 2, 90, 12
    names: list[str] = []
    env = {"cache_dir": str(cache_dir), "AUTODOCS_MAX_VERSIONS": str(keep_versions)}
    with running(tmp / "fill", mock_url, env, ready_timeout_s=READY_TIMEOUT_S) as proc, McpHttp(proc.base_url) as mcp:
        wait_for_prune(proc)
        for _ in range(10 * packages):
            name = unique("prune")
            versions = versions_of(mcp, name)
            if len(versions) <= keep_versions:
                continue  # the mock gives some projects a single release; pruning needs more
            for version in versions[:4]:
                reply = mcp.call("get_package_docs", {"package_name": name, "version_constraint": f"=={version}"})
                assert reply.code == "ok", reply.text[:200]
            names.append(name)
            if len(names) == packages:
                break
    filled = disk_versions(cache_dir)
    aged = names[: packages // 3]
    long_ago = time.time() - (cleanup_days + 30) * 86_400
    for name in aged:
        for file in (cache_dir / name).iterdir():
            os.utime(file, (long_ago, long_ago))
    env["AUTODOCS_CLEANUP_DAYS"] = str(cleanup_days)
    with running(tmp / "restart", mock_url, env, ready_timeout_s=READY_TIMEOUT_S) as proc:
        wait_for_prune(proc)
        attack = Attack(
            "load: disk pruning on restart (max versions, cleanup days)", proc.pid, proc.base_url, ledger, part=part
        )
        pruned = disk_versions(cache_dir)
        for name in names:
            if name in aged:
                attack.check(name not in pruned, f"{name} aged past cleanup_days but still on disk")
            else:
                attack.check(
                    filled.get(name, 0) > keep_versions, f"{name}: only {filled.get(name)} versions were cached"
                )
                attack.check(pruned.get(name, 0) == keep_versions, f"{name}: {pruned.get(name)} versions after prune")
        over = {n: c for n, c in pruned.items() if c > keep_versions}
        attack.check(not over, f"packages above AUTODOCS_MAX_VERSIONS after the restart: {len(over)}")
        attack.notes = (
            f"{packages} packages x up to 4 versions, {len(aged)} aged {cleanup_days + 30} days; "
            f"max versions {keep_versions}"
        )
        attack.assert_clean()
