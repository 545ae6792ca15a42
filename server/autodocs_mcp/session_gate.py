"""ASGI wrapper around the SDK's ``/mcp`` route: makes room for newcomers and refuses duplicate in-flight ids.

Two things the SDK's session manager gets wrong under rude clients, fixed in front of it rather than inside it:

- **Lock-out.** At ``max_sessions`` the SDK answers every new client 503 (without ``Retry-After``) until an idle
  session times out. Here the least recently used idle session gives way (``sessions.SessionTable`` decides; the
  eviction ends it the way the SDK's own idle timeout does, by cancelling its idle scope); a 503 that remains carries
  ``Retry-After``.
- **Duplicate ids.** A second request with the id of one still in flight on the same session replaces the first in
  the SDK's response routing: the first is never answered, and its streams stay behind for the session's life. Here
  the second is answered at once with a JSON-RPC error naming the id, and the first goes on.

The request body has already been read whole by ``http.Gate`` (bounded in size and time) and is handed over in the
scope, so the ids are read without a second pass over the wire.
"""

from __future__ import annotations

import json
from typing import Any, Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autodocs_mcp.asgi_reply import json_reply
from autodocs_mcp.sessions import Refuse, SessionTable

log = structlog.get_logger("autodocs_mcp.sessions")

BODY_SCOPE_KEY: Final = "autodocs.body"
"""Where ``http.Gate`` leaves the request body it has read, for this wrapper to read the JSON-RPC ids from."""
SESSION_HEADER: Final = b"mcp-session-id"
INVALID_REQUEST: Final = -32600
REQUESTS_RETRY_AFTER_S: Final = 1
"""A session at its bound of open requests: the server answers hundreds a second, so one second frees many."""
MAX_IDS_PER_BODY: Final = 100
"""A batch (2025-03-26 clients) longer than this is left for the SDK to judge; its ids are not tracked."""


class SdkSessions:
    """The SDK's open sessions as far as this wrapper needs them: their IDs, and a way to end one.

    The SDK has no public API for either; this class is the one place that reads its private map.
    """

    def __init__(self, manager: Any) -> None:
        self._manager = manager

    def live(self) -> dict[str, Any]:
        instances: dict[str, Any] = getattr(self._manager, "_server_instances", {})
        return instances

    def requests_open(self, session_id: str) -> int:
        """Requests of a session the SDK still holds a stream for: dispatched or queued, answered or not.

        A client that gives up on a call closes its connection, and the HTTP handler returns, but the SDK keeps the
        request queued for the session's serial dispatcher until it has been answered (measured: 1,994 streams open
        after 2,000 aborted calls, while no HTTP request was in flight); this is the count that grows.
        """
        transport = self.live().get(session_id)
        streams = getattr(transport, "_request_streams", None)
        return len(streams) if isinstance(streams, dict) else 0

    def requests_open_total(self) -> int:
        return sum(
            len(s) for t in list(self.live().values()) if isinstance(s := getattr(t, "_request_streams", None), dict)
        )

    def end(self, session_id: str) -> bool:
        """End an idle session as its idle timeout would; False when the SDK no longer holds it."""
        transport = self.live().pop(session_id, None)
        if transport is None:
            return False
        getattr(self._manager, "_session_owners", {}).pop(session_id, None)
        scope = getattr(transport, "idle_scope", None)
        if scope is not None:
            scope.cancel()  # the session task's own cleanup terminates the transport
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def request_ids(body: bytes | None) -> list[str]:
    """The canonical JSON of each request id in a JSON-RPC body (notifications and responses have none)."""
    if not body:
        return []
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return []  # the SDK answers a parse error itself
    messages = message if isinstance(message, list) else [message]
    if len(messages) > MAX_IDS_PER_BODY:
        return []
    ids: list[str] = []
    for item in messages:
        if isinstance(item, dict) and "method" in item and item.get("id") is not None:
            ids.append(json.dumps(item["id"], sort_keys=True))
    return ids


def opens_session(body: bytes | None) -> bool:
    """Whether a POST without a session id asks for a new session: only ``initialize`` does.

    The sessionless 2026-07-28 revision sends every request without a session id and is served without a session;
    admitting those as newcomers evicted an idle session for each such call at a client's bound, and refused them
    with 503 when all its sessions were busy. An unreadable body is admitted like an initialize, so the bound
    holds whatever the SDK makes of it.
    """
    if not body:
        return True
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return True
    messages = message if isinstance(message, list) else [message]
    return any(isinstance(item, dict) and item.get("method") == "initialize" for item in messages[:MAX_IDS_PER_BODY])


