"""What the runner adds to ``mcp_locust.children``: a signal-safe interruption flag, and children that die with it.

Every child the runner starts asks the kernel to SIGTERM it if the runner dies without cleaning up (even by
SIGKILL), and the server can start from a clean ``AUTODOCS_*`` slate: no orphan survives a run, and no stray
shell setting changes what is measured.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from mcp_locust.children import Child, spawn


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
    child_env = {k: v for k, v in os.environ.items() if unset_prefix is None or not k.startswith(unset_prefix)}
    child_env["PYTHONUNBUFFERED"] = "1"
    if env:
        child_env.update(env)
    # The runner starts every child before its sampler thread, as die_with_parent requires.
    return spawn(name, args, env=child_env, log_path=log_path, append=True, cwd=cwd, die_with_parent=True)


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
