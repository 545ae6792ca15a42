"""``prompts/get`` and ``resources/read`` for a name the server does not have: -32602 with a plain message.

The SDK answers an unknown prompt with a bare ``ValueError``: JSON-RPC code 0 on the handshake revision, -32603
"Internal server error" on 2026-07-28, and an error-level log line with a traceback each time, for what is a
caller's typo. An unknown resource already gets -32602, but its message echoes the URI whole. Here both are the
caller's mistake: ``INVALID_PARAMS``, the name cut and escaped, one info line in the log. A URI too long to name
any resource is refused before the SDK matches it; the docs resources' own errors (``PlainResourceError``, which
say what is wrong with the package or version) pass unchanged.
"""

from __future__ import annotations

from typing import Any

import structlog
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from autodocs_mcp.errors import quote_value
from autodocs_mcp.resources import URI_DATA_LIMIT, PlainResourceError, refused_uri

log = structlog.get_logger("autodocs_mcp.lookups")


def unknown_name_errors(server: MCPServer[Any]) -> Any:
    """Middleware for ``server.middleware`` (appended after construction: it asks the server for its prompts)."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get":
            name = ctx.params.get("name") if ctx.params else None
            known = {prompt.name for prompt in await server.list_prompts()}
            if isinstance(name, str) and name not in known:
                log.info("unknown_prompt", name=quote_value(name))
                listed = ", ".join(sorted(known)) if known else "none"
                raise MCPError(INVALID_PARAMS, f"unknown prompt {quote_value(name)}; this server's prompts: {listed}")
            return await call_next(ctx)
        if ctx.method == "resources/read":
            uri = ctx.params.get("uri") if ctx.params else None
            text = uri if isinstance(uri, str) else ""
            refused = refused_uri(text)
            if refused is not None:
                log.info("unknown_resource", uri=quote_value(text), length=len(text))
                raise refused
            try:
                return await call_next(ctx)
            except MCPError as error:
                if error.code != INVALID_PARAMS or isinstance(error, PlainResourceError):
                    raise
                log.info("unknown_resource", uri=quote_value(text))
                raise MCPError(
                    INVALID_PARAMS,
                    f"unknown resource {quote_value(text)}; resources/list names the ones this server has",
                    data={"uri": text[:URI_DATA_LIMIT]},
                ) from None
        return await call_next(ctx)

    return middleware
