"""Attacks from clients on the connection layer: oversized bodies, slow senders, idle sockets by the hundred.

uvicorn bounds neither how long a client may take to send its headers or body nor how much body it may stream
after an early answer; the server adds a header deadline (``AUTODOCS_HTTP_HEADER_TIMEOUT``), a body deadline
(``AUTODOCS_HTTP_BODY_TIMEOUT``) and closes every refused request's connection. ``plain_server`` runs both
deadlines at 2 s so these tests stay quick; idle keep-alive sockets are closed by uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Coroutine
from typing import Any

from autodocs_mcp.http import MIN_DISCARD_BYTES
from tests.reliability.conftest import SLOW_CLIENT_TIMEOUT_S
from tests.reliability.harness import MIB, AsyncMcpHttp, Attack, Ledger, McpHttp, address, usage
from tests.support.processes import ManagedProcess

LIMIT = MIB
"""``AUTODOCS_MAX_REQUEST_BYTES`` (the default) of ``plain_server``."""
KEEP_ALIVE_S = 5.0
"""uvicorn's ``timeout_keep_alive`` as ``serve_http`` configures it."""
SLACK_S = 3.0


def post_head(host: str, port: int, extra: str) -> bytes:
    return (
        f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\n{extra}\r\n"
    ).encode()


async def read_until_closed(reader: asyncio.StreamReader, timeout_s: float) -> tuple[bytes, float | None]:
    """Everything the server sends until it closes (or resets), and when it closed; None if it did not."""
    started = time.monotonic()
    data = b""
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await reader.read(65_536):
                data += chunk
    except TimeoutError:
        return data, None
    except ConnectionError:
        pass
    return data, time.monotonic() - started


def status_of(response: bytes) -> int | None:
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit() else None


