"""Whole tool calls through the MCP SDK, in process: a warm ``get_package_docs`` against the SDK's own floor.

A warm call does no upstream I/O, so what it costs is the SDK's round trip (JSON-RPC dispatch over in-memory
streams, pydantic validation, OpenTelemetry spans) plus our share: argument checks, memo and cache lookups and the
payload. The floor is a trivial tool on the same kind of ``MCPServer`` returning a fixed 5 KB string, timed
interleaved with the real call in one test; the CI check bounds the ratio of their medians, which survives a noisy
shared machine where absolute figures do not. ``test_bench_get_package_docs_warm_our_code_only`` times
``DocsService.package_docs`` without the SDK, to split the whole figure into SDK overhead and our share.

Clients are entered once and reused across rounds on one event loop. anyio requires a cancel scope to be left by
the task that entered it and every ``run_until_complete`` runs a new task, so each client lives inside one holder
task for the whole module instead of being entered round by round through an ``AsyncExitStack``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from pytest_benchmark.fixture import BenchmarkFixture

from autodocs_mcp.app import TOOL_NAMES, ServerState, build_server
from autodocs_mcp.config import Settings
from autodocs_mcp.metrics import render_prometheus
from pypi_mock.admin import set_faults
from tests.support.processes import ManagedProcess

pytestmark = pytest.mark.timeout(120)

OPEN_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 15.0
PACKAGE = {"package_name": "requests"}
FIXED_TEXT = ("The quick brown fox jumps over the lazy dog. " * 120)[:5120]
WARM_TARGET_MS = 1.0
RATIO_WARMUP, RATIO_REPS = 30, 200
# Measured here (2 shared cores, 17 runs): 0.97-1.00 with the parsed-metadata memo of DocsService; 1.47-1.65
# (21 runs) before it, when every warm hit re-validated the cached 29 KB description. A bound just above the worst
# run flags any per-call work of ours that comes back; the interleaved medians cancel out the machine's load.
# Since every tool publishes an outputSchema (issue 17), the in-process SDK client validates each of our answers
# against it (an anyOf of the success and error shapes, jsonschema in the client): 1.25-1.36 here (5 runs), the
# server's own argument check being ~13 µs of it. The bound keeps the same headroom above the new worst run.
MAX_WARM_TO_TRIVIAL_RATIO = 1.5
MEASURED_RATIO = "1.25-1.36"


class InProcessClient:
    """An MCP client on an in-process server (entering its lifespan), held open by one task on ``loop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: MCPServer[Any]) -> None:
        self._loop = loop
        self._server = server
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Client | None = None

    def open(self) -> InProcessClient:
        ready: asyncio.Future[Client] = self._loop.create_future()
        self._task = self._loop.create_task(self._hold(ready))
        self._client = self._loop.run_until_complete(asyncio.wait_for(asyncio.shield(ready), OPEN_TIMEOUT_S))
        return self

    async def _hold(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with Client(self._server, mode="legacy") as client:
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None) -> CallToolResult:
        assert self._client is not None, "open() first"
        return self._loop.run_until_complete(self._client.call_tool(tool, dict(arguments or {})))

    def close(self) -> None:
        """Leave the client (and the server's lifespan) in the task that entered them, bounded in time."""
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        self._loop.run_until_complete(asyncio.wait_for(task, CLOSE_TIMEOUT_S))


def trivial_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("trivial", log_level="WARNING")

    @server.tool()
    async def fixed_text() -> str:
        """The same 5 KB every time: a round trip through the SDK with no work of ours in it."""
        return FIXED_TEXT

    return server


@pytest.fixture(scope="module")
def docs_server(
    module_loop: asyncio.AbstractEventLoop, pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[InProcessClient, ServerState]]:
    """Our server on the session mock, its cache warmed by one call (the only one that reaches the mock)."""
    set_faults(pypi_mock.base_url, {})
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        pypi_url=f"{pypi_mock.base_url}/pypi",
        cache_dir=tmp_path_factory.mktemp("bench-server-cache"),
    )
    server, state = build_server(settings)
    client = InProcessClient(module_loop, server)
    try:
        client.open()
        first = client.call("get_package_docs", PACKAGE)
        assert not first.is_error, first.content
        assert first.structured_content is not None and first.structured_content["from_cache"] is False
        yield client, state
    finally:
        client.close()


@pytest.fixture(scope="module")
def trivial_client(module_loop: asyncio.AbstractEventLoop) -> Iterator[InProcessClient]:
    client = InProcessClient(module_loop, trivial_server())
    try:
        client.open()
        # The first call also lists the tools (the client validates results against their output schemas); left
        # in the first round, it skews pytest-benchmark's calibration towards a handful of rounds.
        assert not client.call("fixed_text").is_error
        yield client
    finally:
        client.close()


def upstream_calls(state: ServerState) -> int:
    return int(state.snapshot()["upstream"]["calls"])


def test_bench_get_package_docs_warm_in_process(
    benchmark: BenchmarkFixture, docs_server: tuple[InProcessClient, ServerState]
) -> None:
    client, state = docs_server
    calls_before = upstream_calls(state)
    result = benchmark(client.call, "get_package_docs", PACKAGE)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["from_cache"] is True
    assert result.structured_content["upstream_requests"] == 0
    assert upstream_calls(state) == calls_before, "a warm call must not reach the upstream"
    benchmark.extra_info["target_ms"] = WARM_TARGET_MS
    benchmark.extra_info["text_chars"] = sum(len(c.text) for c in result.content if isinstance(c, TextContent))


