"""Suite-wide fixtures: the loopback-only network guard and the real PyPI mock process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pypi_mock.admin import set_faults
from tests.support import netguard
from tests.support.processes import ManagedProcess, start_mock

netguard.install()


@pytest.fixture(autouse=True)
def _refuse_non_loopback_network() -> Iterator[None]:
    """Fail any test that tried to reach an address outside loopback, even if the error was swallowed."""
    netguard.violations.clear()
    yield
    if netguard.violations:
        found = list(netguard.violations)
        netguard.violations.clear()
        pytest.fail("\n".join(found))


@pytest.fixture(scope="session")
def pypi_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """One real ``pypi-mock`` process for the session; tests that change faults must reset them."""
    proc = start_mock(tmp_path_factory.mktemp("pypi-mock"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def mock_url(pypi_mock: ManagedProcess) -> Iterator[str]:
    """The session mock's base URL, with its faults cleared before and after the test."""
    set_faults(pypi_mock.base_url, {})
    yield pypi_mock.base_url
    set_faults(pypi_mock.base_url, {})


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
