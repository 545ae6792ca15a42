"""Headless Locust as a subprocess (it gevent-patches its process), bounded by its ``-t`` and by a hard wait here.

``run_locust`` starts it with the given user classes after every option, waits, stops it by PID whatever happens,
and reads its CSVs; ``start_locust``/``finish_locust`` split that for a test that acts while Locust runs.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcp_locust.results import FailureRow, StatsRow, read_failures, read_stats
from tests.support.processes import VENV_BIN, ManagedProcess, start_process

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"
EXIT_MARGIN_S = 30.0
"""How long past its run time Locust may take to stop and write its CSVs before the test fails."""


@dataclass
class LocustRun:
    code: int
    elapsed_s: float
    stats: dict[str, StatsRow]
    failures: list[FailureRow]
    log: str

    def row(self, name: str) -> StatsRow:
        assert name in self.stats, f"no row {name!r} in {sorted(self.stats)}\n{self.log[-3000:]}"
        return self.stats[name]

    def reasons(self, name: str) -> set[str]:
        return {failure.reason for failure in self.failures if failure.name == name}


def start_locust(
    tmp_path: Path, host: str, users: str | Sequence[str], run_time: str, *args: str
) -> tuple[ManagedProcess, Path]:
    prefix = tmp_path / "locust"
    classes = [users] if isinstance(users, str) else list(users)
    argv = [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    argv += ["--host", host, "-t", run_time, "--csv", str(prefix), *args, *classes]
    return start_process(argv, tmp_path / "locust.log"), prefix


def finish_locust(proc: ManagedProcess, prefix: Path, started: float, bound_s: float) -> LocustRun:
    try:
        code = proc.popen.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Locust still running after {bound_s}s:\n{proc.log_text()[-3000:]}")
    finally:
        proc.stop()
    elapsed = time.monotonic() - started
    return LocustRun(code, elapsed, read_stats(prefix), read_failures(prefix), proc.log_text())


def run_locust(tmp_path: Path, host: str, users: str | Sequence[str], run_s: int, *args: str) -> LocustRun:
    started = time.monotonic()
    proc, prefix = start_locust(tmp_path, host, users, f"{run_s}s", *args)
    return finish_locust(proc, prefix, started, run_s + EXIT_MARGIN_S)
