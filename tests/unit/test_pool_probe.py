"""The pool's idle-connection probe: one ``poll`` on the socket found at connect, with httpcore2's meaning (an idle
socket that is readable is a connection the upstream closed), proven on real loopback sockets and a real server."""

from __future__ import annotations

import asyncio
import socket
import ssl

import trustme

from autodocs_mcp.pool import PoolLimits, ProbedBackend, build_client, is_readable, pool_stats
from tests.support.waiting import eventually

LIMITS = PoolLimits(max_connections=4, max_keepalive=4, keepalive_expiry_s=30.0, pool_timeout_s=2.0,
                    connect_timeout_s=2.0)  # fmt: skip


def test_an_idle_socket_is_not_readable_until_its_peer_writes_or_closes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not is_readable(ours)
        theirs.send(b"x")
        assert is_readable(ours)
        ours.recv(1)
        assert not is_readable(ours)
        theirs.close()
        assert is_readable(ours)


def test_a_socket_that_is_gone_counts_as_readable_so_the_pool_drops_it() -> None:
    sock = socket.socket()
    sock.close()
    assert is_readable(sock) and is_readable(None)


async def test_an_idle_connection_the_upstream_closed_is_replaced_not_reused() -> None:
    closed = asyncio.Event()
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # keep-alive promised, then closed: the idle connection's socket reads EOF
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client, transport = build_client(f"http://127.0.0.1:{port}", LIMITS, "probe-test")
    try:
        assert (await client.get("/a")).json() == {}
        await asyncio.wait_for(closed.wait(), 5.0)
        assert (await client.get("/b")).json() == {}
        assert connections == 2 and pool_stats(transport)["open"] <= 1
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_over_tls_the_probe_still_polls_the_raw_socket_and_the_tls_object_passes_through() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        plain = await ProbedBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        stream = await plain.start_tls(client_context, server_hostname="127.0.0.1", timeout=5.0)
        assert stream.get_extra_info("ssl_object") is not None
        assert stream.get_extra_info("is_readable") is False
        peer = await asyncio.wait_for(accepted.get(), 5.0)
        peer.transport.abort()  # gone without TLS's goodbye, as a dropped upstream connection is
        await eventually(lambda: bool(stream.get_extra_info("is_readable")), 5.0, "the peer's close seen")
        await stream.aclose()
    finally:
        server.close()
        await server.wait_closed()
