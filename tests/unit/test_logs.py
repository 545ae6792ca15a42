"""The server's log setup honours every level the configuration accepts."""

from __future__ import annotations

import io
import logging
import typing
from collections.abc import Iterator

import pytest
import structlog

from autodocs_mcp.config import LogLevel
from autodocs_mcp.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


@pytest.mark.parametrize("level", typing.get_args(LogLevel))
def test_every_configurable_level_is_the_level_the_server_logs_at(level: str) -> None:
    configure_logging(level, io.StringIO())
    assert logging.getLogger().getEffectiveLevel() == logging.getLevelName(level)


def test_at_critical_an_error_is_not_written() -> None:
    out = io.StringIO()
    configure_logging("CRITICAL", out)
    structlog.get_logger("test").error("not_written")
    assert "not_written" not in out.getvalue()
