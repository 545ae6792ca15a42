"""Tool-call accounting and the Prometheus text rendering of the server's snapshot.

``RequestMetrics`` is fed by the tool-call middleware (so no tool can forget to count itself); ``render_prometheus``
only renders the plain-dict snapshot that ``/metrics?format=json`` and the ``get_metrics`` tool return as is.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import math
import sys
import tracemalloc
from collections.abc import Iterable, Mapping
from typing import Any, Final

LATENCY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.count += 1
        self.total += seconds

    def snapshot(self) -> dict[str, Any]:
        cumulative: list[int] = []
        running = 0
        for n in self.counts:
            running += n
            cumulative.append(running)
        return {
            "buckets": dict(zip([*map(str, LATENCY_BUCKETS_S), "+Inf"], cumulative, strict=True)),
            "count": self.count,
            "sum": self.total,
        }


class RequestMetrics:
    """Calls by tool and outcome, a latency histogram per tool, and the in-flight gauge.

    Tool names come from clients, so the caller labels unknown names ``"unknown"``: a client calling random tool
    names must not grow this object without bound.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._calls: dict[tuple[str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}

    def started(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, tool: str, outcome: str, seconds: float) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()
        key = (tool, outcome)
        self._calls[key] = self._calls.get(key, 0) + 1
        histogram = self._latency.get(tool)
        if histogram is None:
            histogram = self._latency[tool] = _Histogram()
        histogram.observe(seconds)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no tool call is in flight; False if ``timeout_s`` passed first (graceful shutdown's drain)."""
        if self.in_flight == 0:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        finally:
            if waiter in self._idle_waiters:
                self._idle_waiters.remove(waiter)
        return True

    def snapshot(self) -> dict[str, Any]:
        calls: dict[str, dict[str, int]] = {}
        for (tool, outcome), n in self._calls.items():
            calls.setdefault(tool, {})[outcome] = n
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "calls": calls,
            "calls_total": sum(self._calls.values()),
            "latency_seconds": {tool: h.snapshot() for tool, h in self._latency.items()},
        }


def python_heap() -> dict[str, int]:
    """Live Python allocator blocks and GC counts, so a reader of a rising RSS can tell leaked Python objects
    (blocks rise with it) from allocator high-water and fragmentation (blocks flat). About 60 µs per call.

    The ``tracemalloc_*`` keys say whether ``/debug/allocations`` can answer and what tracing holds now (traced
    bytes is what the traced blocks weigh, not tracemalloc's own overhead); reading them is O(1).
    """
    generations = gc.get_stats()
    tracing = tracemalloc.is_tracing()
    traced_bytes, _peak = tracemalloc.get_traced_memory()
    return {
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_collections": sum(int(g["collections"]) for g in generations),
        "gc_uncollectable": sum(int(g["uncollectable"]) for g in generations),
        "tracemalloc_tracing": tracing,
        "tracemalloc_frames": tracemalloc.get_traceback_limit() if tracing else 0,
        "tracemalloc_traced_bytes": traced_bytes,
    }


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return "0"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, object], object]],
        suffix_samples: Iterable[tuple[str, Mapping[str, object], object]] = (),
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{self._labels(labels)} {_number(value)}")
        for suffix, labels, value in suffix_samples:
            self.lines.append(f"{name}{suffix}{self._labels(labels)} {_number(value)}")

    @staticmethod
    def _labels(labels: Mapping[str, object]) -> str:
        if not labels:
            return ""
        return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"

    def gauge(self, name: str, help_text: str, value: object) -> None:
        self.family(name, "gauge", help_text, [({}, value)])

    def counter(self, name: str, help_text: str, value: object) -> None:
        self.family(name, "counter", help_text, [({}, value)])


def _tool_families(out: _Writer, requests: Mapping[str, Any]) -> None:
    out.family(
        "autodocs_tool_calls_total",
        "counter",
        "MCP tool calls by tool and outcome.",
        [
            ({"tool": tool, "outcome": outcome}, n)
            for tool, outcomes in requests.get("calls", {}).items()
            for outcome, n in outcomes.items()
        ],
    )
    histogram_samples: list[tuple[str, Mapping[str, object], object]] = []
    for tool, hist in requests.get("latency_seconds", {}).items():
        for bound, n in hist["buckets"].items():
            histogram_samples.append(("_bucket", {"tool": tool, "le": bound}, n))
        histogram_samples.append(("_sum", {"tool": tool}, float(hist["sum"])))
        histogram_samples.append(("_count", {"tool": tool}, hist["count"]))
    out.family("autodocs_tool_call_duration_seconds", "histogram", "MCP tool call latency.", [], histogram_samples)
    out.gauge("autodocs_tool_calls_in_flight", "Tool calls being served now.", requests.get("in_flight", 0))


