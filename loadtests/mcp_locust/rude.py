"""Rude MCP clients beside the polite ones: sessions never closed, calls abandoned mid-flight, reconnect storms, a
session per call, and the sessionless 2026-07-28 revision.

Each class runs as exactly one Locust user (``fixed_count = 1``) that drives the class's whole rate, read at spawn
time from its ``--mcp-*`` option (0 = the class only sleeps). The calls draw their tools and arguments from the same
workload as the polite users (``--mcp-mix``, ``--mcp-names``, ...). Every row is named ``rude: ...``; an outcome that
is the intended behaviour (a call we gave up on, a session we left open) is a success of its own row, so only real
server misbehaviour (a 503 on initialize, a JSON-RPC error, a tool error by the failure rule, a refused connection)
is a failure. Launch them next to the polite users, with ``-u`` = polite users + one per rude class:

    locust -f loadtests/locustfile.py --headless -u 13 -r 13 SustainedUser NeverClosingUser AbortingUser \
        ReconnectStormUser SessionPerCallUser CurrentRevisionUser

``RUDE_CLASSES`` and ``RUDE_DEFAULTS`` name the classes and the options' defaults (notes/locust.md says why each).
"""

from __future__ import annotations

import logging
import math
import random
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from locust import events, task
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.exception import CatchResponseError

from mcp_locust import protocol
from mcp_locust.protocol import HttpReply, HttpTarget
from mcp_locust.rude_rates import RUDE_DEFAULTS
from mcp_locust.scenarios import workload_for
from mcp_locust.user import (
    INITIALIZE_ROW,
    INITIALIZED_ROW,
    REINIT_ROW,
    McpUser,
    _failure_of,
    _outcome_of,
    exit_on_bad_options,
    listen,
    option,
)

logger = logging.getLogger(__name__)

_HELP: Final[Mapping[str, str]] = {
    "--mcp-never-close-per-min": "NeverClosingUser: sessions opened (one call each) and never closed, per minute",
    "--mcp-abort-per-min": "AbortingUser: tool calls abandoned mid-flight per minute",
    "--mcp-abort-timeout-ms": "AbortingUser: how long it waits for a reply before it closes the connection (ms)",
    "--mcp-storm-every-s": "ReconnectStormUser: seconds between storms (the first one after that long)",
    "--mcp-storm-size": "ReconnectStormUser: sessions opened back to back per storm, left open (0 = no storms)",
    "--mcp-session-per-call-per-min": "SessionPerCallUser: initialize + one call + DELETE per minute",
    "--mcp-current-revision-per-min": "CurrentRevisionUser: sessionless 2026-07-28 tool calls per minute",
}

IDLE_WAIT_S: Final = 3600.0
"""What a class switched off (rate 0) sleeps between its do-nothing tasks."""

ABORTED_ROW: Final = "rude: aborted call"
ANSWERED_FIRST_ROW: Final = "rude: aborted call (answered first)"
STORM_INITIALIZE_ROW: Final = "rude: storm initialize"


_DESTS: Final[Mapping[str, str]] = {"--mcp-storm-every-s": "mcp_seconds_between_storms"}
"""Dests that differ from the flag's: Locust's web UI labels an option by its dest, and ``mcp_storm_every_s`` read
"Mcp Storm Every S"."""


def _dest(flag: str) -> str:
    return _DESTS.get(flag) or flag.removeprefix("--").replace("-", "_")


def add_rude_options(parser: LocustArgumentParser) -> None:
    for flag, default in RUDE_DEFAULTS.items():
        kind = int if flag == "--mcp-storm-size" else float
        parser.add_argument(
            flag,
            dest=_dest(flag),
            metavar=flag.removeprefix("--").replace("-", "_").upper(),
            type=kind,
            default=default,
            help=f"{_HELP[flag]} (default {default:g})",
        )


@dataclass(frozen=True)
class RudeSettings:
    """The validated rude options; the rates are for the whole class (one user), per minute."""

    never_close_per_min: float
    abort_per_min: float
    abort_timeout_ms: float
    storm_every_s: float
    storm_size: int
    session_per_call_per_min: float
    current_revision_per_min: float


def _value(environment: Environment, flag: str) -> float:
    raw = option(environment, _dest(flag))
    if raw is None:
        return float(RUDE_DEFAULTS[flag])
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} is not a number: {raw!r}") from None


