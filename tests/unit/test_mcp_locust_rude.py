"""The rude clients' wire format and options: the 2026-07-28 request builders (checked against the installed SDK's own
server-side validation), the raw HTTP the aborting client speaks, and the option checks at Locust's start.

``mcp_locust.rude`` imports Locust, which gevent-patches its process, so it is only ever imported in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.inbound import InboundModernRoute, classify_inbound_request, decode_header_value
from mcp.shared.inbound import encode_header_value as sdk_encode_header_value

from mcp_locust import protocol
from tests.support.processes import VENV_BIN, guarded_env

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "locustfile.py"
SUBPROCESS_TIMEOUT_S = 60

# What the SDK's Client(url) (mcp 2.3, mode="auto") put on the wire against our server, captured with an httpx hook.
SDK_TOOLS_CALL_HEADERS = {
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "get_package_docs",
}
SDK_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "mcp", "version": "0.1.0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def server_verdict(message: dict[str, Any], headers: dict[str, str]) -> object:
    """What the SDK's server-side ladder (``mcp.shared.inbound``) makes of a request; ASGI lower-cases names."""
    return classify_inbound_request(message, headers=lowered(headers))


# --- 2026-07-28 builders ---------------------------------------------------------------------------------------------


def test_a_current_revision_tool_call_carries_the_envelope_and_routing_headers_the_sdk_sends() -> None:
    message = protocol.modern_tools_call_request(4, "get_package_docs", {"package_name": "requests"})
    headers = protocol.modern_headers(message)

    assert message == {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "tools/call",
        "params": {
            "name": "get_package_docs",
            "arguments": {"package_name": "requests"},
            "_meta": {**SDK_META, "io.modelcontextprotocol/clientInfo": protocol.CLIENT_INFO},
        },
    }
    assert {k: v for k, v in lowered(headers).items() if k.startswith("mcp-")} == SDK_TOOLS_CALL_HEADERS
    assert headers["Accept"] == "application/json, text/event-stream" and headers["Content-Type"] == "application/json"
    assert list(message["params"]["_meta"]) == list(SDK_META), "same key order as the SDK's stamp"


def test_the_sdk_server_ladder_accepts_the_tool_call_discover_and_list_requests() -> None:
    for message in (
        protocol.modern_tools_call_request(1, "health_check", {}),
        protocol.modern_request(2, "server/discover"),
        protocol.modern_request(3, "tools/list"),
    ):
        verdict = server_verdict(message, protocol.modern_headers(message))
        assert isinstance(verdict, InboundModernRoute), (message["method"], verdict)
        assert verdict.protocol_version == "2026-07-28" and verdict.client_capabilities == {}


def test_the_client_info_is_optional_and_the_server_ladder_still_accepts_the_request() -> None:
    message = protocol.modern_tools_call_request(1, "health_check", {}, client_info=None)
    assert "io.modelcontextprotocol/clientInfo" not in message["params"]["_meta"]
    verdict = server_verdict(message, protocol.modern_headers(message))
    assert isinstance(verdict, InboundModernRoute) and verdict.client_info is None


def test_methods_without_a_name_send_no_name_header() -> None:
    headers = protocol.modern_headers(protocol.modern_request(1, "server/discover"))
    assert headers[protocol.METHOD_HEADER] == "server/discover" and protocol.NAME_HEADER not in headers


def test_a_header_that_disagrees_with_the_body_is_what_the_server_would_refuse() -> None:
    message = protocol.modern_tools_call_request(1, "health_check", {})
    headers = {**protocol.modern_headers(message), protocol.NAME_HEADER: "get_cache_stats"}
    assert not isinstance(server_verdict(message, headers), InboundModernRoute)


@pytest.mark.parametrize("name", ["health_check", "naïve", " padded ", "=?base64?abc?=", "tab\tname", ""])
def test_tool_names_are_encoded_for_the_name_header_exactly_as_the_sdk_encodes_them(name: str) -> None:
    encoded = protocol.encode_header_value(name)
    assert encoded == sdk_encode_header_value(name)
    assert decode_header_value(encoded) == name


def test_other_meta_keys_of_the_params_survive_and_the_envelope_keys_win() -> None:
    params: dict[str, Any] = {
        "cursor": "c1",
        "_meta": {"progressToken": 7, "io.modelcontextprotocol/protocolVersion": "old"},
    }
    message = protocol.modern_request(1, "tools/list", params)
    meta = message["params"]["_meta"]
    assert meta["progressToken"] == 7 and meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    assert message["params"]["cursor"] == "c1" and params["_meta"]["io.modelcontextprotocol/protocolVersion"] == "old"


def test_a_token_goes_into_the_authorization_header() -> None:
    headers = protocol.modern_headers(protocol.modern_request(1, "tools/list"), token="s3cret")
    assert headers["Authorization"] == "Bearer s3cret"


def test_the_discover_result_tells_which_revisions_the_server_offers() -> None:
    assert protocol.supported_versions({"supportedVersions": ["2026-07-28", 5]}) == ["2026-07-28"]
    assert protocol.supported_versions({"supportedVersions": "2026-07-28"}) == []
    assert protocol.supported_versions({}) == []


# --- raw HTTP of the aborting client ---------------------------------------------------------------------------------


def test_a_raw_request_has_its_host_and_length_and_no_compression_asked_for() -> None:
    raw = protocol.http_request("POST", "127.0.0.1:8000", "/mcp", {"Accept": "a", "Content-Length": "99"}, "{}")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /mcp HTTP/1.1"
    assert set(lines[1:]) == {"Host: 127.0.0.1:8000", "Accept: a", "Content-Length: 2"}
    assert body == b"{}"


