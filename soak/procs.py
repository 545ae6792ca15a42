"""Child processes the runner owns: started in their own process group, stopped by PID, never left behind.

Each child gets its own session, so a Ctrl-C at the terminal reaches only the runner (which then stops the children
in the order the measurement needs) and ``killpg`` reaches a child's own children too. On Linux each child also
asks the kernel to SIGTERM it if the runner dies without cleaning up (even by SIGKILL): no orphan survives a run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
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


class Stoppable(Protocol):
    """What readiness waits watch to give up early: ``threading.Event`` fits, so does the runner's signal flag."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class SignalFlag:
    """Set from a signal handler; ``wait`` wakes at once through a self-pipe.

    A ``threading.Event`` cannot be set safely from a handler (its lock may be held by the very frame the signal
    interrupted), so the handler only stores the reason and writes one byte.
    """

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        with contextlib.suppress(OSError):
            self._write.send(b"\0")

    def is_set(self) -> bool:
        return self.reason is not None

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            with contextlib.suppress(InterruptedError):
                select.select([self._read], [], [], timeout)
            with contextlib.suppress(OSError):
                self._read.recv(4096)
        return self.is_set()

    def close(self) -> None:
        self._read.close()
        self._write.close()


class ReadinessError(RuntimeError):
    """A child did not become ready: it exited, the deadline passed, or the run was interrupted meanwhile."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now; the tiny race until the child binds it is accepted (a bind failure is reported)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM me when the thread that forked me goes away."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Child:
    """One started process and where its output goes; every method is safe to call after it has exited."""

    name: str
    args: Sequence[str]
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's process group; False if it was already gone."""
        if self.popen.poll() is not None:
            return False
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout_s: float) -> int | None:
        """The exit status, or None if still running after ``timeout_s``."""
        try:
            return self.popen.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, term_timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` to the group, SIGKILL after ``term_timeout_s``; always reaps, and sweeps stragglers of the group."""
        self.signal_group(sig)
        code = self.wait(term_timeout_s)
        if code is None:
            self.signal_group(signal.SIGKILL)
            code = self.wait(10.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return code

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def start_child(
    name: str,
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    unset_prefix: str | None = None,
) -> Child:
    """Start ``args`` with stdout and stderr appended to ``log_path``, in a new session, stdin closed.

    The child inherits the runner's environment plus ``env``; variables starting with ``unset_prefix`` are dropped
    first, so a setting lying around in the operator's shell cannot silently change what is being measured.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if unset_prefix is None or not k.startswith(unset_prefix)}
    child_env["PYTHONUNBUFFERED"] = "1"
    if env:
        child_env.update(env)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=cwd,
            start_new_session=True,
            # preexec_fn is unsafe once threads run; the runner starts every child before its sampler thread.
            preexec_fn=_die_with_parent,
        )
    return Child(name=name, args=list(args), popen=popen, log_path=log_path)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie is dead, only not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    child: Child | None = None,
    stop: Stoppable | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll ``condition`` until true; fail early if ``child`` exits or ``stop`` is set, and at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return
        if child is not None and child.poll() is not None:
            raise ReadinessError(
                f"{child.name} exited with status {child.poll()} while waiting for {what}; "
                f"last output:\n{child.log_tail()}"
            )
        if stop is not None and stop.is_set():
            raise ReadinessError(f"interrupted while waiting for {what}")
        if time.monotonic() >= deadline:
            tail = f"; last output of {child.name}:\n{child.log_tail()}" if child is not None else ""
            raise ReadinessError(f"{what} not ready within {timeout_s:g} s{tail}")
        if stop is not None:
            stop.wait(interval_s)
        else:
            time.sleep(interval_s)


def http_answers(url: str, ok: Callable[[int], bool], timeout_s: float = 1.0) -> Callable[[], bool]:
    """A readiness probe: True once ``GET url`` gets a status ``ok`` accepts (connection errors are "not yet")."""

    def probe() -> bool:
        try:
            with httpx2.Client(timeout=timeout_s, trust_env=False, verify=url.startswith("https://")) as client:
                return ok(client.get(url).status_code)
        except httpx2.HTTPError:
            return False

    return probe
