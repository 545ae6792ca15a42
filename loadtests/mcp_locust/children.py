"""Child processes, each in its own process group, always stopped by PID, every wait bounded.

The one place that starts and stops processes for the Locust launcher, the soak runner and the tests. Each child
gets its own session, so a Ctrl-C at the terminal reaches only its supervisor (which stops the children in the order
it needs) and ``killpg`` reaches the child's own children too. Optionally (the soak runner) the kernel SIGTERMs a
child when its supervisor dies without cleaning up, even by SIGKILL.

Kept free of Locust imports: the launcher must not be gevent-patched, since it only supervises.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx2

_PR_SET_PDEATHSIG = 1
KILL_WAIT_S = 10.0
"""How long a SIGKILLed group leader gets to be reaped; the kernel needs milliseconds, a loaded machine more."""


class StartupError(RuntimeError):
    """A child died or never became ready, or the wait was interrupted; the message carries the tail of its log."""


@dataclass
class Child:
    """One started process and where its output goes; every method is safe to call after it has exited."""

    name: str
    args: Sequence[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, max_bytes: int = 4000) -> str:
        if self.log_path is None:
            return ""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - max_bytes))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def signal_leader(self, sig: int) -> None:
        """Signal only the group leader: Locust's master relays a SIGINT to its workers itself."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's process group; False if it was already gone."""
        if not self.running:
            return False
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout_s: float) -> int | None:
        """The exit status, or None if still running after ``timeout_s``."""
        try:
            return self.popen.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` to the group, SIGKILL after ``grace_s``; always reaps, and sweeps leftovers of the group."""
        if self.signal_group(sig) and self.wait(grace_s) is None:
            self.signal_group(signal.SIGKILL)
            self.wait(KILL_WAIT_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        return self.popen.poll()


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM me when the thread that forked me goes away."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(
    name: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path | None = None,
    append: bool = False,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
    die_with_parent: bool = False,
) -> Child:
    """Start ``args`` in a new session with exactly ``env``; output goes to ``log_path``, or to our own stdout/stderr.

    ``die_with_parent`` uses ``preexec_fn``, which is unsafe once threads run: start such children before any thread.
    """
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab" if append else "wb")
    try:
        popen = subprocess.Popen(
            list(args),
            stdin=stdin,
            stdout=log,
            stderr=None if log is None else subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    finally:
        if log is not None:
            log.close()
    return Child(name, list(args), popen, log_path)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now; the tiny race until the child binds it is accepted (a bind failure is reported)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Stoppable(Protocol):
    """What readiness waits watch to give up early: ``threading.Event`` fits, so does the soak runner's signal flag."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    child: Child | None = None,
    stop: Stoppable | None = None,
    interval_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Poll ``condition`` until true; fail early if ``child`` exits or ``stop`` is set, and at the deadline."""
    deadline = clock() + timeout_s
    while not condition():
        if child is not None and not child.running:
            raise StartupError(
                f"{child.name} exited with status {child.poll()} while waiting for {what}; "
                f"last output:\n{child.log_tail()}"
            )
        if stop is not None and stop.is_set():
            raise StartupError(f"interrupted while waiting for {what}")
        if clock() >= deadline:
            tail = f"; last output of {child.name}:\n{child.log_tail()}" if child is not None else ""
            raise StartupError(f"{what} not ready within {timeout_s:g} s{tail}")
        (stop.wait if stop is not None else sleep)(interval_s)


def http_answers(url: str, ok: Callable[[int], bool], timeout_s: float = 1.0) -> Callable[[], bool]:
    """A readiness probe: True once ``GET url`` gets a status ``ok`` accepts (connection errors are "not yet").

    Never through a proxy from the environment: every child listens on loopback.
    """

    def probe() -> bool:
        try:
            with httpx2.Client(timeout=timeout_s, trust_env=False, verify=url.startswith("https://")) as client:
                return ok(client.get(url).status_code)
        except httpx2.HTTPError:
            return False

    return probe


def is_success(status: int) -> bool:
    return 200 <= status < 300


def wait_ready(
    child: Child,
    url: str,
    timeout_s: float,
    *,
    probe: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Wait until ``url`` answers 2xx (or ``probe`` says ready), failing early if ``child`` exits."""
    ready = probe if probe is not None else http_answers(url, is_success)
    wait_until(ready, timeout_s, f"{child.name} at {url}", child=child, clock=clock, sleep=sleep)
