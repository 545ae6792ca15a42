"""Headless Locust (always a subprocess: it gevent-patches its process) against real MCP servers.

Every run is bounded by Locust's ``-t`` and by a hard wait here; every process is stopped by PID in teardown.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_locust.children import wait_ready
from mcp_locust.results import AGGREGATED, read_stats
from tests.support.locust_runs import EXIT_MARGIN_S, finish_locust, run_locust, start_locust
from tests.support.processes import READY_TIMEOUT_S, VENV_BIN, ManagedProcess, free_port, start_process, start_server

ECHO_SERVER = """
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.responses import PlainTextResponse

server = MCPServer("echo")


@server.tool()
def echo(text: str) -> str:
    return text


@server.tool()
def fail(code: str) -> str:
    raise ToolError(f"{code}: refused on purpose")


@server.custom_route("/healthz", methods=["GET"])
async def healthz(request):
    return PlainTextResponse("ok")


app = server.streamable_http_app(host="127.0.0.1")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture
def server(tmp_path: Path, mock_url: str) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path, mock_url)
    try:
        yield proc
    finally:
        proc.stop()


def test_the_mixed_user_fills_a_row_per_tool_and_judges_expected_errors(tmp_path: Path, server: ManagedProcess) -> None:
    templates = {"wrong_expectation": {"tool": "health_check", "expect_error": "package_not_found"}}
    mix = (
        "get_package_docs=30,get_package_docs_with_context=10,get_cache_stats=10,health_check=10,"
        "invalid_name=10,missing_package=10,wrong_expectation=10"
    )
    run = run_locust(
        tmp_path,
        server.base_url,
        "MixedUser",
        6,
        "-u",
        "6",
        "-r",
        "6",
        "--mcp-mix",
        mix,
        "--mcp-names",
        "100",
        "--mcp-templates",
        json.dumps(templates),
        "--mcp-max-fail-ratio",
        "1",
    )

    for name in (
        "tools/call get_package_docs",
        "tools/call get_package_docs_with_context",
        "tools/call get_cache_stats",
        "tools/call health_check",
        "tools/call get_package_docs (expect invalid_package_name)",
        "tools/call get_package_docs (expect package_not_found)",
    ):
        row = run.row(name)
        assert row.requests > 0 and row.failures == 0, (name, run.reasons(name))
    assert run.row("initialize").requests == 6 and run.row("notifications/initialized").failures == 0

    wrong = run.row("tools/call health_check (expect package_not_found)")
    assert wrong.requests > 0 and wrong.failures == wrong.requests
    assert run.reasons(wrong.name) == {"expected package_not_found, got success"}
    assert run.code == 0, "failures stayed within the ratio allowed on the command line"


def test_the_user_works_against_a_bare_sdk_server_with_sse_replies_and_text_errors(tmp_path: Path) -> None:
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO_SERVER)
    port = free_port()
    echo = start_process([str(VENV_BIN / "python"), str(script), str(port)], tmp_path / "echo.log")
    try:
        wait_ready(echo, f"http://127.0.0.1:{port}/healthz", READY_TIMEOUT_S)
        templates = {
            "echo": {"arguments": {"text": "hello {name}"}},
            "fail": {"arguments": {"code": "E42"}, "expect_error": "E42"},
        }
        run = run_locust(
            tmp_path,
            f"http://127.0.0.1:{port}",
            "MixedUser",
            3,
            "-u",
            "2",
            "-r",
            "2",
            "--mcp-mix",
            "echo=3,fail=1",
            "--mcp-templates",
            json.dumps(templates),
        )
    finally:
        echo.stop()

    assert run.row("tools/call echo").requests > 0 and run.row("tools/call echo").failures == 0
    expected = run.row("tools/call fail (expect E42)")
    assert expected.requests > 0 and expected.failures == 0, run.reasons(expected.name)
    assert run.code == 0


def test_an_expired_session_is_reinitialised_once_and_the_call_still_succeeds(tmp_path: Path, mock_url: str) -> None:
    server = start_server(tmp_path, mock_url, AUTODOCS_SESSION_IDLE_TIMEOUT="0.5")
    try:
        run = run_locust(
            tmp_path,
            server.base_url,
            "SustainedUser",
            5,
            "-u",
            "2",
            "-r",
            "2",
            "--mcp-pace",
            "0.7",
            "--mcp-mix",
            "health_check=1",
        )
    finally:
        server.stop()

    assert run.row("session re-init").requests > 0 and run.row("session re-init").failures == 0
    calls = run.row("tools/call health_check")
    assert calls.requests > 2 and calls.failures == 0, run.reasons(calls.name)


def test_a_server_killed_mid_run_shows_up_as_failures_not_a_hang(tmp_path: Path, server: ManagedProcess) -> None:
    run_s = 6
    started = time.monotonic()
    proc, prefix = start_locust(
        tmp_path, server.base_url, "MixedUser", f"{run_s}s", "-u", "4", "-r", "4", "--mcp-names", "50"
    )
    try:
        deadline = time.monotonic() + run_s
        while not _requests_so_far(prefix):
            assert time.monotonic() < deadline, f"Locust made no request:\n{proc.log_text()[-3000:]}"
            time.sleep(0.1)
        server.signal_leader(signal.SIGKILL)
    finally:
        run = finish_locust(proc, prefix, started, run_s + EXIT_MARGIN_S)

    assert run.elapsed_s < run_s + EXIT_MARGIN_S
    assert run.stats[AGGREGATED].failures > 0
    reasons = {failure.reason for failure in run.failures}
    assert any(reason.startswith("connection error") for reason in reasons), reasons
    assert run.code == 1, "the failure-ratio threshold broke"
    assert "threshold broken: failure ratio" in run.log


def _requests_so_far(prefix: Path) -> int:
    try:
        return read_stats(prefix)[AGGREGATED].requests
    except (FileNotFoundError, KeyError, ValueError):
        return 0
