"""The official conformance suite's fixture tools, registered only with ``AUTODOCS_CONFORMANCE_FIXTURES=1``.

``@modelcontextprotocol/conformance`` calls tools by fixed names (``test_tool_with_logging``, ...). The ones here
are those whose scenario then exercises something this server really does, so a pass means what it says:

- ``test_tool_with_logging`` logs three events through the server's own structlog pipeline, which is the path
  every tool's log events take to ``notifications/message`` (``client_logs``): the scenario passes only if
  ``logging/setLevel``, the per-call forwarding and the SSE stream all work.
- ``test_simple_text`` and ``test_error_handling`` answer as the suite specifies. Without them those scenarios
  pass anyway, for the wrong reason: an unknown tool answers ``isError`` with text, which satisfies both checks.

Not here, on purpose (``conformance/expected-failures.yml`` gives each reason): image, audio and embedded-resource
content, progress, sampling and elicitation. This server does none of them, and a fixture would only test the SDK.
A shipped server never lists these tools: they are scaffolding, not documentation tools.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from autodocs_mcp.arguments import ArgumentChecker
from autodocs_mcp.tool_schemas import SPECS_BY_NAME, Hints, ToolSpec

if TYPE_CHECKING:
    from autodocs_mcp.app import ServerState

log = structlog.get_logger("autodocs_mcp.conformance_fixtures")

LOG_STEP_S = 0.05
"""The pause between the logging fixture's three events, as the scenario describes it (~50 ms)."""
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
FIXTURE_HINTS = Hints(read_only=True, idempotent=True, open_world=False)


def _text(text: str, *, is_error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=is_error)


async def test_simple_text() -> CallToolResult:
    return _text("This is a simple text response for testing.")


async def test_error_handling() -> CallToolResult:
    return _text("This tool intentionally returns an error for testing", is_error=True)


async def test_tool_with_logging() -> CallToolResult:
    log.info("Tool execution started")
    await asyncio.sleep(LOG_STEP_S)
    log.info("Tool processing data")
    await asyncio.sleep(LOG_STEP_S)
    log.info("Tool execution completed")
    return _text("Tool with logging executed successfully")


FIXTURES: dict[str, tuple[str, Any]] = {
    "test_simple_text": ("returns one text block", test_simple_text),
    "test_error_handling": ("always answers a tool error", test_error_handling),
    "test_tool_with_logging": (
        "logs three info events 50 ms apart, sent as notifications/message",
        test_tool_with_logging,
    ),
}
"""name → (what it does, the function); each takes no arguments."""

FIXTURE_SPECS: dict[str, ToolSpec] = {
    name: ToolSpec(
        name=name,
        title=f"Conformance fixture: {name}",
        description=f"Conformance-suite fixture (AUTODOCS_CONFORMANCE_FIXTURES=1): {what}. Not a documentation tool.",
        input_schema=NO_ARGUMENTS,
        output_schema={},  # not published: the suite expects plain text content, no structured content
        hints=FIXTURE_HINTS,
    )
    for name, (what, _fn) in FIXTURES.items()
}


def fixture_tools() -> list[Tool]:
    """The fixture tools as the SDK registers them, with the same strict, argument-free input schema."""
    tools: list[Tool] = []
    for name, (_what, fn) in FIXTURES.items():
        spec = FIXTURE_SPECS[name]
        tool = Tool.from_function(fn, name=name, title=spec.title, description=spec.description)
        tool.parameters = spec.input_schema
        tool.annotations = ToolAnnotations(
            title=spec.title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
        tools.append(tool)
    return tools


def install_fixtures(state: ServerState) -> list[Tool]:
    """Make the accounting middleware pass the fixtures on (known names, argument checks); return their tools."""
    state.known_tools.update(FIXTURE_SPECS)
    state.arguments = ArgumentChecker({**SPECS_BY_NAME, **FIXTURE_SPECS})
    log.info("conformance_fixtures_enabled", tools=",".join(sorted(FIXTURE_SPECS)))
    return fixture_tools()
