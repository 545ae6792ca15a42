"""The ``verdicts`` marker: six-minute soaks of test servers whose truth is known, run by ``make verdicts`` (and
by ``.ci/run`` after ``make test``), never by a plain ``pytest``, which deselects them (they take ~8 minutes)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "verdicts: six-minute soaks of leaking and healthy servers (make verdicts)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "verdicts" in (config.getoption("markexpr") or ""):
        return
    chosen = [item for item in items if item.get_closest_marker("verdicts") is not None]
    if chosen:
        config.hook.pytest_deselected(items=chosen)
        items[:] = [item for item in items if item.get_closest_marker("verdicts") is None]
