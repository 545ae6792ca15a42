"""``McpUser``: a Locust user that speaks MCP over streamable HTTP to any server, one stats row per tool.

The protocol logic lives in ``protocol.py``; this module only moves bytes and reports to Locust. Bodies are always
read whole (never ``stream=True``): with SSE the headers leave the server before the tool runs, so a streamed read
would time the headers and not the call.
"""

from __future__ import annotations

import functools
import itertools
import logging
from argparse import Namespace
from collections.abc import Callable, Mapping
from typing import Any

from locust import FastHttpUser, events
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS, ResponseContextManager
from locust.env import Environment
from locust.event import EventHook

from mcp_locust import protocol
from mcp_locust.failure_rule import (
    CHECKS,
    DEFAULT_RULE,
    DEFAULT_RULE_NAME,
    NAMED_RULES,
    FailureRule,
    parse_failure_rule,
)
from mcp_locust.protocol import Outcome

logger = logging.getLogger(__name__)

INITIALIZE_ROW = "initialize"
INITIALIZED_ROW = "notifications/initialized"
REINIT_ROW = "session re-init"
DELETE_ROW = "DELETE session"


def add_mcp_user_options(parser: LocustArgumentParser) -> None:
    """Unset options fall back to the user class attributes, so a subclass's own defaults still hold."""
    parser.add_argument("--mcp-path", default=None, help="MCP endpoint path (default /mcp, McpUser.mcp_path)")
    parser.add_argument(
        "--mcp-token",
        default=None,
        env_var="MCP_LOCUST_TOKEN",
        is_secret=True,
        help="bearer token sent as Authorization (or env MCP_LOCUST_TOKEN)",
    )
    parser.add_argument(
        "--mcp-protocol-version",
        default=None,
        help=f"MCP protocol version to request (default {protocol.DEFAULT_PROTOCOL_VERSION})",
    )
    parser.add_argument(
        "--mcp-timeout", default=None, help="connect and network timeout per request in seconds (default 30)"
    )
    parser.add_argument(
        "--mcp-failure-rule",
        default=None,
        help=(
            f"which tool results are failed calls: {' | '.join(NAMED_RULES)} | a list of checks "
            f"({','.join(CHECKS)}) (default {DEFAULT_RULE_NAME}, McpUser.failure_rule; see notes/locust.md)"
        ),
    )


def listen(hook: EventHook, handler: Callable[..., None]) -> None:
    """Register a Locust event listener; a function, not a decorator, so the handler keeps its type."""
    hook.add_listener(handler)  # type: ignore[no-untyped-call]  # locust's EventHook is not annotated


@functools.lru_cache(maxsize=8)
def _parsed_rule(text: str) -> FailureRule:
    return parse_failure_rule(text)


def failure_rule_for(environment: Environment, fallback: FailureRule = DEFAULT_RULE) -> FailureRule:
    """``--mcp-failure-rule`` read at spawn time (UI edits and a master's value apply), else ``fallback``."""
    text = option(environment, "mcp_failure_rule")
    if text is None:
        return fallback
    try:
        return _parsed_rule(str(text))
    except ValueError as exc:
        raise ValueError(f"--mcp-failure-rule: {exc}") from None


def exit_on_bad_options(check: Callable[[], object], errors: tuple[type[Exception], ...] = (ValueError,)) -> None:
    """Run ``check`` at start; a bad ``--mcp-*`` option is logged by name and ends Locust with status 2, not later in
    every spawned user. The one place every options module (user, scenarios, rude) validates through."""
    try:
        check()
    except errors as exc:
        logger.error("bad --mcp-* option: %s", exc)
        raise SystemExit(2) from None


def validate_user_options(environment: Environment, **_kwargs: object) -> None:
    exit_on_bad_options(lambda: failure_rule_for(environment))


listen(events.init_command_line_parser, add_mcp_user_options)
listen(events.init, validate_user_options)


class _SessionExpired(Exception):
    """Raised inside the response block so Locust drops the 404 attempt instead of reporting it; see call_tool."""


def tool_row_name(tool: str, expect_error: str | None = None) -> str:
    """One Locust row per tool; calls that expect an error get their own row so they never blur the latencies."""
    return f"tools/call {tool}" if expect_error is None else f"tools/call {tool} (expect {expect_error})"


def option(environment: Environment, dest: str) -> Any:
    """A command-line (or web UI) value, or None when it was not given."""
    options: Namespace | None = environment.parsed_options
    value = getattr(options, dest, None) if options is not None else None
    return None if value is None or value == "" else value


