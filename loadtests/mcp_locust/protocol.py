"""The MCP streamable-HTTP wire protocol as pure functions, so the Locust user stays a thin shell around them.

Failure reasons are deliberately short and drawn from a small vocabulary ("HTTP 503", "JSON-RPC -32602",
"tool error: package_not_found", "payload: success=false (package_not_found)", "bad body"): Locust groups its
failure table by the exact reason string, so anything that embeds request-specific text (ids, names, pydantic
input values) would explode that table. Which tool results are failures at all is a ``FailureRule``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_locust.failure_rule import DEFAULT_RULE, FailureRule, payload_failure

JSONRPC_VERSION = "2.0"
DEFAULT_PROTOCOL_VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
CLIENT_INFO = {"name": "mcp-locust", "version": "0.1.0"}

Message = dict[str, Any]

_SSE_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class BodyError(ValueError):
    """The body is neither a JSON-RPC JSON document nor an SSE stream of JSON-RPC messages."""


@dataclass(frozen=True)
class Outcome:
    """What one exchange amounted to: ``ok`` with the JSON-RPC ``result``, or a failure with a groupable reason."""

    ok: bool
    reason: str = ""
    result: Message | None = None


def initialize_request(request_id: int, protocol_version: str = DEFAULT_PROTOCOL_VERSION) -> Message:
    return {
        "jsonrpc": JSONRPC_VERSION,
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": protocol_version, "capabilities": {}, "clientInfo": dict(CLIENT_INFO)},
    }


def initialized_notification() -> Message:
    return {"jsonrpc": JSONRPC_VERSION, "method": "notifications/initialized"}


def tools_call_request(request_id: int, tool: str, arguments: Mapping[str, Any]) -> Message:
    return {
        "jsonrpc": JSONRPC_VERSION,
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": dict(arguments)},
    }


def encode(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))


def request_headers(
    session_id: str | None, protocol_version: str | None, token: str | None, *, with_body: bool = True
) -> dict[str, str]:
    """Headers every MCP POST/DELETE needs; the protocol version is left out only before it is negotiated."""
    headers = {"Accept": ACCEPT}
    if with_body:
        headers["Content-Type"] = "application/json"
    if session_id:
        headers["mcp-session-id"] = session_id
    if protocol_version:
        headers["mcp-protocol-version"] = protocol_version
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def sse_data(text: str) -> Iterator[str]:
    """The data of each ``message`` event in an SSE stream (multi-line data joined with newlines, per the spec)."""
    data: list[str] = []
    event = ""
    for line in [*_SSE_LINE_BREAK.split(text), ""]:
        if not line:
            if data and event in ("", "message"):
                yield "\n".join(data)
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value


def messages_in(body: bytes, content_type: str) -> list[Message]:
    """Every JSON-RPC message in a response body, whether it came as one JSON document or as SSE events."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("body is not UTF-8") from exc
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "text/event-stream" or (not media_type and not text.lstrip().startswith(("{", "["))):
        chunks = list(sse_data(text))
    else:
        chunks = [text]
    messages: list[Message] = []
    for chunk in chunks:
        try:
            parsed = json.loads(chunk)
        except ValueError as exc:
            raise BodyError("body is not JSON") from exc
        items = parsed if isinstance(parsed, list) else [parsed]
        messages.extend(item for item in items if isinstance(item, dict))
    return messages


def reply_for(messages: list[Message], request_id: int) -> Message | None:
    """The response to ``request_id``; interleaved notifications and server requests in an SSE stream are skipped."""
    for message in messages:
        if message.get("id") == request_id and ("result" in message or "error" in message):
            return message
    return None


def connection_failure(error: BaseException) -> Outcome:
    return Outcome(False, f"connection error: {type(error).__name__}")


