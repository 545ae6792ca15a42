"""Graceful shutdown with real processes and real signals, on both transports."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2
import psutil
import pytest

from pypi_mock.admin import get_stats, set_faults
from tests.support.mcp_client import mcp_session
from tests.support.processes import VENV_BIN, ManagedProcess, guarded_env, server_env, start_server
from tests.support.waiting import eventually

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def in_flight(server: ManagedProcess) -> int:
    try:
        return int(httpx2.get(f"{server.base_url}/metrics", params={"format": "json"}).json()["requests"]["in_flight"])
    except httpx2.HTTPError:
        return -1


def cache_problems(cache_dir: Path) -> list[str]:
    problems = []
    for path in cache_dir.rglob("*"):
        if path.is_file():
            if path.suffix != ".json":
                problems.append(f"stray {path.name}")
                continue
            try:
                json.loads(path.read_bytes())
            except ValueError:
                problems.append(f"invalid {path.name}")
    return problems


def wait_exit(proc: ManagedProcess, timeout_s: float) -> tuple[int, float]:
    started = time.monotonic()
    code = proc.popen.wait(timeout=timeout_s)
    return code, time.monotonic() - started


def log_events(proc: ManagedProcess) -> list[dict[str, Any]]:
    events = []
    for line in proc.log_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            events.append(item)
    return events


async def start_slow_calls(url: str, names: list[str]) -> tuple[Any, list[asyncio.Task[Any]]]:
    session = mcp_session(url)
    client = await session.__aenter__()
    await client.list_tools()  # the SDK client validates results against the tool list; fetch it before the drain
    tasks = [asyncio.create_task(client.call_tool("get_package_docs", {"package_name": n})) for n in names]
    return session, tasks


async def close_quietly(session: Any) -> None:
    """Close a client session whose server may be gone already; failing to say goodbye is expected then."""
    try:
        await session.__aexit__(None, None, None)
    except Exception:
        return


async def test_sigterm_under_load_finishes_started_calls_refuses_new_ones_and_exits_0(
    mock_url: str, tmp_path: Path
) -> None:
    set_faults(mock_url, {"latency_ms": 1000, "latency_jitter_ms": 2000, "match": "drain-*"})
    server = start_server(tmp_path, mock_url, AUTODOCS_SHUTDOWN_GRACE="15")
    try:
        children_before = psutil.Process(server.pid).children(recursive=True)
        names = [f"drain-{i}" for i in range(8)]
        session, tasks = await start_slow_calls(f"{server.base_url}/mcp", names)
        try:
            await eventually(lambda: in_flight(server) == len(names), what="all calls in flight")
            server.signal_leader(signal.SIGTERM)
            await eventually(lambda: httpx2.get(f"{server.base_url}/readyz").status_code == 503, 2.0, "not ready")
            refused = httpx2.post(f"{server.base_url}/mcp", json=INIT, headers=ACCEPT)
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            results = await asyncio.gather(*tasks)
        finally:
            await session.__aexit__(None, None, None)
        assert [r.is_error for r in results] == [False] * len(names)
        code, after = wait_exit(server, 15)
        assert code == 0
        assert after < 15
    finally:
        server.stop()
    assert not [c for c in children_before if c.is_running()]
    await eventually(lambda: get_stats(mock_url)["connections"]["open"] <= 1, 5.0, "upstream sockets closed")
    assert cache_problems(tmp_path / "cache") == []
    kinds = [e.get("event") for e in log_events(server)]
    for phase in ("signal_received", "draining", "drained", "resources_closed", "stopped"):
        assert phase in kinds, phase


async def test_calls_that_outlast_the_grace_are_cut_counted_and_the_server_still_exits_0(
    mock_url: str, tmp_path: Path
) -> None:
    set_faults(mock_url, {"latency_ms": 8000, "match": "glacial-*"})
    server = start_server(tmp_path, mock_url, AUTODOCS_SHUTDOWN_GRACE="1")
    try:
        session, tasks = await start_slow_calls(f"{server.base_url}/mcp", [f"glacial-{i}" for i in range(3)])
        try:
            await eventually(lambda: in_flight(server) == 3, what="calls in flight")
            server.signal_leader(signal.SIGTERM)
            code, after = wait_exit(server, 10)
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await close_quietly(session)
        assert code == 0
        assert after < 1 + 3.5, f"exited {after:.1f} s after SIGTERM with a 1 s grace"
    finally:
        server.stop()
    forced = [e for e in log_events(server) if e.get("event") == "drain_forced"]
    assert forced and forced[0]["cancelled_calls"] == 3
    assert cache_problems(tmp_path / "cache") == []


async def test_a_second_sigterm_during_the_drain_exits_at_once(mock_url: str, tmp_path: Path) -> None:
    set_faults(mock_url, {"latency_ms": 8000, "match": "stuck-*"})
    server = start_server(tmp_path, mock_url, AUTODOCS_SHUTDOWN_GRACE="30")
    try:
        session, tasks = await start_slow_calls(f"{server.base_url}/mcp", ["stuck-1", "stuck-2"])
        try:
            await eventually(lambda: in_flight(server) == 2, what="calls in flight")
            server.signal_leader(signal.SIGTERM)
            await eventually(lambda: "draining" in server.log_text(), 5.0, "drain started")
            server.signal_leader(signal.SIGTERM)
            code, after = wait_exit(server, 10)
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await close_quietly(session)
        assert code == 128 + signal.SIGTERM
        assert after < 3.5
    finally:
        server.stop()
    assert cache_problems(tmp_path / "cache") == []


async def test_the_sse_response_mode_drains_in_flight_calls_too(mock_url: str, tmp_path: Path) -> None:
    set_faults(mock_url, {"latency_ms": 1500, "match": "sse-drain-*"})
    server = start_server(tmp_path, mock_url, "--response-mode", "sse", AUTODOCS_SHUTDOWN_GRACE="10")
    try:
        names = [f"sse-drain-{i}" for i in range(4)]
        session, tasks = await start_slow_calls(f"{server.base_url}/mcp", names)
        try:
            await eventually(lambda: in_flight(server) == len(names), what="calls in flight")
            server.signal_leader(signal.SIGTERM)
            results = await asyncio.gather(*tasks)
        finally:
            await session.__aexit__(None, None, None)
        assert [r.is_error for r in results] == [False] * len(names)
        code, _after = wait_exit(server, 10)
        assert code == 0
    finally:
        server.stop()


class StdioPeer:
    """Raw newline-delimited JSON-RPC over the server's stdin/stdout, so the test controls EOF exactly."""

    def __init__(self, mock_url: str, tmp_path: Path) -> None:
        self.cache_dir = tmp_path / "cache"
        self.log = (tmp_path / "stdio.log").open("wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "autodocs-mcp")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=guarded_env(server_env(mock_url, self.cache_dir, AUTODOCS_SHUTDOWN_GRACE="10")),
            start_new_session=True,
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "server closed stdout"
        return dict(json.loads(line))

    def start_call(self, request_id: int, name: str) -> None:
        self.send(INIT)
        assert self.read()["id"] == 1
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "get_package_docs", "arguments": {"package_name": name}},
            }
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_the_stdio_server_answers_its_in_flight_call_before_stopping(mock_url: str, tmp_path: Path, how: str) -> None:
    set_faults(mock_url, {"latency_ms": 1500, "match": "stdio-drain-*"})
    delayed_before = get_stats(mock_url)["faults"].get("latency", 0)
    peer = StdioPeer(mock_url, tmp_path)
    try:
        peer.start_call(7, f"stdio-drain-{how}")
        deadline = time.monotonic() + 10
        while get_stats(mock_url)["faults"].get("latency", 0) <= delayed_before and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the mock until the call has reached it (bounded by the deadline)
        if how == "eof":
            assert peer.proc.stdin is not None
            peer.proc.stdin.close()
        else:
            peer.proc.send_signal(signal.SIGTERM)
        answer = peer.read()
        assert answer["id"] == 7
        assert "result" in answer and not answer["result"].get("isError")
        assert peer.proc.wait(timeout=15) == 0
    finally:
        peer.close()
    assert cache_problems(peer.cache_dir) == []
    assert list(peer.cache_dir.rglob("*.json")), "the answered call's metadata was flushed to disk"