class McpUser(FastHttpUser):
    """Handshake in ``on_start``, ``call_tool`` from tasks, DELETE of the session in ``on_stop``."""

    abstract = True

    mcp_path: str = "/mcp"
    mcp_token: str | None = None
    protocol_version: str = protocol.DEFAULT_PROTOCOL_VERSION
    request_timeout: float = 30.0
    failure_rule: FailureRule = DEFAULT_RULE

    def __init__(self, environment: Environment) -> None:
        self.failure_rule = failure_rule_for(environment, self.failure_rule)
        self.mcp_path = str(option(environment, "mcp_path") or self.mcp_path)
        self.mcp_token = option(environment, "mcp_token") or self.mcp_token
        self.protocol_version = str(option(environment, "mcp_protocol_version") or self.protocol_version)
        self.request_timeout = float(option(environment, "mcp_timeout") or self.request_timeout)
        self.network_timeout = self.request_timeout
        self.connection_timeout = self.request_timeout
        super().__init__(environment)
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.negotiated_version: str | None = None
        self.initialized = False

    def on_start(self) -> None:
        self.initialize(INITIALIZE_ROW)

    def on_stop(self) -> None:
        if self.session_id is None:
            return
        headers = protocol.request_headers(self.session_id, self.negotiated_version, self.mcp_token, with_body=False)
        with self.client.delete(self.mcp_path, headers=headers, name=DELETE_ROW, catch_response=True) as response:
            # 404: already reaped; 405: the server does not let clients end sessions (allowed by the spec)
            if response.status_code in (200, 202, 204, 404, 405):
                response.success()
            else:
                response.failure(_failure_of(response).reason)
        self.session_id = None
        self.initialized = False

    def initialize(self, row: str = INITIALIZE_ROW) -> bool:
        """initialize → notifications/initialized; keeps the session id and the negotiated protocol version."""
        self.session_id = None
        self.negotiated_version = None
        self.initialized = False
        request_id = next(self._ids)
        body = protocol.encode(protocol.initialize_request(request_id, self.protocol_version))
        headers = protocol.request_headers(None, None, self.mcp_token)
        with self._post(body, headers, row) as response:
            outcome = _outcome_of(response, request_id, None, self.failure_rule, tool_call=False)
            if not outcome.ok or outcome.result is None:
                response.failure(outcome.reason)
                return False
            response.success()
            self.session_id = _header(response, "mcp-session-id") or None
            self.negotiated_version = protocol.negotiated_version(outcome.result, self.protocol_version)
        body = protocol.encode(protocol.initialized_notification())
        headers = protocol.request_headers(self.session_id, self.negotiated_version, self.mcp_token)
        with self._post(body, headers, INITIALIZED_ROW) as response:
            accepted = protocol.notification_accepted(response.status_code)
            if not accepted.ok:
                response.failure(accepted.reason)
                return False
            response.success()
        self.initialized = True
        return True

    def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        expect_error: str | None = None,
        request_name: str | None = None,
    ) -> Outcome:
        """One ``tools/call``, reported as a success or a failure with a short reason, and returned as an Outcome.

        A 404 means the server forgot the session (idle reaping, restart): the user re-initialises once (its own
        "session re-init" row counts these) and retries once; the dropped 404 attempt is not reported.
        """
        row = request_name or tool_row_name(name, expect_error)
        if not self.initialized and not self.initialize(INITIALIZE_ROW):
            return Outcome(False, "not initialized")
        try:
            return self._call_once(name, arguments, expect_error, row, retry_on_expiry=True)
        except _SessionExpired:
            self.initialize(REINIT_ROW)
            return self._call_once(name, arguments, expect_error, row, retry_on_expiry=False)

    def _call_once(
        self, name: str, arguments: Mapping[str, Any], expect_error: str | None, row: str, *, retry_on_expiry: bool
    ) -> Outcome:
        request_id = next(self._ids)
        body = protocol.encode(protocol.tools_call_request(request_id, name, arguments))
        headers = protocol.request_headers(self.session_id, self.negotiated_version, self.mcp_token)
        with self._post(body, headers, row) as response:
            if retry_on_expiry and response.status_code == 404:
                raise _SessionExpired
            outcome = _outcome_of(response, request_id, expect_error, self.failure_rule)
            if outcome.ok:
                response.success()
            else:
                response.failure(outcome.reason)
            return outcome

    def _post(self, body: str, headers: dict[str, str], row: str) -> ResponseContextManager:
        return self.client.post(self.mcp_path, data=body, headers=headers, name=row, catch_response=True)


def _failure_of(response: ResponseContextManager) -> Outcome:
    error = response.request_meta.get("exception")
    if response.status_code == 0 and isinstance(error, BaseException):
        return protocol.connection_failure(error)
    return Outcome(False, f"HTTP {response.status_code}")


def _outcome_of(
    response: ResponseContextManager,
    request_id: int,
    expect_error: str | None,
    rule: FailureRule,
    *,
    tool_call: bool = True,
) -> Outcome:
    error = response.request_meta.get("exception")
    if response.status_code == 0 or (error is not None and 200 <= response.status_code < 300):
        # no status, or the body could not be read in full: there is nothing to parse
        failure = protocol.connection_failure(error) if isinstance(error, BaseException) else Outcome(False, "no reply")
        return protocol.expected_instead(failure, expect_error)
    content_type = _header(response, "content-type")
    try:
        body = response.content or b""
    except FAILURE_EXCEPTIONS:
        body = b""  # a non-2xx whose body broke off: its status is the reason anyway
    if not tool_call:
        return protocol.classify_reply(response.status_code, content_type, body, request_id)
    return protocol.classify_tool_call(response.status_code, content_type, body, request_id, expect_error, rule)


def _header(response: ResponseContextManager, name: str) -> str:
    value = response.headers.get(name) if response.headers else None
    return value if isinstance(value, str) else ""
