"""The MCP streamable-HTTP wire protocol as pure functions, so the Locust user stays a thin shell around them.

Failure reasons are deliberately short and drawn from a small vocabulary ("HTTP 503", "JSON-RPC -32602",
"tool error: package_not_found", "payload: success=false (package_not_found)", "bad body"): Locust groups its
failure table by the exact reason string, so anything that embeds request-specific text (ids, names, pydantic
input values) would explode that table. Which tool results are failures at all is a ``FailureRule``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


# --- The sessionless 2026-07-28 revision, as the official SDK's ``Client(url)`` speaks it (mcp 2.3) ---------------
#
# No initialize and no session: every request carries the protocol version, the client's capabilities and (optionally)
# its identity in ``params._meta``, and repeats the version, the method and, for name-bearing methods, the name in
# headers, which the server checks against the body (a mismatch is JSON-RPC -32020, HTTP 400). The SDK probes
# ``server/discover`` once on connect, then sends one POST per request. Header names are case-insensitive; the SDK
# writes them in lower case, the spec as below.

MODERN_PROTOCOL_VERSION = "2026-07-28"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
METHOD_HEADER = "Mcp-Method"
NAME_HEADER = "Mcp-Name"
NAME_BEARING_PARAMS: Mapping[str, str] = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
"""Method → the params key the ``Mcp-Name`` header repeats (``mcp.shared.inbound.NAME_BEARING_METHODS``)."""

_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")
_BASE64_SENTINEL = re.compile(r"=\?base64\?.*\?=")


def modern_meta(
    protocol_version: str = MODERN_PROTOCOL_VERSION,
    client_info: Mapping[str, Any] | None = CLIENT_INFO,
    capabilities: Mapping[str, Any] | None = None,
) -> Message:
    """The per-request envelope: version and capabilities are required, the client's identity is optional."""
    meta: Message = {PROTOCOL_VERSION_META_KEY: protocol_version}
    if client_info is not None:
        meta[CLIENT_INFO_META_KEY] = dict(client_info)
    meta[CLIENT_CAPABILITIES_META_KEY] = dict(capabilities or {})
    return meta


def modern_request(
    request_id: int,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    protocol_version: str = MODERN_PROTOCOL_VERSION,
    client_info: Mapping[str, Any] | None = CLIENT_INFO,
) -> Message:
    """A self-contained 2026-07-28 request: ``params`` (copied) plus the envelope in ``params._meta``.

    A ``_meta`` already in ``params`` keeps its other keys; the envelope keys win, as the SDK's stamp does.
    """
    body_params = dict(params or {})
    given_meta = body_params.get("_meta")
    body_params["_meta"] = {
        **(dict(given_meta) if isinstance(given_meta, Mapping) else {}),
        **modern_meta(protocol_version, client_info),
    }
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": method, "params": body_params}


def modern_tools_call_request(
    request_id: int,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    protocol_version: str = MODERN_PROTOCOL_VERSION,
    client_info: Mapping[str, Any] | None = CLIENT_INFO,
) -> Message:
    params = {"name": tool, "arguments": dict(arguments)}
    return modern_request(request_id, "tools/call", params, protocol_version=protocol_version, client_info=client_info)


def encode_header_value(value: str) -> str:
    """Printable ASCII without edge whitespace goes verbatim; anything else as ``=?base64?...?=`` (as the SDK does)."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _BASE64_SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def modern_headers(message: Message, token: str | None = None) -> dict[str, str]:
    """The headers of a 2026-07-28 POST, taken from the message itself so they always agree with its body."""
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    meta = params.get("_meta")
    version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    if isinstance(version, str):
        headers[PROTOCOL_VERSION_HEADER] = version
    method = message.get("method")
    if isinstance(method, str):
        headers[METHOD_HEADER] = method
        name_key = NAME_BEARING_PARAMS.get(method)
        name = params.get(name_key) if name_key is not None else None
        if isinstance(name, str):
            headers[NAME_HEADER] = encode_header_value(name)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def supported_versions(result: Message) -> list[str]:
    """The revisions a ``server/discover`` result offers (``supportedVersions``)."""
    versions = result.get("supportedVersions")
    return [v for v in versions if isinstance(v, str)] if isinstance(versions, list) else []


# --- Raw HTTP/1.1 for the aborting client: one request per connection, read until complete or given up ------------


class HttpParseError(ValueError):
    """The bytes are not an HTTP/1.1 response."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes


def http_request(method: str, host: str, path: str, headers: Mapping[str, str], body: str = "") -> bytes:
    """One HTTP/1.1 request with ``Host`` and ``Content-Length`` set from the arguments (no compression asked for)."""
    payload = body.encode("utf-8")
    lines = [f"{method} {path or '/'} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")]
    if payload or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def parse_http_reply(data: bytes, *, eof: bool = False) -> HttpReply | None:
    """The response in ``data`` once it is complete, else None; ``eof`` says the peer closed (a body without a
    length ends there). Interim 1xx responses are skipped."""
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        status, headers = _parse_head(data[:head_end])
        rest = data[head_end + 4 :]
        if 100 <= status < 200:
            data = rest
            continue
        break
    if status in (204, 304):
        return HttpReply(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
        return None if body is None else HttpReply(status, headers, body)
    length = headers.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise HttpParseError("bad Content-Length") from None
        if size < 0:
            raise HttpParseError("bad Content-Length")
        return HttpReply(status, headers, rest[:size]) if len(rest) >= size else None
    return HttpReply(status, headers, rest) if eof else None


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, remainder = lines[0].partition(" ")
    code = remainder.partition(" ")[0]
    if not version.startswith("HTTP/") or not (code.isdigit() and len(code) == 3):
        raise HttpParseError("bad status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpParseError("bad header line")
        headers[name.strip().lower()] = value.strip()
    return int(code), headers


def _dechunk(data: bytes) -> bytes | None:
    """The body of a complete chunked encoding, or None while the last chunk (and trailers) have not all arrived."""
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = data[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpParseError("bad chunk size") from None
        position = line_end + 2
        if size == 0:
            trailers_end = data.find(b"\r\n", position)
            while trailers_end > position:  # a trailer line; the body ends at the first empty line
                position = trailers_end + 2
                trailers_end = data.find(b"\r\n", position)
            return bytes(body) if trailers_end == position else None
        if len(data) < position + size + 2:
            return None
        body += data[position : position + size]
        position += size + 2


@dataclass(frozen=True)
class HttpTarget:
    """Where a raw request goes: the socket address, the ``Host`` header and the request target."""

    tls: bool
    hostname: str
    port: int
    authority: str
    target: str


def http_target(url: str) -> HttpTarget:
    """``http(s)://[user@]host[:port]/path?query`` split for a socket of our own (user info is never sent)."""
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = split.scheme == "https"
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    return HttpTarget(tls, split.hostname, split.port or (443 if tls else 80), split.netloc.rpartition("@")[2], target)