def _rate(environment: Environment, flag: str) -> float:
    value = _value(environment, flag)
    if not 0 <= value < math.inf:
        raise ValueError(f"{flag} must be a finite number >= 0 per minute (0 = off), got {value:g}")
    return value


def _positive(environment: Environment, flag: str) -> float:
    value = _value(environment, flag)
    if not 0 < value < math.inf:
        raise ValueError(f"{flag} must be a finite number > 0, got {value:g}")
    return value


def rude_settings(environment: Environment) -> RudeSettings:
    """Read at spawn time, like the scenario options, so web-UI edits and a master's values apply."""
    size = _value(environment, "--mcp-storm-size")
    if not (0 <= size < math.inf and size == int(size)):
        raise ValueError(f"--mcp-storm-size must be a whole number >= 0 (0 = off), got {size:g}")
    return RudeSettings(
        never_close_per_min=_rate(environment, "--mcp-never-close-per-min"),
        abort_per_min=_rate(environment, "--mcp-abort-per-min"),
        abort_timeout_ms=_positive(environment, "--mcp-abort-timeout-ms"),
        storm_every_s=_positive(environment, "--mcp-storm-every-s"),
        storm_size=int(size),
        session_per_call_per_min=_rate(environment, "--mcp-session-per-call-per-min"),
        current_revision_per_min=_rate(environment, "--mcp-current-revision-per-min"),
    )


def validate_rude_options(environment: Environment, **_kwargs: object) -> None:
    exit_on_bad_options(lambda: rude_settings(environment))


listen(events.init_command_line_parser, add_rude_options)
listen(events.init, validate_rude_options)


class Cadence:
    """Due times one period apart; a round that overran is followed at once, never by a catch-up burst."""

    def __init__(self, period_s: float | None, first_after_s: float = 0.0) -> None:
        self.period_s = period_s
        self._due = time.monotonic() + first_after_s

    @classmethod
    def per_minute(cls, rate: float) -> Cadence:
        return cls(60.0 / rate if rate > 0 else None)

    def wait(self) -> float:
        if self.period_s is None:
            return IDLE_WAIT_S
        return max(0.0, self._due - time.monotonic())

    def take(self) -> bool:
        """True when a round is due now (and books the next one)."""
        if self.period_s is None:
            return False
        now = time.monotonic()
        if now < self._due:
            return False
        self._due = max(self._due + self.period_s, now)
        return True


class _RudeUser(McpUser):
    """One user per class, paced by a ``Cadence``; no handshake at spawn, and rows renamed ``rude: <kind> ...``."""

    abstract = True
    fixed_count = 1
    kind: ClassVar[str] = "rude"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.settings = rude_settings(environment)
        self.workload = workload_for(environment)
        self.rng = random.Random()
        self.cadence = self.make_cadence(self.settings)
        self.rows = {
            INITIALIZE_ROW: self.row("initialize"),
            INITIALIZED_ROW: self.row("notifications/initialized"),
            REINIT_ROW: self.row("session re-init"),
        }

    @classmethod
    def row(cls, what: str) -> str:
        return f"rude: {cls.kind} {what}"

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        raise NotImplementedError

    def wait_time(self) -> float:
        return self.cadence.wait()

    def on_start(self) -> None:
        """No handshake here: each class opens its sessions in its own way."""

    def on_stop(self) -> None:
        """Leave whatever is open as it is (the classes that close their session say so)."""
        self.forget()

    @task
    def act(self) -> None:
        if self.cadence.take():
            self.round()

    def round(self) -> None:
        raise NotImplementedError

    def call_from_mix(self) -> None:
        target, arguments = self.workload.draw(self.rng)
        self.call_tool(target.tool, arguments, expect_error=target.expect_error, request_name=self.row("tools/call"))

    def forget(self) -> None:
        """Drop the session without a word to the server; nothing of it is kept (bounded memory)."""
        self.session_id = None
        self.negotiated_version = None
        self.initialized = False

    def delete_session(self) -> None:
        if self.session_id is None:
            return
        headers = protocol.request_headers(self.session_id, self.negotiated_version, self.mcp_token, with_body=False)
        row = self.row("DELETE session")
        with self.client.delete(self.mcp_path, headers=headers, name=row, catch_response=True) as response:
            if response.status_code in (200, 202, 204, 404, 405):
                response.success()
            else:
                response.failure(_failure_of(response).reason)
        self.forget()

    def _post(self, body: str, headers: dict[str, str], row: str) -> ResponseContextManager:
        return super()._post(body, headers, self.rows.get(row, row))


