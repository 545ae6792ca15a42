"""The streamable-HTTP face of the server: ``/mcp``, probes, ``/metrics``, the token check and the drain gate."""

from __future__ import annotations

import hmac
import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autodocs_mcp.app import ServerState
from autodocs_mcp.metrics import render_prometheus

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROTECTED_PREFIXES = ("/mcp", "/metrics")


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


class Gate:
    """ASGI wrapper: bearer-token check on protected paths, and 503 for new MCP requests while draining."""

    def __init__(self, app: ASGIApp, state: ServerState, token: str | None) -> None:
        self._app = app
        self._state = state
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if self._token is not None and path.startswith(PROTECTED_PREFIXES) and not self._authorized(scope):
            await _reply(
                send,
                401,
                {"error": "unauthorized", "message": "missing or wrong bearer token"},
                [(b"www-authenticate", b'Bearer realm="autodocs-mcp"')],
            )
            return
        if self._state.draining and path.startswith("/mcp") and scope.get("method") != "DELETE":
            await _reply(
                send,
                503,
                {"error": "shutting_down", "message": "the server is shutting down"},
                [(b"retry-after", b"5"), (b"connection", b"close")],
            )
            return
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


NEW_WORK_METHODS = frozenset({"tools/call", "initialize"})


def _starts_new_work(body: bytes) -> bool:
    try:
        message = json.loads(body)
    except ValueError:
        return True
    messages = message if isinstance(message, list) else [message]
    return any(not isinstance(m, dict) or m.get("method") in NEW_WORK_METHODS for m in messages)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes (the request is then refused)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _reply(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


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
    instances = getattr(server.session_manager, "_server_instances", None)  # no public count in the SDK
    if instances is not None:
        state.sessions_open = lambda: len(instances)
    return Gate(starlette_app, state, settings.http_token)
