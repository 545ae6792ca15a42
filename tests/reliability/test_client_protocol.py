"""Attacks from clients on the protocol layer: malformed JSON-RPC, bad tool calls, hostile strings and specifiers.

Every bad request must get a clear refusal (an HTTP status, a JSON-RPC error or a structured tool error), quickly,
without echoing a megabyte back or passing control characters through, and the server must keep serving.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from tests.reliability.harness import MCP_HEADERS, Attack, Ledger, McpHttp
from tests.support.processes import ManagedProcess

REQ: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MAX_ANSWER_S = 3.0
MAX_ECHO_CHARS = 2_000
"""An error about a megabyte argument may quote a little of it, never the whole thing."""


def rpc(message: object) -> bytes:
    return json.dumps(message).encode()


def nested(levels: int, opener: bytes, closer: bytes, inner: bytes = b"") -> bytes:
    return opener * levels + inner + closer * levels


# (label, body, expected HTTP status, expected JSON-RPC error code or None)
MALFORMED: list[tuple[str, bytes, int, int | None]] = [
    ("not JSON", b"{bad json", 400, -32700),
    ("empty body", b"", 400, -32700),
    ("truncated JSON", rpc(REQ)[:-5], 400, -32700),
    ("trailing garbage", rpc(REQ) + b"}}}", 400, -32700),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + rpc(REQ), 400, -32700),
    ("UTF-16 body", json.dumps(REQ).encode("utf-16"), 400, -32700),
    ("raw 0xff bytes inside a string", b'{"jsonrpc":"2.0","id":1,"method":"tools/\xff\xfe"}', 400, -32700),
    ("NUL bytes", b"\x00\x00\x00", 400, -32700),
    ("JSON null", b"null", 400, -32602),
    ("JSON number", b"123", 400, -32602),
    ("JSON string", b'"tools/list"', 400, -32602),
    ('jsonrpc "1.0"', rpc({**REQ, "jsonrpc": "1.0"}), 400, -32602),
    ("jsonrpc missing", rpc({"id": 1, "method": "tools/list"}), 400, -32602),
    ("jsonrpc a number", rpc({**REQ, "jsonrpc": 2.0}), 400, -32602),
    ("method a number", rpc({**REQ, "method": 7}), 400, -32602),
    ("params a string", rpc({**REQ, "params": "x"}), 400, -32602),
    ("params a list", rpc({**REQ, "params": [1]}), 400, -32602),
    ("empty batch", b"[]", 400, -32602),
    ("batch of two", rpc([REQ, {**REQ, "id": 2}]), 400, -32602),
    ("batch of 15,000 requests (~0.7 MB)", rpc([{**REQ, "id": i} for i in range(15_000)]), 400, -32602),
    ("batch of 40,000 requests (over the cap)", rpc([{**REQ, "id": i} for i in range(40_000)]), 413, None),
    ("100k nested arrays", nested(100_000, b"[", b"]"), 400, -32700),
    ("100k nested objects", nested(100_000, b'{"a":', b"}", b"1"), 400, -32700),
    ("batch of nested batches", rpc([[[REQ]] * 100] * 100), 400, -32602),
    ("unknown method", rpc({**REQ, "method": "no/such"}), 200, -32601),
    ("unknown method, 500 KB name", rpc({**REQ, "method": "m" * 500_000}), 200, -32601),
    ("tools/call without params", rpc({**REQ, "method": "tools/call"}), 200, -32602),
    (
        "tools/call, arguments a list",
        rpc({**REQ, "method": "tools/call", "params": {"name": "get_package_docs", "arguments": [1]}}),
        200,
        -32602,
    ),
    ("tools/call, name a number", rpc({**REQ, "method": "tools/call", "params": {"name": 7}}), 200, -32602),
    (
        "resources/read of /etc/passwd",
        rpc({**REQ, "method": "resources/read", "params": {"uri": "file:///etc/passwd"}}),
        200,
        -32602,
    ),
    # logging is a capability now: a bad level is the caller's mistake, a good one is accepted (result, no code)
    ("logging/setLevel", rpc({**REQ, "method": "logging/setLevel", "params": {"level": "debug"}}), 200, None),
    (
        "logging/setLevel, bad level",
        rpc({**REQ, "method": "logging/setLevel", "params": {"level": "loud"}}),
        200,
        -32602,
    ),
    # Messages without a usable id are notifications to the SDK: accepted (202) and ignored, never executed.
    ("missing id", rpc({"jsonrpc": "2.0", "method": "tools/list"}), 202, None),
    ("id null", rpc({**REQ, "id": None}), 202, None),
    ("id an object", rpc({**REQ, "id": {"a": 1}}), 202, None),
    ("id NaN", b'{"jsonrpc":"2.0","id":NaN,"method":"tools/list"}', 202, None),
    ("a response nobody asked for", rpc({"jsonrpc": "2.0", "id": 99, "result": {}}), 202, None),
]


def rpc_error_code(response: httpx2.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def test_malformed_json_rpc_gets_a_clear_refusal(plain_server: ManagedProcess, ledger: Ledger) -> None:
    attack = Attack(
        "clients: malformed JSON-RPC, batch abuse, unknown methods", plain_server.pid, plain_server.base_url, ledger
    )
    with McpHttp(plain_server.base_url) as mcp:
        for label, body, status, code in MALFORMED:
            response = mcp.post(body)
            seconds = response.elapsed.total_seconds()
            got = rpc_error_code(response)
            attack.check(
                response.status_code == status and got == code and seconds <= MAX_ANSWER_S,
                f"{label}: HTTP {response.status_code} code {got} in {seconds:.2f}s, want HTTP {status} code {code}",
            )
        headers_cases = [
            ("Content-Type text/plain", {"content-type": "text/plain"}, 400),
            ("Accept text/html", {"accept": "text/html"}, 406),
            ("unknown session id", {"mcp-session-id": "f" * 32}, 404),
            ("10 KB session id", {"mcp-session-id": "a" * 10_000}, 404),
        ]
        for label, headers, status in headers_cases:
            response = mcp.post(REQ, headers=headers)
            attack.check(response.status_code == status, f"{label}: HTTP {response.status_code}, want {status}")
    with httpx2.Client(timeout=10.0, trust_env=False, headers=MCP_HEADERS) as bare:
        response = bare.post(f"{plain_server.base_url}/mcp", content=rpc(REQ))
        attack.check(response.status_code == 400, f"no session id: HTTP {response.status_code}, want 400")
    attack.notes = "requests without a usable id are notifications to the SDK: 202 and ignored"
    attack.assert_clean()


def tool_error(reply_code: str | None, text: str, *, code: str, contains: str) -> bool:
    """A tool error with our structured ``code`` whose text names ``contains`` (the argument at fault)."""
    return reply_code == code and contains in text


# (tool, arguments, expected structured code, text the answer must contain: the argument it names)
BAD_ARGUMENTS: list[tuple[str, Any, str, str]] = [
    ("no_such_tool", {}, "invalid_argument", ""),
    ("get_package_docs ", {"package_name": "requests"}, "invalid_argument", ""),
    ("x" * 500_000, {}, "invalid_argument", ""),
    ("\x1b[2J\x00tool", {}, "invalid_argument", ""),
    ("get_package_docs", {}, "invalid_argument", "package_name"),
    ("get_package_docs", {"package_name": 123}, "invalid_argument", "package_name must be a string"),
    ("get_package_docs", {"package_name": None}, "invalid_argument", "package_name must be a string"),
    ("get_package_docs", {"package_name": ["requests"]}, "invalid_argument", "package_name must be a string"),
    ("get_package_docs", {"package_name": {"a": ["b"] * 50_000}}, "invalid_argument", "package_name"),
    (
        "get_package_docs",
        {"package_name": "requests", "version_constraint": 2},
        "invalid_argument",
        "version_constraint",
    ),
    ("get_package_docs", {"package_name": "requests", "query": ["a"]}, "invalid_argument", "query"),
    (
        "get_package_docs_with_context",
        {"package_name": "requests", "include_dependencies": [1]},
        "invalid_argument",
        "include_dependencies must be true or false",
    ),
    (
        "get_package_docs_with_context",
        {"package_name": "requests", "max_dependencies": "many"},
        "invalid_argument",
        "max_dependencies must be an integer",
    ),
    ("get_package_docs_with_context", {"package_name": "requests", "max_tokens": 1.5}, "invalid_argument", "integer"),
    ("get_package_docs_with_context", {"package_name": "requests", "max_tokens": 1e300}, "invalid_argument", "max_"),
    ("get_package_docs_with_context", {"package_name": "requests", "max_tokens": -5}, "invalid_argument", ""),
    ("get_package_docs_with_context", {"package_name": "requests", "max_tokens": 10**30}, "invalid_argument", ""),
    ("get_package_docs_with_context", {"package_name": "requests", "max_dependencies": -1}, "invalid_argument", ""),
    ("get_package_docs_with_context", {"package_name": "requests", "max_dependencies": 10**9}, "invalid_argument", ""),
    (
        "get_package_docs_with_context",
        {"package_name": "requests", "context_scope": "everything"},
        "invalid_argument",
        "",
    ),
    ("get_package_docs_with_context", {"package_name": "requests", "context_scope": 5}, "invalid_argument", "context"),
    ("scan_dependencies", {}, "invalid_argument", "project_path"),
    ("scan_dependencies", {"project_path": None}, "invalid_argument", "project_path must be a string"),
    ("scan_dependencies", {"project_path": {"path": "/"}}, "invalid_argument", "project_path must be a string"),
]

# The published input schemas say additionalProperties: false, so a misspelt or invented argument is an error
# naming it (cut at 40 characters), not silently ignored.
EXTRA_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("get_package_docs", {"package_name": "requests", "version": "1.0", "unexpected": {"deep": [1, 2]}}, "version"),
    ("get_cache_stats", {"verbose": True}, "verbose"),
    ("health_check", {"x" * 1000: 1}, "x" * 40),
]


def test_unknown_tools_and_bad_arguments_get_tool_errors(plain_server: ManagedProcess, ledger: Ledger) -> None:
    attack = Attack(
        "clients: unknown tools, wrong types, missing and extra arguments",
        plain_server.pid,
        plain_server.base_url,
        ledger,
    )
    with McpHttp(plain_server.base_url) as mcp:
        for tool, arguments, code, contains in BAD_ARGUMENTS:
            reply = mcp.call(tool, arguments)
            attack.check(
                reply.is_error
                and tool_error(reply.code, reply.text, code=code, contains=contains)
                and len(reply.text) < MAX_ECHO_CHARS
                and reply.seconds <= MAX_ANSWER_S,
                f"{tool[:40]!r} {str(arguments)[:80]}: {reply.code} {reply.text[:160]!r}",
            )
        for tool, arguments, named in EXTRA_ARGUMENTS:
            reply = mcp.call(tool, arguments)
            attack.check(
                reply.is_error and reply.code == "invalid_argument" and named in reply.text,
                f"{tool} with extra arguments: {reply.code} {reply.text[:160]!r}",
            )
    attack.notes = "extra arguments are refused by name (additionalProperties: false); unknown tools echo ≤ 80 chars"
    attack.assert_clean()


LONG = 900_000
"""Long enough to hurt, short enough to pass the 1 MiB body cap, so the schema check must refuse it (every string
argument has a maxLength far below this) with invalid_argument and no echo."""

LONG_STRINGS: list[tuple[str, dict[str, Any], str]] = [
    ("get_package_docs", {"package_name": "a" * LONG}, "invalid_argument"),
    ("get_package_docs", {"package_name": " " * LONG + "requests"}, "invalid_argument"),
    (
        "get_package_docs",
        {"package_name": "requests", "version_constraint": ">=1," * (LONG // 4)},
        "invalid_argument",
    ),
    ("get_package_docs", {"package_name": "requests", "query": "q" * LONG}, "invalid_argument"),
    ("get_package_docs_with_context", {"package_name": "r" * LONG}, "invalid_argument"),
    ("get_package_docs_with_context", {"package_name": "requests", "context_scope": "s" * LONG}, "invalid_argument"),
    (
        "get_package_docs_with_context",
        {"package_name": "requests", "version_constraint": "9" * LONG},
        "invalid_argument",
    ),
    ("scan_dependencies", {"project_path": "/" + "d/" * (LONG // 2)}, "invalid_argument"),
    ("scan_dependencies", {"project_path": "x" * LONG}, "invalid_argument"),
]


def test_very_long_strings_in_every_argument_are_refused_without_an_echo(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack("clients: 900 KB strings in every argument", plain_server.pid, plain_server.base_url, ledger)
    with McpHttp(plain_server.base_url) as mcp:
        for tool, arguments, code in LONG_STRINGS:
            reply = mcp.call(tool, arguments)
            field = next(iter(k for k, v in arguments.items() if isinstance(v, str) and len(v) >= LONG // 2))
            attack.check(
                reply.code == code and len(reply.text) < MAX_ECHO_CHARS and reply.seconds <= MAX_ANSWER_S,
                f"{tool}.{field}: {reply.code} ({len(reply.text)} chars, {reply.seconds:.2f}s), want {code}",
            )
    attack.assert_clean()


CONTROL = ["\x00", "\n", "\r", "\t", "\x1b[31m", "\x7f", "\u202e", "\u2028", "\ufeff", "\x85"]


def has_raw_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029\u202e" for ch in text)


def test_control_characters_and_lone_surrogates_are_refused_and_never_echoed_raw(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack(
        "clients: control characters, NUL, newlines, lone surrogates", plain_server.pid, plain_server.base_url, ledger
    )
    with McpHttp(plain_server.base_url) as mcp:
        for ch in CONTROL:
            cases = [
                ("get_package_docs", {"package_name": f"req{ch}uests"}, "invalid_package_name"),
                (
                    "get_package_docs",
                    {"package_name": "requests", "version_constraint": f">=1.0{ch}<3"},
                    "invalid_version_constraint",
                ),
                ("get_package_docs", {"package_name": "requests", "query": f"how{ch}to"}, "invalid_argument"),
                ("scan_dependencies", {"project_path": f"/tmp/{ch}nothing-here"}, "invalid_project_path"),
            ]
            if ch == "\t":  # a tab is ordinary whitespace in a constraint and a path is just missing
                cases[1] = (
                    "get_package_docs",
                    {"package_name": "requests", "version_constraint": ">=1.0\t<3"},
                    "invalid_version_constraint",
                )
            for tool, arguments, code in cases:
                reply = mcp.call(tool, arguments)
                message = str(reply.structured.get("error", {}).get("message", ""))
                attack.check(
                    reply.code == code and not has_raw_control(message),
                    f"{tool} {arguments!r}: {reply.code}, message {message[:120]!r}",
                )
        # A lone surrogate escape is valid JSON text but no valid string: a parse error, not a crash.
        response = mcp.post(
            b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_package_docs",'
            b'"arguments":{"package_name":"req\\ud800"}}}'
        )
        attack.check(
            response.status_code == 400 and rpc_error_code(response) == -32700,
            f"lone surrogate: {response.status_code}",
        )
    attack.assert_clean()


SPECIFIERS: list[tuple[str, set[str]]] = [
    ("," * 10_000, {"invalid_argument"}),
    (">=1.0," * 5_000, {"invalid_argument"}),
    (",".join(f"!={i}.0" for i in range(20)), {"ok"}),
    (",".join(f"!={i}.0" for i in range(21)), {"invalid_version_constraint"}),
    ("==" + "1." * 5_000 + "0", {"invalid_argument"}),
    ("~=" + "9" * 10_000, {"invalid_argument"}),
    (">=1.0" + " " * 100_000, {"invalid_argument"}),  # past the schema's maxLength (200), spaces count
    ("===" + "x" * 150, {"version_not_found"}),
    ("==" + "9" * 150, {"version_not_found", "invalid_version_constraint"}),
    ("^1.2.3", {"invalid_version_constraint"}),
    ("1.0 || 2.0", {"invalid_version_constraint"}),
    ("==1.*.*", {"invalid_version_constraint"}),
    (">=1.0 <2.0", {"invalid_version_constraint"}),
    ("==1!2.0+local." + "a." * 60 + "b", {"version_not_found", "invalid_version_constraint"}),
    ("(" * 100 + ">=1" + ")" * 100, {"invalid_argument"}),
    ("==../../../etc/passwd", {"invalid_version_constraint"}),
]


def test_pathological_version_specifiers_are_answered_in_bounded_time(
    plain_server: ManagedProcess, ledger: Ledger
) -> None:
    attack = Attack("clients: pathological version specifiers", plain_server.pid, plain_server.base_url, ledger)
    with McpHttp(plain_server.base_url) as mcp:
        for spec, codes in SPECIFIERS:
            reply = mcp.call("get_package_docs", {"package_name": "requests", "version_constraint": spec})
            attack.check(
                reply.code in codes and reply.seconds <= 1.0 and len(reply.text) < 60_000,
                f"{spec[:40]!r}…: {reply.code} in {reply.seconds:.2f}s, want one of {codes}",
            )
    attack.assert_clean()
