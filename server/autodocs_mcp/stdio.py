"""Run the stdio transport (what AI assistants launch) with a shutdown that answers what it accepted.

The SDK's stdio loop cancels in-flight calls the moment stdin closes and has no SIGTERM handling at all, so a client
that closes its pipe right after a request, or a supervisor's SIGTERM, would lose answers. Here the server reads
through a gate: on EOF or the first SIGTERM/SIGINT the gate stops forwarding (a request that still arrives gets a
"shutting down" error), in-flight requests get up to ``AUTODOCS_SHUTDOWN_GRACE`` seconds to be answered, and only
then is the server's input closed, which ends the lifespan (cache flush, pool close). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError, JSONRPCRequest

from autodocs_mcp.app import ServerState, build_server, emergency_flush
from autodocs_mcp.config import Settings

log = structlog.get_logger("autodocs_mcp.shutdown")

SHUTTING_DOWN_CODE = -32000


class PendingRequests:
    """Ids of client requests forwarded to the server and not yet answered on stdout."""

    def __init__(self) -> None:
        self._pending: set[Any] = set()
        self._idle = anyio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._pending)

    def opened(self, request_id: Any) -> None:
        self._pending.add(request_id)
        if self._idle.is_set():
            self._idle = anyio.Event()

    def answered(self, request_id: Any) -> None:
        self._pending.discard(request_id)
        if not self._pending:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        with anyio.move_on_after(timeout_s):
            await self._idle.wait()
            return True
        return False


class _AnsweringWriter:
    """The server's write stream, noting each response so the drain knows what is still owed."""

    def __init__(self, inner: Any, pending: PendingRequests) -> None:
        self._inner = inner
        self._pending = pending

    async def send(self, item: SessionMessage) -> None:
        await self._inner.send(item)
        message = item.message
        if not isinstance(message, JSONRPCRequest) and getattr(message, "id", None) is not None:
            self._pending.answered(message.id)  # type: ignore[union-attr]

    async def __aenter__(self) -> _AnsweringWriter:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self._inner.__aexit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class PipeLines:
    """Lines from stdin read by the event loop, not by a thread: a blocked thread read cannot be cancelled, so the
    SDK's default reader would keep the process alive after a SIGTERM until the client closed its pipe.

    A line longer than the limit is discarded whole and replaced by an empty line, which the SDK answers with a
    parse error instead of buffering an unbounded request.
    """

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def end(self) -> None:
        """End the line stream now (as if stdin had closed), so the SDK's reader task can finish."""
        self._reader.feed_eof()

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise StopAsyncIteration from None
            line = exc.partial
        except asyncio.LimitOverrunError as exc:
            await self._discard_line(exc.consumed)
            return "\n"
        return line.decode("utf-8", errors="replace")

    async def _discard_line(self, consumed: int) -> None:
        while True:
            await self._reader.readexactly(consumed)
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError as exc:
                consumed = exc.consumed


@asynccontextmanager
async def _stdin_lines(limit: int) -> AsyncIterator[PipeLines | None]:
    """Loop-driven stdin when it is a pipe or socket; ``None`` (the SDK's own reader) otherwise."""
    mode = os.fstat(0).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        yield None
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    pipe = os.fdopen(os.dup(0), "rb", buffering=0)
    transport, _protocol = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        yield PipeLines(reader)
    finally:
        transport.close()


def serve_stdio(settings: Settings) -> int:
    return anyio.run(_serve, settings.for_transport("stdio"))


async def _serve(settings: Settings) -> int:
    server, state = build_server(settings)
    lowlevel = server._lowlevel_server
    pending = PendingRequests()
    stop = anyio.Event()
    exit_code = 0

    async with (
        _stdin_lines(settings.max_request_bytes) as lines,
        stdio_server(stdin=lines) as (stdin_stream, stdout_stream),  # type: ignore[arg-type]
    ):
        to_server, server_input = create_context_streams[SessionMessage | Exception](16)
        writer = _AnsweringWriter(stdout_stream, pending)

        async def pump() -> None:
            async for item in stdin_stream:
                request = item.message if isinstance(item, SessionMessage) else None
                if stop.is_set():
                    if isinstance(request, JSONRPCRequest):
                        await stdout_stream.send(_refusal(request))
                    continue
                if isinstance(request, JSONRPCRequest):
                    pending.opened(request.id)
                await to_server.send(item)
            if not stop.is_set():
                log.info("stdin_closed", in_flight=len(pending))
                stop.set()

        async def watch_signals() -> None:
            nonlocal exit_code
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    if stop.is_set() and state.draining:
                        log.warning("second_signal_forced_exit", signal=signal.Signals(signum).name)
                        await emergency_flush(state)
                        os._exit(128 + signum)
                    log.info("signal_received", signal=signal.Signals(signum).name, in_flight=len(pending))
                    stop.set()

        async with anyio.create_task_group() as outer:
            outer.start_soon(lowlevel.run, server_input, writer, lowlevel.create_initialization_options())
            async with anyio.create_task_group() as aux:
                aux.start_soon(pump)
                aux.start_soon(watch_signals)
                await stop.wait()
                state.draining = True
                exit_code = await _drain(state, pending)
                await to_server.aclose()
                aux.cancel_scope.cancel()
        if lines is not None:
            lines.end()
    log.info("stopped", exit_code=exit_code)
    return exit_code


async def _drain(state: ServerState, pending: PendingRequests) -> int:
    grace = state.settings.shutdown_grace
    started = time.monotonic()
    log.info("draining", in_flight=len(pending), grace_s=grace)
    if await pending.wait_idle(grace):
        log.info("drained", after_s=round(time.monotonic() - started, 3))
    else:
        log.warning("drain_forced", after_s=round(time.monotonic() - started, 3), cancelled_calls=len(pending))
    return 0


def _refusal(request: JSONRPCRequest) -> SessionMessage:
    error = ErrorData(code=SHUTTING_DOWN_CODE, message="the server is shutting down; retry with a new server")
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request.id, error=error))
