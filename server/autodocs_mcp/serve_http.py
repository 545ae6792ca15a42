"""Run the HTTP transport under uvicorn with a drain phase in front of uvicorn's own shutdown.

uvicorn alone stops accepting at once and then waits for connections; an operator wants more: on the first
SIGTERM/SIGINT, ``/readyz`` turns not-ready and new MCP requests get 503 + ``Retry-After`` while the calls already
running finish (at most ``AUTODOCS_SHUTDOWN_GRACE`` seconds). Only then does uvicorn shut down, which runs the
lifespan exit (cache flush, pool close). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import structlog
import uvicorn
from mcp.server.mcpserver import MCPServer
from sse_starlette.sse import AppStatus

from autodocs_mcp.app import ServerState, build_server, emergency_flush
from autodocs_mcp.banner import banner, mcp_url
from autodocs_mcp.config import Settings
from autodocs_mcp.header_deadline import header_deadline_protocol
from autodocs_mcp.http import build_http_app

log = structlog.get_logger("autodocs_mcp.shutdown")

# After the drain, uvicorn only has to close connections that are already idle or answered.
POST_DRAIN_TIMEOUT_S = 1


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self._state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._forced_task: asyncio.Task[None] | None = None
        self.forced_by_signal: int | None = None
        self.cut_calls = 0

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._announce()

    def _announce(self) -> None:
        """Once listening (lifespan done, socket bound): the MCP URL with the bound port, and configs for it."""
        settings = self._state.settings
        port = int(self.servers[0].sockets[0].getsockname()[1]) if self.servers else settings.http_port
        token_required = settings.http_token is not None
        structlog.get_logger("autodocs_mcp").info(
            "listening", mcp_url=mcp_url(settings.http_host, port), token_required=token_required
        )
        # The human banner only on a terminal (``make serve``): a log collector reading stderr gets JSON lines only,
        # and the ``listening`` event above carries the URL for it.
        if sys.stderr.isatty():
            sys.stderr.write(banner(settings.http_host, port, token_required))
            sys.stderr.flush()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._state.draining or self.should_exit:
            log.warning("second_signal_forced_exit", signal=signal.Signals(sig).name)
            self.forced_by_signal = sig
            if self._loop is None:
                self.force_exit = self.should_exit = True
            else:
                self._loop.call_soon_threadsafe(self._start_forced_exit)
            return
        self._state.draining = True
        log.info(
            "signal_received",
            signal=signal.Signals(sig).name,
            in_flight=self._state.metrics.in_flight,
            grace_s=self._state.settings.shutdown_grace,
        )
        if self._loop is None:
            self.should_exit = True
            return
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_forced_exit(self) -> None:
        self._forced_task = asyncio.get_running_loop().create_task(self._forced_exit())

    async def _forced_exit(self) -> None:
        await emergency_flush(self._state)
        self.force_exit = True
        self.should_exit = True

    def _start_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        started = time.monotonic()
        grace = self._state.settings.shutdown_grace
        log.info("draining", in_flight=self._state.metrics.in_flight)
        drained = await self._state.metrics.wait_idle(grace)
        elapsed = round(time.monotonic() - started, 3)
        if drained:
            log.info("drained", after_s=elapsed)
        else:
            self.cut_calls = self._state.metrics.in_flight
            log.warning("drain_forced", after_s=elapsed, cancelled_calls=self.cut_calls)
        AppStatus.should_exit = True  # let any SSE stream still open end now, after the drain
        self.should_exit = True


def serve_http(settings: Settings) -> int:
    server, state = build_server(settings.for_transport("http"))
    return run_http(server, state)


def run_http(server: MCPServer[Any], state: ServerState) -> int:
    """Serve an assembled server (ours, or ours plus extra tools for a measurement) until a signal stops it."""
    settings = state.settings
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    app = build_http_app(server, state)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http=header_deadline_protocol(settings.http_header_timeout),  # httptools, plus a header deadline
        timeout_keep_alive=5,
        timeout_graceful_shutdown=POST_DRAIN_TIMEOUT_S,
        server_header=False,
    )
    runner = DrainingServer(config, state)
    runner.run()
    log.info("stopped", forced=runner.forced_by_signal is not None, cancelled_calls=runner.cut_calls)
    if runner.forced_by_signal is not None:
        return 128 + runner.forced_by_signal
    return 0
