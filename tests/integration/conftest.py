"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ManagedProcess, running, start_server


@pytest.fixture
def shipped_server(tmp_path: Path, mock_url: str) -> Iterator[ManagedProcess]:
    """The real server on its shipped defaults (only the upstream and the cache folder set), on the real mock;
    stopped by PID in teardown."""
    with running(start_server(tmp_path, mock_url, shipped=True)) as proc:
        yield proc
