"""What every reliability test needs: a raw MCP client, a resource watch on the server's PID, and the ledger.

The raw client speaks the JSON-mode wire protocol itself (initialize, initialized, tools/call) so a test can send
bytes no SDK client would. ``ResourceWatch`` compares the server's RSS and open descriptors before an attack with
their level after a bounded settle wait. ``Ledger`` appends one row per attack to ``reports/reliability/`` so the
table in ``notes/reliability.md`` is rendered from a real run (``python -m tests.reliability.render``).
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import psutil
import pytest

from mcp_locust.children import wait_ready
from tests.support.processes import VENV_BIN, ManagedProcess, free_port, server_env, start_process

REPO = Path(__file__).resolve().parents[2]
LEDGER_DIR = REPO / "reports" / "reliability"
PROTOCOL_VERSION = "2025-11-25"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
MIB = 1024 * 1024

RSS_ALLOWANCE_MB = 20.0
FD_ALLOWANCE = 10
"""Idle keep-alive sockets to the upstream may stay (AUTODOCS_POOL_MAX_KEEPALIVE's shipped default is 10)."""
SETTLE_S = 20.0
WARM_PACKAGE = "requests"


def initialize_body(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "reliability-suite", "version": "1"},
        },
    }


@dataclass(frozen=True)
class ToolReply:
    status: int
    is_error: bool
    structured: dict[str, Any]
    text: str
    seconds: float

    @property
    def code(self) -> str | None:
        """The structured error code, ``"ok"`` for a success, None for an SDK-level error without one."""
        if not self.is_error and self.structured.get("success") is True:
            return "ok"
        error = self.structured.get("error")
        return str(error.get("code")) if isinstance(error, dict) else None


def _tool_reply(response: httpx2.Response, seconds: float) -> ToolReply:
    if response.status_code != 200:
        return ToolReply(response.status_code, True, {}, response.text[:2000], seconds)
    message = response.json()
    result = message.get("result")
    if not isinstance(result, dict):
        return ToolReply(response.status_code, True, {}, json.dumps(message.get("error"))[:2000], seconds)
    content = result.get("content") or [{}]
    text = str(content[0].get("text", "")) if isinstance(content[0], dict) else ""
    structured = result.get("structuredContent")
    return ToolReply(
        response.status_code,
        bool(result.get("isError")),
        structured if isinstance(structured, dict) else {},
        text,
        seconds,
    )


