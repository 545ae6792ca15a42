"""A deliberately leaking MCP server, so the soak gate can be shown to break: ``python leaky_server.py --port P``.

Every call of its one tool, ``leak``, keeps ~200 KB of fresh bytes and an open file for ever: the two kinds of
leak a night of traffic turns into an outage. Run as a script (the soak runner starts it with ``--target-cmd``);
it is an external target, so it has no ``/metrics`` and no cache.
"""

from __future__ import annotations

import argparse
import os
from typing import IO

import uvicorn
from mcp.server.mcpserver import MCPServer

LEAK_BYTES = 200 * 1024

_hoard: list[bytes] = []
_open_files: list[IO[bytes]] = []  # referenced, so the garbage collector never closes them


def build_server() -> MCPServer:
    server = MCPServer("leaky")

    @server.tool()
    def leak(note: str = "") -> str:
        """Keep 200 KB and one open file per call."""
        _hoard.append(os.urandom(LEAK_BYTES))  # random bytes: every page is really touched and kept
        _open_files.append(open(os.devnull, "rb"))  # never closed, on purpose
        return f"holding {len(_hoard)} blocks and {len(_open_files)} files ({note})"

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_server().streamable_http_app(json_response=True, host=args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
