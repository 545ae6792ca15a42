"""MCP logging: ``logging/setLevel`` per session, and the server's own log events sent to the client that caused them.

A client that asks (``logging/setLevel`` on the handshake revision; the ``io.modelcontextprotocol/logLevel`` ``_meta``
opt-in on 2026-07-28, which the SDK filters by) receives, as ``notifications/message``, the structlog events the
server logs *while serving that client's tool call*, at or above its level. Nothing is sent before a client asks.

Bounded and safe by construction: at most ``MAX_MESSAGES_PER_CALL`` notifications per call (the rest are counted in
one last message), only the event name and short scalar fields (strings cut at ``MAX_FIELD_CHARS``), never a field
whose name suggests a credential, and never another client's events (the call's context variable scopes them).
In JSON response mode the SDK drops request-scoped notifications (stack-facts §1): use SSE or stdio to receive them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, get_args

import structlog
from mcp.server.context import ServerRequestContext
from mcp_types import EmptyResult, LoggingLevel, SetLevelRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from autodocs_mcp.lru import BoundedLRU

log = structlog.get_logger("autodocs_mcp.client_logs")

LEVELS: Final[tuple[LoggingLevel, ...]] = get_args(LoggingLevel)
"""RFC 5424 severities, least severe first (the SDK's ``LoggingLevel`` literal order)."""
STRUCTLOG_TO_MCP: Final[dict[str, LoggingLevel]] = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "critical": "critical",
}
MAX_MESSAGES_PER_CALL = 20
MAX_FIELD_CHARS = 200
SECRET_HINTS = ("token", "authorization", "secret", "password", "cookie", "credential", "key")
DELIVERY_TIMEOUT_S = 2.0
"""How long a call's answer waits for its log notifications to be written (a stuck client must not hold it)."""


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def safe_data(event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """The event name and its short scalar fields; nothing that could carry a secret or a client's bulk input."""
    data: dict[str, Any] = {}
    for name, value in event_dict.items():
        if name in ("level", "timestamp", "exc_info", "_record", "_from_structlog"):
            continue
        if any(hint in name.lower() for hint in SECRET_HINTS):
            continue
        if isinstance(value, str):
            data[name] = value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS] + "…"
        elif value is None or isinstance(value, bool | int | float):
            data[name] = value
    return data


@dataclass
class CallLog:
    """The notifications one tool call may still send, and the ones on their way."""

    ctx: ServerRequestContext[Any, Any]
    minimum: int
    sent: int = 0
    dropped: int = 0
    pending: list[asyncio.Task[None]] = field(default_factory=list)

    def offer(self, level: LoggingLevel, data: dict[str, Any]) -> None:
        if _rank(level) < self.minimum:
            return
        if self.sent >= MAX_MESSAGES_PER_CALL:
            self.dropped += 1
            return
        self.sent += 1
        self.pending.append(asyncio.get_running_loop().create_task(self._send(level, data)))

    async def _send(self, level: LoggingLevel, data: dict[str, Any]) -> None:
        try:
            await self.ctx.session.send_log_message(
                level, data, logger="autodocs-mcp", related_request_id=self.ctx.request_id
            )
        except Exception as exc:  # a client gone mid-call is not the call's failure
            log.debug("client_log_undelivered", error=type(exc).__name__)

    async def flush(self) -> None:
        if self.dropped:
            self.sent = 0  # room for the one summary line
            self.offer("warning", {"event": "client_log_rate_limited", "dropped": self.dropped})
            self.dropped = 0
        if self.pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DELIVERY_TIMEOUT_S):
                    await asyncio.gather(*self.pending, return_exceptions=True)
            for task in self.pending:
                task.cancel()


_CURRENT: ContextVar[CallLog | None] = ContextVar("autodocs_client_log", default=None)


def forward_to_client(_logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: offer the event to the client whose call is being served, if any; pass it on as is."""
    call = _CURRENT.get()
    if call is not None:
        level = STRUCTLOG_TO_MCP.get(method_name, "info")
        try:
            call.offer(level, safe_data(event_dict))
        except RuntimeError:  # no running loop: a log line from a thread
            pass
    return event_dict


class ClientLogLevels:
    """The level each handshake-era session asked for, bounded like the sessions themselves."""

    def __init__(self, max_sessions: int) -> None:
        self._levels: BoundedLRU[str, int] = BoundedLRU(max_sessions, max_sessions)

    async def set_level(self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
        self._levels.put(session_key(ctx), _rank(params.level), 1)
        log.info("client_log_level_set", level=params.level)
        return EmptyResult()

    def minimum(self, ctx: ServerRequestContext[Any, Any]) -> int | None:
        """The least severity this request's client wants, or None when it asked for nothing."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return 0  # 2026-07-28: the request's own _meta opt-in decides, and the SDK filters by it
        return self._levels.get(session_key(ctx))

    @contextlib.asynccontextmanager
    async def during(self, ctx: ServerRequestContext[Any, Any]) -> AsyncIterator[None]:
        """Within this block, server log events go to ``ctx``'s client too (then wait, bounded, for delivery)."""
        minimum = self.minimum(ctx)
        if minimum is None:
            yield
            return
        call = CallLog(ctx, minimum)
        token = _CURRENT.set(call)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            await call.flush()


def session_key(ctx: ServerRequestContext[Any, Any]) -> str:
    """The HTTP session id, or one key for the single stdio connection."""
    headers = getattr(ctx.request, "headers", None)
    session_id = headers.get("mcp-session-id") if headers is not None else None
    return str(session_id) if session_id else "stdio"
