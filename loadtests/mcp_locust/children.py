"""Child processes of the launcher: each in its own process group, always stopped by PID, every wait bounded.

Kept free of Locust imports: the launcher must not be gevent-patched, since it only supervises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StartupError(RuntimeError):
    """A child died or never became ready; the message carries the tail of its log."""


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

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
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the whole group, SIGKILL it after ``grace_s``; also sweeps leftovers of an exited leader."""
        if self.running():
            self._signal_group(signal.SIGTERM)
            if self.wait(grace_s) is None:
                self._signal_group(signal.SIGKILL)
                self.wait(grace_s)
        self._signal_group(signal.SIGKILL)
        return self.popen.returncode

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def spawn(name: str, args: Sequence[str], *, env: Mapping[str, str], log_path: Path | None = None) -> Child:
    """Start ``args`` in a new session; output goes to ``log_path``, or to the launcher's own stdout/stderr."""
    if log_path is None:
        popen = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True)
        return Child(name, popen)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    return Child(name, popen, log_path)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_ready(
    child: Child,
    url: str,
    timeout_s: float,
    *,
    probe: Callable[[str], bool] = http_ok,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    deadline = clock() + timeout_s
    while not probe(url):
        if not child.running():
            raise StartupError(f"{child.name} exited with {child.popen.returncode}:\n{child.log_tail()}")
        if clock() > deadline:
            raise StartupError(f"{child.name} not ready at {url} after {timeout_s:g}s:\n{child.log_tail()}")
        sleep(0.1)
