"""A real night's trouble, on the server's shipped defaults: a flaky or slow upstream, abandoned sessions, odd requests.

Every server here runs as we ship it (``shipped=True``: only the upstream URL and the cache folder set). The one
exception is the bad-day row, which lifts the upstream rate limit: it measures retries and the breaker at 32
concurrent cold callers, and the limiter, which would otherwise be the bottleneck, is checked on its own in the
slow-upstream row at its shipped default.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import random
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import psutil

from pypi_mock.admin import set_faults
from tests.reliability.harness import MCP_HEADERS, AsyncMcpHttp, McpHttp, ToolReply, call_body, initialize_body
from tests.support.mcp_client import mcp_session
from tests.support.processes import ManagedProcess, start_server
from tests.support.serverstats import metrics
from tests.support.waiting import eventually

DEADLINE_S = 30.0
"""AUTODOCS_REQUEST_TIMEOUT's shipped default: no call may take longer (plus the margin below)."""
DEADLINE_MARGIN_S = 2.0
"""What the client's clock may add to the server's deadline: JSON-RPC framing and a loaded shared machine."""
BAD_DAY = {
    "latency_ms": 100,
    "error_rate": 0.30,
    "error_status": 503,
    "retry_after_s": 1,
    "hang_rate": 0.02,
    "reset_rate": 0.02,
    "malformed_rate": 0.02,
}


async def _call_loop(
    client: AsyncMcpHttp, names: list[str], rng: random.Random, until: float, replies: list[ToolReply]
) -> None:
    while time.monotonic() < until:
        replies.append(await client.call("get_package_docs", {"package_name": rng.choice(names)}))


async def test_a_bad_day_upstream_keeps_nine_calls_in_ten_successful_and_none_past_its_deadline(
    mock_url: str, tmp_path: Path
) -> None:
    # The rate limit is lifted: this row measures retries and the breaker, not the limiter (see the module doc).
    server = start_server(tmp_path, mock_url, shipped=True, AUTODOCS_RATE_LIMIT_RPM="1000000")
    try:
        set_faults(mock_url, BAD_DAY)
        names = [f"bad-day-{i}" for i in range(2000)]
        replies: list[ToolReply] = []
        rng = random.Random(14)
        async with AsyncMcpHttp(server.base_url, connections=32) as client:
            until = time.monotonic() + 60.0
            await asyncio.gather(*(_call_loop(client, names, rng, until, replies) for _ in range(32)))
        snapshot = metrics(server.base_url)
    finally:
        set_faults(mock_url, {})
        server.stop()
    ok = sum(1 for reply in replies if reply.code == "ok")
    slowest = max(reply.seconds for reply in replies)
    codes = {code: sum(1 for r in replies if r.code == code) for code in {r.code for r in replies}}
    print(f"bad day: {ok}/{len(replies)} ok ({ok / len(replies):.1%}), slowest {slowest:.1f} s, {codes}")
    assert len(replies) >= 500, codes
    assert ok / len(replies) >= 0.90, (ok, len(replies), codes, snapshot["upstream"]["breaker"])
    assert slowest <= DEADLINE_S + DEADLINE_MARGIN_S, slowest


def _stop_with_sigterm(server: ManagedProcess, timeout_s: float) -> int:
    server.popen.send_signal(signal.SIGTERM)
    try:
        return server.popen.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.stop()
        raise


async def test_a_slow_upstream_answers_thirty_two_cold_callers_in_time_and_sigterm_loses_none(
    mock_url: str, tmp_path: Path
) -> None:
    server = start_server(tmp_path, mock_url, shipped=True)
    try:
        set_faults(mock_url, {"latency_ms": 1500, "latency_jitter_ms": 1000})
        async with AsyncMcpHttp(server.base_url, connections=32) as client:
            calls = [
                asyncio.ensure_future(client.call("get_package_docs", {"package_name": f"slow-{i}"})) for i in range(32)
            ]
            all_in_flight = lambda: metrics(server.base_url)["requests"]["in_flight"] >= 32  # noqa: E731
            await eventually(all_in_flight, 20.0, "32 calls in flight")
            exit_code = await asyncio.to_thread(_stop_with_sigterm, server, DEADLINE_S + 10.0)
            replies = await asyncio.gather(*calls)
    finally:
        set_faults(mock_url, {})
        server.stop()
    failed = [reply.text[:200] for reply in replies if reply.code != "ok"]
    assert [reply.code for reply in replies] == ["ok"] * 32, failed
    assert max(reply.seconds for reply in replies) <= DEADLINE_S
    assert exit_code == 0


def _abandon_sessions(base_url: str, count: int) -> None:
    """``count`` sessions opened (initialize + initialized) and never closed, as the MCP Inspector leaves them."""
    ids = itertools.count(1)
    with httpx2.Client(headers=MCP_HEADERS, timeout=30, trust_env=False) as http:
        for _ in range(count):
            opened = http.post(f"{base_url}/mcp", json=initialize_body(next(ids)))
            assert opened.status_code == 200, opened.text[:300]
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            done = http.post(
                f"{base_url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
            )
            assert done.status_code == 202