def _upstream_families(out: _Writer, upstream: Mapping[str, Any]) -> None:
    pool = upstream.get("pool", {})
    out.family(
        "autodocs_upstream_pool_connections",
        "gauge",
        "Upstream pool connections by state (expired ones are still open until reaped).",
        [({"state": state}, pool.get(state, 0)) for state in ("active", "idle", "connecting", "expired")],
    )
    out.gauge("autodocs_upstream_pool_open_connections", "Open upstream connections.", pool.get("open", 0))
    out.gauge(
        "autodocs_upstream_pool_queued_requests", "Requests waiting for a pool connection.", pool.get("queued", 0)
    )
    out.gauge("autodocs_upstream_pool_max_connections", "Configured pool limit.", pool.get("max_connections", 0))
    out.gauge(
        "autodocs_upstream_fetches_in_flight",
        "Distinct upstream fetches in flight.",
        upstream.get("inflight_fetches", 0),
    )
    for key, help_text in (
        ("calls", "Upstream fetch requests made by tools (before coalescing)."),
        ("coalesced", "Requests that joined an identical in-flight fetch."),
        ("attempts", "HTTP attempts sent upstream."),
        ("retries", "Retries after an upstream fault."),
        ("not_found", "Upstream 404 answers."),
        ("pool_timeouts", "Waits for a pool connection that timed out."),
    ):
        out.counter(f"autodocs_upstream_{key}_total", help_text, upstream.get(key, 0))
    out.counter(
        "autodocs_upstream_received_bytes_total", "Body bytes read from upstream.", upstream.get("bytes_received", 0)
    )
    out.family(
        "autodocs_upstream_failures_total",
        "counter",
        "Upstream fetches that failed, by error code.",
        [({"code": code}, n) for code, n in upstream.get("failures_by_code", {}).items()],
    )
    breaker = upstream.get("breaker", {})
    state = breaker.get("state", "closed")
    out.family(
        "autodocs_breaker_state",
        "gauge",
        "Circuit breaker state (1 for the current state).",
        [({"state": s}, 1 if s == state else 0) for s in ("closed", "open", "half_open")],
    )
    out.gauge(
        "autodocs_breaker_consecutive_failures",
        "Consecutive upstream failures.",
        breaker.get("consecutive_failures", 0),
    )
    out.family(
        "autodocs_breaker_transitions_total",
        "counter",
        "Circuit breaker transitions.",
        [({"transition": t}, n) for t, n in breaker.get("transitions", {}).items()],
    )
    out.counter("autodocs_breaker_rejected_total", "Calls failed fast by an open circuit.", breaker.get("rejected", 0))
    limiter = upstream.get("limiter", {})
    for key in ("admitted", "delayed", "rejected"):
        out.counter(f"autodocs_limiter_{key}_total", f"Rate limiter: requests {key}.", limiter.get(key, 0))
    out.gauge("autodocs_limiter_waiting", "Requests waiting for a rate-limit slot.", limiter.get("waiting", 0))
    out.gauge(
        "autodocs_limiter_current_wait_seconds",
        "Wait a new upstream request would face now.",
        float(limiter.get("current_wait_s", 0.0)),
    )


