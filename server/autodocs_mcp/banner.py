"""What ``autodocs-mcp --transport http`` prints on a terminal once it listens: the MCP URL and client configs for it.

Printed only when stderr is a terminal (``make serve``, a shell): stderr also carries the JSON log lines, and a
collector reading them gets JSON only; its ``listening`` event names the same URL.

Only ``/mcp`` speaks MCP (the root URL answers 404), so the endpoint is spelled out, with the port actually bound
(``--port 0`` included). A configured ``AUTODOCS_HTTP_TOKEN`` is never printed: the configs carry a placeholder
header instead. stdio never prints this; its stdout belongs to the protocol.
"""

from __future__ import annotations

import json
from typing import Any

SERVER_NAME = "autodocs"
TOKEN_PLACEHOLDER = "<AUTODOCS_HTTP_TOKEN>"
"""Stands for the token in the printed configs; the reader pastes their own value over it."""

_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
"""Bind-all addresses are not addresses a client can use; the banner names the loopback one instead."""


def mcp_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: the bound host (loopback for a bind-all), the bound port, ``/mcp``."""
    reachable = _WILDCARDS.get(host, host)
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}/mcp"


def client_config(url: str, token_required: bool) -> dict[str, Any]:
    """The ``mcpServers`` entry for a streamable-HTTP server, with a placeholder header when a token is needed."""
    entry: dict[str, Any] = {"type": "http", "url": url}
    if token_required:
        entry["headers"] = {"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}
    return {"mcpServers": {SERVER_NAME: entry}}


def claude_command(url: str, token_required: bool) -> str:
    command = f"claude mcp add --transport http {SERVER_NAME} {url}"
    if token_required:
        command += f' --header "Authorization: Bearer {TOKEN_PLACEHOLDER}"'
    return command


def banner(host: str, port: int, token_required: bool) -> str:
    """The text printed once the server listens; it names no secret, whatever the settings."""
    url = mcp_url(host, port)
    lines = [
        "",
        f"autodocs-mcp is ready. MCP endpoint (streamable HTTP): {url}",
        "  Only /mcp speaks MCP (the root URL answers 404); /healthz, /readyz and /metrics sit beside it.",
    ]
    if host in _WILDCARDS:
        lines.append(f"  Listening on every interface ({host or 'all'}); other machines use this machine's address.")
    if token_required:
        lines.append(
            f"  AUTODOCS_HTTP_TOKEN is set: every /mcp request needs Authorization: Bearer <token>; "
            f"replace {TOKEN_PLACEHOLDER} below with it (the token is never printed)."
        )
    lines += [
        "",
        "Claude Code:",
        f"  {claude_command(url, token_required)}",
        "",
        "JSON config, as Claude Code (.mcp.json) reads it; Cursor (~/.cursor/mcp.json) reads the same entry, and",
        'VS Code (.vscode/mcp.json) reads it under "servers" in place of "mcpServers":',
        json.dumps(client_config(url, token_required), indent=2),
        "",
    ]
    return "\n".join(lines) + "\n"
