"""A deadline on receiving request headers, which uvicorn does not have.

uvicorn's only connection timer is the keep-alive timer, armed after a response and cancelled by any byte received.
A client that connects and sends nothing, or sends its headers a byte at a time, therefore holds a socket (and a
file descriptor) for ever: 500 such clients exhaust a default descriptor limit. This protocol arms a deadline when
the connection opens and whenever a new request begins, and cancels it once the headers are complete. The body is
bounded separately, at the ASGI level (``http.Gate``), because the application is what reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 26\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request headers too slow\r\n"
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """httptools protocol whose connections must deliver each request's headers within ``header_timeout_s``."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._request_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        # uvicorn (0.55) cancels the keep-alive timer only when the connection ended cleanly (``exc is None``). A
        # client that sends a request and closes gets its answer written, the timer armed, then a reset: the timer
        # kept the protocol alive for the keep-alive's 5 s (measured: ~1.5 blocks per aborted connection, ~15,000
        # after an abort storm of 2,000 a second, all of them still there when every call was done).
        self._unset_keepalive_if_required()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        if self._header_deadline is None:  # the first request keeps the deadline its connection got
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._request_begun = False
        super().on_headers_complete()

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request is trickling while the previous one is answered: finish that answer, then close.
            cycle.keep_alive = False
            return
        if self._request_begun:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def header_deadline_protocol(timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class uvicorn instantiates per connection, with the deadline baked in."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": float(timeout_s)})