class NeverClosingUser(_RudeUser):
    """Imitates the MCP Inspector and the MCP conformance suite: each connection opens a session (initialize +
    notifications/initialized), makes one tool call and goes away without the DELETE, leaving the session for the
    server's idle reaping. Rows: ``rude: never-close initialize|notifications/initialized|tools/call``."""

    kind = "never-close"

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        return Cadence.per_minute(settings.never_close_per_min)

    def round(self) -> None:
        self.forget()
        self.call_from_mix()
        self.forget()


class AbortingUser(_RudeUser):
    """Imitates a client whose own timeout is far below the call's latency (an agent with a 2 ms budget, a user who
    hits Ctrl-C, a proxy that cuts slow requests): it keeps one session and, for each call, opens a fresh TCP
    connection, sends the tools/call, waits ``--mcp-abort-timeout-ms`` and closes the connection mid-flight.

    Given up = success of ``rude: aborted call``; the reply arrived in time = ``rude: aborted call (answered first)``,
    judged like any call. A refused connection, or the server closing it without a reply, is a failure. A 404 (the
    session is gone) re-initialises it. The socket is its own, not the user's keep-alive pool, so each abort really is
    a new connection that the server sees dropped.
    """

    kind = "abort"

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        return Cadence.per_minute(settings.abort_per_min)

    def on_stop(self) -> None:
        self.delete_session()

    def round(self) -> None:
        if not self.initialized and not self.initialize(INITIALIZE_ROW):
            return
        target, arguments = self.workload.draw(self.rng)
        request_id = next(self._ids)
        body = protocol.encode(protocol.tools_call_request(request_id, target.tool, arguments))
        headers = protocol.request_headers(self.session_id, self.negotiated_version, self.mcp_token)
        url = self.mcp_path if self.mcp_path.startswith(("http://", "https://")) else f"{self.host}{self.mcp_path}"
        endpoint = protocol.http_target(url)
        raw = protocol.http_request("POST", endpoint.authority, endpoint.target, headers, body)
        started, wall = time.perf_counter(), time.time()
        exchange = self._exchange(endpoint, raw)
        elapsed_ms = (time.perf_counter() - started) * 1000
        reply = exchange.reply
        if reply is None:
            reason = exchange.failure
            self._report(ABORTED_ROW, elapsed_ms, exchange.received, wall, url, reason)
            return
        if reply.status == 404:
            self.forget()  # the server forgot the session; the attempt is not reported, as McpUser does
            self.initialize(REINIT_ROW)
            return
        content_type = reply.headers.get("content-type", "")
        outcome = protocol.classify_tool_call(
            reply.status, content_type, reply.body, request_id, target.expect_error, self.failure_rule
        )
        self._report(
            ANSWERED_FIRST_ROW, elapsed_ms, exchange.received, wall, url, None if outcome.ok else outcome.reason
        )

    def _exchange(self, endpoint: HttpTarget, raw: bytes) -> _Exchange:
        try:
            sock = socket.create_connection((endpoint.hostname, endpoint.port), timeout=self.connection_timeout)
        except OSError as exc:
            return _Exchange(failure=protocol.connection_failure(exc).reason)
        data = b""
        try:
            if endpoint.tls:
                sock = self._tls_context().wrap_socket(sock, server_hostname=endpoint.hostname)
            sock.sendall(raw)
            deadline = time.monotonic() + self.settings.abort_timeout_ms / 1000
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    reply = protocol.parse_http_reply(data, eof=True)
                    if reply is None:
                        return _Exchange(received=len(data), failure="connection closed by server")
                    return _Exchange(reply, len(data))
                data += chunk
                reply = protocol.parse_http_reply(data)
                if reply is not None:
                    return _Exchange(reply, len(data))
            return _Exchange(received=len(data))  # given up: the intended outcome
        except protocol.HttpParseError:
            return _Exchange(received=len(data), failure="bad HTTP reply")
        except OSError as exc:
            return _Exchange(received=len(data), failure=protocol.connection_failure(exc).reason)
        finally:
            sock.close()

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.insecure:  # as FastHttpUser does by default
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _report(self, row: str, elapsed_ms: float, length: int, wall: float, url: str, failure: str | None) -> None:
        self.environment.events.request.fire(
            request_type="POST",
            name=row,
            response_time=elapsed_ms,
            response_length=length,
            response=None,
            context=self.context(),
            exception=None if failure is None else CatchResponseError(failure),
            start_time=wall,
            url=url,
        )