def _cache_families(out: _Writer, cache: Mapping[str, Any]) -> None:
    """The release store: lookups, the disk tier, every in-memory tier's entries, bytes and caps, and the budget.

    ``autodocs_cache_entries``/``_size_bytes`` keep their two series: ``tier="memory"`` is the total of all
    in-memory tiers (against the budget), ``tier="disk"`` the files. The per-tier figures are families of their own,
    so summing one family over its labels never counts a byte twice.
    """
    out.family(
        "autodocs_cache_hits_total",
        "counter",
        "Cache hits by tier.",
        [({"tier": "memory"}, cache.get("hits", 0)), ({"tier": "disk"}, cache.get("disk_hits", 0))],
    )
    out.counter("autodocs_cache_misses_total", "Cache misses.", cache.get("misses", 0))
    out.counter("autodocs_cache_writes_total", "Cache files written.", cache.get("writes", 0))
    out.counter("autodocs_cache_write_errors_total", "Cache writes that failed.", cache.get("write_errors", 0))
    out.counter("autodocs_cache_evictions_total", "Memory-tier evictions, all tiers.", cache.get("evictions", 0))
    out.counter(
        "autodocs_cache_corrupt_removed_total",
        "Corrupt cache files found and removed.",
        cache.get("corrupt_removed", 0),
    )
    out.family(
        "autodocs_cache_entries",
        "gauge",
        "Cache entries: all in-memory tiers together, and the disk.",
        [({"tier": "memory"}, cache.get("memory_entries", 0)), ({"tier": "disk"}, cache.get("disk_entries", 0))],
    )
    out.family(
        "autodocs_cache_size_bytes",
        "gauge",
        "Cache size: all in-memory tiers together (measured), and the disk.",
        [({"tier": "memory"}, cache.get("memory_bytes", 0)), ({"tier": "disk"}, cache.get("disk_bytes", 0))],
    )
    out.gauge(
        "autodocs_memory_budget_bytes",
        "The memory budget all in-memory tiers share (AUTODOCS_MEMORY_BUDGET_MB).",
        cache.get("memory_bytes_limit", 0),
    )
    out.gauge(
        "autodocs_memory_budget_entries",
        "Entries all in-memory tiers may hold together (AUTODOCS_MEMORY_CACHE_ENTRIES).",
        cache.get("memory_entries_limit", 0),
    )
    tiers: Mapping[str, Mapping[str, Any]] = cache.get("tiers", {})
    for key, kind, help_text in (
        ("entries", "gauge", "Entries held, by in-memory tier."),
        ("bytes", "gauge", "Measured bytes held, by in-memory tier."),
        ("entries_limit", "gauge", "Entry cap, by in-memory tier (its share of the budget)."),
        ("bytes_limit", "gauge", "Byte cap, by in-memory tier (its share of the budget)."),
        ("evictions", "counter", "Entries evicted to make room, by in-memory tier."),
        ("too_large", "counter", "Entries larger than their whole tier, not stored, by in-memory tier."),
    ):
        name = f"autodocs_memory_tier_{key}" + ("_total" if kind == "counter" else "")
        out.family(name, kind, help_text, [({"tier": tier}, figures.get(key, 0)) for tier, figures in tiers.items()])


def render_prometheus(snapshot: Mapping[str, Any]) -> str:
    """Prometheus text exposition (format 0.0.4) of a server snapshot; unknown or missing parts render as zeros."""
    out = _Writer()
    _tool_families(out, snapshot.get("requests", {}))
    _upstream_families(out, snapshot.get("upstream", {}))
    _cache_families(out, snapshot.get("cache", {}))
    out.gauge("autodocs_sessions_open", "Open streamable-HTTP MCP sessions.", snapshot.get("sessions_open", 0))
    out.gauge("autodocs_sessions_max", "The session cap (AUTODOCS_MAX_SESSIONS).", snapshot.get("sessions_max", 0))
    out.counter(
        "autodocs_sessions_evicted_total",
        "Idle sessions ended to make room for a new client at the cap.",
        snapshot.get("sessions_evicted_total", 0),
    )
    out.counter(
        "autodocs_sessions_refused_total",
        "New sessions refused with 503 because every candidate session was busy.",
        snapshot.get("sessions_refused_total", 0),
    )
    out.gauge(
        "autodocs_session_requests_open",
        "Requests the sessions hold open (dispatched or queued); AUTODOCS_MAX_REQUESTS_PER_SESSION bounds each.",
        snapshot.get("requests_open", 0),
    )
    out.counter(
        "autodocs_session_requests_refused_total",
        "Requests answered 429 because their session already had its bound of requests open.",
        snapshot.get("requests_refused_total", 0),
    )
    out.gauge("autodocs_ready", "1 when the server is ready to serve.", bool(snapshot.get("ready", False)))
    out.gauge("autodocs_draining", "1 while a graceful shutdown drains calls.", bool(snapshot.get("draining", False)))
    python = snapshot.get("python", {})
    out.gauge(
        "autodocs_python_allocated_blocks",
        "Live blocks of Python's small-object allocator (flat while RSS rises: allocator, not a leak).",
        python.get("allocated_blocks", 0),
    )
    out.counter("autodocs_python_gc_collections_total", "Garbage collector runs.", python.get("gc_collections", 0))
    out.gauge(
        "autodocs_python_gc_uncollectable",
        "Objects the garbage collector found uncollectable.",
        python.get("gc_uncollectable", 0),
    )
    out.gauge(
        "autodocs_python_tracemalloc_tracing",
        "1 while tracemalloc traces allocations (AUTODOCS_TRACEMALLOC_FRAMES > 0).",
        bool(python.get("tracemalloc_tracing", False)),
    )
    out.gauge(
        "autodocs_python_tracemalloc_frames",
        "Frames kept per traced allocation (0 when tracing is off).",
        python.get("tracemalloc_frames", 0),
    )
    out.gauge(
        "autodocs_python_tracemalloc_traced_bytes",
        "Bytes of the live blocks tracemalloc traces now.",
        python.get("tracemalloc_traced_bytes", 0),
    )
    out.gauge("autodocs_uptime_seconds", "Seconds since the server started.", float(snapshot.get("uptime_s", 0.0)))
    return "\n".join(out.lines) + "\n"