def call_body(request_id: int, tool: str, arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


def send_and_close(base_url: str, session_id: str, body: dict[str, Any]) -> None:
    """``body`` POSTed to ``/mcp`` on ``session_id`` over a raw connection of its own, which is closed as soon as
    the request is sent: an aborted call, with nothing in a client library to soften the abort."""
    host, port = base_url.removeprefix("http://").split(":")
    content = json.dumps(body).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: {MCP_HEADERS['accept']}\r\nmcp-session-id: {session_id}\r\n"
        f"mcp-protocol-version: {PROTOCOL_VERSION}\r\nContent-Length: {len(content)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + content)


class McpHttp:
    """A synchronous raw MCP session over one HTTP/1.1 keep-alive client."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.url = f"{base_url}/mcp"
        self._client = httpx2.Client(
            timeout=timeout, trust_env=False, verify=False, headers={**MCP_HEADERS, **(headers or {})}
        )
        self._ids = itertools.count(1)
        self.session_id = ""

    def __enter__(self) -> McpHttp:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self) -> McpHttp:
        response = self._client.post(self.url, json=initialize_body(next(self._ids)))
        response.raise_for_status()
        self.session_id = response.headers["mcp-session-id"]
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).raise_for_status()
        return self

    def session_headers(self) -> dict[str, str]:
        return {"mcp-session-id": self.session_id, "mcp-protocol-version": PROTOCOL_VERSION}

    def post(self, body: bytes | object, headers: dict[str, str] | None = None) -> httpx2.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self._client.post(self.url, content=content, headers={**self.session_headers(), **(headers or {})})

    def request(self, method: str, params: dict[str, Any] | None = None) -> httpx2.Response:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body)

    def call(self, tool: str, arguments: Any = None) -> ToolReply:
        started = time.perf_counter()
        response = self.post(call_body(next(self._ids), tool, {} if arguments is None else arguments))
        return _tool_reply(response, time.perf_counter() - started)

    def close(self) -> None:
        if self.session_id:
            try:
                self._client.delete(self.url, headers=self.session_headers())
            except httpx2.HTTPError:
                pass
        self._client.close()


class AsyncMcpHttp:
    """One raw MCP session shared by many concurrent calls (ids are unique per session, as the protocol needs)."""

    def __init__(
        self, base_url: str, connections: int = 100, headers: dict[str, str] | None = None, timeout: float = 120.0
    ) -> None:
        self.url = f"{base_url}/mcp"
        self._client = httpx2.AsyncClient(
            timeout=timeout,
            trust_env=False,
            verify=False,
            headers={**MCP_HEADERS, **(headers or {})},
            limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self._ids = itertools.count(1)
        self.session_id = ""

    async def __aenter__(self) -> AsyncMcpHttp:
        response = await self._client.post(self.url, json=initialize_body(next(self._ids)))
        response.raise_for_status()
        self.session_id = response.headers["mcp-session-id"]
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await self._client.post(self.url, json=initialized, headers=self._session())).raise_for_status()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        try:
            await self._client.delete(self.url, headers=self._session())
        except httpx2.HTTPError:
            pass
        await self._client.aclose()

    def _session(self) -> dict[str, str]:
        return {"mcp-session-id": self.session_id, "mcp-protocol-version": PROTOCOL_VERSION}

    async def call(self, tool: str, arguments: Any = None) -> ToolReply:
        started = time.perf_counter()
        body = call_body(next(self._ids), tool, {} if arguments is None else arguments)
        response = await self._client.post(self.url, json=body, headers=self._session())
        return _tool_reply(response, time.perf_counter() - started)


def address(proc: ManagedProcess) -> tuple[str, int]:
    parts = urlsplit(proc.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def serves_normally(base_url: str, headers: dict[str, str] | None = None) -> bool:
    """The server still answers a probe and a normal documentation call, after whatever was done to it."""
    try:
        with httpx2.Client(timeout=10.0, trust_env=False) as client:
            if client.get(f"{base_url}/healthz").status_code != 200:
                return False
        with McpHttp(base_url, headers=headers) as mcp:
            return mcp.call("get_package_docs", {"package_name": WARM_PACKAGE}).code == "ok"
    except httpx2.HTTPError:
        return False


@dataclass(frozen=True)
class Usage:
    rss_mb: float
    fds: int

    def __str__(self) -> str:
        return f"{self.rss_mb:.1f} MB / {self.fds} FDs"


def usage(pid: int) -> Usage:
    process = psutil.Process(pid)
    return Usage(round(process.memory_info().rss / MIB, 1), process.num_fds())


class ResourceWatch:
    """RSS and open FDs of the server before an attack, and whether they come back within the allowance."""

    def __init__(self, pid: int, rss_allowance_mb: float = RSS_ALLOWANCE_MB, fd_allowance: int = FD_ALLOWANCE) -> None:
        self.pid = pid
        self.rss_allowance_mb = rss_allowance_mb
        self.fd_allowance = fd_allowance
        self.before = usage(pid)
        self.after = self.before

    def within(self, now: Usage) -> bool:
        return (
            now.rss_mb <= self.before.rss_mb + self.rss_allowance_mb and now.fds <= self.before.fds + self.fd_allowance
        )

    def settle(self, timeout_s: float = SETTLE_S) -> bool:
        """Poll (bounded) until usage is back within the allowance; records ``after`` either way."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.after = usage(self.pid)
            if self.within(self.after) or time.monotonic() > deadline:
                return self.within(self.after)
            time.sleep(0.2)


@dataclass
class Row:
    attack: str
    tried: int
    correct: int
    alive: bool
    before: Usage
    after: Usage
    seconds: float
    part: str = "fast"
    notes: str = ""
    rss_allowance_mb: float = RSS_ALLOWANCE_MB
    fd_allowance: int = FD_ALLOWANCE
    recorded_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        data = asdict(self)
        data["before"] = asdict(self.before)
        data["after"] = asdict(self.after)
        return json.dumps(data)


class Ledger:
    """Appends rows to ``reports/reliability/<part>.jsonl``; the first row of a part in a session starts a new file."""

    def __init__(self, directory: Path = LEDGER_DIR) -> None:
        self.directory = directory
        self._started: set[str] = set()

    def record(self, row: Row) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{row.part}.jsonl"
        mode = "a" if row.part in self._started else "w"
        self._started.add(row.part)
        with path.open(mode, encoding="utf-8") as out:
            out.write(row.to_json() + "\n")


@dataclass
class Attack:
    """One attack's bookkeeping: a watch on the server, a tally, and the ledger row it produces."""

    name: str
    pid: int
    base_url: str
    ledger: Ledger
    part: str = "fast"
    headers: dict[str, str] | None = None
    rss_allowance_mb: float = RSS_ALLOWANCE_MB
    fd_allowance: int = FD_ALLOWANCE
    tried: int = 0
    correct: int = 0
    failures: list[str] = field(default_factory=list)
    notes: str = ""

    def __post_init__(self) -> None:
        self.watch = ResourceWatch(self.pid, self.rss_allowance_mb, self.fd_allowance)
        self._started = time.monotonic()

    def check(self, ok: bool, what: str) -> None:
        self.tried += 1
        if ok:
            self.correct += 1
        elif len(self.failures) < 50:
            self.failures.append(what)

    def finish(self) -> Row:
        """Settle, probe, record the row; the caller asserts on the result (the row is kept even on failure)."""
        seconds = time.monotonic() - self._started
        alive = serves_normally(self.base_url, self.headers)
        self.watch.settle()
        row = Row(
            self.name,
            self.tried,
            self.correct,
            alive,
            self.watch.before,
            self.watch.after,
            round(seconds, 2),
            self.part,
            self.notes,
            self.rss_allowance_mb,
            self.fd_allowance,
        )
        self.ledger.record(row)
        return row

    def assert_clean(self) -> None:
        row = self.finish()
        assert not self.failures, f"{self.name}: {self.tried - self.correct} wrong answers: {self.failures}"
        assert row.correct == row.tried
        assert row.alive, f"{self.name}: the server stopped serving normal calls"
        assert self.watch.within(row.after), (
            f"{self.name}: resources did not return within +{self.rss_allowance_mb} MB / +{self.fd_allowance} FDs: "
            f"{row.before} -> {row.after}"
        )


def warmed(proc: ManagedProcess, headers: dict[str, str] | None = None) -> ManagedProcess:
    """Exercise every code path once so the first attack's RSS baseline is not the import-and-warm-up cost."""
    with McpHttp(proc.base_url, headers=headers) as mcp:
        for _ in range(3):
            mcp.call("get_package_docs", {"package_name": WARM_PACKAGE})
            mcp.call("get_package_docs_with_context", {"package_name": WARM_PACKAGE})
            mcp.call("get_package_docs", {"package_name": "../bad"})
            mcp.call("scan_dependencies", {"project_path": "/nonexistent"})
            mcp.call("get_metrics")
            mcp.call("health_check")
    return proc


def launch(
    tmp: Path,
    upstream_url: str,
    env: dict[str, str] | None = None,
    *,
    host: bool = True,
    ready_timeout_s: float = 20.0,
) -> ManagedProcess:
    """``autodocs-mcp --transport http`` on a free loopback port, like ``start_server``, with two more choices.

    ``host=False`` leaves the bind address to the configuration default; ``ready_timeout_s`` gives a server
    whose startup scans a 100,000-package cache folder the time it needs. The working directory is ``tmp``, so
    no stray ``.env`` file takes part.
    """
    port = free_port()
    env = dict(env or {})
    cache_dir = Path(env.pop("cache_dir", str(tmp / "cache")))
    args = [str(VENV_BIN / "autodocs-mcp"), "--transport", "http", "--port", str(port)]
    if host:
        args += ["--host", "127.0.0.1"]
    tmp.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        args, tmp / f"autodocs-mcp-{port}.log", env=server_env(upstream_url, cache_dir, **env), cwd=tmp
    )
    proc.base_url = f"http://127.0.0.1:{port}"
    proc.extra["cache_dir"] = cache_dir
    try:
        wait_ready(proc, f"{proc.base_url}/readyz", ready_timeout_s)
    except BaseException:
        proc.stop()
        raise
    return proc


def server(tmp_path_factory: pytest.TempPathFactory, upstream_url: str, name: str, **env: str) -> ManagedProcess:
    """A warmed server process in its own temporary folder; the caller stops it."""
    proc = launch(tmp_path_factory.mktemp(name), upstream_url, env)
    try:
        return warmed(proc, headers=None if "AUTODOCS_HTTP_TOKEN" not in env else bearer(env["AUTODOCS_HTTP_TOKEN"]))
    except BaseException:
        proc.stop()
        raise


@contextmanager
def running(
    tmp: Path, upstream_url: str, env: dict[str, str] | None = None, *, ready_timeout_s: float = 20.0
) -> Iterator[ManagedProcess]:
    """A warmed server for the length of a ``with`` block, stopped by PID however the block ends."""
    proc = launch(tmp, upstream_url, env, ready_timeout_s=ready_timeout_s)
    try:
        yield warmed(proc)
    finally:
        proc.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