def test_bench_trivial_tool_in_process(benchmark: BenchmarkFixture, trivial_client: InProcessClient) -> None:
    result = benchmark(trivial_client.call, "fixed_text")
    assert not result.is_error
    assert result.structured_content == {"result": FIXED_TEXT}


def test_bench_get_package_docs_warm_our_code_only(
    benchmark: BenchmarkFixture,
    module_loop: asyncio.AbstractEventLoop,
    docs_server: tuple[InProcessClient, ServerState],
) -> None:
    _client, state = docs_server
    service = state.require().service
    payload = benchmark(lambda: module_loop.run_until_complete(service.package_docs("requests", None, None)))
    assert payload["from_cache"] is True
    assert payload["upstream_requests"] == 0


def _timed_call(client: InProcessClient, tool: str, arguments: Mapping[str, Any] | None = None) -> float:
    started = time.perf_counter()
    result = client.call(tool, arguments)
    elapsed = time.perf_counter() - started
    assert not result.is_error, result.content
    return elapsed


def test_warm_get_package_docs_costs_at_most_a_small_multiple_of_a_trivial_tool_call(
    docs_server: tuple[InProcessClient, ServerState], trivial_client: InProcessClient
) -> None:
    client, state = docs_server
    calls_before = upstream_calls(state)
    docs_s: list[float] = []
    trivial_s: list[float] = []
    for rep in range(RATIO_WARMUP + RATIO_REPS):
        docs = _timed_call(client, "get_package_docs", PACKAGE)
        trivial = _timed_call(trivial_client, "fixed_text")
        if rep >= RATIO_WARMUP:
            docs_s.append(docs)
            trivial_s.append(trivial)
    docs_ms = statistics.median(docs_s) * 1000
    trivial_ms = statistics.median(trivial_s) * 1000
    ratio = docs_ms / trivial_ms
    print(
        f"\nwarm get_package_docs {docs_ms:.3f} ms, trivial 5 KB tool {trivial_ms:.3f} ms (medians), ratio {ratio:.2f}"
    )
    assert upstream_calls(state) == calls_before
    assert ratio <= MAX_WARM_TO_TRIVIAL_RATIO, (
        f"warm get_package_docs median {docs_ms:.3f} ms is {ratio:.2f}x the trivial tool's {trivial_ms:.3f} ms; "
        f"measured {MEASURED_RATIO}x here, bound {MAX_WARM_TO_TRIVIAL_RATIO}x"
    )


# --- /metrics --------------------------------------------------------------------------------------------------

BUSY_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("get_package_docs", {"package_name": "requests"}),
    ("get_package_docs", {"package_name": "requests", "query": "install"}),
    ("get_package_docs", {"package_name": "flask", "version_constraint": ">=2"}),
    ("get_package_docs", {"package_name": "missing-benchmark-pkg"}),
    ("get_package_docs", {"package_name": "not a name!"}),
    ("get_package_docs_with_context", {"package_name": "fastapi", "max_dependencies": 4}),
    ("get_package_docs_with_context", {"package_name": "requests", "context_scope": "primary_only"}),
    ("get_cache_stats", {}),
    ("health_check", {}),
    ("ready_check", {}),
    ("get_metrics", {}),
    ("no_such_tool", {}),
    ("refresh_cache", {}),
    ("get_package_docs", {"package_name": "requests"}),
)


@pytest.fixture(scope="module")
def busy_state(
    module_loop: asyncio.AbstractEventLoop, pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerState]:
    """A live server that has served every tool, successes and errors alike, so every metric family has samples."""
    set_faults(pypi_mock.base_url, {})
    project = tmp_path_factory.mktemp("bench-project")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\ndependencies = ["requests>=2", "fastapi"]\n'
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        pypi_url=f"{pypi_mock.base_url}/pypi",
        cache_dir=tmp_path_factory.mktemp("bench-metrics-cache"),
        rate_limit_rpm=100_000,
    )
    server, state = build_server(settings)
    client = InProcessClient(module_loop, server)
    try:
        client.open()
        for _ in range(3):
            client.call("scan_dependencies", {"project_path": str(project)})
            for tool, arguments in BUSY_CALLS:
                client.call(tool, arguments)
        yield state
    finally:
        client.close()


def test_bench_metrics_rendering_of_a_busy_server(benchmark: BenchmarkFixture, busy_state: ServerState) -> None:
    text = benchmark(lambda: render_prometheus(busy_state.snapshot()))
    calls = busy_state.snapshot()["requests"]["calls"]
    assert set(calls) >= {*TOOL_NAMES, "unknown"}
    assert 'autodocs_tool_calls_total{tool="get_package_docs",outcome="package_not_found"} 3' in text
    assert 'autodocs_tool_calls_total{tool="get_package_docs",outcome="invalid_package_name"} 3' in text
    assert "autodocs_upstream_attempts_total " in text
    buckets = [line for line in text.splitlines() if line.startswith("autodocs_tool_call_duration_seconds_bucket{")]
    assert len(buckets) == len(calls) * 15, "one histogram of 15 buckets per tool, unknown included"
    benchmark.extra_info["lines"] = text.count("\n")
    benchmark.extra_info["bytes"] = len(text)