def classify_reply(status: int, content_type: str, body: bytes, request_id: int) -> Outcome:
    """Transport and JSON-RPC layers: a non-2xx status, an unreadable body or a JSON-RPC error is a failure."""
    if not 200 <= status < 300:
        return Outcome(False, f"HTTP {status}")
    try:
        reply = reply_for(messages_in(body, content_type), request_id)
    except BodyError:
        return Outcome(False, "bad body")
    if reply is None:
        return Outcome(False, "no reply")
    error = reply.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        return Outcome(False, f"JSON-RPC {code}" if isinstance(code, int) else "JSON-RPC error")
    result = reply.get("result")
    if not isinstance(result, dict):
        return Outcome(False, "bad body")
    return Outcome(True, result=result)


def tool_error_code(result: Message) -> str | None:
    """The machine-readable code a server put in ``structuredContent.error.code``, if it gives one."""
    structured = result.get("structuredContent")
    if not isinstance(structured, dict):
        return None
    error = structured.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


def result_text(result: Message) -> str:
    content = result.get("content")
    if not isinstance(content, list):
        return ""
    return "\n".join(item["text"] for item in content if isinstance(item, dict) and isinstance(item.get("text"), str))


def describe_tool_error(result: Message) -> str:
    """A short, bounded label for an ``isError`` result; servers without structured errors get a coarse class."""
    code = tool_error_code(result)
    if code is not None:
        return f"tool error: {code[:64]}"
    text = result_text(result)
    if text.startswith("Unknown tool"):
        return "tool error: unknown tool"
    if "validation error" in text:
        return "tool error: invalid arguments"
    return "tool error"


def judge_tool_result(result: Message, expect_error: str | None = None, rule: FailureRule = DEFAULT_RULE) -> Outcome:
    """Success means no enabled check of ``rule`` fires normally, and exactly the expected error when one is expected.

    ``isError`` is judged first and keeps its reasons; the payload is only inspected when it did not fire. For an
    expected error, a payload failure counts as the error having happened, matched by its ``error.code``.
    """
    if rule.is_error and result.get("isError") is True:
        if expect_error is None:
            return Outcome(False, describe_tool_error(result), result)
        if _expected(expect_error, tool_error_code(result), result):
            return Outcome(True, result=result)
        return Outcome(False, f"expected {expect_error}, got {describe_tool_error(result)}", result)
    payload = payload_failure(result, rule)
    if payload is None:
        if expect_error is None:
            return Outcome(True, result=result)
        return Outcome(False, f"expected {expect_error}, got success", result)
    if expect_error is None:
        return Outcome(False, payload.reason, result)
    if _expected(expect_error, payload.code, result):
        return Outcome(True, result=result)
    return Outcome(False, f"expected {expect_error}, got {payload.reason}", result)


def _expected(expect_error: str, code: str | None, result: Message) -> bool:
    """The server's own code decides when it gives one; only without a code is the text searched."""
    return code == expect_error if code is not None else expect_error in result_text(result)


def classify_tool_call(
    status: int,
    content_type: str,
    body: bytes,
    request_id: int,
    expect_error: str | None = None,
    rule: FailureRule = DEFAULT_RULE,
) -> Outcome:
    reply = classify_reply(status, content_type, body, request_id)
    if not reply.ok or reply.result is None:
        return expected_instead(reply, expect_error)
    return judge_tool_result(reply.result, expect_error, rule)


def expected_instead(failure: Outcome, expect_error: str | None) -> Outcome:
    """Rephrase a transport-level failure for a call that expected a tool error, so the row says what was awaited."""
    if expect_error is None:
        return failure
    return Outcome(False, f"expected {expect_error}, got {failure.reason}")


def negotiated_version(result: Message, requested: str) -> str:
    """The version the server chose in its ``initialize`` result, which later requests must then announce."""
    version = result.get("protocolVersion")
    return version if isinstance(version, str) and version else requested


def notification_accepted(status: int) -> Outcome:
    return Outcome(True) if status in (200, 202, 204) else Outcome(False, f"HTTP {status}")