class SessionGate:
    """Session admission with eviction, ``Retry-After`` on 503, and duplicate-id refusal for ``/mcp``."""

    def __init__(
        self, app: ASGIApp, table: SessionTable, sessions: SdkSessions, max_requests_per_session: int = 64
    ) -> None:
        self._app = app
        self._table = table
        self._sessions = sessions
        self._max_requests = max_requests_per_session
        self._in_flight: set[tuple[str, str]] = set()
        self.requests_refused = 0

    def stats(self) -> dict[str, int]:
        return {
            **self._table.stats(),
            "requests_open": self._sessions.requests_open_total(),
            "requests_per_session_max": self._max_requests,
            "requests_refused_total": self.requests_refused,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/mcp"):
            await self._app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None:
            await self._open(scope, receive, send)
            return
        ids = [(session_id, rid) for rid in request_ids(scope.get(BODY_SCOPE_KEY))]
        duplicate = next((rid for sid, rid in ids if (sid, rid) in self._in_flight), None)
        if duplicate is not None:
            message = f"request id {duplicate} is already in flight on this session; use a new id"
            error = {"code": INVALID_REQUEST, "message": message}
            body = {"jsonrpc": "2.0", "id": json.loads(duplicate), "error": error}
            log.info("duplicate_request_id", session=session_id[:16], request_id=duplicate[:64])
            await json_reply(send, 400, body, [])
            return
        # The gate's own count has no race (it rises before the app is awaited); the SDK's covers requests whose
        # client has gone but which still wait for the session's dispatcher. Each sees a subset of the truth.
        open_now = max(self._table.in_flight(session_id), self._sessions.requests_open(session_id))
        if ids and open_now >= self._max_requests:
            self.requests_refused += 1
            message = (
                f"this session already has {self._max_requests} requests open (AUTODOCS_MAX_REQUESTS_PER_SESSION); "
                "wait for answers before sending more"
            )
            log.info("session_requests_refused", session=session_id[:16], limit=self._max_requests)
            body = {"jsonrpc": "2.0", "id": json.loads(ids[0][1]), "error": {"code": -32000, "message": message}}
            await json_reply(send, 429, body, [(b"retry-after", str(REQUESTS_RETRY_AFTER_S).encode())])
            return
        tracked = self._table.begin(session_id)
        self._in_flight.update(ids)
        try:
            await self._app(scope, receive, _with_retry_after(send))
        finally:
            self._in_flight.difference_update(ids)
            if tracked:
                self._table.end(session_id)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST" or not opens_session(scope.get(BODY_SCOPE_KEY)):
            await self._app(scope, receive, _with_retry_after(send))
            return
        peer = _peer(scope)
        decision = self._table.admission(peer, self._sessions.live())
        if isinstance(decision, Refuse):
            log.warning("session_refused", peer=peer, reason=decision.reason)
            body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": decision.reason}}
            await json_reply(send, 503, body, [(b"retry-after", str(decision.retry_after_s).encode())])
            return
        if decision.evict is not None:
            if self._sessions.end(decision.evict):
                log.info("session_evicted", peer=peer, session=decision.evict[:16])
            self._table.evicted_one(decision.evict)
        opened: list[str] = []

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 500) < 400:
                for key, value in message.get("headers", ()):
                    if key == SESSION_HEADER:
                        opened.append(value.decode("latin-1"))
                        self._table.opened(opened[0], peer)
                        self._table.begin(opened[0])
            await send(message)

        try:
            await self._app(scope, receive, _with_retry_after(watched))
        finally:
            for session_id in opened:
                self._table.end(session_id)


def _with_retry_after(send: Send) -> Send:
    """The SDK's own 503 (a race at the cap) gains the ``Retry-After`` its clients need to back off."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 503:
            headers = list(message.get("headers", ()))
            if not any(key == b"retry-after" for key, _ in headers):
                message = {**message, "headers": [*headers, (b"retry-after", b"1")]}
        await send(message)

    return sending
