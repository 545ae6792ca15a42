"""``autodocs-mcp``: stdio by default (for AI assistants), ``--transport http`` for streamable HTTP."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import structlog

from autodocs_mcp.config import Settings, SettingsError, load_settings
from autodocs_mcp.logs import configure_logging

EXIT_CONFIG = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="autodocs-mcp",
        description="MCP server giving AI assistants version-specific documentation of Python packages. "
        "Configuration comes from AUTODOCS_* environment variables (or .env).",
    )
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", help="HTTP bind address (default AUTODOCS_HTTP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default AUTODOCS_HTTP_PORT, 8000)")
    parser.add_argument("--response-mode", choices=("json", "sse"), help="HTTP response mode (default json)")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Settings:
    flags = {"http_host": args.host, "http_port": args.port, "response_mode": args.response_mode}
    return load_settings(**{key: value for key, value in flags.items() if value is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        for line in exc.problems:
            print(f"autodocs-mcp: configuration error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    log = structlog.get_logger("autodocs_mcp")
    log.info("starting", transport=args.transport, upstream=settings.pypi_url)
    if args.transport == "stdio":
        from autodocs_mcp.stdio import serve_stdio

        return serve_stdio(settings)
    from autodocs_mcp.serve_http import serve_http

    return serve_http(settings)


def entry() -> None:
    sys.exit(main())
