"""Structured logs: one JSON object per line on stderr, because stdout belongs to the stdio transport."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from autodocs_mcp.client_logs import forward_to_client

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
"""Every level ``config.LogLevel`` accepts (a test holds the two together)."""


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library (uvicorn, mcp) to JSON lines on ``stream`` (stderr by default).

    Must run before ``MCPServer`` is created: the SDK calls ``logging.basicConfig``, which is a no-op once the root
    logger has a handler.
    """
    out = stream if stream is not None else sys.stderr
    numeric = _LEVELS.get(level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            forward_to_client,  # MCP notifications/message for the client whose call logged this
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
