"""Per-request and per-second costs of the harness itself: the PyPI mock answering a warm request, and the soak
sampler taking one sample of a process tree.

Both run on the same two cores as the server under test, so every microsecond they spend is taken from it: the
mock's warm path must stay a parse, a dict lookup and one write, and a 1 Hz sampler must stay a small fraction
of a core over 24 hours.

The mock is driven without sockets, through ``HttpConnection.data_received`` with a transport that only counts
bytes: that is the whole warm path (httptools parse, route, LRU hit, write) minus the kernel.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pypi_mock import data
from pypi_mock.connection import HttpConnection
from pypi_mock.server import MockServer
from pypi_mock.state import MockState
from tests.support.processes import ManagedProcess, free_port, start_process

pytestmark = pytest.mark.timeout(120)

PROJECT_GET = b"GET /pypi/fastapi/json HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
VERSION_GET = b"GET /pypi/requests/2.31.0/json HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"


class CountingTransport(asyncio.Transport):
    """Accepts whatever the connection writes and keeps only the byte count, so rounds allocate nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        """The warm path never fills the pipeline queue, so reading is never paused."""

    def resume_reading(self) -> None:
        """See ``pause_reading``."""


@pytest.fixture
def connection() -> Iterator[tuple[HttpConnection, CountingTransport, MockState]]:
    loop = asyncio.new_event_loop()
    state = MockState()
    conn = HttpConnection(MockServer(state, loop=loop))
    transport = CountingTransport()
    conn.connection_made(transport)
    try:
        yield conn, transport, state
    finally:
        conn.connection_lost(None)
        loop.close()


def answer_warm(benchmark: BenchmarkFixture, conn: HttpConnection, transport: CountingTransport, request: bytes) -> int:
    """Benchmark one warm keep-alive request; returns the response size in bytes."""
    conn.data_received(request)  # the miss that builds and caches the response
    size = transport.written
    assert size > 0
    transport.written = 0
    benchmark(conn.data_received, request)
    assert not transport.closed
    assert transport.written % size == 0, "every round must have written exactly one full response"
    return size


def test_bench_mock_warm_project_request(
    benchmark: BenchmarkFixture, connection: tuple[HttpConnection, CountingTransport, MockState]
) -> None:
    conn, transport, state = connection
    size = answer_warm(benchmark, conn, transport, PROJECT_GET)
    body = data.project_json("fastapi")
    assert body is not None and size > len(body)
    assert state.cache.stats()["misses"] == 1
    assert state.stats.requests["project"] == state.cache.stats()["hits"] + 1
    benchmark.extra_info["response_bytes"] = size


def test_bench_mock_warm_version_request(
    benchmark: BenchmarkFixture, connection: tuple[HttpConnection, CountingTransport, MockState]
) -> None:
    conn, transport, state = connection
    size = answer_warm(benchmark, conn, transport, VERSION_GET)
    assert state.cache.stats()["misses"] == 1
    assert state.stats.requests["version"] == state.cache.stats()["hits"] + 1
    benchmark.extra_info["response_bytes"] = size


# --- the soak sampler --------------------------------------------------------------------------------------------


def _process_tree_probe() -> Any:
    """``soak.sampler.ProcessTreeProbe`` if the sampler exposes it; the soak helper owns that module."""
    sampler = pytest.importorskip("soak.sampler")
    probe = getattr(sampler, "ProcessTreeProbe", None)
    if probe is None:
        pytest.skip("soak.sampler has no ProcessTreeProbe to take one sample of a process with")
    return probe


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ManagedProcess]:
    proc = start_process([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log")
    try:
        yield proc
    finally:
        proc.stop()


def test_bench_soak_sampler_one_sample_of_a_process(benchmark: BenchmarkFixture, sleeper: ManagedProcess) -> None:
    probe_class = _process_tree_probe()
    # A listening port makes the probe count TCP sockets too, as it does in a soak run; USS is left to its
    # own slower cadence (the constructor's default), so a round is the per-second sample.
    probe = probe_class(sleeper.pid, listen_port=free_port(), upstream_port=None)
    probe.read()
    sample = benchmark(probe.read)
    assert sample["rss_bytes"] and sample["rss_bytes"] > 0
    assert sample["children"] == 0
    assert sample["tcp_clients"] == 0
