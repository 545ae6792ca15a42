"""The listening socket and the set of live connections: start, idle sweeping, and a shutdown that leaves none."""

from __future__ import annotations

import asyncio
import contextlib

from pypi_mock.connection import HttpConnection, Limits
from pypi_mock.state import MockState


class MockServer:
    def __init__(
        self,
        state: MockState,
        limits: Limits | None = None,
        *,
        idle_timeout_s: float = 120.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.state = state
        self.limits = limits if limits is not None else Limits()
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.idle_timeout_s = idle_timeout_s
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._all_closed = asyncio.Event()
        self._all_closed.set()

    async def start(self, host: str, port: int) -> int:
        """Listen and return the bound port (useful with ``port=0``)."""
        self._server = await self.loop.create_server(
            lambda: HttpConnection(self), host, port, backlog=2048, reuse_address=True
        )
        self._sweeper = self.loop.create_task(self._sweep_idle())
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    def connection_opened(self, connection: HttpConnection) -> None:
        self.connections.add(connection)
        self._all_closed.clear()
        self.state.stats.connection_opened()

    def connection_closed(self, connection: HttpConnection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.state.stats.connection_closed()
        if not self.connections:
            self._all_closed.set()

    def close_idle(self) -> int:
        """Close connections that completed no request for ``idle_timeout_s`` and are not mid-answer.

        That covers forgotten keep-alives and slowloris clients dribbling a request head; busy connections
        (hang, trickle, oversize) have their own time bounds. Returns how many were closed.
        """
        deadline = self.loop.time() - self.idle_timeout_s
        idle = [c for c in self.connections if not c.busy and c.last_active <= deadline]
        for connection in idle:
            connection.close()
        return len(idle)

    async def _sweep_idle(self) -> None:
        period = max(0.05, min(self.idle_timeout_s / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            self.close_idle()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop listening and drop every connection, hung and trickling ones included."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for connection in list(self.connections):
            connection.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._all_closed.wait()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._server.wait_closed()
