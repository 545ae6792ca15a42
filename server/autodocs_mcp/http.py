"""The streamable-HTTP face of the server: ``/mcp``, probes, ``/metrics``, ``/debug/allocations``, the token check
and the drain gate."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autodocs_mcp.allocations import AllocationTracker, SnapshotBusy, TracingOff, parse_top
from autodocs_mcp.app import ServerState
from autodocs_mcp.asgi_reply import json_reply
from autodocs_mcp.metrics import render_prometheus
from autodocs_mcp.session_gate import BODY_SCOPE_KEY, SdkSessions, SessionGate
from autodocs_mcp.sessions import SessionTable

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROTECTED_PREFIXES = ("/mcp", "/metrics", "/debug")
MIB = 1024 * 1024
MIN_DISCARD_BYTES = 16 * MIB
"""An oversized body is read and thrown away up to this much (or twice the cap, if larger) before the 413 goes out:
a client still sending when the server closes gets a connection reset instead of the answer. A body declared
larger than that is refused at once, and that client may see the reset."""


def _add_routes(server: MCPServer[Any], state: ServerState) -> None:
    @server.custom_route("/healthz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @server.custom_route("/readyz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def readyz(_request: Request) -> Response:
        ready = state.ready
        body = {"ready": ready, "draining": state.draining, "started": state.resources is not None}
        return JSONResponse(body, status_code=200 if ready else 503)

    @server.custom_route("/metrics", methods=["GET"])  # type: ignore[untyped-decorator]
    async def metrics(request: Request) -> Response:
        snapshot = state.snapshot()
        if request.query_params.get("format") == "json":
            return JSONResponse(snapshot)
        return PlainTextResponse(render_prometheus(snapshot), media_type=PROMETHEUS_CONTENT_TYPE)

    @server.custom_route("/debug/allocations", methods=["GET"])  # type: ignore[untyped-decorator]
    async def allocations(request: Request) -> Response:
        return await allocations_response(request, state.allocations)

    @server.custom_route("/debug/heap", methods=["POST"])  # type: ignore[untyped-decorator]
    async def heap(request: Request) -> Response:
        return heap_response(request)


def loopback_peer(host: str | None) -> bool:
    """True for a peer in 127.0.0.0/8 or ::1 (also written as ``::ffff:127.x.y.z``).

    uvicorn replaces the peer with the ``X-Forwarded-For`` client when the connection comes from a trusted proxy
    (127.0.0.1 and ::1 by default), so a local reverse proxy that sets the header passes its remote clients on as
    what they are, not as loopback.
    """
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _debug_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def allocations_response(request: Request, tracker: AllocationTracker) -> Response:
    """``GET /debug/allocations?top=N``: the largest live allocation sites, for a loopback client only.

    A snapshot names the server's files and costs a copy of every trace, so nobody off the machine may ask for one
    (the Gate has already checked the bearer token when one is set).
    """
    if not loopback_peer(request.client.host if request.client else None):
        return _debug_error(403, "forbidden", "allocation snapshots are served to loopback clients only")
    try:
        top = parse_top(request.query_params.get("top"))
    except ValueError as exc:
        return _debug_error(400, "invalid_argument", str(exc))
    try:
        body = await tracker.snapshot(top)
    except TracingOff:
        return _debug_error(409, "tracing_off", "set AUTODOCS_TRACEMALLOC_FRAMES to turn allocation tracking on")
    except SnapshotBusy:
        return _debug_error(429, "snapshot_busy", "another snapshot is being taken", {"Retry-After": "1"})
    except TimeoutError:
        message = "the snapshot did not finish in time; it goes on in the background, retry later"
        return _debug_error(503, "snapshot_timeout", message, {"Retry-After": "5"})
    return JSONResponse(body)


def heap_response(request: Request) -> Response:
    """``POST /debug/heap``: a full garbage collection, then the live Python blocks, for a loopback client only.

    ``/metrics`` reads ``sys.getallocatedblocks()`` as it finds it, garbage awaiting collection included, so two
    readings differ by thousands of blocks for no reason; counting what a repeated event leaves behind (the
    per-event residue benchmark) needs the count after a collection. A collection stops the server for tens of
    milliseconds on a big heap, so it is a POST, loopback only, and behind the bearer token when one is set.
    """
    if not loopback_peer(request.client.host if request.client else None):
        return _debug_error(403, "forbidden", "heap counts are served to loopback clients only")
    collected = gc.collect()
    return JSONResponse({"allocated_blocks": sys.getallocatedblocks(), "collected": collected})


class Gate:
    """ASGI wrapper in front of every route: DNS-rebinding check, bearer token, drain gate, bounded body read.

    The SDK checks Host and Origin only on ``/mcp``; a loopback server must refuse a rebinding page on ``/metrics``
    too. Refusals close the connection, so a client cannot keep streaming a body nobody will read. A request body
    is read here, whole, before any route sees it, within ``max_request_bytes`` (413) and ``http_body_timeout``
    seconds (408): uvicorn bounds neither how much nor how slowly a client may send. An oversized body is drained
    (to ``discard_limit`` bytes, within the body deadline) before its 413, so the client is still listening.
    """

    def __init__(self, app: ASGIApp, state: ServerState, token: str | None) -> None:
        settings = state.settings
        self._app = app
        self._state = state
        self._token = token.encode() if token else None
        self._loopback_only = settings.http_host.lower() in LOOPBACK_BIND_HOSTS
        self._max_body = settings.max_request_bytes
        self._discard_limit = max(MIN_DISCARD_BYTES, 2 * settings.max_request_bytes)
        self._body_timeout_s = settings.http_body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        if self._loopback_only:
            refusal = _rebinding_refusal(headers)
            if refusal is not None:
                await json_reply(send, refusal[0], {"error": "forbidden", "message": refusal[1]}, _CLOSE)
                return
        path: str = scope.get("path", "")
        if self._token is not None and path.startswith(PROTECTED_PREFIXES) and not self._authorized(scope):
            await json_reply(
                send,
                401,
                {"error": "unauthorized", "message": "missing or wrong bearer token"},
                [(b"www-authenticate", b'Bearer realm="autodocs-mcp"'), *_CLOSE],
            )
            return
        if self._state.draining and path.startswith("/mcp") and scope.get("method") != "DELETE":
            await json_reply(
                send,
                503,
                {"error": "shutting_down", "message": "the server is shutting down"},
                [(b"retry-after", b"5"), *_CLOSE],
            )
            return
        if _has_body(headers):
            try:
                body = await _read_body(receive, headers, self._max_body, self._body_timeout_s)
            except BodyTooLarge as too_large:
                await _discard(receive, too_large.read, self._discard_limit, self._body_timeout_s)
                message = f"request body exceeds {self._max_body} bytes (AUTODOCS_MAX_REQUEST_BYTES)"
                await json_reply(send, 413, {"error": "request_too_large", "message": message}, _CLOSE)
                return
            except TimeoutError:
                message = f"request body not received within {self._body_timeout_s:g} s"
                await json_reply(send, 408, {"error": "request_timeout", "message": message}, _CLOSE)
                return
            if body is None:
                return  # the client went away mid-body; there is nobody to answer
            receive = _replay(body, receive)
            scope = {**scope, BODY_SCOPE_KEY: body}
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        presented = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                presented = value
                break
        scheme, _, credential = presented.partition(b" ")
        # compare_digest always runs, so a wrong scheme and a wrong token cost the same; it leaks no content
        matches = hmac.compare_digest(credential.strip(), self._token)
        return scheme.lower() == b"bearer" and matches


LOOPBACK_BIND_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_CLOSE: list[tuple[bytes, bytes]] = [(b"connection", b"close")]


def _loopback_authority(text: str) -> bool:
    """``127.0.0.1``, ``localhost`` or ``[::1]``, with an optional numeric port: what a local client sends."""
    for name in _LOOPBACK_NAMES:
        if text == name:
            return True
        if text.startswith(name + ":"):
            port = text[len(name) + 1 :]
            return port.isascii() and port.isdigit() and len(port) <= 5
    return False


def _rebinding_refusal(headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """421 for a Host, 403 for an Origin that a page on another site reached us under (DNS rebinding)."""
    host = origin = None
    for name, value in headers:
        if name == b"host" and host is None:
            host = value.decode("latin-1").strip().lower()
        elif name == b"origin" and origin is None:
            origin = value.decode("latin-1").strip().lower()
    if host is None or not _loopback_authority(host):
        return 421, "Host header is not a loopback address"
    if origin is not None and not (origin.startswith("http://") and _loopback_authority(origin[7:])):
        return 403, "Origin is not a loopback origin"
    return None


class BodyTooLarge(Exception):
    """The request body passed the size cap (declared or counted); ``read`` bytes of it were taken, and
    ``declared`` is its Content-Length when it had one."""

    def __init__(self, read: int, declared: int | None = None) -> None:
        super().__init__(f"request body too large ({read} bytes read)")
        self.read = read
        self.declared = declared


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


async def _read_body(
    receive: Receive, headers: list[tuple[bytes, bytes]], limit: int, timeout_s: float
) -> bytes | None:
    """The whole request body, or None if the client disconnected first.

    Raises ``BodyTooLarge`` past ``limit`` bytes (at once when the declared length says so, without reading) and
    ``TimeoutError`` when the whole body has not arrived within ``timeout_s``.
    """
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit() and int(value) > limit:
            raise BodyTooLarge(0, int(value))
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _discard(receive: Receive, already: int, limit: int, timeout_s: float) -> None:
    """Read and drop the rest of a refused body, up to ``limit`` bytes in all and ``timeout_s`` seconds."""
    size = already
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while size <= limit:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                size += len(message.get("body", b""))


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body already read, then the live channel (so it still sees a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def build_http_app(server: MCPServer[Any], state: ServerState) -> ASGIApp:
    settings = state.settings
    _add_routes(server, state)
    starlette_app = server.streamable_http_app(
        json_response=settings.response_mode == "json",
        stateless_http=False,
        session_idle_timeout=settings.session_idle_timeout,
        max_sessions=settings.max_sessions,
        max_request_body_size=settings.max_request_bytes,
        host=settings.http_host,
    )
    sessions = SdkSessions(server.session_manager)
    table = SessionTable(settings.max_sessions, settings.sessions_per_client)
    state.sessions_open = lambda: len(sessions.live())
    gate = SessionGate(starlette_app, table, sessions, settings.max_requests_per_session)
    state.session_stats = gate.stats
    return Gate(gate, state, settings.http_token)
