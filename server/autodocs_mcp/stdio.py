"""Run the stdio transport (what AI assistants launch): stdout carries only MCP messages, logs go to stderr."""

from __future__ import annotations

from autodocs_mcp.app import build_server
from autodocs_mcp.config import Settings


def serve_stdio(settings: Settings) -> int:
    server, _state = build_server(settings)
    server.run("stdio")
    return 0
