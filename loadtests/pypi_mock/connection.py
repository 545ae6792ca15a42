"""One HTTP/1.1 connection: httptools parsing, keep-alive, pipelining, and the fault behaviours on the wire.

Requests are answered strictly in arrival order. The warm path runs synchronously inside ``data_received``
(a cache hit is one ``transport.write``); anything that has to wait (latency, hang, trickle, oversize) runs in
one task per connection while later pipelined requests queue behind it. Reading pauses when the queue or the
transport's write buffer is full, so a client that pipelines without reading cannot grow our memory.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

import httptools

from pypi_mock import router, wire
from pypi_mock.cache import CachedResponse
from pypi_mock.control import handle_admin
from pypi_mock.faults import FaultKind, FaultPlan

if TYPE_CHECKING:
    from pypi_mock.server import MockServer

_SLOW_FAULTS = frozenset({FaultKind.HANG, FaultKind.OVERSIZE, FaultKind.SLOW_BODY})
_LINGER_ZERO = struct.pack("ii", 1, 0)


@dataclass(frozen=True, slots=True)
class Limits:
    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    max_pipeline: int = 64
    hang_release_s: float = 60.0
    slow_body_s: float = 20.0
    slow_body_interval_s: float = 0.25
    error_linger_s: float = 2.0


class _TooLargeError(Exception):
    """Raised from a parser callback to stop parsing a request that broke a size cap."""


@dataclass(frozen=True, slots=True)
class _Request:
    method: bytes
    target: bytes
    keep_alive: bool
    http10: bool
    body: bytes = b""
    error_status: int = 0
    """Non-zero for the synthetic entry that answers an unparsable request and closes."""


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: MockServer) -> None:
        self._server = server
        self._state = server.state
        self._limits = server.limits
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[_Request] = deque()
        self._target = b""
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._too_large_status = 0
        self._parse_failed = False
        self._closing = False
        self._close_when_idle = False
        self._write_paused = False
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self.busy = False
        self._hanging = False
        self.last_active = self._loop.time()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._queue.clear()
        self._wake_writer()
        if self._task is not None:
            self._task.cancel()
        if self._linger is not None:
            self._linger.cancel()
        self._server.connection_closed(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()
        self._drain()

    def eof_received(self) -> bool:
        if self._closing or self._hanging:
            # A client that gives up on a hung request is gone: release it now, so connections-open
            # tracks the sockets the client really holds.
            return False
        if self._queue or self.busy:
            self._close_when_idle = True
            return True
        return False

    def data_received(self, data: bytes) -> None:
        if self._parse_failed or self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An upgrade offer (h2c, websocket) is declined: answer what was asked over HTTP/1.1, then close.
            self._parse_failed = True
            self._close_when_idle = True
        except (httptools.HttpParserError, _TooLargeError):
            self._fail(self._too_large_status or 400)
        self._drain()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._target = b""
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._target += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            self._too_large_status = 413
            raise _TooLargeError
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        self._queue.append(
            _Request(
                parser.get_method(),
                self._target,
                parser.should_keep_alive(),
                parser.get_http_version() == "1.0",
                b"".join(self._body) if self._body else b"",
            )
        )
        self.last_active = self._loop.time()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_head_bytes:
            self._too_large_status = 431
            raise _TooLargeError

    # request queue

    def _fail(self, status: int) -> None:
        self._parse_failed = True
        self._queue.append(_Request(b"", b"", False, False, error_status=status))

    def _drain(self) -> None:
        queue = self._queue
        while queue and not self.busy and not self._write_paused and not self._closing:
            self._handle(queue.popleft())
        if self._close_when_idle and not queue and not self.busy:
            self.close()
        self._update_reading()

    def _update_reading(self) -> None:
        if self._transport is None or self._closing:
            return
        want_pause = self._write_paused or len(self._queue) >= self._limits.max_pipeline
        if want_pause != self._reading_paused:
            self._reading_paused = want_pause
            if want_pause:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    def _handle(self, request: _Request) -> None:
        stats = self._state.stats
        if request.error_status:
            stats.requests["other"] += 1
            message = HTTPStatus(request.error_status).phrase
            data, head_len = wire.json_response(request.error_status, {"message": message})
            head, body = wire.with_connection_header(data, head_len, b"close")
            self._write(head)
            self._write(body)
            self._close_lingering()
            return
        target = request.target
        if target.startswith(b"/pypi/"):
            if request.method != b"GET" and request.method != b"HEAD":
                stats.requests["other"] += 1
                self._send_json(request, 405, {"message": "Method Not Allowed"}, extra=[("Allow", "GET, HEAD")])
                return
            entry = router.lookup(self._state.cache, target)
            stats.requests[entry.kind] += 1
            if self._state.faults_active:
                self._answer_with_faults(request, entry)
            else:
                self._send_entry(request, entry)
        elif target.startswith(b"/_admin/"):
            stats.requests["admin"] += 1
            path = target.split(b"?", 1)[0].decode("latin-1")
            reply = handle_admin(self._state, request.method, path, request.body)
            extra = [("Allow", reply.allow)] if reply.allow else []
            self._send_json(request, reply.status, reply.payload, extra=extra)
        else:
            stats.requests["not_found"] += 1
            self._send_json(request, 404, {"message": "Not Found"})

    # responses

    def _write(self, data: bytes | memoryview) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(data)

    def _send_entry(self, request: _Request, entry: CachedResponse) -> None:
        self._send_buffer(request, entry.data, entry.head_len)

    def _send_buffer(self, request: _Request, data: bytes, head_len: int) -> None:
        head_only = request.method == b"HEAD"
        if request.keep_alive and not request.http10:
            self._write(data[:head_len] if head_only else data)
            return
        head, body = wire.with_connection_header(data, head_len, b"keep-alive" if request.keep_alive else b"close")
        self._write(head)
        if not head_only:
            self._write(body)
        if not request.keep_alive:
            self.close()

    def _send_json(
        self, request: _Request, status: int, payload: object, extra: list[wire.Header] | None = None
    ) -> None:
        data, head_len = wire.json_response(status, payload, extra or [])
        self._send_buffer(request, data, head_len)

    # faults

    def _answer_with_faults(self, request: _Request, entry: CachedResponse) -> None:
        state = self._state
        plan = state.plan
        delay = plan.delay_s(entry.name, state.rng)
        kind = plan.decide(entry.name, state.rng)
        if delay > 0:
            state.stats.faults["latency"] += 1
        if kind is not None:
            state.stats.faults[kind.value] += 1
        if delay > 0 or kind in _SLOW_FAULTS:
            self.busy = True
            self._task = self._loop.create_task(self._answer_later(request, entry, plan, delay, kind))
        elif kind is None:
            self._send_entry(request, entry)
        else:
            self._inject(request, entry, plan, kind)

    def _inject(self, request: _Request, entry: CachedResponse, plan: FaultPlan, kind: FaultKind) -> None:
        """The faults that answer at once: reset, error, throttle, malformed."""
        if kind is FaultKind.RESET:
            self.reset()
        elif kind is FaultKind.ERROR or kind is FaultKind.THROTTLE:
            status = plan.error_status if kind is FaultKind.ERROR else 429
            retry_after = plan.retry_after_header(kind)
            extra = [("Retry-After", retry_after)] if retry_after is not None else []
            self._send_json(request, status, {"message": "injected fault", "fault": kind.value}, extra=extra)
        elif kind is FaultKind.MALFORMED:
            body = entry.data[entry.head_len :]
            broken = body[: len(body) // 2] + b"\x00<!-- truncated"
            data, head_len = wire.response(200, broken)
            self._send_buffer(request, data, head_len)
        else:
            self._send_entry(request, entry)

    async def _answer_later(
        self, request: _Request, entry: CachedResponse, plan: FaultPlan, delay: float, kind: FaultKind | None
    ) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if self._closing:
                return
            if kind is FaultKind.HANG:
                self._hanging = True
                await asyncio.sleep(self._limits.hang_release_s)
                self.close()
            elif kind is FaultKind.OVERSIZE:
                await self._send_oversize(request, plan.oversize_bytes)
            elif kind is FaultKind.SLOW_BODY:
                await self._trickle(request, entry)
            elif kind is None:
                self._send_entry(request, entry)
            else:
                self._inject(request, entry, plan, kind)
        finally:
            self.busy = False
            self._task = None
            self.last_active = self._loop.time()
            if not self._closing:
                self._drain()

    async def _send_oversize(self, request: _Request, size: int) -> None:
        head = wire.head(200, "application/json", size)
        if request.http10 or not request.keep_alive:
            head, _ = wire.with_connection_header(head, len(head), b"keep-alive" if request.keep_alive else b"close")
        self._write(head)
        if request.method != b"HEAD":
            for piece in wire.oversize_body(size):
                if not await self._writable_or_abort():
                    return
                self._write(piece)
        if not request.keep_alive:
            self.close()

    async def _trickle(self, request: _Request, entry: CachedResponse) -> None:
        """Headers at once, then the real body in small pieces spread over ``slow_body_s``."""
        limits = self._limits
        if request.keep_alive and not request.http10:
            head: bytes = entry.data[: entry.head_len]
            body = memoryview(entry.data)[entry.head_len :]
        else:
            connection = b"keep-alive" if request.keep_alive else b"close"
            head, body = wire.with_connection_header(entry.data, entry.head_len, connection)
        self._write(head)
        if request.method != b"HEAD":
            steps = max(1, math.ceil(limits.slow_body_s / limits.slow_body_interval_s))
            piece = max(1, math.ceil(len(body) / steps))
            for start in range(0, len(body), piece):
                await asyncio.sleep(limits.slow_body_interval_s)
                if not await self._writable_or_abort():
                    return
                self._write(body[start : start + piece])
        if not request.keep_alive:
            self.close()

    async def _writable_or_abort(self) -> bool:
        """Wait (bounded by ``hang_release_s``) until the client drains our buffer; False if it never does."""
        if self._closing:
            return False
        if not self._write_paused:
            return True
        self._writable = self._loop.create_future()
        try:
            async with asyncio.timeout(self._limits.hang_release_s):
                await self._writable
        except TimeoutError:
            self.abort()
            return False
        finally:
            self._writable = None
        return not self._closing

    def _wake_writer(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # closing

    def close(self) -> None:
        """Close after flushing what is already written."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _close_lingering(self) -> None:
        """Close after an error without losing the answer to a TCP reset.

        Closing with unread request bytes (an oversized head or body still arriving) makes the kernel send RST,
        which can destroy the error response in flight. So: send FIN, keep reading and discarding until the
        client closes too, and give up after ``error_linger_s``.
        """
        self._closing = True
        transport = self._transport
        if transport is None:
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self._linger = self._loop.call_later(self._limits.error_linger_s, transport.close)

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def reset(self) -> None:
        """Send a TCP RST: zero linger, then close without flushing."""
        if self._transport is not None:
            sock = self._transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self.abort()
