"""The one process-group helper the launcher, the soak runner and the tests share: stop escalates, sweeps, reaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_locust.children import Child, spawn, wait_until
from soak.procs import pid_alive

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('armed', flush=True); time.sleep(60)"
)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop(grace_s=1.0)


def python(children: list[Child], code: str, log_path: Path, *, append: bool = False) -> Child:
    child = spawn("py", [sys.executable, "-c", code], env=dict(os.environ), log_path=log_path, append=append)
    children.append(child)
    return child


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_and_reaped(
    children: list[Child], tmp_path: Path
) -> None:
    child = python(children, IGNORES_SIGTERM, tmp_path / "log")
    wait_until(lambda: "armed" in child.log_text(), 10.0, "the handler", child=child)
    assert child.stop(grace_s=0.2) == -signal.SIGKILL
    assert not child.running and not pid_alive(child.pid)


def test_stop_sweeps_what_the_leader_left_behind_in_its_group(children: list[Child], tmp_path: Path) -> None:
    leaver = textwrap.dedent(
        f"""
        import subprocess, sys
        p = subprocess.Popen([sys.executable, "-c", {IGNORES_SIGTERM!r}])
        print(p.pid, flush=True)
        """
    )
    child = python(children, leaver, tmp_path / "log")
    assert child.wait(10.0) == 0
    orphan = int(child.log_text().split()[0])
    assert pid_alive(orphan)
    child.stop(grace_s=0.2)
    wait_until(lambda: not pid_alive(orphan), 10.0, "the orphan's end")


def test_a_log_is_appended_to_only_when_asked(children: list[Child], tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("earlier run\n")
    python(children, "print('second')", log, append=True).wait(10.0)
    assert log.read_text() == "earlier run\nsecond\n"
    python(children, "print('third')", log).wait(10.0)
    assert log.read_text() == "third\n"


def test_a_child_started_to_die_with_its_parent_ends_when_the_parent_is_killed(tmp_path: Path) -> None:
    parent_code = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path[:0] = {sys.path!r}
        from mcp_locust.children import spawn
        child = spawn("c", [sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ),
                      die_with_parent=True)
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, start_new_session=True)
    orphan: int | None = None
    try:
        assert parent.stdout is not None
        orphan = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10.0)
        wait_until(lambda: not pid_alive(orphan), 10.0, "the child's end after its parent's")
    finally:
        parent.kill()
        parent.wait(10.0)
        if orphan is not None and pid_alive(orphan):
            os.kill(orphan, signal.SIGKILL)
