"""The MCP wire protocol of the Locust user, without sockets: bodies, SSE and JSON replies, and classification."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_locust import protocol
from mcp_locust.protocol import Outcome

JSON = "application/json"
SSE = "text/event-stream"


def sse(*messages: dict[str, Any], crlf: bool = True) -> bytes:
    newline = "\r\n" if crlf else "\n"
    return "".join(f"event: message{newline}data: {json.dumps(m)}{newline}{newline}" for m in messages).encode()


def tool_result(structured: dict[str, Any] | None = None, *, is_error: bool = False, text: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if structured is not None:
        result["structuredContent"] = structured
    return result


def reply(request_id: int, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def structured_error(code: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": "m", "suggestion": "s", "retryable": False}}


def test_initialize_asks_for_the_given_protocol_version_with_the_given_id() -> None:
    body = protocol.initialize_request(7, "2025-06-18")
    assert body["id"] == 7 and body["method"] == "initialize"
    assert body["params"]["protocolVersion"] == "2025-06-18"
    assert body["params"]["clientInfo"]["name"] == "mcp-locust"


def test_the_initialized_notification_has_no_id() -> None:
    assert protocol.initialized_notification() == {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_tools_call_carries_the_tool_name_and_a_copy_of_the_arguments() -> None:
    arguments = {"package_name": "flask"}
    body = protocol.tools_call_request(3, "get_package_docs", arguments)
    assert body == {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "get_package_docs", "arguments": {"package_name": "flask"}},
    }
    assert body["params"]["arguments"] is not arguments


def test_encoding_is_compact_json() -> None:
    assert protocol.encode({"a": [1, 2]}) == '{"a":[1,2]}'


def test_headers_accept_both_reply_formats_and_carry_session_version_and_token() -> None:
    headers = protocol.request_headers("sid", "2025-11-25", "t" * 20)
    assert headers == {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "mcp-session-id": "sid",
        "mcp-protocol-version": "2025-11-25",
        "Authorization": "Bearer " + "t" * 20,
    }


def test_headers_before_the_handshake_leave_out_session_and_version() -> None:
    assert protocol.request_headers(None, None, None, with_body=False) == {"Accept": protocol.ACCEPT}


def test_sse_parsing_picks_the_reply_with_the_matching_id_among_several_events() -> None:
    progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}
    other = reply(4, tool_result({"success": True}))
    mine = reply(5, tool_result({"success": True, "mine": 1}))
    messages = protocol.messages_in(sse(progress, other, mine), SSE)
    assert len(messages) == 3
    assert protocol.reply_for(messages, 5) == mine


def test_sse_parsing_accepts_bare_newlines_comments_and_multi_line_data() -> None:
    body = b': keep-alive\n\nevent: message\ndata: {"jsonrpc": "2.0",\ndata:  "id": 1, "result": {}}\n\n'
    assert protocol.messages_in(body, SSE) == [{"jsonrpc": "2.0", "id": 1, "result": {}}]


def test_sse_events_of_other_types_are_ignored() -> None:
    body = b'event: ping\ndata: {"id": 1, "result": {"x": 1}}\n\nevent: message\ndata: {"id": 1, "result": {}}\n'
    assert protocol.messages_in(body, SSE) == [{"id": 1, "result": {}}]


def test_a_json_body_is_one_message_and_a_json_batch_is_several() -> None:
    assert protocol.messages_in(b'{"id": 1, "result": {}}', "application/json; charset=utf-8") == [
        {"id": 1, "result": {}}
    ]
    assert len(protocol.messages_in(b'[{"id": 1, "result": {}}, {"id": 2, "result": {}}]', JSON)) == 2


def test_a_body_without_content_type_is_sniffed() -> None:
    assert protocol.messages_in(b'{"id": 1, "result": {}}', "") == [{"id": 1, "result": {}}]
    assert protocol.messages_in(sse({"id": 1, "result": {}}), "") == [{"id": 1, "result": {}}]


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"\xff\xfe", b"data: {not json}\n\n"])
def test_unparsable_bodies_are_body_errors(body: bytes) -> None:
    with pytest.raises(protocol.BodyError):
        protocol.messages_in(body, JSON if body.startswith(b"<") else SSE)


def test_a_successful_tool_call_is_ok_and_returns_the_result() -> None:
    result = tool_result({"success": True})
    outcome = protocol.classify_tool_call(200, JSON, json.dumps(reply(1, result)).encode(), 1)
    assert outcome == Outcome(True, "", result)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, b'{"error": "shutting_down"}', "HTTP 503"),
        (404, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600}}', "HTTP 404"),
        (200, b"<html>", "bad body"),
        (200, b'{"jsonrpc": "2.0", "id": 99, "result": {}}', "no reply"),
        (200, b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "x"}}', "JSON-RPC -32602"),
        (200, b'{"jsonrpc": "2.0", "id": 1, "error": "weird"}', "JSON-RPC error"),
        (200, b'{"jsonrpc": "2.0", "id": 1, "result": "not an object"}', "bad body"),
    ],
)
def test_transport_and_json_rpc_failures_get_short_groupable_reasons(status: int, body: bytes, reason: str) -> None:
    assert protocol.classify_tool_call(status, JSON, body, 1) == Outcome(False, reason)


def test_a_structured_tool_error_is_a_failure_named_by_its_code() -> None:
    body = sse(reply(1, tool_result(structured_error("package_not_found"), is_error=True)))
    outcome = protocol.classify_tool_call(200, SSE, body, 1)
    assert not outcome.ok and outcome.reason == "tool error: package_not_found"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Unknown tool: nope", "tool error: unknown tool"),
        ("1 validation error for xArguments\nname\n  Field required [input_value={}]", "tool error: invalid arguments"),
        ("Error executing tool x: boom at 0x7f00", "tool error"),
    ],
)
def test_unstructured_tool_errors_fall_into_coarse_classes_without_request_text(text: str, reason: str) -> None:
    assert protocol.judge_tool_result(tool_result(is_error=True, text=text)) == Outcome(
        False, reason, tool_result(is_error=True, text=text)
    )


def test_an_expected_structured_error_counts_as_success() -> None:
    result = tool_result(structured_error("invalid_package_name"), is_error=True)
    assert protocol.judge_tool_result(result, "invalid_package_name").ok


def test_an_expected_error_found_in_the_text_counts_for_servers_without_structured_errors() -> None:
    result = tool_result(is_error=True, text="Error executing tool x: package_not_found: no such thing")
    assert protocol.judge_tool_result(result, "package_not_found").ok


def test_the_text_is_not_searched_when_the_server_gave_a_different_structured_code() -> None:
    result = tool_result(structured_error("upstream_unavailable"), is_error=True, text="not package_not_found")
    outcome = protocol.judge_tool_result(result, "package_not_found")
    assert outcome.reason == "expected package_not_found, got tool error: upstream_unavailable"


def test_a_success_when_an_error_was_expected_is_a_failure() -> None:
    outcome = protocol.judge_tool_result(tool_result({"success": True}), "package_not_found")
    assert not outcome.ok and outcome.reason == "expected package_not_found, got success"


def test_a_transport_failure_when_an_error_was_expected_says_what_was_awaited() -> None:
    outcome = protocol.classify_tool_call(503, JSON, b"", 1, "invalid_package_name")
    assert outcome == Outcome(False, "expected invalid_package_name, got HTTP 503")


def test_connection_failures_are_named_by_the_exception_class_only() -> None:
    assert protocol.connection_failure(ConnectionRefusedError(111, "refused at port 5")) == Outcome(
        False, "connection error: ConnectionRefusedError"
    )


def test_the_server_chosen_protocol_version_wins_over_the_requested_one() -> None:
    assert protocol.negotiated_version({"protocolVersion": "2025-06-18"}, "2025-11-25") == "2025-06-18"
    assert protocol.negotiated_version({}, "2025-11-25") == "2025-11-25"


@pytest.mark.parametrize(("status", "ok"), [(202, True), (200, True), (204, True), (400, False), (404, False)])
def test_the_initialized_notification_is_accepted_with_2xx(status: int, ok: bool) -> None:
    assert protocol.notification_accepted(status).ok is ok