async def test_after_two_thousand_abandoned_sessions_a_new_client_is_served_at_once(
    mock_url: str, tmp_path: Path
) -> None:
    server = start_server(tmp_path, mock_url, shipped=True)
    try:
        process = psutil.Process(server.popen.pid)
        await asyncio.to_thread(_abandon_sessions, server.base_url, 100)
        base_rss = process.memory_info().rss
        await asyncio.to_thread(_abandon_sessions, server.base_url, 1900)
        full = metrics(server.base_url)
        full_rss = process.memory_info().rss
        started = time.perf_counter()
        async with mcp_session(f"{server.base_url}/mcp") as client:
            result = await client.call_tool("get_package_docs", {"package_name": "requests"})
        newcomer_s = time.perf_counter() - started
    finally:
        server.stop()
    assert result.structured_content is not None and result.structured_content["success"] is True
    assert newcomer_s < 5.0, newcomer_s
    assert full["sessions_open"] <= full["sessions_max"] == 1000
    assert full["sessions_evicted_total"] >= 2000 - full["sessions_max"]
    assert full["sessions_refused_total"] == 0
    # Sessions are bounded, so their memory is too: 1,900 more abandoned sessions, of which at most the per-client
    # bound (500) stay open, cost at most that many sessions' worth (measured ~75 KB each; 200 KB allowed).
    per_session_bound = 200 * 1024
    assert full_rss - base_rss <= full["sessions_per_client_max"] * per_session_bound, (full_rss - base_rss) / 1e6


async def test_sessionless_calls_of_the_current_revision_neither_evict_nor_are_refused_at_a_clients_bound(
    mock_url: str, tmp_path: Path
) -> None:
    # A cap of 4 (2 per client) so the bound is reached with two sessions; everything else is shipped.
    server = start_server(tmp_path, mock_url, shipped=True, AUTODOCS_MAX_SESSIONS="4")
    try:
        await asyncio.to_thread(_abandon_sessions, server.base_url, 2)
        before = metrics(server.base_url)
        results = []
        for _ in range(10):
            async with mcp_session(f"{server.base_url}/mcp", mode="auto") as client:
                results.append(await client.call_tool("health_check", {}))
        after = metrics(server.base_url)
    finally:
        server.stop()
    assert before["sessions_open"] == 2 == before["sessions_per_client_max"]
    assert all(not r.is_error for r in results)
    assert after["sessions_evicted_total"] == 0 and after["sessions_refused_total"] == 0
    assert after["sessions_open"] == 2  # the two idle sessions are still there


def test_a_five_megabyte_body_is_answered_413_not_reset(mock_url: str, tmp_path: Path) -> None:
    """The stdlib's client writes the whole body before it reads: the client that saw the reset on the old code."""
    server = start_server(tmp_path, mock_url, shipped=True)
    try:
        body = json.dumps(call_body(1, "get_package_docs", {"package_name": "x" * (5 * 1024 * 1024)})).encode()
        parts = urlsplit(server.base_url)
        with McpHttp(server.base_url) as client:
            statuses: list[int] = []
            for _ in range(3):
                connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=30)
                try:
                    connection.request("POST", "/mcp", body=body, headers={**MCP_HEADERS, **client.session_headers()})
                    answer = connection.getresponse()
                    statuses.append(answer.status)
                    assert json.loads(answer.read())["error"] == "request_too_large"
                finally:
                    connection.close()
            still = client.call("get_package_docs", {"package_name": "requests"})
    finally:
        server.stop()
    assert statuses == [413, 413, 413]
    assert still.code == "ok"


DUPLICATE_LATENCY_MS = 1000


async def _duplicate_batch(
    client: httpx2.AsyncClient, base_url: str, headers: dict[str, str], ids_and_names: list[tuple[int, str]]
) -> list[tuple[int, int]]:
    """Sends each first call, waits until the server reports all of them in flight, then sends each duplicate.

    The slow upstream keeps the firsts in flight for a second after the server has them, so the duplicates meet
    them there however loaded the machine is; the wait is on the server's own gauge, not on a guess of how long
    sending takes.
    """
    url = f"{base_url}/mcp"
    bodies = [call_body(rid, "get_package_docs", {"package_name": name}) for rid, name in ids_and_names]
    firsts = [asyncio.ensure_future(client.post(url, json=body, headers=headers)) for body in bodies]
    await eventually(
        lambda: metrics(base_url)["requests"]["in_flight"] >= len(bodies), what="every first call in flight"
    )
    seconds = await asyncio.gather(*(client.post(url, json=body, headers=headers) for body in bodies))
    for (rid, _), answered in zip(ids_and_names, await asyncio.gather(*firsts), strict=True):
        assert answered.json()["id"] == rid and "result" in answered.json(), answered.text[:300]
    return [(second.status_code, second.json().get("error", {}).get("code", 0)) for second in seconds]


