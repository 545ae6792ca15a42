"""MCP logging against the real server process (SSE responses, where request-scoped notifications can travel).

Nothing reaches a client that did not ask; after ``logging/setLevel`` (handshake revision) or the per-request
``_meta`` opt-in (2026-07-28), the server's log events from serving that client's call arrive as
``notifications/message`` at or above the asked level.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_types import LoggingMessageNotificationParams

from tests.support.mcp_client import mcp_session
from tests.support.processes import ManagedProcess, start_server

BAD_CALL = ("get_package_docs", {"package_name": 5})
"""A call the server logs (``tool_arguments_rejected``, at info) before it answers."""


@pytest.fixture(scope="module")
def server(pypi_mock: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_server(tmp_path_factory.mktemp("logging"), pypi_mock.base_url, "--response-mode", "sse")
    try:
        yield proc
    finally:
        proc.stop()


class Received:
    def __init__(self) -> None:
        self.messages: list[LoggingMessageNotificationParams] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        self.messages.append(params)

    def events(self) -> list[Any]:
        return [message.data.get("event") for message in self.messages if isinstance(message.data, dict)]


async def test_a_session_gets_log_messages_only_after_set_level_and_only_at_or_above_it(
    server: ManagedProcess,
) -> None:
    received = Received()
    async with mcp_session(f"{server.base_url}/mcp", logging_callback=received) as client:
        assert client.server_capabilities.logging is not None
        await client.call_tool(*BAD_CALL)
        assert received.messages == [], "nothing before the client asks"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK flags logging as deprecated at 2026-07-28; 2025-11-25 has it
            assert (await client.set_logging_level("info")).model_dump(exclude_none=True) == {}
            await client.call_tool(*BAD_CALL)
            assert received.events() == ["tool_arguments_rejected"]
            assert received.messages[0].level == "info" and received.messages[0].logger == "autodocs-mcp"
            received.messages.clear()
            await client.set_logging_level("error")
            await client.call_tool(*BAD_CALL)
    assert received.messages == [], "info events are below the asked level"


async def test_another_session_does_not_get_this_sessions_log_messages(server: ManagedProcess) -> None:
    listening, other = Received(), Received()
    url = f"{server.base_url}/mcp"
    async with (
        mcp_session(url, logging_callback=listening) as quiet,
        mcp_session(url, logging_callback=other) as asking,
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await asking.set_logging_level("debug")
            await quiet.set_logging_level("debug")
        await asking.call_tool(*BAD_CALL)
    assert other.events() == ["tool_arguments_rejected"] and listening.messages == []


async def test_the_2026_revision_sends_log_messages_to_a_request_that_opts_in(server: ManagedProcess) -> None:
    received = Received()
    async with mcp_session(
        f"{server.base_url}/mcp", mode="auto", logging_callback=received, log_level="info"
    ) as client:
        assert client.protocol_version == "2026-07-28"
        await client.call_tool(*BAD_CALL)
    assert received.events() == ["tool_arguments_rejected"]
