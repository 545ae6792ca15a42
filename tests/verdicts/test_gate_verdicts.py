"""The gate tells a leaking server from a healthy one in six minutes, whatever the server's exit convention.

Seven plain ``mcp`` SDK servers under uvicorn (``tests/support/gate_targets.py``), each healthy or leaking one
resource at a steady rate, are soaked at once, each for six minutes with ``--faults none`` and the gate's default
thresholds, through the same ``autodocs-soak run --target-cmd`` an operator would type. Plain uvicorn ends by
re-raising the SIGTERM it drained on (exit −15), so every healthy one also proves that this is judged clean.

The runs share two cores, so the load is light (4 users × 2 calls/s each); the leaks do not depend on the load.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_locust.children import wait_ready
from tests.support.processes import VENV_BIN, ManagedProcess, free_port, start_process

pytestmark = [pytest.mark.verdicts, pytest.mark.timeout(1200)]

SOAK = str(VENV_BIN / "autodocs-soak")
TARGETS = Path(__file__).resolve().parents[1] / "support" / "gate_targets.py"
REPORTS = Path(__file__).resolve().parents[2] / "reports"
DURATION_S = 360
RUN_LIMIT_S = DURATION_S + 240

CASES: dict[str, tuple[str, ...]] = {
    "fd-leak": ("file descriptors",),
    "thread-leak": ("threads",),
    "socket-leak": ("upstream sockets",),
    "memory-leak": ("memory",),
    "latency-leak": ("p50 latency creep", "p95 latency creep"),
    "healthy-cache": (),
    "healthy-transient": (),
}
"""Kind of test server → the criteria that must break (any of them for latency; none for a healthy server)."""


def _command(kind: str, sink_port: int) -> str:
    return (
        f"{sys.executable} {TARGETS} --port {{port}} --kind {kind} --run-seconds {DURATION_S} --sink-port {sink_port}"
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _verdict(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "verdict.json").read_text())
    return data


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[int, dict[str, Any], str]]:
    """Every case's exit status, verdict and soak log, from seven soaks run side by side.

    The run folders stay in ``reports/verdicts/`` (git-ignored; the previous ones are replaced), so the seven
    reports can be read after ``make verdicts`` as after any soak.
    """
    root = REPORTS / "verdicts"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    sink_port = free_port()
    sink = start_process([sys.executable, str(TARGETS), "--sink", "--port", str(sink_port)], root / "sink.log")
    soaks: dict[str, ManagedProcess] = {}
    try:
        wait_ready(sink, f"tcp://127.0.0.1:{sink_port}", 20, probe=lambda: _accepts(sink_port))
        for kind in CASES:
            args = [
                SOAK, "run", "--duration", f"{DURATION_S}s", "--faults", "none", "--users", "4", "--pace", "2",
                "--mix", "get_package_docs=1", "--out", str(root / kind),
                "--target-cmd", _command(kind, sink_port), "--target-url", "http://127.0.0.1:{port}/mcp",
            ]  # fmt: skip
            soaks[kind] = start_process(args, root / f"{kind}.log", cwd=root)
        results: dict[str, tuple[int, dict[str, Any], str]] = {}
        for kind, proc in soaks.items():
            code = proc.popen.wait(timeout=RUN_LIMIT_S)
            results[kind] = (code, _verdict(root / kind), proc.log_text())
        return results
    finally:
        for proc in soaks.values():
            proc.stop()
        sink.stop()


def _statuses(verdict: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in verdict["criteria"]}


@pytest.mark.parametrize("kind", [k for k, broken in CASES.items() if broken])
def test_a_server_leaking_one_resource_is_broken_on_that_resource_in_six_minutes(
    verdicts: dict[str, tuple[int, dict[str, Any], str]], kind: str
) -> None:
    code, verdict, log = verdicts[kind]
    statuses = _statuses(verdict)
    assert code == 1 and verdict["status"] == "broken", log
    assert any(statuses[name] == "broken" for name in CASES[kind]), statuses
    assert statuses["clean shutdown"] == "held", statuses
    assert statuses["unexpected failures"] == "held", statuses


@pytest.mark.parametrize("kind", [k for k, broken in CASES.items() if not broken])
def test_a_healthy_server_is_not_broken_even_though_uvicorn_exits_by_the_sigterm_it_drained_on(
    verdicts: dict[str, tuple[int, dict[str, Any], str]], kind: str
) -> None:
    code, verdict, log = verdicts[kind]
    statuses = _statuses(verdict)
    assert "broken" not in statuses.values(), (statuses, log)
    assert code == 0, log
    shutdown = next(c for c in verdict["criteria"] if c["name"] == "clean shutdown")
    assert shutdown["status"] == "held" and "exit -15" in shutdown["figure"], shutdown