async def test_a_duplicate_in_flight_id_is_refused_while_the_first_is_answered_and_leaves_nothing_behind(
    mock_url: str, tmp_path: Path
) -> None:
    server = start_server(tmp_path, mock_url, shipped=True, AUTODOCS_RATE_LIMIT_RPM="1000000")
    set_faults(mock_url, {"latency_ms": DUPLICATE_LATENCY_MS, "match": "dup-slow-*"})
    try:
        with McpHttp(server.base_url) as session:
            headers = {**MCP_HEADERS, **session.session_headers()}
            async with httpx2.AsyncClient(timeout=30, trust_env=False) as client:

                async def one_pass(offset: int) -> list[tuple[int, int]]:
                    """200 pairs over the same 200 cold names each pass; the caches are emptied after it, so what
                    stays behind between passes is what the pairs left, not what the cache remembers."""
                    out: list[tuple[int, int]] = []
                    for start in range(0, 200, 20):
                        batch = [(offset + i, f"dup-slow-{i}") for i in range(start, start + 20)]
                        out += await _duplicate_batch(client, server.base_url, headers, batch)
                    assert session.call("refresh_cache").code == "ok"
                    return out

                first_pass = await one_pass(10_000)
                before = metrics(server.base_url)["python"]["allocated_blocks"]
                second_pass = await one_pass(20_000)
                after = metrics(server.base_url)["python"]["allocated_blocks"]
    finally:
        set_faults(mock_url, {})
        server.stop()
    assert set(first_pass + second_pass) == {(400, -32600)}
    # 200 pairs on the second pass; the old code left ~310 objects per pair. The gauge's own noise is a few
    # thousand blocks, so 40 per pair (8,000) separates the two cleanly.
    assert after - before <= 200 * 40, after - before


def test_an_expired_release_list_is_served_marked_stale_while_the_upstream_fails(mock_url: str, tmp_path: Path) -> None:
    # A one-second index TTL stands in for the shipped hour, so the list expires inside the test.
    server = start_server(tmp_path, mock_url, shipped=True, AUTODOCS_INDEX_TTL="1")
    try:
        with McpHttp(server.base_url) as client:
            fresh = client.call("get_package_docs", {"package_name": "stale-if-error"})
            set_faults(mock_url, {"error_rate": 1.0, "error_status": 503})
            time.sleep(1.5)  # past the TTL: a clock the server reads, no event to wait on
            stale = client.call("get_package_docs", {"package_name": "stale-if-error"})
            never_seen = client.call("get_package_docs", {"package_name": "stale-if-error-unknown"})
    finally:
        set_faults(mock_url, {})
        server.stop()
    assert fresh.code == "ok" and fresh.structured["stale"] is False
    assert stale.code == "ok" and stale.structured["stale"] is True
    assert stale.structured["version"] == fresh.structured["version"]
    assert never_seen.code == "upstream_unavailable"


async def test_a_session_at_its_bound_of_open_requests_gets_429_with_retry_after_and_is_served_again_once_answered(
    mock_url: str, tmp_path: Path
) -> None:
    # Shipped defaults (64 requests per session); the rate limit is lifted because the row is about the session's
    # bound, not the upstream's, and a slow upstream (1.5 s) keeps the first calls open while the rest arrive.
    server = start_server(tmp_path, mock_url, shipped=True, AUTODOCS_RATE_LIMIT_RPM="1000000")
    set_faults(mock_url, {"latency_ms": 1500, "match": "bound-slow-*"})
    try:
        with McpHttp(server.base_url) as session:
            headers = {**MCP_HEADERS, **session.session_headers()}
            url = f"{server.base_url}/mcp"
            async with httpx2.AsyncClient(timeout=60, trust_env=False) as client:
                replies = await asyncio.gather(
                    *(
                        client.post(url, json=call_body(i, "get_package_docs", {"package_name": f"bound-slow-{i}"}),
                                    headers=headers)
                        for i in range(100)
                    )
                )  # fmt: skip
                again = await client.post(
                    url, json=call_body(500, "get_package_docs", {"package_name": "requests"}), headers=headers
                )
            seen = metrics(server.base_url)
    finally:
        set_faults(mock_url, {})
        server.stop()
    refused = [r for r in replies if r.status_code == 429]
    answered = [r for r in replies if r.status_code == 200]
    assert len(answered) == 64 and len(refused) == 36, sorted(r.status_code for r in replies)
    assert all(r.headers.get("retry-after") == "1" and r.json()["error"]["code"] == -32000 for r in refused)
    assert all("result" in r.json() for r in answered)
    assert again.status_code == 200 and "result" in again.json(), again.text[:300]
    assert seen["requests_refused_total"] == 36 and seen["requests_per_session_max"] == 64
    assert seen["requests_open"] == 0
