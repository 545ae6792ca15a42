"""Session abuse: thousands of sessions opened and abandoned, and session ids that are expired or made up.

The server runs with ``AUTODOCS_MAX_SESSIONS=500`` and ``AUTODOCS_SESSION_IDLE_TIMEOUT=3`` so both bounds show in
one test: at the cap (250 for one client address, half of 500) a new session takes the place of the least recently
used idle one instead of getting 503, abandoned ones are reclaimed three seconds after their last request, and the
memory they held is reused by the next wave. (Three seconds, not two: a wave must open 500
sessions faster than the reaper closes them, and on two shared cores the first wave runs at ~250 a second.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.reliability.harness import (
    Attack,
    Ledger,
    McpHttp,
    address,
    initialize_body,
    server,
    usage,
)
from tests.support.processes import ManagedProcess
from tests.support.serverstats import metrics

MAX_SESSIONS = 500
IDLE_TIMEOUT_S = 3.0
WAVE = 600
WAVES = 4
RECLAIM_BOUND_S = IDLE_TIMEOUT_S + 8.0
SESSION_RSS_ALLOWANCE_MB = 30.0
"""500 live sessions cost ~18 MB; the allocator keeps that high-water mark after they are reclaimed."""
LEAK_BOUND_MB = 3.0
"""What later waves may add on top of the first one's high-water mark: more would be a per-session leak."""


@pytest.fixture(scope="module")
def session_server(tmp_path_factory: pytest.TempPathFactory, pypi_mock: ManagedProcess) -> Iterator[ManagedProcess]:
    proc = server(tmp_path_factory, pypi_mock.base_url, "session-server", **session_env())
    try:
        yield proc
    finally:
        proc.stop()


def session_env() -> dict[str, str]:
    return {"AUTODOCS_MAX_SESSIONS": str(MAX_SESSIONS), "AUTODOCS_SESSION_IDLE_TIMEOUT": str(IDLE_TIMEOUT_S)}


@dataclass
class Wave:
    opened: list[str] = field(default_factory=list)
    refused: list[tuple[int, bytes]] = field(default_factory=list)
    peak_open: int = 0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers, body


async def open_wave(host: str, port: int, attempts: int, connections: int = 25) -> Wave:
    """Open ``attempts`` sessions as fast as the server takes them, and abandon them.

    Raw keep-alive sockets instead of an HTTP client library: a wave has to outpace the 2 s idle reaper on two
    shared cores, and a full client spends more CPU per request than the server does.
    """
    body = json.dumps(initialize_body(1)).encode()
    request = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    metrics_request = f"GET /metrics?format=json HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    wave = Wave()
    remaining = attempts
    done = asyncio.Event()

    async def opener() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                status, headers, answer = await read_response(reader)
                if status == 200:
                    wave.opened.append(headers[b"mcp-session-id"].decode())
                else:
                    wave.refused.append((status, answer))
        finally:
            writer.close()

    async def watcher() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not done.is_set():
                writer.write(metrics_request)
                _status, _headers, answer = await read_response(reader)
                wave.peak_open = max(wave.peak_open, int(json.loads(answer)["sessions_open"]))
        finally:
            writer.close()

    watching = asyncio.ensure_future(watcher())
    await asyncio.gather(*(opener() for _ in range(connections)))
    done.set()
    await watching
    return wave


def wait_for_reclaim(base_url: str) -> float:
    started = time.monotonic()
    while metrics(base_url)["sessions_open"] > 0:
        if time.monotonic() - started > RECLAIM_BOUND_S:
            break
        time.sleep(0.1)
    return time.monotonic() - started


def test_abandoned_sessions_are_capped_and_reclaimed_when_idle(session_server: ManagedProcess, ledger: Ledger) -> None:
    abandoned_sessions(session_server, ledger, waves=WAVES, wave_size=WAVE)


def abandoned_sessions(
    session_server: ManagedProcess, ledger: Ledger, *, waves: int, wave_size: int, part: str = "fast"
) -> None:
    """Waves of sessions opened and abandoned against a server run with ``session_env()``."""
    attack = Attack(
        f"clients: {waves * wave_size:,} abandoned sessions (max 500, idle 3 s)",
        session_server.pid,
        session_server.base_url,
        ledger,
        part=part,
        rss_allowance_mb=SESSION_RSS_ALLOWANCE_MB,
    )
    base = session_server.base_url
    host, port = address(session_server)
    opened_total = 0
    expired: list[str] = []
    slowest_reclaim = 0.0
    after_wave: list[float] = []
    refusals = 0
    for _ in range(waves):
        wave = asyncio.run(open_wave(host, port, wave_size))
        opened_total += len(wave.opened)
        expired += wave.opened[:3]
        attack.check(wave.peak_open <= MAX_SESSIONS, f"{wave.peak_open} sessions open at once, cap {MAX_SESSIONS}")
        refusals += len(wave.refused)
        for status, answer in wave.refused:
            attack.check(False, f"an abandoned (idle) session should have made way; refused {status}: {answer[:120]!r}")
        reclaim_s = wait_for_reclaim(base)
        slowest_reclaim = max(slowest_reclaim, reclaim_s)
        attack.check(metrics(base)["sessions_open"] == 0, f"sessions still open {reclaim_s:.1f}s after the wave")
        after_wave.append(usage(session_server.pid).rss_mb)
    evicted = int(metrics(base)["sessions_evicted_total"])
    attack.check(evicted > 0, f"the cap never made an idle session give way in {waves} waves of {wave_size}")
    growth = after_wave[-1] - after_wave[0]
    attack.check(growth <= LEAK_BOUND_MB, f"RSS grew {growth:.1f} MB from wave 1 to wave {waves}: {after_wave}")
    with McpHttp(base) as mcp:
        for session_id in expired:
            response = mcp.post(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"mcp-session-id": session_id}
            )
            attack.check(response.status_code == 404, f"expired session {session_id}: HTTP {response.status_code}")
        for made_up in ("0" * 32, "not-a-session", "../../etc/passwd", "x" * 4096):
            response = mcp.post(
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers={"mcp-session-id": made_up}
            )
            attack.check(response.status_code == 404, f"unknown session {made_up[:20]!r}: HTTP {response.status_code}")
        fresh = mcp.call("get_package_docs", {"package_name": "requests"})
        attack.check(fresh.code == "ok", f"a new session after the abuse: {fresh.code}")
    attack.notes = (
        f"{waves * wave_size} attempts: {opened_total} opened and abandoned, {evicted} idle ones evicted at the cap, "
        f"{refusals} refused; "
        f"slowest reclaim {slowest_reclaim:.1f} s; RSS after waves 1 and {waves}: {after_wave[0]}, {after_wave[-1]} MB "
        "(the first wave's high-water mark stays with the allocator; later waves reuse it)"
    )
    attack.assert_clean()
