"""Fixtures the benchmarks share: the event loops that rounds reuse; and the ``residue`` marker.

``residue`` benchmarks (real server processes, minutes) run with ``--benchmark-only`` (``make bench``) or when the
marker expression names them (``pytest -m residue``), never in ``make test``.

The benchmark fixture is synchronous, so a benchmark drives its coroutines with ``run_until_complete`` on one loop
kept for all its rounds rather than a new loop per round, whose set-up would dominate a microsecond figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


def _new_loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    try:
        yield event_loop
    finally:
        event_loop.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop for one test, reused across its rounds."""
    yield from _new_loop()


@pytest.fixture(scope="module")
def module_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for a whole module, for module-scoped fixtures whose clients live on it between tests."""
    yield from _new_loop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "residue: per-event residue on real server processes, run by `make bench`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_only", default=False) or "residue" in (config.getoption("markexpr") or ""):
        return
    residue = [item for item in items if item.get_closest_marker("residue") is not None]
    if residue:
        config.hook.pytest_deselected(items=residue)
        items[:] = [item for item in items if item.get_closest_marker("residue") is None]
