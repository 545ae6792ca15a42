"""Our server plus one trivial tool (``fixed_5k``: a fixed 5 KB string), for side-by-side throughput runs.

The trivial tool shares everything with the real ones (MCPServer, middleware, transport, uvicorn), so the ratio of
their calls per second isolates what our documentation path costs on top of the stack's own ceiling.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autodocs_mcp.app import build_server
from autodocs_mcp.config import SettingsError, load_settings
from autodocs_mcp.logs import configure_logging
from autodocs_mcp.serve_http import run_http

FIXED_5K = ("autodocs reference payload " * 200)[:5120]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_locust.reference_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response-mode", choices=("json", "sse"), default="json")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(http_host=args.host, http_port=args.port, response_mode=args.response_mode)
    except SettingsError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    server, state = build_server(settings)

    @server.tool()
    async def fixed_5k() -> str:
        """Return a fixed 5 KB string (the stack's ceiling for a tool that does nothing)."""
        return FIXED_5K

    state.known_tools.add("fixed_5k")
    return run_http(server, state)


if __name__ == "__main__":
    sys.exit(main())
