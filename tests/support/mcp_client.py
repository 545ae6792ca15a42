"""An MCP client for tests: plain-HTTP loopback clients skip the CA bundle load (about 0.2 s per client here).

``mode`` is the SDK client's: ``"legacy"`` (the initialize handshake, 2025-11-25 and older) by default, ``"auto"``
to negotiate the sessionless 2026-07-28 revision the way ``Client(url)`` does out of the box.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

PROTOCOL_MODES = ("legacy", "auto")
"""Both revisions a client may speak to the server: the handshake era and 2026-07-28."""


@asynccontextmanager
async def mcp_session(
    url: str, headers: dict[str, str] | None = None, mode: str = "legacy", **client_options: Any
) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers, verify=False, trust_env=False, timeout=httpx2.Timeout(30.0, read=300.0))
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, **client_options) as client:  # type: ignore[arg-type]
            yield client
