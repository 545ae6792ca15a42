"""The console script as users run it: stdio for AI assistants, the HTTP banner that says where to connect, and
readable configuration errors."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters

from mcp_locust.children import wait_until
from tests.support.mcp_client import mcp_session
from tests.support.processes import (
    READY_TIMEOUT_S,
    VENV_BIN,
    ManagedProcess,
    guarded_env,
    running,
    server_env,
    start_process,
)

BANNER_URL = re.compile(r"MCP endpoint \(streamable HTTP\): (http://\S+)")
TOKEN = "banner-test-token-0123456789"
HTTP_ON_ANY_PORT = ("--transport", "http", "--host", "127.0.0.1", "--port", "0")


def test_bad_configuration_exits_2_with_one_readable_line_per_problem(tmp_path: Path) -> None:
    env = guarded_env(
        {"AUTODOCS_RATE_LIMIT_RPM": "lots", "AUTODOCS_PYPI_URL": "ftp://nowhere", "AUTODOCS_POOL_TIMEOUT": "-1"}
    )
    done = subprocess.run(
        [str(VENV_BIN / "autodocs-mcp"), "--transport", "http"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3
    assert "Traceback" not in done.stderr
    joined = "\n".join(lines)
    for variable in (
        "AUTODOCS_RATE_LIMIT_RPM='lots'",
        "AUTODOCS_PYPI_URL='ftp://nowhere'",
        "AUTODOCS_POOL_TIMEOUT='-1'",
    ):
        assert variable in joined
    assert done.stdout == ""


async def test_the_stdio_server_answers_tool_calls_and_keeps_stdout_clean(mock_url: str, tmp_path: Path) -> None:
    env = guarded_env(server_env(mock_url, tmp_path / "cache"))
    params = StdioServerParameters(command=str(VENV_BIN / "autodocs-mcp"), args=[], env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("get_package_docs", {"package_name": "idna"})
        assert not result.is_error
        assert result.structured_content and result.structured_content["package_name"].lower() == "idna"
        bad = await client.call_tool("get_package_docs", {"package_name": "no/slashes"})
        assert bad.is_error
        again = await client.call_tool("get_package_docs", {"package_name": "idna"})
        assert again.structured_content and again.structured_content["from_cache"] is True


class TerminalCapture:
    """A pseudo-terminal for a child's stderr, drained by a thread into ``text``, as a shell would show it."""

    def __init__(self) -> None:
        self._master, self._slave = pty.openpty()
        self.path = os.ttyname(self._slave)
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, name="pty-drain", daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return  # the slave side closed: the child is gone and so is the terminal
            if not chunk:
                return
            self._chunks.append(chunk)

    def close(self) -> None:
        os.close(self._slave)
        self._thread.join(timeout=5)
        os.close(self._master)


@pytest.fixture
def terminal() -> Iterator[TerminalCapture]:
    capture = TerminalCapture()
    try:
        yield capture
    finally:
        capture.close()


def start_http_console(
    tmp_path: Path, mock_url: str, terminal: TerminalCapture | None, **env: str
) -> tuple[ManagedProcess, Path]:
    """``autodocs-mcp --transport http --port 0`` with stdout (the process log) and stderr apart: stderr on the
    pseudo-terminal when one is given, else in a file. With the port left to the OS, the banner (or the
    ``listening`` log event) is the only place that says where the server listens."""
    stderr_path = Path(terminal.path) if terminal is not None else tmp_path / "stderr.log"
    proc = start_process(
        ["/bin/sh", "-c", 'exec "$@" 2>"$0"', str(stderr_path), str(VENV_BIN / "autodocs-mcp"), *HTTP_ON_ANY_PORT],
        tmp_path / "stdout.log",
        env=server_env(mock_url, tmp_path / "cache", **env),
    )

    def said_where() -> bool:
        if terminal is not None:
            return BANNER_URL.search(terminal.text) is not None
        return stderr_path.exists() and '"event": "listening"' in stderr_path.read_text()

    try:
        wait_until(said_where, READY_TIMEOUT_S, "the startup banner or listening event", child=proc)
    except BaseException:
        proc.stop()
        raise
    return proc, stderr_path


def pasted_config(banner: str) -> dict[str, Any]:
    """The JSON client config as a reader would copy it out of the banner."""
    start = banner.index('{\n  "mcpServers"')
    config, _ = json.JSONDecoder().raw_decode(banner, start)
    return dict(config)


async def test_on_a_terminal_the_http_server_names_its_working_mcp_url_and_a_client_config_once_ready(
    mock_url: str, tmp_path: Path, terminal: TerminalCapture
) -> None:
    proc, _ = start_http_console(tmp_path, mock_url, terminal)
    with running(proc):
        banner = terminal.text
        match = BANNER_URL.search(banner)
        assert match is not None
        url = match.group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*/mcp", url), url
        assert f"claude mcp add --transport http autodocs {url}\n" in banner
        assert pasted_config(banner) == {"mcpServers": {"autodocs": {"type": "http", "url": url}}}

        async with mcp_session(url) as client:
            assert client.protocol_version == "2025-11-25"
            assert {tool.name for tool in (await client.list_tools()).tools} >= {"get_package_docs"}
        with httpx2.Client(trust_env=False) as http:
            assert http.get(url.removesuffix("mcp")).status_code == 404, "the banner says the root answers 404"
        assert proc.log_text() == "", "the banner and the logs go to stderr, stdout stays empty"


async def test_with_a_token_the_banner_shows_a_placeholder_header_that_works_once_the_token_replaces_it(
    mock_url: str, tmp_path: Path, terminal: TerminalCapture
) -> None:
    proc, _ = start_http_console(tmp_path, mock_url, terminal, AUTODOCS_HTTP_TOKEN=TOKEN)
    with running(proc):
        banner = terminal.text
        match = BANNER_URL.search(banner)
        assert match is not None
        url = match.group(1)
        assert TOKEN not in banner
        assert '--header "Authorization: Bearer <AUTODOCS_HTTP_TOKEN>"' in banner
        entry = pasted_config(banner)["mcpServers"]["autodocs"]
        assert entry["url"] == url
        headers = {name: value.replace("<AUTODOCS_HTTP_TOKEN>", TOKEN) for name, value in entry["headers"].items()}

        async with mcp_session(url, headers=headers) as client:
            assert client.protocol_version == "2025-11-25"
        with httpx2.Client(trust_env=False) as http:
            assert http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 401
        assert TOKEN not in terminal.text


async def test_without_a_terminal_stderr_holds_json_log_lines_only_and_the_listening_event_names_the_url(
    mock_url: str, tmp_path: Path
) -> None:
    proc, stderr_path = start_http_console(tmp_path, mock_url, None)
    with running(proc):
        lines = stderr_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]  # every line parses: no banner among them
        listening = next(r for r in records if r.get("event") == "listening")
        async with mcp_session(listening["mcp_url"]) as client:
            assert client.protocol_version == "2025-11-25"
    assert "MCP endpoint" not in stderr_path.read_text()