async def declared_50_mb(host: str, port: int) -> tuple[int | None, float | None, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(post_head(host, port, f"Content-Length: {50 * MIB}\r\n") + b" " * 4096)
    await writer.drain()
    data, closed_after = await read_until_closed(reader, 5.0)
    writer.close()
    return status_of(data), closed_after, data


async def endless_chunked(host: str, port: int, chunk_size: int = 16_384) -> tuple[int | None, float | None, int]:
    """Stream chunks until the server answers; returns status, when it closed, and how many bytes were sent."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(post_head(host, port, "Transfer-Encoding: chunked\r\n"))
    frame = b"%x\r\n" % chunk_size + b" " * chunk_size + b"\r\n"
    sent = 0
    answer = asyncio.ensure_future(reader.read(65_536))
    try:
        while not answer.done() and sent < 64 * LIMIT:
            writer.write(frame)
            await writer.drain()
            sent += chunk_size
            await asyncio.wait([answer], timeout=0.001)
        first = await asyncio.wait_for(answer, 5.0)
    except ConnectionError:
        first = answer.result() if answer.done() and not answer.exception() else b""
    rest, closed_after = await read_until_closed(reader, 5.0)
    writer.close()
    return status_of(first + rest), closed_after, sent


def exact_body(size: int) -> bytes:
    message = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
    return message + b" " * (size - len(message))


def test_oversized_bodies_get_413_after_a_bounded_drain_and_the_connection_closes(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack(
        "clients: 50 MB Content-Length, endless chunked body", plain_server.pid, plain_server.base_url, ledger
    )
    host, port = address(plain_server)

    async def run() -> None:
        for _ in range(5):
            status, closed_after, _data = await declared_50_mb(host, port)
            attack.check(status == 413 and closed_after is not None, f"50 MB declared: {status}, closed {closed_after}")
        for _ in range(5):
            status, closed_after, sent = await endless_chunked(host, port)
            # The server drains a refused body up to MIN_DISCARD_BYTES so that clients which write before they
            # read still get the 413; an endless body is cut there (plus what the socket buffers hold).
            attack.check(
                status == 413 and closed_after is not None and sent <= MIN_DISCARD_BYTES + 4 * LIMIT,
                f"endless chunked: {status}, closed {closed_after}, {sent} bytes sent before the answer",
            )

    asyncio.run(run())
    with McpHttp(plain_server.base_url) as mcp:
        at_limit = mcp.post(exact_body(LIMIT))
        attack.check(at_limit.status_code == 200, f"a body of exactly the cap: {at_limit.status_code}")
        over = mcp.post(exact_body(LIMIT + 1))
        attack.check(over.status_code == 413, f"one byte over the cap: {over.status_code}")
        attack.check(over.json().get("error") == "request_too_large", f"413 body: {over.text[:200]}")
    attack.notes = "cap AUTODOCS_MAX_REQUEST_BYTES = 1 MiB; 413 + Connection: close"
    attack.assert_clean()


async def trickle(host: str, port: int, head: bytes, drip: bytes, give_up_s: float) -> tuple[int | None, float | None]:
    """Send ``head``, then ``drip`` one byte every 0.25 s while listening; report the answer and when it closed.

    The listener runs from the start, so the server's answer is read as soon as it arrives, before a later write
    to the closed socket can turn into a reset that would discard it.
    """
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    listener = asyncio.ensure_future(read_until_closed(reader, give_up_s))
    writer.write(head)
    try:
        for byte in drip:
            if listener.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.wait([listener], timeout=0.25)
    except ConnectionError:
        pass
    data, closed_after = await listener
    writer.close()
    return status_of(data), None if closed_after is None else time.monotonic() - started


def trickle_headers(host: str, port: int, give_up_s: float) -> Coroutine[Any, Any, tuple[int | None, float | None]]:
    head = f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    return trickle(host, port, head, b"X-Slow: " + b"a" * 1000, give_up_s)


def trickle_body(host: str, port: int, give_up_s: float) -> Coroutine[Any, Any, tuple[int | None, float | None]]:
    return trickle(host, port, post_head(host, port, "Content-Length: 100000\r\n"), b" " * 1000, give_up_s)


async def silent(host: str, port: int, wait_s: float) -> float | None:
    reader, writer = await asyncio.open_connection(host, port)
    _data, closed_after = await read_until_closed(reader, wait_s)
    writer.close()
    return closed_after


def test_slow_clients_are_cut_off_by_the_header_and_body_deadlines(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    slowloris(plain_server, ledger, per_kind=50)


def wait_for_connections(pid: int, at_least: int, timeout_s: float = 10.0) -> None:
    """Until the server holds ``at_least`` descriptors (bounded): the attackers' sockets are then all accepted."""
    deadline = time.monotonic() + timeout_s
    while usage(pid).fds < at_least and time.monotonic() < deadline:
        time.sleep(0.02)


def slowloris(proc: ManagedProcess, ledger: Ledger, *, per_kind: int, part: str = "fast") -> None:
    """``per_kind`` header tricklers, body tricklers and silent sockets at once, against 2 s deadlines."""
    attack = Attack(
        f"clients: slowloris, {3 * per_kind} sockets (trickled headers, trickled bodies, silent)",
        proc.pid,
        proc.base_url,
        ledger,
        part=part,
    )
    host, port = address(proc)
    bound = SLOW_CLIENT_TIMEOUT_S + SLACK_S

    async def run() -> tuple[list[tuple[int | None, float | None]], list[float | None]]:
        async with AsyncMcpHttp(proc.base_url, connections=4) as mcp:
            slow = [
                *(asyncio.ensure_future(trickle_headers(host, port, bound + 2)) for _ in range(per_kind)),
                *(asyncio.ensure_future(trickle_body(host, port, bound + 2)) for _ in range(per_kind)),
            ]
            quiet = [asyncio.ensure_future(silent(host, port, bound + 2)) for _ in range(per_kind)]
            await asyncio.to_thread(wait_for_connections, proc.pid, attack.watch.before.fds + 3 * per_kind - 5)
            during = await mcp.call("get_package_docs", {"package_name": "requests"})
            attack.check(
                during.code == "ok" and during.seconds < 2.0, f"a normal call during the attack: {during.code}"
            )
            return list(await asyncio.gather(*slow)), list(await asyncio.gather(*quiet))

    slow_results, quiet_results = asyncio.run(run())
    for status, closed_after in slow_results:
        attack.check(
            status == 408 and closed_after is not None and closed_after <= bound,
            f"slow sender: status {status}, closed after {closed_after}",
        )
    for silent_closed_after in quiet_results:
        attack.check(
            silent_closed_after is not None and silent_closed_after <= bound,
            f"silent socket closed after {silent_closed_after}",
        )
    attack.notes = f"header and body deadlines {SLOW_CLIENT_TIMEOUT_S:g} s; every socket cut within {bound:g} s"
    attack.assert_clean()


def test_hundreds_of_idle_keep_alive_connections_are_reaped_and_the_server_still_answers(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    idle_keep_alive(plain_server, ledger, count=500)


def idle_keep_alive(plain_server: ManagedProcess, ledger: Ledger, *, count: int, part: str = "fast") -> None:
    """``count`` connections that made one request each and then sit idle, all open at once."""
    attack = Attack(
        f"clients: {count} idle keep-alive connections", plain_server.pid, plain_server.base_url, ledger, part=part
    )
    host, port = address(plain_server)
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    def open_idle() -> socket.socket:
        sock = socket.create_connection((host, port), timeout=10.0)
        sock.sendall(request)
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        while len(body) < length:
            body += sock.recv(4096)
        return sock

    def closed_by(sock: socket.socket, deadline: float) -> bool:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    sockets = [open_idle() for _ in range(count)]
    try:
        all_open_at = time.monotonic()
        fds_with_idle = usage(plain_server.pid).fds
        attack.check(
            fds_with_idle >= attack.watch.before.fds + count // 2, f"{fds_with_idle} server FDs with {count} idle"
        )
        with McpHttp(plain_server.base_url) as mcp:
            during = mcp.call("get_package_docs", {"package_name": "requests"})
        attack.check(during.code == "ok", f"a normal call with {count} idle sockets open: {during.code}")
        deadline = all_open_at + KEEP_ALIVE_S + SLACK_S
        for sock in sockets:
            attack.check(closed_by(sock, deadline), "an idle keep-alive socket was still open after timeout_keep_alive")
    finally:
        for sock in sockets:
            sock.close()
    attack.notes = f"timeout_keep_alive {KEEP_ALIVE_S:g} s; server FDs peaked at {fds_with_idle}"
    attack.assert_clean()