@dataclass(frozen=True)
class _Exchange:
    """One aborted call on the wire: the reply if it came in time, else a failure reason or (neither) given up."""

    reply: HttpReply | None = None
    received: int = 0
    failure: str | None = None


class ReconnectStormUser(_RudeUser):
    """Imitates a fleet of clients reconnecting after a network blip or a deploy: every ``--mcp-storm-every-s`` it
    opens ``--mcp-storm-size`` new sessions back to back, as fast as one client can (initialize + one call each),
    and leaves them all open. Rows: ``rude: storm initialize|notifications/initialized|tools/call``."""

    kind = "storm"

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        if settings.storm_size == 0:
            return Cadence(None)
        return Cadence(settings.storm_every_s, first_after_s=settings.storm_every_s)

    def round(self) -> None:
        for _ in range(self.settings.storm_size):
            self.forget()
            self.call_from_mix()
        self.forget()


class SessionPerCallUser(_RudeUser):
    """Imitates a stateless script or CLI that wraps every call in a whole session: initialize, one tool call,
    DELETE, every time. Rows: ``rude: session-per-call initialize|notifications/initialized|tools/call|DELETE
    session``."""

    kind = "session-per-call"

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        return Cadence.per_minute(settings.session_per_call_per_min)

    def round(self) -> None:
        self.forget()
        self.call_from_mix()
        self.delete_session()

    def on_stop(self) -> None:
        self.delete_session()


class CurrentRevisionUser(_RudeUser):
    """Imitates the official ``mcp`` SDK's ``Client(url)`` on its default (``mode="auto"``) against a server that
    speaks the sessionless 2026-07-28 revision: one ``server/discover`` on connect, then every request a POST of its
    own without initialize or session, with ``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name`` headers and the
    ``io.modelcontextprotocol/*`` envelope in ``params._meta``; after its first tool call the SDK lists the tools
    once (for their output schemas), and so does this user. Rows: ``rude: 2026-07-28 server/discover|tools/call|
    tools/list``."""

    kind = "2026-07-28"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.discovered = False
        self.listed = False

    def make_cadence(self, settings: RudeSettings) -> Cadence:
        return Cadence.per_minute(settings.current_revision_per_min)

    def round(self) -> None:
        if not self.discovered:
            self.discovered = self.discover()
        target, arguments = self.workload.draw(self.rng)
        message = protocol.modern_tools_call_request(next(self._ids), target.tool, arguments)
        self.send_modern(message, self.row("tools/call"), expect_error=target.expect_error, tool_call=True)
        if not self.listed:
            self.listed = self.send_modern(
                protocol.modern_request(next(self._ids), "tools/list"), self.row("tools/list")
            )

    def discover(self) -> bool:
        message = protocol.modern_request(next(self._ids), "server/discover")
        return self.send_modern(message, self.row("server/discover"), offers=protocol.MODERN_PROTOCOL_VERSION)

    def send_modern(
        self,
        message: dict[str, Any],
        row: str,
        *,
        expect_error: str | None = None,
        tool_call: bool = False,
        offers: str | None = None,
    ) -> bool:
        request_id = message["id"]
        headers = protocol.modern_headers(message, self.mcp_token)
        with self._post(protocol.encode(message), headers, row) as response:
            outcome = _outcome_of(response, request_id, expect_error, self.failure_rule, tool_call=tool_call)
            if outcome.ok and offers is not None and outcome.result is not None:
                if offers not in protocol.supported_versions(outcome.result):
                    outcome = protocol.Outcome(False, f"{offers} not offered")
            if outcome.ok:
                response.success()
            else:
                response.failure(outcome.reason)
            return outcome.ok