def test_a_request_body_length_counts_bytes_not_characters() -> None:
    raw = protocol.http_request("POST", "h", "/", {}, '{"name":"naïve"}')
    assert b"Content-Length: 17\r\n" in raw


def test_a_reply_with_a_length_is_complete_only_when_all_of_its_body_is_in() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
    assert protocol.parse_http_reply(reply[:-1]) is None
    parsed = protocol.parse_http_reply(reply)
    assert parsed == protocol.HttpReply(200, {"content-type": "application/json", "content-length": "5"}, b"hello")


def test_a_chunked_reply_is_complete_after_its_last_chunk_and_trailers() -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n"
    for cut in range(len(reply)):
        assert protocol.parse_http_reply(reply[:cut]) is None, cut
    parsed = protocol.parse_http_reply(reply)
    assert parsed is not None and parsed.body == b"hello!"


def test_a_reply_without_a_length_ends_when_the_server_closes() -> None:
    reply = b"HTTP/1.1 200 OK\r\n\r\npartial"
    assert protocol.parse_http_reply(reply) is None
    parsed = protocol.parse_http_reply(reply, eof=True)
    assert parsed is not None and parsed.body == b"partial"


def test_interim_replies_are_skipped_and_a_204_has_no_body() -> None:
    parsed = protocol.parse_http_reply(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert parsed is not None and (parsed.status, parsed.body) == (204, b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"SMTP 220 hi\r\n\r\n",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_bytes_that_are_not_an_http_reply_are_refused(raw: bytes) -> None:
    with pytest.raises(protocol.HttpParseError):
        protocol.parse_http_reply(raw, eof=True)


def test_a_target_url_splits_into_socket_address_host_header_and_request_target() -> None:
    target = protocol.http_target("https://user:pw@example.org/base/mcp?x=1")
    assert target == protocol.HttpTarget(True, "example.org", 443, "example.org", "/base/mcp?x=1")
    assert protocol.http_target("http://127.0.0.1:8000/mcp").port == 8000
    assert protocol.http_target("http://[::1]:9/mcp").hostname == "::1"
    with pytest.raises(ValueError):
        protocol.http_target("ftp://example.org/")


# --- options, checked where they are checked: at Locust's start -----------------------------------------------------


def locust_start(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "-t", "1s", "--host", "http://127.0.0.1:9"]
    return subprocess.run(
        [*argv, *args, "NeverClosingUser"],
        env=guarded_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--mcp-never-close-per-min", "-1", "--mcp-never-close-per-min must be a finite number >= 0"),
        ("--mcp-abort-per-min", "inf", "--mcp-abort-per-min must be a finite number >= 0"),
        ("--mcp-session-per-call-per-min", "nan", "--mcp-session-per-call-per-min must be a finite number >= 0"),
        ("--mcp-abort-timeout-ms", "0", "--mcp-abort-timeout-ms must be a finite number > 0"),
        ("--mcp-storm-every-s", "0", "--mcp-storm-every-s must be a finite number > 0"),
        ("--mcp-storm-size", "-3", "--mcp-storm-size must be a whole number >= 0"),
        ("--mcp-current-revision-per-min", "-0.5", "--mcp-current-revision-per-min must be a finite number >= 0"),
    ],
)
def test_a_bad_rude_option_stops_locust_at_start_with_exit_2_naming_it(flag: str, value: str, message: str) -> None:
    result = locust_start(f"{flag}={value}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "bad --mcp-* option: " + message in result.stderr


def test_every_rude_option_is_registered_with_locusts_parser_at_its_documented_default(
    constants: dict[str, Any],
) -> None:
    assert constants["parsed"] == constants["defaults"]


def test_the_notes_document_every_rude_option_with_its_default_and_the_soak_names_the_same_classes(
    constants: dict[str, Any],
) -> None:
    notes = (REPO / "notes" / "locust.md").read_text(encoding="utf-8")
    for flag, default in constants["defaults"].items():
        assert re.search(rf"^\| `{re.escape(flag)}` \| {default:g} \|", notes, re.MULTILINE), flag
    for name in constants["classes"]:
        assert f"`{name}`" in notes
    from soak.runner import RUDE_CLASSES as SOAK_RUDE_CLASSES

    assert tuple(constants["classes"]) == SOAK_RUDE_CLASSES


@pytest.fixture(scope="module")
def constants() -> dict[str, Any]:
    """``RUDE_CLASSES``, ``RUDE_DEFAULTS`` and the parser's defaults, read in a Locust-patched subprocess."""
    code = (
        "import json\n"
        "from locust.argument_parser import get_parser\n"
        "import mcp_locust.rude\n"
        "from mcp_locust.rude_rates import RUDE_CLASSES, RUDE_DEFAULTS\n"
        "parser = get_parser()\n"
        "parsed = parser.parse_args([])\n"
        "dests = {flag: action.dest for action in parser._actions for flag in action.option_strings}\n"
        "values = {flag: getattr(parsed, dests[flag]) for flag in RUDE_DEFAULTS}\n"
        "print(json.dumps({'classes': RUDE_CLASSES, 'defaults': RUDE_DEFAULTS, 'parsed': values}))\n"
    )
    out = subprocess.run(
        [str(VENV_BIN / "python"), "-c", code],
        env=guarded_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=True,
    ).stdout
    constants: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return constants
