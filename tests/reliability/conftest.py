"""Fixtures of the reliability suite, and the ``stress`` marker that keeps its slow half out of ``make test``.

Stress tests run only when the marker expression names them (``pytest -m stress``), so a plain ``pytest`` run
deselects them even where the project's ``addopts`` does not say ``-m "not stress"``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_locust.children import wait_ready
from tests.reliability.harness import Ledger, server
from tests.support.processes import READY_TIMEOUT_S, ManagedProcess, free_port, start_process

HOSTILE_UPSTREAM = Path(__file__).resolve().parent / "hostile_upstream.py"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stress: slow reliability load tests, run by `make stress` (-m stress)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stress" in (config.getoption("markexpr") or ""):
        return
    stress = [item for item in items if item.get_closest_marker("stress") is not None]
    if stress:
        config.hook.pytest_deselected(items=stress)
        items[:] = [item for item in items if item.get_closest_marker("stress") is None]


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="session")
def hostile_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the hostile package index (``hostile_upstream.py``) running as its own process."""
    port = free_port()
    log = tmp_path_factory.mktemp("hostile-upstream") / "hostile-upstream.log"
    proc = start_process([sys.executable, str(HOSTILE_UPSTREAM), "--port", str(port)], log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, f"{base_url}/_log", READY_TIMEOUT_S)
        yield base_url
    finally:
        proc.stop()


SLOW_CLIENT_TIMEOUT_S = 2.0
"""Header and body deadlines of ``plain_server``: short, so slow-client attacks are cut off within the budget."""


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory, pypi_mock: ManagedProcess) -> Iterator[ManagedProcess]:
    """A default-configured server against the real mock, except for short header and body deadlines."""
    proc = server(
        tmp_path_factory,
        pypi_mock.base_url,
        "plain-server",
        AUTODOCS_HTTP_HEADER_TIMEOUT=str(SLOW_CLIENT_TIMEOUT_S),
        AUTODOCS_HTTP_BODY_TIMEOUT=str(SLOW_CLIENT_TIMEOUT_S),
    )
    try:
        yield proc
    finally:
        proc.stop()
