"""The one bounded HTTP connection pool to the upstream, and a plain-dict view of its state.

httpx2 (not httpx 0.28) because httpx 0.28's pool leaks slots and sockets under cancellation
(``shared/notes/stack-facts.md`` §9). Neither library has a public pool-statistics API, so the transport is built
here and kept, and ``pool_stats`` is the single place that reads the pool's internals.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore2
import httpx2


@dataclass(frozen=True)
class PoolLimits:
    max_connections: int
    max_keepalive: int
    keepalive_expiry_s: float
    pool_timeout_s: float
    connect_timeout_s: float


class _ProbedStream(httpcore2.AsyncNetworkStream):
    """A connection's stream whose "is the idle socket readable?" probe costs one ``poll``.

    The pool asks every idle connection ``has_expired()`` each time a request comes or goes, which asks the stream
    ``get_extra_info("is_readable")``; httpcore2's anyio stream answers through anyio's ``extra_attributes``, which
    builds a dict and calls ``getpeername`` on every probe. With eight pooled connections that was ~0.25 ms of
    server CPU per cold call (3.9 ms in all, measured in process). The raw socket is looked up once here instead;
    everything else is the wrapped stream's.
    """

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore2's)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore2.AsyncNetworkStream:
        return _ProbedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_readable(self._socket)
        return self._inner.get_extra_info(info)


def is_readable(sock: socket.socket | None) -> bool:
    """Whether ``recv`` would return at once (data, or the ``b""`` of a peer's close); a socket that is gone counts
    as readable, so the pool drops its connection (httpcore2's own rule)."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class ProbedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio backend, its streams wrapped in ``_ProbedStream``."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (the interface's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return _ProbedStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def build_client(base_url: str, limits: PoolLimits, user_agent: str) -> tuple[httpx2.AsyncClient, Any]:
    """A pooled client for one upstream origin, plus its transport (the handle ``pool_stats`` reads).

    Redirects are not followed by the library (the caller follows same-origin ones itself), and proxy variables
    from the environment are ignored, so traffic only ever goes where ``AUTODOCS_PYPI_URL`` says.
    """
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive,
            keepalive_expiry=limits.keepalive_expiry_s,
        ),
        trust_env=False,
        retries=0,
    )
    transport._pool._network_backend = ProbedBackend()  # no public parameter for it; see _ProbedStream
    client = httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent, "Accept": "application/json"},
        timeout=httpx2.Timeout(connect=limits.connect_timeout_s, read=30.0, write=30.0, pool=limits.pool_timeout_s),
    )
    return client, transport


def pool_stats(transport: Any) -> dict[str, int]:
    """Connections by state and queued requests; expired connections are counted apart (expiry is lazy)."""
    pool = getattr(transport, "_pool", None)
    connections = list(getattr(pool, "connections", ()))
    requests = list(getattr(pool, "_requests", ()))
    counts = {"open": 0, "active": 0, "idle": 0, "expired": 0, "connecting": 0}
    for conn in connections:
        if conn.is_closed():
            continue
        counts["open"] += 1
        if conn.has_expired():
            counts["expired"] += 1
        elif conn.is_idle():
            counts["idle"] += 1
        elif not conn.is_connected():
            counts["connecting"] += 1
        else:
            counts["active"] += 1
    counts["queued"] = sum(1 for request in requests if request.is_queued())
    counts["requests"] = len(requests)
    return counts
